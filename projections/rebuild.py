"""Rebuild the projections into fresh tables, in parallel by case, and swap them in.

``caselog projections rebuild`` must not show readers a half-built read model, and it may
run while ``caselog serve`` serves. So it never touches the live tables until the end:

1. It fixes the log's head ``H`` and creates the chosen projections' tables afresh (the
   same DDL as ``migrations/*.sql``): on PostgreSQL in the schema ``caselog_rebuild``, on
   SQLite in a separate database file beside the store (``<file>.rebuild``).
2. It builds the tables case by case: each worker streams its cases' events up to ``H``
   ordered by case and version (``CaseStore.case_histories``, filtered in the database),
   folds each case once, derives every version from the one before for the ``kpi_item``
   rows (their recorded-time validity is known whole, so each row is written once, closed
   or open) and the per-case rows once, from the case's last version
   (``ProjectionRunner.apply_histories``). On PostgreSQL a pool of processes (default: one
   per core) each takes the cases whose id falls in its range of the UUID space and writes
   with ``COPY`` instead of multi-row ``INSERT``; rows never collide across processes
   because each case belongs to one. ``kpi_cell``, ``kpi_cell_bucket`` (with their
   roll-ups) and ``kpi_client`` are then summed from all the ``kpi_item`` rows in SQL
   (``kpi_cells.sum_cells``: hashed, with statistics, into tables whose keys are built
   after), secondary indexes are built after the load, and the new tables are vacuumed
   and analysed; on PostgreSQL the buckets' chain runs on a second connection beside the
   rest. SQLite has one writer: the replay stays in this process. (A source without
   ``case_histories`` is replayed in log order by the runner itself,
   ``ProjectionRunner.run_once``, each worker with its own position in
   ``caselog_rebuild_wN`` and its own cell sums, added up at the end.)
3. The swap is one transaction: it locks the live tables, drops them, moves the new ones
   in (PostgreSQL: ``ALTER TABLE ... SET SCHEMA``; SQLite: the rows copied into the live
   tables), and sets the projections' positions to ``H``. Readers see the old complete
   tables until the commit and the new complete ones after it.
4. Events recorded after ``H`` (while the rebuild ran) are applied by ordinary catch-up
   from ``H``: the rebuild runs it itself after the swap, and a runner beside the service
   does the same. Catch-up replaces the rows of each case it touches and continues the
   ``kpi_item`` rows valid at the case's first new instant, so an event after ``H`` is
   counted exactly once, whoever applies it; a runner that was ahead of ``H`` on the old
   tables finds its position moved (compare-and-set) and reads again from ``H``.

Two rebuilds do not run at once on PostgreSQL (an advisory lock); a failed rebuild leaves
the live tables as they were, and its leftovers are dropped by the next one.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import re
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from projections.kpi_cells import BUCKETS, CLIENTS, SUM_STATEMENTS, sum_cells
from storage.config import StoreConfig
from storage.views import MIGRATIONS, ViewStore, _statements, applies, session

SCHEMA = "caselog_rebuild"
_LOCK_ID = 7_231_604_240  # advisory lock: one rebuild at a time (ids 225, 226 are taken)
_SPACE = 1 << 128  # UUIDs, split into ranges
#: memory for each sort or hash of the final sums (PostgreSQL; ``_PgStore.finish``)
FINISH_WORK_MEM = "64MB"
#: the tables ``kpi_cells.sum_cells`` fills (``_PgStore.finish``): its ``cells`` part, then
#: its ``buckets`` part
CELL_TABLES = ("kpi_cell", CLIENTS)
SUM_TABLES = (*CELL_TABLES, BUCKETS)

Progress = Callable[[int, int], None]


# --- the tables ---------------------------------------------------------------------------


_TABLE = re.compile(r"CREATE TABLE IF NOT EXISTS (\w+)", re.IGNORECASE)
_INDEX = re.compile(
    r"CREATE (?:UNIQUE )?INDEX IF NOT EXISTS \w+\s+ON (\w+)\s*\((\w+)", re.IGNORECASE
)
_ALTER = re.compile(r"ALTER TABLE (\w+)", re.IGNORECASE)
_DROP = re.compile(r"DROP INDEX IF EXISTS (\w+)", re.IGNORECASE)


@dataclass(frozen=True)
class Ddl:
    tables: list[str]  # CREATE TABLE and ALTER TABLE, in migration order
    case_indexes: list[str]  # indexes that begin with case_id: catch-up reads by case
    later: list[str]  # the other indexes: built after the load


def ddl(tables: Iterable[str], postgres: bool) -> Ddl:
    """The migrations' statements that create ``tables`` and their indexes (those of the
    store's kind, ``storage.views.applies``; an index a later migration drops left out)."""
    wanted = set(tables)
    out = Ddl([], [], [])
    for path in sorted(MIGRATIONS.glob("[0-9][0-9][0-9][0-9]_*.sql")):
        if not applies(path, postgres):
            continue
        for statement in _statements(path.read_text()):
            dropped = _DROP.match(statement)
            if dropped:
                named = re.compile(rf"CREATE (?:UNIQUE )?INDEX IF NOT EXISTS {dropped[1]}\s")
                out.case_indexes[:] = [s for s in out.case_indexes if not named.match(s)]
                out.later[:] = [s for s in out.later if not named.match(s)]
                continue
            index = _INDEX.match(statement)
            if index:
                if index[1] in wanted:
                    (out.case_indexes if index[2] == "case_id" else out.later).append(statement)
                continue
            table = _TABLE.match(statement) or _ALTER.match(statement)
            if table and table[1] in wanted:
                out.tables.append(statement)
    missing = wanted - {m[1] for s in out.tables if (m := _TABLE.match(s))}
    if missing:
        raise RuntimeError(f"no migration creates {', '.join(sorted(missing))}")
    return out


