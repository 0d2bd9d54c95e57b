"""The event store adapter: the one module that knows eventsourcing's internals.

caselog pins eventsourcing (9.5.6) because a few of its speed-ups reach past the library's
public interface: a projector without the per-event Protocol check, a snapshot taken from
the case just saved instead of reloaded, a binary COPY for bulk imports under the recorder's
own table lock, the PostgreSQL tables created without errors in the server's log, a case
copied without its pending events, and the raw deletion of a case's stored rows (R-33).
All of them live here, behind :class:`CaseStore` (the library's ``Application`` with those
behaviours) and a few functions, so a library upgrade is checked against this file (and the
msgspec mapper, ``storage.mapper``) only. The application (``application.application``)
builds on :class:`CaseStore` and never touches a recorder itself.

What the rest of the code may use: :class:`CaseStore`'s public methods, :func:`fast_project`,
:func:`fresh_copy`, and the two library errors re-exported here.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, ClassVar, Protocol, cast
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import RecordConflictError

from domain.case import Case
from storage.config import StoreConfig
from storage.mapper import MsgspecMapper
from storage.snapshot_writer import SnapshotWriter

__all__ = [
    "AggregateNotFoundError",
    "CaseStore",
    "LogEntry",
    "RecordConflictError",
    "fast_project",
    "fresh_copy",
]

_PG_SCHEMA_LOCK = 7_231_604_226  # advisory lock id for creating the event store's tables


class LogEntry(Protocol):
    """One entry of the event log (the library's ``Notification``): a stored event with its
    position. Case ids are UUIDs in this store."""

    @property
    def id(self) -> int: ...

    @property
    def originator_id(self) -> UUID: ...

    @property
    def originator_version(self) -> int: ...

    @property
    def topic(self) -> str: ...

    @property
    def state(self) -> bytes: ...


def fast_project(aggregate: Case | None, events: Iterable[Any]) -> Case | None:
    """Apply events without the library's per-event Protocol assertion (~16 us each)."""
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate


def fresh_copy(case: Any) -> Any:
    """A copy that can be advanced without touching the original (facts and state are
    immutable; only the entries list, the request keys and pending events are per copy)."""
    new = object.__new__(type(case))
    new.__dict__.update(case.__dict__)
    new.entries = list(case.entries)
    new.requests = dict(case.requests)
    new._pending_events = []
    return new


def snapshot_offset(case_id: UUID, interval: int) -> int:
    """A case's own shift of its snapshot steps (0 to ``interval`` - 1, from its id)."""
    return case_id.int % interval


def snapshot_step(interval: int, version: int) -> int:
    """Versions between snapshots of a case at ``version``: ``interval`` up to ten times
    it, then ``interval`` doubled each time the case doubles (a tenth to a twentieth of
    the case). A snapshot encodes the whole case, so a fixed step made every write pay
    O(events of the case) / interval; with a step growing with the case a write pays about
    ten to twenty entries' worth whatever its length, and a load replays at most a tenth of
    the case after its snapshot."""
    return interval * (1 << max(0, (version // (10 * interval)).bit_length() - 1))


class CaseStore(Application[UUID]):
    """The library's application on one store (SQLite or PostgreSQL, ``storage.config``),
    with caselog's mapper and snapshots, and reads and writes the layers above use."""

    name = "caselog"
    snapshotting_intervals: ClassVar[dict[type, int]] = {Case: 100}
    snapshot_class = Case.Snapshot

    def __init__(self, store: StoreConfig, env: dict[str, str] | None = None) -> None:
        self.store = store
        settings = {**store.env, **(env or {})}
        own_schema = store.kind == "postgres" and "CREATE_TABLE" not in settings
        if own_schema:  # see _create_pg_tables
            settings["CREATE_TABLE"] = "n"
        super().__init__(settings)
        if own_schema:
            self._create_pg_tables()
        #: the group committer's saves hand their snapshots to a thread of their own
        #: (``save_grouped``, ``storage.snapshot_writer``)
        self._snapshot_writer: SnapshotWriter | None = None
        #: what the save running on this thread is (``grouped``, ``bulk``)
        self._saving = threading.local()

    def save_grouped(self, *cases: Case) -> Any:
        """``save``, with the snapshots it takes written by the snapshot writer thread, not
        in this call: the group committer's save, which every waiting request is behind."""
        if self.snapshots is not None and self._snapshot_writer is None:
            self._snapshot_writer = SnapshotWriter(self.snapshots.put)
        self._saving.grouped = True
        try:
            return self.save(*cases)
        finally:
            self._saving.grouped = False

    def flush_snapshots(self) -> None:
        """Wait until the snapshots of the group committer's saves are written."""
        if self._snapshot_writer is not None:
            self._snapshot_writer.flush()

    def close(self) -> None:
        if self._snapshot_writer is not None:
            self._snapshot_writer.close()
        super().close()

    def construct_mapper(self) -> MsgspecMapper:
        return MsgspecMapper(compressor=self.factory.compressor(), cipher=self.factory.cipher())

    # --- reads ---------------------------------------------------------------------------

    def load_case(self, case_id: UUID, version: int | None = None) -> Case:
        """The case at ``version`` (its latest when None), snapshot first;
        ``AggregateNotFoundError`` for no such case."""
        case: Case = self.repository.get(case_id, version=version, projector_func=fast_project)
        return case

    def case_events(self, case_id: UUID) -> list[Any]:
        """Every event of the case, oldest first."""
        return list(self.events.get(case_id))

    def stored_events_after(self, case_id: UUID, version: int) -> Sequence[Any]:
        """The case's stored events after ``version`` (0: all), oldest first, not decoded
        (``to_domain_event`` decodes one): a reader that holds a copy decodes only what it
        lacks."""
        return self.recorder.select_events(case_id, gt=version or None)

    def select_notifications(self, start: int, limit: int) -> Sequence[LogEntry]:
        """Up to ``limit`` entries of the log from notification id ``start`` on, in order."""
        found = self.recorder.select_notifications(start=start, limit=limit)
        return cast(Sequence[LogEntry], found)

    def select_notifications_of(
        self, start: int, limit: int, stop: int, low: UUID, high: UUID | None
    ) -> Sequence[LogEntry]:
        """Like ``select_notifications``, up to notification id ``stop``, of the cases whose
        id lies in ``[low, high)`` (``high`` None: no upper end); filtered in the database,
        so a rebuild worker reads only its own cases' events (PostgreSQL only)."""
        from eventsourcing.persistence import Notification
        from psycopg.sql import SQL, Identifier

        recorder: Any = self.recorder
        datastore = recorder.datastore
        statement = SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state "
            "FROM {schema}.{table} WHERE notification_id >= %s AND notification_id <= %s "
            "AND originator_id >= %s"
        ).format(schema=Identifier(datastore.schema), table=Identifier(recorder.events_table_name))
        params: list[Any] = [start, stop, low]
        if high is not None:
            statement += SQL(" AND originator_id < %s")
            params.append(high)
        statement += SQL(" ORDER BY notification_id LIMIT %s")
        params.append(limit)
        with datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, params, prepare=True)
            found = [
                Notification(
                    id=row["notification_id"],
                    originator_id=row["originator_id"],
                    originator_version=row["originator_version"],
                    topic=row["topic"],
                    state=bytes(row["state"]),
                )
                for row in curs.fetchall()
            ]
        return cast(Sequence[LogEntry], found)

    def case_histories(
        self, stop: int, low: UUID | None = None, high: UUID | None = None
    ) -> Iterator[tuple[UUID, list[LogEntry]]]:
        """Every case's log entries up to notification id ``stop``, case after case (by case
        id, each case's in version order), of the cases whose id lies in ``[low, high)``
        (None: no bound; PostgreSQL only). Streamed (a server-side cursor on PostgreSQL),
        so a rebuild holds one case at a time, not the log."""
        from eventsourcing.persistence import Notification

        recorder: Any = self.recorder
        table = self.events_table()
        if self.store.kind == "postgres":
            from psycopg.rows import tuple_row

            where: list[str] = ["notification_id <= %s"]
            params: list[Any] = [stop]
            if low is not None:
                where.append("originator_id >= %s")
                params.append(low)
            if high is not None:
                where.append("originator_id < %s")
                params.append(high)
            statement = (
                "SELECT notification_id, originator_id, originator_version, topic, state "  # noqa: S608 - our table
                f"FROM {table} WHERE {' AND '.join(where)} "
                "ORDER BY originator_id, originator_version"
            )
            with (
                recorder.datastore.get_connection() as conn,
                conn.transaction(),
                conn.cursor(name="case_histories", row_factory=tuple_row) as cur,
            ):
                cur.itersize = 5000
                cur.execute(statement, params)
                yield from _by_case(
                    Notification(
                        id=row[0],
                        originator_id=row[1],
                        originator_version=row[2],
                        topic=row[3],
                        state=bytes(row[4]),
                    )
                    for row in cur
                )
            return
        if low is not None or high is not None:
            raise ValueError("a range of cases is read on PostgreSQL only")
        with recorder.datastore.transaction(commit=False) as wrapped:
            cur = wrapped.sqlite_cursor  # the library's wrapper lacks fetchmany
            cur.execute(
                "SELECT rowid, originator_id, originator_version, topic, state "  # noqa: S608 - our table
                f"FROM {table} WHERE rowid <= ? ORDER BY originator_id, originator_version",
                (stop,),
            )
            rows = iter(lambda: cur.fetchmany(5000), [])
            yield from _by_case(
                Notification(
                    id=row[0],
                    originator_id=UUID(row[1]),
                    originator_version=row[2],
                    topic=row[3],
                    state=bytes(row[4]),
                )
                for chunk in rows
                for row in chunk
            )

    def max_notification_id(self) -> int:
        """The id of the log's last entry (0 for an empty log)."""
        return self.recorder.max_notification_id() or 0

    def events_table(self) -> str:
        """The stored events' table, quoted (and schema-qualified on PostgreSQL), for read
        models that look up a case's last event beside their rows in one statement."""
        recorder: Any = self.recorder
        if self.store.kind == "postgres":
            return f'"{recorder.datastore.schema}"."{recorder.events_table_name}"'
        return f'"{recorder.events_table_name}"'

    def decode_stored(self, case_id: UUID, version: int, topic: str, state: bytes) -> Any:
        """A stored event's row (as another process's committer appended it) as the case's
        domain event."""
        from eventsourcing.persistence import StoredEvent

        return self.mapper.to_domain_event(
            StoredEvent(originator_id=case_id, originator_version=version, topic=topic, state=state)
        )

    def to_domain_event(self, stored: Any) -> Any:
        """A stored event (or log entry) decoded into its event class."""
        return self.mapper.to_domain_event(stored)

    # --- writes the library does not offer ----------------------------------------------

    def _create_pg_tables(self) -> None:
        """Create the event store's tables, idempotent and without errors in the server's log.

        The library creates its composite type with a bare ``CREATE TYPE`` and swallows
        "already exists", which PostgreSQL logs as an ERROR at every start (two recorders:
        two errors), and processes starting together race on the catalogue. Here one
        transaction under an advisory lock creates each type only when it is missing, then
        runs the library's other statements (all ``IF NOT EXISTS``)."""
        recorders: list[Any] = [self.recorder]
        if self.snapshots is not None:
            recorders.append(self.snapshots.recorder)
        datastore = self.recorder.datastore  # type: ignore[attr-defined]
        with datastore.transaction(commit=True) as curs:
            curs.execute("SELECT pg_advisory_xact_lock(%s)", (_PG_SCHEMA_LOCK,))
            for recorder in recorders:
                # pg_type itself, read after the lock is granted: a name lookup
                # (to_regtype) may answer from this session's stale catalogue cache
                curs.execute(
                    "SELECT count(*) AS found FROM pg_type t JOIN pg_namespace n "
                    "ON n.oid = t.typnamespace WHERE t.typname = %s AND n.nspname = %s",
                    (recorder.stored_event_type_name, datastore.schema),
                )
                row = curs.fetchone()
                if not row["found"]:
                    for statement in recorder.sql_create_statements:
                        if "CREATE TYPE" in statement.as_string():
                            curs.execute(statement, prepare=False)
                recorder._create_table(curs)
        datastore.register_type_adapters()

    def _take_snapshots(self, processing_event: Any) -> None:
        """Snapshot the case just saved, as it is in memory, when the save reached or crossed
        a multiple of the interval. The library's default reloads the case from the store
        at that version first (a snapshot decode plus up to 100 events replayed with the
        slow projector) inside the writer's batch: a cost that grew with the case. The
        step between snapshots grows with the case (``snapshot_step``), and each case's
        steps are shifted by an offset of its own (``snapshot_offset``): cases written at
        the same pace (an import, a load test) would otherwise all be snapshotted in the
        same few batches."""
        interval = self.snapshotting_intervals.get(Case)
        if self.snapshots is None or not interval:
            return
        bulk = getattr(self._saving, "bulk", False)  # an import: every case long enough
        crossed = {
            e.originator_id
            for e in processing_event.events
            if e.originator_version >= interval
            and (
                bulk
                or (e.originator_version + snapshot_offset(e.originator_id, interval))
                % snapshot_step(interval, e.originator_version)
                == 0
            )
        }
        snapshots = [
            Case.Snapshot.take(case)
            for case_id, case in processing_event.aggregates.items()
            if case_id in crossed and isinstance(case, Case)
        ]
        if not snapshots:
            return
        if self._snapshot_writer is not None and getattr(self._saving, "grouped", False):
            self._snapshot_writer.submit(snapshots)
        else:
            self.snapshots.put(snapshots)

    def save_in_bulk(self, batch: list[Case]) -> int:
        """Bulk path for imports: on PostgreSQL a binary COPY (see ``_copy_batch``), on
        SQLite one ordinary save; one transaction. Returns the events saved."""
        count = sum(len(c.pending_events) for c in batch)
        if self.store.kind == "postgres":
            self._copy_batch(batch)
        else:  # every case long enough snapshotted, as by _copy_batch
            self._saving.bulk = True
            try:
                self.save(*batch)
            finally:
                self._saving.bulk = False
        return count

    def analyze(self) -> None:
        """Refresh the planner's statistics of the events and snapshots tables (PostgreSQL;
        nothing on SQLite, whose planner takes the key for a case's rows without them). For
        the end of a bulk import: a table loaded in bulk has no statistics until autovacuum's
        next ANALYZE (never, with autovacuum off), and without them PostgreSQL guessed some
        60,000 rows per case at 4 M events and loaded each case with a parallel bitmap scan
        and JIT, 25-70 ms, against 0.1 ms with them (docs/performance.md)."""
        if self.store.kind != "postgres":
            return
        recorders: list[Any] = [self.recorder]
        if self.snapshots is not None:
            recorders.append(self.snapshots.recorder)
        for recorder in recorders:
            table = f'"{recorder.datastore.schema}"."{recorder.events_table_name}"'
            with recorder.datastore.get_connection() as conn:
                conn.execute(f"ANALYZE {table}")

    def _copy_batch(self, batch: list[Case]) -> None:
        """PostgreSQL bulk path: binary COPY into the events table under the recorder's own
        table lock (so readers of the log still never skip a row), then a snapshot of every
        case long enough to need one. One transaction per batch."""
        stored = [self.mapper.to_stored_event(e) for case in batch for e in case.collect_events()]
        recorder: Any = self.recorder
        table = f'"{recorder.datastore.schema}"."{recorder.events_table_name}"'
        statement = (
            f"COPY {table} (originator_id, originator_version, topic, state) "
            "FROM STDIN (FORMAT BINARY)"
        )
        with (
            recorder.datastore.get_connection() as conn,
            conn.transaction(),
            conn.cursor() as cur,
        ):
            recorder._lock_table(cur)
            recorder._notify_channel(cur)
            with cur.copy(statement) as copy:
                copy.set_types(["uuid", "int8", "text", "bytea"])
                for e in stored:
                    copy.write_row((e.originator_id, e.originator_version, e.topic, e.state))
        interval = self.snapshotting_intervals.get(Case, 0)
        if self.snapshots is not None and interval:
            snapshots = [Case.Snapshot.take(c) for c in batch if c.version >= interval]
            if snapshots:
                self.snapshots.put(snapshots)

    def delete_case(self, case_id: UUID) -> tuple[int, int]:
        """Delete a case's stored events and snapshots (R-33 destruction, nothing else);
        (events, snapshots) deleted. The log keeps no trace of the case's rows."""
        postgres = self.store.kind == "postgres"
        self.flush_snapshots()  # none of its snapshots written after its rows are gone
        events = _delete_stored(self.recorder, case_id, postgres)
        snapshots = (
            _delete_stored(self.snapshots.recorder, case_id, postgres) if self.snapshots else 0
        )
        return events, snapshots


def _by_case(entries: Iterable[Any]) -> Iterator[tuple[UUID, list[LogEntry]]]:
    """Log entries ordered by case, grouped: (case id, its entries)."""
    case_id: UUID | None = None
    held: list[LogEntry] = []
    for entry in entries:
        if entry.originator_id != case_id:
            if held:
                assert case_id is not None
                yield case_id, held
            case_id, held = entry.originator_id, []
        held.append(entry)
    if held:
        assert case_id is not None
        yield case_id, held


def _delete_stored(recorder: Any, case_id: UUID, postgres: bool) -> int:
    """Delete a case's rows from one recorder's table; the count deleted."""
    if postgres:
        table = f'"{recorder.datastore.schema}"."{recorder.events_table_name}"'
        key: Any = case_id
        mark = "%s"
    else:
        table = f'"{recorder.events_table_name}"'
        key, mark = case_id.hex, "?"
    where = f"WHERE originator_id = {mark}"
    with recorder.datastore.transaction(commit=True) as cur:
        if not postgres:
            cur.execute("PRAGMA secure_delete = ON")
        cur.execute(f"SELECT COUNT(*) FROM {table} {where}", (key,))  # noqa: S608
        row = cur.fetchone()
        count = int(row[0] if not isinstance(row, dict) else next(iter(row.values())))
        cur.execute(f"DELETE FROM {table} {where}", (key,))  # noqa: S608
    return count
