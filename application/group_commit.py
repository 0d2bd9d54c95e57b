"""Group commit: concurrent commands share one transaction.

A single-event save is bound by the store's per-insert work (the PostgreSQL recorder locks
the events table for every insert so readers never skip a late commit), not by the disk.
So commands from many requests are queued to one writer thread, which takes everything
waiting (up to ``max_batch``), applies each command to its case in arrival order, and saves
all touched cases in one ``Application.save``: one insert, one lock, one commit.

What stays exactly as before:
- per-case order: commands on one case are applied one after another, in arrival order,
  each judged on the state its predecessors left;
- concurrency checks: each command's ``If-Match`` is checked against the version its
  predecessors in the batch produced; the store's unique (case, version) key still refuses
  a writer in another process, and then every command of the batch is run again on its
  own (the ``retry`` it was given: the application's single-command path), reloading
  the case;
- gap-free reading of the log: the recorder's insert path is unchanged;
- a refused command (rule, scope, version) fails alone, having written nothing: rule checks
  run before an event is triggered, so a refused command leaves its case untouched.

Aggregates saved by this process are kept (LRU, ``cache_size``) and reused by the next
command on the case; a stale copy (another process wrote) cannot be saved, because its
next version already exists, so the batch falls back to the reload path.

Several serving processes (``caselog serve --workers N``, ``turns``) write the same
cases: on PostgreSQL their committers take turns (a session advisory lock on a
connection of the committer's own, ``Turns``) and, holding the turn, first bring their
kept copies of the batch's cases up to the store's head (one query for the events other
processes appended since). So a batch is judged on the latest state and its save does not
collide with another committer's; the version check stays the guard for every other writer
(a CLI import, an iWmo batch, a lock that could not be had in time): a collision still only
sends the batch down the reload path. Only the apply-and-save step takes turns: requests
are parsed, authorised and answered in parallel.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import structlog

from domain.case import Case
from domain.catalogue import Catalogue
from domain.errors import AlreadyApplied, VersionMismatch
from domain.state import CaseState
from domain.values import Actor
from storage.batches import drain
from storage.eventstore import RecordConflictError

Command = Callable[[Case, Catalogue], None]
#: a stored event's row (case id, version, topic, state) as the case's domain event
Decode = Callable[[UUID, int, str, bytes], Any]

log = structlog.get_logger("application.group_commit")
#: advisory lock id: the group committers of one database take turns on it
TURN_LOCK = 7_231_604_227
#: a committer waits at most this long for its turn, then saves without it (the version
#: check still refuses a stale copy); a failed connection is retried after RECONNECT_SECONDS
TURN_TIMEOUT_MS = 2000
RECONNECT_SECONDS = 5.0


@dataclass
class Job:
    case_id: UUID
    actor: Actor
    expected: int | None
    command: Command
    done: threading.Event = field(default_factory=threading.Event)
    version: int | None = None
    error: BaseException | None = None
    #: called (on the committer's thread) once the job is done; ``submit_async`` sets it
    notify: Callable[[], None] | None = None


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class Tainted(Exception):
    """A command failed half-way; its case is left out of the batch."""


class GroupCommitter:
    """The writer thread. It is given what it needs from the application as callables:

    - ``load(case_id, actor)``: the case from the store (scope checked);
    - ``check_scope(state, actor, case_id)``: refuses an actor outside the case's scope;
    - ``catalogue(tenant)``: the tenant's contract catalogue;
    - ``save(*cases)``: one transaction for all cases (``RecordConflictError`` when another
      process wrote to one of them first);
    - ``retry(case_id, actor, expected, command)``: one command on its own, reloading its
      case on a conflict; the new version;
    - ``turns`` (several serving processes on one PostgreSQL database): the turn to take
      before a batch, with ``decode`` turning the events other processes appended into
      domain events for the kept copies.
    """

    def __init__(
        self,
        *,
        load: Callable[[UUID, Actor], Case],
        check_scope: Callable[[CaseState, Actor, UUID], None],
        catalogue: Callable[[str], Catalogue],
        save: Callable[..., Any],
        retry: Callable[[UUID, Actor, int | None, Command], int],
        max_batch: int = 256,
        cache_size: int = 1000,
        turns: Turns | None = None,
        decode: Decode | None = None,
    ) -> None:
        self._load = load
        self._check_scope = check_scope
        self._catalogue = catalogue
        self._save = save
        self._retry = retry
        #: several serving processes on one database take turns (one process alone does
        #: not pay the lock's round trips: other writers are rare and the version check
        #: guards against them)
        self._turns = turns
        self._decode = decode
        self.max_batch = max_batch
        self.cache_size = cache_size
        self._queue: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._cache: OrderedDict[UUID, Any] = OrderedDict()
        self._thread = threading.Thread(target=self._loop, name="group-commit", daemon=True)
        self._thread.start()
        self.batches = 0
        self.commands = 0
        #: batches that collided with another writer and ran command by command
        self.conflicts = 0

    def submit(self, job: Job) -> int:
        self._queue.put(job)
        job.done.wait()
        if job.error is not None:
            raise job.error
        assert job.version is not None
        return job.version

    async def submit_async(self, job: Job) -> int:
        """``submit`` for a caller on an asyncio loop: it waits without a thread of its own
        (the committer resolves a future on the caller's loop)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()

        def notify() -> None:
            loop.call_soon_threadsafe(_settle, future)

        job.notify = notify
        self._queue.put(job)
        await future
        if job.error is not None:
            raise job.error
        assert job.version is not None
        return job.version

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)
        if self._turns is not None:
            self._turns.close()

    def _loop(self) -> None:
        drain(self._queue, self.max_batch, self._run)

    def _case(self, case_id: UUID, actor: Actor) -> Any:
        cached = self._cache.get(case_id)
        if cached is not None:
            self._cache.move_to_end(case_id)
            return cached  # the caller checks the scope
        return self._load(case_id, actor)

    def _remember(self, case: Any) -> None:
        self._cache[case.id] = case
        self._cache.move_to_end(case.id)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    def _run(self, batch: list[Job]) -> None:
        if self._turns is None:
            self._run_batch(batch)
            return
        with self._turns.turn() as conn:
            if conn is not None:
                self._refresh(conn, {job.case_id for job in batch})
            self._run_batch(batch)

    def _refresh(self, conn: Any, case_ids: set[UUID]) -> None:
        """Bring the kept copies of these cases to the store's head: apply the events other
        processes appended since (one query); drop a copy whose case is gone (R-33)."""
        kept = {cid: self._cache[cid] for cid in case_ids if cid in self._cache}
        if not kept:
            return
        try:
            rows = conn.execute(
                self._turns.newer_events,  # type: ignore[union-attr]
                (list(kept), [case.version - 1 for case in kept.values()]),
            ).fetchall()
        except Exception as e:  # the version check still guards the save
            log.warning("group_commit_refresh_failed", error=str(e))
            self._turns.broken()  # type: ignore[union-attr]
            return
        seen: set[UUID] = set()
        for case_id, version, topic, state in rows:
            seen.add(case_id)
            case = kept.get(case_id)
            if case is None or version <= case.version:
                continue
            try:
                assert self._decode is not None
                self._decode(case_id, version, topic, bytes(state)).mutate(case)
            except Exception:  # never judge on a half-updated copy: load it afresh
                self._cache.pop(case_id, None)
                del kept[case_id]
        for case_id in kept.keys() - seen:
            self._cache.pop(case_id, None)

    def _run_batch(self, batch: list[Job]) -> None:
        self.batches += 1
        self.commands += len(batch)
        cases: dict[UUID, Any] = {}
        applied: list[Job] = []
        try:
            for job in batch:
                self._apply(job, cases, applied)
            if cases:
                try:
                    self._save(*cases.values())
                except RecordConflictError:
                    self._one_by_one(cases, applied)
                except BaseException as e:  # the store failed: nothing of the batch is saved
                    for case_id in cases:
                        self._cache.pop(case_id, None)
                    for job in applied:
                        job.error = e
                else:
                    for case in cases.values():
                        self._remember(case)
        finally:
            for job in batch:
                job.done.set()
                if job.notify is not None:
                    job.notify()

    def _apply(self, job: Job, cases: dict[UUID, Any], applied: list[Job]) -> None:
        case = None
        before = 0
        try:
            case = cases.get(job.case_id) or self._case(job.case_id, job.actor)
            before = len(case.pending_events)
            self._check_scope(case.state, job.actor, job.case_id)
            case.check_new_request(job.actor)  # a retry gets its first version, not a 412
            if job.expected is not None and case.version != job.expected:
                raise VersionMismatch(job.expected, case.version)
            job.command(case, self._catalogue(case.state.tenant))
        except AlreadyApplied as e:
            job.version = e.version
            return
        except BaseException as e:
            job.error = e
            if case is not None and len(case.pending_events) != before:
                # half-applied: never save this case in this batch
                cases.pop(job.case_id, None)
                self._cache.pop(job.case_id, None)
                for other in applied:
                    if other.case_id == job.case_id and other.error is None:
                        other.error = Tainted("a command before this one failed; try again")
            return
        cases[job.case_id] = case
        job.version = case.version
        applied.append(job)

    def _one_by_one(self, cases: dict[UUID, Any], applied: list[Job]) -> None:
        """Another process wrote to one of the cases: run each command on its own."""
        self.conflicts += 1
        for case_id in cases:
            self._cache.pop(case_id, None)
        for job in applied:
            if job.error is not None:
                continue
            try:
                job.version = self._retry(job.case_id, job.actor, job.expected, job.command)
            except BaseException as e:
                job.error = e