# --- where a worker writes ----------------------------------------------------------------


_INSERT = re.compile(r"^INSERT INTO (\w+) \(([\w, ]+)\) VALUES \((?:%s, )*%s\)$")


class _CopyCursor:
    """A psycopg cursor whose multi-row plain ``INSERT`` (no ``ON CONFLICT``) is a ``COPY``:
    the rebuild writes into tables no one else writes, so the rows go in one stream."""

    def __init__(self, cur: Any) -> None:
        self._cur = cur

    def executemany(self, statement: str, rows: Iterable[Sequence[Any]]) -> None:
        found = _INSERT.match(statement)
        if found is None:
            self._cur.executemany(statement, rows)
            return
        with self._cur.copy(f"COPY {found[1]} ({found[2]}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cur, name)


class TargetViews(ViewStore):
    """The rebuild's tables: on PostgreSQL the live database with ``search_path`` set to
    the rebuild's schemas (so the projections' SQL is unchanged), on SQLite a separate
    file. No migrations: the rebuild creates exactly the tables it fills."""

    def __init__(
        self, config: StoreConfig, search_path: str | None = None, path: str | None = None
    ) -> None:
        import threading

        self.config = config
        self.is_postgres = config.kind == "postgres"
        self._local = threading.local()
        self.search_path = search_path
        self.path = path

    def _connect(self) -> Any:
        if self.is_postgres:
            import psycopg

            pg = psycopg.connect(
                self.config.libpq_url,
                autocommit=True,
                connect_timeout=3,
                options=f"-c search_path={self.search_path}",
            )
            session(pg)  # planned as the live read models' connections are
            return pg
        conn = sqlite3.connect(
            self.path or "", timeout=30, isolation_level=None, check_same_thread=False
        )
        conn.execute("PRAGMA journal_mode = MEMORY")  # a scratch file: rebuilt when lost
        conn.execute("PRAGMA synchronous = OFF")
        return conn

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Any]:
        with super().transaction() as cur:
            yield _CopyCursor(cur) if self.is_postgres else cur


# --- what a worker reads ------------------------------------------------------------------


