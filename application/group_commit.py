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
"""

from __future__ import annotations

import queue
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from domain.case import Case
from domain.catalogue import Catalogue
from domain.errors import AlreadyApplied, VersionMismatch
from domain.state import CaseState
from domain.values import Actor
from storage.eventstore import RecordConflictError

Command = Callable[[Case, Catalogue], None]


@dataclass
class Job:
    case_id: UUID
    actor: Actor
    expected: int | None
    command: Command
    done: threading.Event = field(default_factory=threading.Event)
    version: int | None = None
    error: BaseException | None = None


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
      case on a conflict; the new version.
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
    ) -> None:
        self._load = load
        self._check_scope = check_scope
        self._catalogue = catalogue
        self._save = save
        self._retry = retry
        self.max_batch = max_batch
        self.cache_size = cache_size
        self._queue: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._cache: OrderedDict[UUID, Any] = OrderedDict()
        self._thread = threading.Thread(target=self._loop, name="group-commit", daemon=True)
        self._thread.start()
        self.batches = 0
        self.commands = 0

    def submit(self, job: Job) -> int:
        self._queue.put(job)
        job.done.wait()
        if job.error is not None:
            raise job.error
        assert job.version is not None
        return job.version

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            batch = [job]
            while len(batch) < self.max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._run(batch)
                    return
                batch.append(nxt)
            self._run(batch)

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
        for case_id in cases:
            self._cache.pop(case_id, None)
        for job in applied:
            if job.error is not None:
                continue
            try:
                job.version = self._retry(job.case_id, job.actor, job.expected, job.command)
            except BaseException as e:
                job.error = e