class Turns:
    """The committers of one PostgreSQL database take turns: a session advisory lock on a
    connection of this committer's own (released by the server if the process dies)."""

    def __init__(self, url: str, events_table: str) -> None:
        """``url``: the database (libpq form); ``events_table``: the stored events' table,
        quoted and schema-qualified (``CaseStore.events_table``)."""
        from psycopg import sql

        self.url = url
        table = sql.SQL(events_table)
        self.newer_events = sql.SQL(
            "SELECT e.originator_id, e.originator_version, e.topic, e.state "
            "FROM unnest(%s::uuid[], %s::bigint[]) AS c(id, v) "
            "JOIN {} e ON e.originator_id = c.id AND e.originator_version > c.v "
            "ORDER BY e.originator_id, e.originator_version"
        ).format(table)
        self._conn: Any = None
        self._retry_at = 0.0

    def _connection(self) -> Any:
        if self._conn is None and time.monotonic() >= self._retry_at:
            import psycopg

            try:
                self._conn = psycopg.connect(self.url, autocommit=True, connect_timeout=5)
                self._conn.execute(f"SET lock_timeout = {TURN_TIMEOUT_MS}")
            except Exception as e:
                log.warning("group_commit_turns_unavailable", error=str(e))
                self.broken()
        return self._conn

    def broken(self) -> None:
        if self._conn is not None:
            with suppress(Exception):
                self._conn.close()
        self._conn = None
        self._retry_at = time.monotonic() + RECONNECT_SECONDS

    @contextmanager
    def turn(self) -> Iterator[Any]:
        """The connection while this committer has the turn; ``None`` when the turn could
        not be had (then the batch runs on the version check alone)."""
        conn = self._connection()
        if conn is not None:
            import psycopg

            try:
                conn.execute("SELECT pg_advisory_lock(%s)", (TURN_LOCK,))
            except psycopg.errors.LockNotAvailable:
                log.warning("group_commit_turn_timed_out", after_ms=TURN_TIMEOUT_MS)
                conn = None
            except Exception as e:
                log.warning("group_commit_turn_not_taken", error=str(e))
                self.broken()
                conn = None
        try:
            yield conn
        finally:
            if conn is not None and self._conn is conn:
                try:
                    conn.execute("SELECT pg_advisory_unlock(%s)", (TURN_LOCK,))
                except Exception:
                    self.broken()  # closing the session releases the lock

    def close(self) -> None:
        self.broken()