class _Partition:
    """The event log as one worker sees it: notifications up to the head ``stop``, of the
    cases whose id lies in ``[low, high)`` (all cases for the whole range); everything else
    is the source's own (``projections.ports.CaseSource``)."""

    def __init__(self, source: Any, stop: int, low: int, high: int) -> None:
        self._source = source
        self.stop = stop
        self.low, self.high = low, high

    def max_notification_id(self) -> int:
        return self.stop

    def select_notifications(self, start: int, limit: int) -> Sequence[Any]:
        if start > self.stop:
            return []
        if self.low == 0 and self.high == _SPACE:
            found = self._source.select_notifications(start, limit)
            return [n for n in found if n.id <= self.stop]
        high = UUID(int=self.high) if self.high < _SPACE else None
        part: Sequence[Any] = self._source.select_notifications_of(
            start, limit, self.stop, UUID(int=self.low), high
        )
        return part

    def case_histories(self) -> Iterator[tuple[UUID, Sequence[Any]]]:
        """The partition's cases, each whole up to the head, case after case."""
        whole = self.low == 0 and self.high == _SPACE
        low = None if whole else UUID(int=self.low)
        high = UUID(int=self.high) if self.high < _SPACE else None
        histories: Iterator[tuple[UUID, Sequence[Any]]] = self._source.case_histories(
            self.stop, low, high
        )
        return histories

    def __getattr__(self, name: str) -> Any:
        return getattr(self._source, name)


class _Worker:
    """What a worker process reads from: the event store (``storage.eventstore``) and the
    catalogues its parent rebuilds with."""

    def __init__(self, store: Any, catalogues: Any) -> None:
        self._store = store
        self.catalogues = catalogues

    def catalogue(self, tenant: str) -> Any:
        return self.catalogues.for_tenant(tenant)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def bounds(part: int, parts: int) -> tuple[int, int]:
    """The range of case ids (as integers) of partition ``part`` of ``parts``."""
    return part * _SPACE // parts, (part + 1) * _SPACE // parts


@dataclass(frozen=True)
class Job:
    """What one worker builds (picklable: it crosses into a spawned process)."""

    url: str
    names: tuple[str, ...]
    head: int
    part: int
    parts: int
    search_path: str | None  # PostgreSQL
    path: str | None  # SQLite
    catalogues: bytes  # pickled, so a store with its own catalogues rebuilds with them
    batch_size: int = 5000
    #: case after case, each case whole (``ProjectionRunner.apply_histories``), when the
    #: source can (``case_histories``); else in log order, as catch-up does
    by_case: bool = True


def build(job: Job, app: Any, projections: Sequence[Any], report: Callable[[int], None]) -> int:
    """Replay the job's partition into its target; ``report`` gets the events so far."""
    from projections.runner import ProjectionRunner

    low, high = bounds(job.part, job.parts)
    target = TargetViews(app.store, search_path=job.search_path, path=job.path)
    source = _Partition(app, job.head, low, high)
    runner = ProjectionRunner(
        source,
        views=target,
        projections=projections,
        batch_size=job.batch_size,
    )
    runner._rebuilding = True  # tables start empty: cases born in a batch need no delete
    total = 0
    try:
        if job.by_case:
            for cases in _chunked(source.case_histories(), job.batch_size):
                total += runner.apply_histories(cases)
                report(total)
            return total
        while True:
            n = runner.run_once()  # nobody else writes here: the position cannot move
            if n == 0:
                return total
            total += n
            report(total)
    finally:
        target.close()


def _chunked(
    cases: Iterator[tuple[UUID, Sequence[Any]]], events: int
) -> Iterator[list[tuple[UUID, Sequence[Any]]]]:
    """Whole cases in chunks of about ``events`` events (a longer case is a chunk alone)."""
    chunk: list[tuple[UUID, Sequence[Any]]] = []
    held = 0
    for case in cases:
        chunk.append(case)
        held += len(case[1])
        if held >= events:
            yield chunk
            chunk, held = [], 0
    if chunk:
        yield chunk


def _worker() -> None:
    """``python -m projections.rebuild``: one worker process, its job pickled on stdin, the
    events it has processed written to stdout as it goes (``done N``, a line per batch)."""
    import sys

    from projections.runner import ALL
    from storage.config import store_config
    from storage.eventstore import CaseStore

    job: Job = pickle.loads(sys.stdin.buffer.read())  # noqa: S301 - from our own parent process
    store = CaseStore(store_config(job.url))
    app = _Worker(store, pickle.loads(job.catalogues))  # noqa: S301

    def report(n: int) -> None:
        print(f"done {n}", flush=True)

    try:
        build(job, app, [p for p in ALL if p.name in job.names], report)
    finally:
        store.close()


# --- the rebuild ----------------------------------------------------------------------------


def rebuild(
    runner: Any,
    names: Iterable[str] | None = None,
    progress: Progress | None = None,
    workers: int | None = None,
    before_swap: Callable[[], None] | None = None,
) -> int:
    """Rebuild the named projections (all by default) of ``runner`` into fresh tables and
    swap them in; then catch them (only them) up from the rebuild's head. The events
    processed."""
    chosen = set(names or runner.names)
    unknown = chosen - set(runner.names)
    if unknown:
        raise ValueError(f"unknown projection(s): {', '.join(sorted(unknown))}")
    projections = [p for p in runner.projections if p.name in chosen]
    views: ViewStore = runner.views
    app = runner.app
    parts = 1
    if views.is_postgres:
        parts = max(1, workers if workers is not None else (os.cpu_count() or 1))
        from projections.runner import ALL

        standard = all(any(p is q for q in ALL) for p in projections)
        shippable = hasattr(app, "catalogues") and hasattr(app, "select_notifications_of")
        if parts > 1 and not (standard and shippable):
            parts = 1  # projections or a source a worker process cannot rebuild: no pool
    by_case = hasattr(app, "case_histories")
    store = _PgStore(views, projections) if views.is_postgres else _SqliteStore(views, projections)
    with store.held():
        head = app.max_notification_id()
        if progress:
            progress(0, head)
        store.prepare(parts, by_case)
        jobs = [
            Job(
                url=views.config.url,
                names=tuple(p.name for p in projections),
                head=head,
                part=k,
                parts=parts,
                search_path=store.search_path(k),
                path=store.path,
                catalogues=pickle.dumps(getattr(app, "catalogues", None)),
                batch_size=max(runner.batch_size, 5000),
                by_case=by_case,
            )
            for k in range(parts)
        ]
        try:
            if parts == 1:

                def report(n: int) -> None:
                    if progress:
                        progress(min(n, head), head)

                built = build(jobs[0], app, projections, report)
            else:
                built = _pool(jobs, head, progress)
            store.finish(parts, by_case)
            if before_swap is not None:
                before_swap()
            store.swap(head, [p.name for p in projections])
        finally:
            store.discard(parts)
    # what was recorded while the rebuild ran, applied to the projections it rebuilt; the
    # others keep their positions and catch up as always (a projection no runner has read
    # yet is not replayed in log order as part of rebuilding another: docs/operations.md)
    catching = runner
    if len(projections) < len(runner.projections):
        from projections.runner import ProjectionRunner

        catching = ProjectionRunner(
            app, views=views, projections=projections, batch_size=runner.batch_size
        )
    later: int = catching.run_until_current()
    if progress:
        progress(built + later, built + later)
    return built + later


def _pool(jobs: list[Job], head: int, progress: Progress | None) -> int:
    """Run each job in its own process (a fresh interpreter: no state shared with this
    one but the database) and add up what they report."""
    import subprocess
    import sys
    import threading

    root = str(Path(__file__).resolve().parent.parent)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])),
    }
    done = [0] * len(jobs)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "projections.rebuild"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        for _ in jobs
    ]

    def read(k: int, out: Any) -> None:
        for line in out:
            if line.startswith(b"done "):
                done[k] = int(line[5:])
            else:  # anything else a worker printed goes where the user can see it
                sys.stderr.buffer.write(line)

    readers = []
    for k, (job, proc) in enumerate(zip(jobs, procs, strict=True)):
        assert proc.stdin is not None
        assert proc.stdout is not None
        proc.stdin.write(pickle.dumps(job))
        proc.stdin.close()
        reader = threading.Thread(target=read, args=(k, proc.stdout), daemon=True)
        reader.start()
        readers.append(reader)
    try:
        while any(proc.poll() is None for proc in procs):
            _check(procs)
            if progress:
                progress(min(sum(done), head), head)
            time.sleep(0.2)
        _check(procs)
        for reader in readers:
            reader.join(timeout=10)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
            proc.wait(timeout=10)
    return sum(done)


def _check(procs: list[Any]) -> None:
    for k, proc in enumerate(procs):
        if proc.returncode not in (None, 0):
            raise RuntimeError(f"rebuild worker {k} failed (exit code {proc.returncode})")


# --- PostgreSQL: a schema per rebuild, a schema per worker, SET SCHEMA to swap -------------


class _PgStore:
    path = None

    def __init__(self, views: ViewStore, projections: Sequence[Any]) -> None:
        self.views = views
        self.tables = [t for p in projections for t in p.tables]
        self.ddl = ddl(self.tables, postgres=True)
        self.live = str(views.query("SELECT current_schema()")[0][0])

    def _conn(self) -> Any:
        import psycopg

        return psycopg.connect(self.views.config.libpq_url, autocommit=True, connect_timeout=3)

    def search_path(self, k: int) -> str:
        return f"{SCHEMA}_w{k},{SCHEMA}"

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """One rebuild at a time (the lock is the session's: it goes with the connection)."""
        with self._conn() as conn:
            if not conn.execute("SELECT pg_try_advisory_lock(%s)", (_LOCK_ID,)).fetchone()[0]:
                raise RuntimeError("another rebuild of the projections is running on this store")
            self.conn = conn
            yield

    def _leftovers(self) -> list[str]:
        rows = self.conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname = %s OR nspname LIKE %s",
            (SCHEMA, f"{SCHEMA}\\_w%"),
        ).fetchall()
        return [str(r[0]) for r in rows]

    def discard(self, parts: int) -> None:
        for schema in self._leftovers():
            self.conn.execute(f'DROP SCHEMA "{schema}" CASCADE')

    def prepare(self, parts: int, by_case: bool) -> None:
        self.discard(parts)  # what a failed rebuild left
        with self.conn.transaction():
            self.conn.execute(f"CREATE SCHEMA {SCHEMA}")
            self.conn.execute(f"SET LOCAL search_path = {SCHEMA}")
            for statement in self.ddl.tables + self.ddl.case_indexes:
                self.conn.execute(statement)
            for k in range(parts):
                own = f"{SCHEMA}_w{k}"
                self.conn.execute(f"CREATE SCHEMA {own}")
                self.conn.execute(
                    f"CREATE TABLE {own}.projection_tracking "
                    f"(LIKE {self.live}.projection_tracking INCLUDING ALL)"
                )
                for table, _ in _summed(self.tables, parts, by_case):
                    # each worker sums its own cases' cells (and their changes per recorded
                    # month and day); added up in ``finish``. Shared, the workers' upserts
                    # of the same cell would also lock each other in turn (deadlocks).
                    self.conn.execute(
                        f"CREATE TABLE {own}.{table} (LIKE {SCHEMA}.{table} INCLUDING ALL)"
                    )

    def finish(self, parts: int, by_case: bool) -> None:
        """The sums, the indexes built after the load, VACUUM. On two connections at once:
        the buckets' sums (the longest chain) beside the cells, the indexes and the other
        tables (the workers are done: both cores are free)."""
        import threading

        summing = by_case and "kpi_cell" in self.tables
        if summing:
            with self.conn.transaction():  # both chains plan with these statistics
                self._settings(self.conn)
                for statement in SUM_STATEMENTS["items"]:
                    self.conn.execute(statement)
        failed: list[BaseException] = []

        def buckets() -> None:
            try:
                with self._conn() as conn, conn.transaction():
                    self._settings(conn)
                    with self._keys_dropped(conn, (BUCKETS,)):
                        for statement in SUM_STATEMENTS["buckets"]:
                            conn.execute(statement)
            except BaseException as e:  # re-raised in the caller's thread
                failed.append(e)

        side = threading.Thread(target=buckets, name="rebuild-buckets") if summing else None
        if side is not None:
            side.start()
        try:
            with self.conn.transaction():
                self._settings(self.conn)
                if summing:
                    with self._keys_dropped(self.conn, CELL_TABLES):
                        for statement in SUM_STATEMENTS["cells"]:
                            self.conn.execute(statement)
                for table, columns in _summed(self.tables, parts, by_case):
                    cols = ", ".join(columns)
                    union = " UNION ALL ".join(
                        f"SELECT {cols}, n FROM {SCHEMA}_w{k}.{table}"  # noqa: S608 - our names
                        for k in range(parts)
                    )
                    self.conn.execute(
                        f"INSERT INTO {table} ({cols}, n) SELECT {cols}, SUM(n) "  # noqa: S608 - our names
                        f"FROM ({union}) AS cells GROUP BY {cols} HAVING SUM(n) <> 0"
                    )
                for statement in self.ddl.later:
                    self.conn.execute(statement)
            # VACUUM too: it marks the new pages all-visible, so the KPI queries' index-only
            # scans (migrations/0010) need not visit the table until rows change. Only rows
            # no open transaction can miss are marked: the tables the workers filled now,
            # those the two chains summed once both have committed (vacuumed while the
            # other chain's transaction was open, kpi_cell stayed unmarked: at 100,000
            # cases the KPI queries' p95 rose from 21 to 28-41 ms)
            for table in self.tables:
                if not (summing and table in SUM_TABLES):
                    self.conn.execute(f"VACUUM (ANALYZE) {SCHEMA}.{table}")
        finally:
            if side is not None:
                side.join()
        if failed:
            raise failed[0]
        for table in SUM_TABLES if summing else ():
            self.conn.execute(f"VACUUM (ANALYZE) {SCHEMA}.{table}")

    @staticmethod
    def _settings(conn: Any) -> None:
        """The rebuild's schema first; then hashing for the final sums. They group every
        kpi_item row into a few million sums: sorted, with the default 4 MB of work_mem
        (at 10,000 cases the buckets' sum took 25 of the rebuild's 77 s) or with 64 MB
        (at 100,000 cases the planner still sorted 13 million rows on disk: 118 s), against
        23 s hashed with 64 MB, spilling what does not fit in batches (256 MB: the same
        23 s). JIT compiling them cost more than it saved (2.4 s of the buckets' 11.5 s).
        The index builds sort by themselves, with their maintenance_work_mem."""
        conn.execute(f"SET LOCAL search_path = {SCHEMA}")
        conn.execute(f"SET LOCAL work_mem = '{FINISH_WORK_MEM}'")
        conn.execute("SET LOCAL enable_sort = off")
        conn.execute("SET LOCAL jit = off")

    @contextlib.contextmanager
    def _keys_dropped(self, conn: Any, tables: Sequence[str]) -> Iterator[None]:
        """``tables`` without their primary keys while they are filled, the keys built
        again (one sort each) afterwards: inserting a million sums into a 13-column key
        index one by one cost more than summing them."""
        rows = conn.execute(
            "SELECT c.conname, c.conrelid::regclass::text, pg_get_constraintdef(c.oid) "
            "FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid "
            "JOIN pg_namespace s ON s.oid = t.relnamespace "
            "WHERE c.contype = 'p' AND s.nspname = %s AND t.relname = ANY(%s)",
            (SCHEMA, list(tables)),
        ).fetchall()
        for name, table, _ in rows:
            conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        yield
        for name, table, definition in rows:
            conn.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')

    def swap(self, head: int, names: list[str]) -> None:
        """One transaction: the live tables out, the rebuilt ones in, the positions at
        ``head``. The tracking table is locked first, as the runner's transaction takes it
        first, so a runner mid-batch finishes (on the old tables) or waits (and then finds
        its position moved)."""
        import psycopg

        live = self.live
        for attempt in range(5):
            try:
                with self.conn.transaction():
                    self.conn.execute("SET LOCAL lock_timeout = '30s'")
                    locked = ", ".join(f"{live}.{t}" for t in ("projection_tracking", *self.tables))
                    self.conn.execute(f"LOCK TABLE {locked} IN ACCESS EXCLUSIVE MODE")
                    for table in self.tables:
                        self.conn.execute(f"DROP TABLE {live}.{table}")
                        self.conn.execute(f"ALTER TABLE {SCHEMA}.{table} SET SCHEMA {live}")
                    _track(self.conn.cursor(), f"{live}.projection_tracking", "%s", names, head)
                return
            except psycopg.errors.DeadlockDetected:
                if attempt == 4:
                    raise
                time.sleep(0.1 * (attempt + 1))


def _track(cur: Any, table: str, mark: str, names: list[str], head: int) -> None:
    now = datetime.now(UTC).isoformat()
    cur.executemany(
        f"INSERT INTO {table} (name, position, updated_at) VALUES ({mark}, {mark}, {mark}) "  # noqa: S608 - our names
        "ON CONFLICT (name) DO UPDATE SET position = excluded.position, "
        "updated_at = excluded.updated_at",
        [(name, head, now) for name in names],
    )


# --- SQLite: a separate file, the rows copied in one transaction ---------------------------


class _SqliteStore:
    def __init__(self, views: ViewStore, projections: Sequence[Any]) -> None:
        self.views = views
        self.tables = [t for p in projections for t in p.tables]
        self.ddl = ddl(self.tables, postgres=False)
        self.path = f"{views.config.sqlite_path}.rebuild"

    def search_path(self, k: int) -> None:
        return None

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        yield

    def discard(self, parts: int) -> None:
        for suffix in ("", "-journal", "-wal", "-shm"):
            Path(self.path + suffix).unlink(missing_ok=True)

    def prepare(self, parts: int, by_case: bool) -> None:
        self.discard(parts)
        with contextlib.closing(sqlite3.connect(self.path, isolation_level=None)) as conn:
            conn.execute("BEGIN")
            conn.execute(
                "CREATE TABLE projection_tracking (name TEXT PRIMARY KEY, "
                "position BIGINT NOT NULL, updated_at TEXT NOT NULL)"
            )
            for statement in self.ddl.tables + self.ddl.case_indexes:
                conn.execute(statement)
            conn.execute("COMMIT")

    def finish(self, parts: int, by_case: bool) -> None:
        # the live tables have their indexes; the rows are copied into them
        if by_case and "kpi_cell" in self.tables:
            with contextlib.closing(sqlite3.connect(self.path, isolation_level=None)) as conn:
                conn.execute("BEGIN")
                sum_cells(conn.cursor())
                conn.execute("COMMIT")

    def swap(self, head: int, names: list[str]) -> None:
        """One write transaction: readers of the live tables see the old rows until the
        commit (SQLite's snapshot isolation), then the new ones."""
        conn = sqlite3.connect(self.views.config.sqlite_path, timeout=30, isolation_level=None)
        try:
            conn.execute("PRAGMA busy_timeout = 30000")
            conn.execute("ATTACH DATABASE ? AS rebuilt", (self.path,))
            conn.execute("BEGIN IMMEDIATE")
            try:
                for table in self.tables:
                    cols = ", ".join(r[1] for r in conn.execute(f"PRAGMA main.table_info({table})"))
                    conn.execute(f"DELETE FROM main.{table}")  # noqa: S608 - our names
                    conn.execute(
                        f"INSERT INTO main.{table} ({cols}) SELECT {cols} FROM rebuilt.{table}"  # noqa: S608
                    )
                _track(conn.cursor(), "main.projection_tracking", "?", names, head)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            conn.execute("DETACH DATABASE rebuilt")
        finally:
            conn.close()


def _summed(
    tables: tuple[str, ...] | list[str], parts: int, by_case: bool
) -> list[tuple[str, tuple[str, ...]]]:
    """The count tables that several workers add to (``kpi_cell``, ``kpi_cell_bucket``):
    each worker keeps its own, summed once all are done (none with one worker; none by
    case: then they are computed from the rows, ``kpi_cells.sum_cells``)."""
    from projections.kpi_cells import BUCKET_COLUMNS, BUCKETS, CELL_COLUMNS

    if parts <= 1 or by_case:
        return []
    known = (("kpi_cell", CELL_COLUMNS), (BUCKETS, BUCKET_COLUMNS))
    return [(table, columns) for table, columns in known if table in tables]


if __name__ == "__main__":
    _worker()
