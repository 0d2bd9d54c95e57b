"""Catch-up runner: keeps the read-model tables a function of the event log.

Why not eventsourcing's ``ProjectionRunner``: it applies one event per transaction through
a tracking recorder, which is correct but slow (one commit per event), and our read models
are per case. This runner reads a batch of notifications in log order, loads each case the
batch touched at the version the batch reaches (snapshots make that ~1 ms), derives each of
its versions from the one before (``projections.derive``), recomputes that case's rows from
the derivation and replaces them, and moves the projection's position, all in one
transaction on the read-model database:

- a crash before the commit leaves rows and position as they were: the batch is read again;
- a crash after the commit has moved both: nothing is counted twice;
- a redelivered event (a batch read again) recomputes the same rows from the same events:
  it changes nothing, so catch-up in any batch sizes equals a full rebuild;
- the position moves only from the value the batch started at (``WHERE position = ?``),
  so two runners on one database never interleave: the loser rolls back and reads again.

The log is read gap-free by notification id (the PostgreSQL recorder locks the table on
insert so ids commit in order).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, cast
from uuid import UUID

import msgspec
import structlog

from domain.case import Case
from domain.catalogue import Catalogue
from domain.clock import instant_text
from projections.case_doc import CaseDocProjection
from projections.caseload import CaseloadProjection
from projections.consumption import MonthConsumption
from projections.declarations import DeclarationProjection
from projections.derive import Derived, derive
from projections.kpi_cells import Items, KpiCellProjection
from projections.ports import CaseSource
from storage.eventstore import LogEntry
from storage.views import ViewStore

log = structlog.get_logger("caselog.projections")
_encode = msgspec.json.Encoder().encode

Rows = dict[str, list[dict[str, Any]]]
Months = dict[str, MonthConsumption]


class Projection(Protocol):
    name: str

    @property
    def tables(self) -> tuple[str, ...]: ...

    def rows(self, case_id: str, case: Case, cat: Catalogue, months: Months) -> Rows: ...


class FromDerived(Protocol):
    """A projection whose rows are read off the case version's derivation
    (``projections.derive``)."""

    name: str

    @property
    def tables(self) -> tuple[str, ...]: ...

    def derived_rows(self, case_id: str, case: Case, d: Derived) -> Rows: ...


class Versioned(Protocol):
    """A projection with recorded-time validity: it gets the items of every version of each
    case a batch touched (``projections.kpi_cells``) and writes its rows itself."""

    name: str

    @property
    def tables(self) -> tuple[str, ...]: ...

    versioned: bool

    def write(
        self,
        cur: Any,
        views: ViewStore,
        histories: dict[str, list[tuple[str, Items]]],
        fresh: set[str],
        gaps: dict[str, tuple[str, str, str]] | None = None,
    ) -> None: ...


class KpiProjection:
    """One summary per case for the KPIs (projections.kpis)."""

    name = "kpis"
    tables = ("case_summary", "case_product")

    def derived_rows(self, case_id: str, case: Case, d: Derived) -> Rows:
        s = case.state
        summary = msgspec.structs.replace(d.summary, recorded_at=case.modified_on)
        return {
            "case_summary": [
                {
                    "case_id": case_id,
                    "tenant": s.tenant,
                    "provider": s.provider,
                    "municipality": s.municipality,
                    "client_ref": s.client_ref,
                    "status": s.status,
                    "referred_on": s.referred_on.isoformat(),
                    "ended_on": s.ended_on.isoformat() if s.ended_on else None,
                    "version": case.version,
                    "first_recorded_at": instant_text(case.created_on),
                    "last_recorded_at": instant_text(case.modified_on),
                    "doc": _encode(summary).decode(),
                }
            ],
            "case_product": [
                {"case_id": case_id, "tenant": s.tenant, "product": p} for p in summary.products
            ],
        }


class ConsumptionProjection:
    name = "consumption"
    tables = ("consumption_month",)

    def derived_rows(self, case_id: str, case: Case, d: Derived) -> Rows:
        s = case.state
        return {
            "consumption_month": [
                {
                    "case_id": case_id,
                    "month": m.month,
                    "tenant": s.tenant,
                    "provider": s.provider,
                    "financing": m.financing,
                    "declarable_minutes": m.declarable_minutes,
                    "non_declarable_minutes": m.non_declarable_minutes,
                    "no_shows": m.no_shows.count,
                    "amount_due": m.amount_due,
                    "doc": doc,
                }
                for m, doc in d.month_docs()
            ]
        }


class EntitlementProjection:
    name = "entitlement"
    tables = ("entitlement",)

    def derived_rows(self, case_id: str, case: Case, d: Derived) -> Rows:
        s = case.state
        return {
            "entitlement": [
                {
                    "case_id": case_id,
                    "seq": i,
                    "tenant": s.tenant,
                    "provider": s.provider,
                    "assignment_number": v.assignment_number,
                    "product": v.product,
                    "valid_from": v.valid_from.isoformat(),
                    "valid_until": v.valid_until.isoformat(),
                    "hours_granted": v.hours_granted,
                    "hours_used": v.hours_used,
                    "hours_remaining": v.hours_remaining,
                    "periods_billed": v.periods_billed,
                    "doc": _encode(v).decode(),
                }
                for i, v in enumerate(d.entitlements)
            ]
        }


class SignalProjection:
    name = "signals"
    tables = ("case_signal",)

    def derived_rows(self, case_id: str, case: Case, d: Derived) -> Rows:
        s = case.state
        return {
            "case_signal": [
                {
                    "case_id": case_id,
                    "seq": i,
                    "tenant": s.tenant,
                    "provider": s.provider,
                    "rule": sig.rule,
                    "raised_on": sig.raised_on.isoformat(),
                    "closed_on": sig.closed_on.isoformat() if sig.closed_on else None,
                    "detail": sig.detail,
                }
                for i, sig in enumerate(d.signals)
            ]
        }


ALL: tuple[Projection | FromDerived | Versioned, ...] = (
    KpiProjection(),
    ConsumptionProjection(),
    EntitlementProjection(),
    SignalProjection(),
    CaseloadProjection(),
    DeclarationProjection(),
    KpiCellProjection(),
    CaseDocProjection(),
)


def _empty(projections: Iterable[Any]) -> dict[str, Rows]:
    """No rows yet, per (non-versioned) projection and table."""
    return {
        p.name: {t: [] for t in p.tables} for p in projections if not getattr(p, "versioned", False)
    }


def _rows_into(
    computed: dict[str, Rows], projections: Iterable[Any], case_id: str, case: Case, d: Derived
) -> None:
    """Each (non-versioned) projection's rows of the case at derivation ``d``, added."""
    for p in projections:
        if getattr(p, "versioned", False):
            continue
        derived_rows = getattr(p, "derived_rows", None)
        if derived_rows is not None:
            rows: Rows = derived_rows(case_id, case, d)
        else:
            rows = cast(Projection, p).rows(case_id, case, d.cat, d.months)
        for table, table_rows in rows.items():
            computed[p.name][table].extend(table_rows)


@dataclass(frozen=True)
class Status:
    name: str
    position: int
    lag: int


class PositionMoved(Exception):
    """Another runner committed first; read the batch again."""


class ProjectionRunner:
    def __init__(
        self,
        app: CaseSource,
        views: ViewStore | None = None,
        projections: Sequence[Projection | FromDerived | Versioned] = ALL,
        batch_size: int = 500,
        cache_size: int = 5000,
    ) -> None:
        self.app = app
        self.views = views or ViewStore(app.store)
        self.projections = list(projections)
        self.batch_size = batch_size
        self.cache_size = cache_size
        # Cases as of the last notification applied, so catch-up applies new events to
        # them instead of reloading (a write-through cache: it only ever holds a case at a
        # version read from the log), each with the last derivation of it (at that version
        # or before), from which the next version is derived (``projections.derive``).
        self._cases: OrderedDict[UUID, tuple[Case, Derived | None]] = OrderedDict()
        self._stop = threading.Event()
        self._wake = threading.Event()  # a reader waits for its own write: run now
        #: pause after a catch-up, as a multiple of the time it took (see ``_loop``)
        self.pace = 3.0
        self.max_pause = 1.0
        self._thread: threading.Thread | None = None
        self._advanced = threading.Condition()
        self.last_error: str | None = None
        #: versions of one case in a batch derived one by one for the KPI rows (above it:
        #: the last only, and a gap; see ``run_once``)
        self.exact_versions = 200
        #: True when a separate process (``caselog projections follow``) keeps the tables.
        self.external = False
        self._rebuilding = False
        # The rows this runner last committed, per (projection, table) and case, by row key
        # (``ROW_KEYS``), valid while the projection's position is where this runner left
        # it (``_written_at``): a batch then deletes and inserts only the rows that changed
        # (a contact changes its month's rows, not every month's); else every touched
        # case's rows are replaced.
        self._written: dict[tuple[str, str], OrderedDict[str, dict[Any, dict[str, Any]]]] = {}
        self._written_at: dict[str, int] = {}

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.projections]

    # --- positions ----------------------------------------------------------------------

    def positions(self) -> dict[str, int]:
        rows = dict(self.views.query("SELECT name, position FROM projection_tracking"))
        return {name: int(rows.get(name, 0)) for name in self.names}

    def status(self) -> list[Status]:
        head = self.app.max_notification_id()
        return [Status(n, p, head - p) for n, p in self.positions().items()]

    # --- catch-up -----------------------------------------------------------------------

    def run_once(self) -> int:
        """Apply one batch to the projections furthest behind; the events processed."""
        positions = self.positions()
        start = min(positions.values())
        group = [p for p in self.projections if positions[p.name] == start]
        notifications = list(self.app.select_notifications(start + 1, self.batch_size))
        if not notifications:
            return 0
        touched: dict[UUID, Case] = {}
        fresh: set[UUID] = set()  # cases born in this batch: no rows of theirs exist yet
        versioned = any(getattr(p, "versioned", False) for p in group)
        # every version's KPI items (recorded-time validity); each case version is derived
        # from the one before (projections.derive), the last one's derivation is shared by
        # the projections below
        histories: dict[str, list[tuple[str, Items]]] = {}
        last: dict[UUID, Derived] = {}
        # a case with more versions in this batch than ``exact_versions`` (a long history
        # imported at once) is derived at its last version only: deriving every version
        # costs O(events in a month) each, deriving once O(events). Its rows are then
        # inexact between its first and last instant in the batch, which is recorded as a
        # gap (projections.kpi_cells).
        counts = Counter(n.originator_id for n in notifications)
        seen: Counter[UUID] = Counter()
        gaps: dict[str, tuple[str, str, str]] = {}  # case -> tenant, first and last instant
        for n in notifications:
            if n.originator_version == 1:
                fresh.add(n.originator_id)
            case = touched[n.originator_id] = self._advance(n)
            seen[n.originator_id] += 1
            final = seen[n.originator_id] == counts[n.originator_id]
            if not versioned:
                if final:
                    last[n.originator_id] = self._derive(n.originator_id, case)
                continue
            if counts[n.originator_id] > self.exact_versions:
                key, instant = str(n.originator_id), instant_text(case.modified_on)
                first = gaps[key][1] if key in gaps else instant
                gaps[key] = (case.state.tenant, first, instant)
                if not final:
                    continue  # derived at the batch's last version only
            d = last[n.originator_id] = self._derive(n.originator_id, case)
            histories.setdefault(str(n.originator_id), []).append(
                (instant_text(case.modified_on), d.items)
            )
        computed = _empty(group)
        for case_id, case in touched.items():
            _rows_into(computed, group, str(case_id), case, last[case_id])
        end = notifications[-1].id
        # During a rebuild (tables emptied, positions from 0, read once in order) rows exist
        # only for cases with events before this batch, so cases born in it need no delete.
        # Otherwise (catch-up, a redelivered batch) every touched case's rows are replaced.
        ids = [str(c) for c in touched if not (self._rebuilding and c in fresh)]
        new = {str(c) for c in fresh} if self._rebuilding else set()
        every = [str(c) for c in touched]
        self._write(group, computed, ids, start, end, histories, new, gaps, every)
        return len(notifications)

    def apply_histories(self, cases: Iterable[tuple[UUID, Sequence[LogEntry]]]) -> int:
        """Rebuild only, into tables that hold none of these cases' rows: the projections of
        cases given whole (each case's every log entry up to the rebuild's head, in version
        order; ``CaseStore.case_histories``), written in one transaction; the events
        applied. No position moves: the rebuild sets the positions when it swaps the tables
        in. Each case is folded once and derived version after version from the version
        before (every version's KPI items exact: no gap, whatever the case's length); its
        per-case rows are computed once, from its last version, where catch-up in log
        order computes them again in every batch the case appears in."""
        versioned = [cast(Versioned, p) for p in self.projections if getattr(p, "versioned", False)]
        computed = _empty(self.projections)
        histories: dict[str, list[tuple[str, Items]]] = {}
        applied = 0
        for case_id, entries in cases:
            key = str(case_id)
            case: Case | None = None
            d: Derived | None = None
            history: list[tuple[str, Items]] = []
            if versioned:
                histories[key] = history
            for k, n in enumerate(entries, 1):
                case = self.app.to_domain_event(n).mutate(case)
                assert case is not None
                if versioned or k == len(entries):
                    cat = self.app.catalogue(case.state.tenant)
                    d = derive(key, case.state, case.entries, cat, case.version, d)
                    if versioned:
                        history.append((instant_text(case.modified_on), d.items))
            if case is None or d is None:
                continue
            applied += len(entries)
            _rows_into(computed, self.projections, key, case, d)
        with self.views.transaction() as cur:
            for v in versioned:
                whole = getattr(v, "write_whole", None)
                if whole is not None:  # the cells are summed at the rebuild's end
                    whole(cur, self.views, histories)
                else:
                    v.write(cur, self.views, histories, set(histories), {})
            for p in self.projections:
                for table in computed.get(p.name, {}):
                    self._insert(cur, table, computed[p.name][table])
        return applied

    def _advance(self, n: Any) -> Case:
        """The case after notification ``n``: the kept aggregate plus this event when it is
        the next one, else loaded from the store at that version (snapshots first)."""
        kept = self._cases.get(n.originator_id)
        case, derived = kept if kept is not None else (None, None)
        if n.originator_version == 1 or (
            case is not None and case.version == n.originator_version - 1
        ):
            event = self.app.to_domain_event(n)
            case = event.mutate(None if n.originator_version == 1 else case)
        else:
            case = self._load(n.originator_id, n.originator_version)
        assert case is not None
        self._cases[n.originator_id] = (case, derived)
        self._cases.move_to_end(n.originator_id)
        while len(self._cases) > self.cache_size:
            self._cases.popitem(last=False)
        return case

    def _derive(self, case_id: UUID, case: Case) -> Derived:
        """The derivation of the kept case at its version, from the kept derivation of the
        version before when there is one (else in full); kept beside the case."""
        previous = self._cases[case_id][1] if case_id in self._cases else None
        cat = self.app.catalogue(case.state.tenant)
        d = derive(str(case_id), case.state, case.entries, cat, case.version, previous)
        if case_id in self._cases:
            self._cases[case_id] = (case, d)
        return d

    def _load(self, case_id: UUID, version: int) -> Case:
        return self.app.load_case(case_id, version)

    def _write(
        self,
        group: list[Any],
        computed: dict[str, Rows],
        ids: list[str],
        start: int,
        end: int,
        histories: dict[str, list[tuple[str, Items]]] | None = None,
        fresh: set[str] | None = None,
        gaps: dict[str, tuple[str, str, str]] | None = None,
        touched: list[str] | None = None,
    ) -> None:
        now = datetime.now(UTC).isoformat()
        touched = ids if touched is None else touched
        wrote: dict[tuple[str, str], dict[str, dict[Any, dict[str, Any]]]] = {}
        try:
            with self.views.transaction() as cur:
                for p in group:
                    if start == 0:
                        cur.execute(
                            self.views.sql(
                                "INSERT INTO projection_tracking (name, position, updated_at) "
                                "VALUES (?, 0, ?) ON CONFLICT (name) DO NOTHING"
                            ),
                            (p.name, now),
                        )
                    cur.execute(
                        self.views.sql(
                            "UPDATE projection_tracking SET position = ?, updated_at = ? "
                            "WHERE name = ? AND position = ?"
                        ),
                        (end, now, p.name, start),
                    )
                    if cur.rowcount != 1:
                        raise PositionMoved(p.name)
                    if getattr(p, "versioned", False):
                        p.write(cur, self.views, histories or {}, fresh or set(), gaps or {})
                        continue
                    valid = self._written_at.get(p.name) == start
                    for table in p.tables:
                        key = ROW_KEYS.get(table)
                        rows = computed[p.name][table]
                        kept = self._written.get((p.name, table)) if valid else None
                        if key is None:
                            self._replace(cur, table, ids, rows)
                            continue
                        now_rows = _by_case(rows, key, touched)
                        if kept is None:
                            self._replace(cur, table, ids, rows)
                        else:
                            self._update(cur, table, key, ids, kept, now_rows)
                        wrote[(p.name, table)] = now_rows
        except BaseException:
            for p in group:
                self._written_at.pop(p.name, None)
            raise
        for p in group:
            if getattr(p, "versioned", False):
                continue
            for table in p.tables:
                if (p.name, table) not in wrote:
                    continue
                if self._written_at.get(p.name) != start:
                    self._written[(p.name, table)] = OrderedDict()
                cache = self._written.setdefault((p.name, table), OrderedDict())
                for case_id, rows_of_case in wrote[(p.name, table)].items():
                    cache.pop(case_id, None)
                    cache[case_id] = rows_of_case
                while len(cache) > self.cache_size:
                    cache.popitem(last=False)
            self._written_at[p.name] = end

    def _replace(self, cur: Any, table: str, ids: list[str], rows: list[dict[str, Any]]) -> None:
        """Every row of the cases ``ids`` deleted, ``rows`` inserted."""
        if ids and self.views.is_postgres:
            # one array parameter: an index scan whatever the plan cache holds
            cur.execute(f"DELETE FROM {table} WHERE case_id = ANY(%s)", (ids,))  # noqa: S608 - our table names
        else:
            for chunk in _chunks(ids, 500):
                marks = ", ".join("?" * len(chunk))
                cur.execute(
                    f"DELETE FROM {table} WHERE case_id IN ({marks})",  # noqa: S608 - our table names, values are parameters
                    chunk,
                )
        self._insert(cur, table, rows)

    def _insert(self, cur: Any, table: str, rows: list[dict[str, Any]]) -> None:
        if rows:
            cols = list(rows[0])
            cur.executemany(
                self.views.sql(
                    f"INSERT INTO {table} ({', '.join(cols)}) "  # noqa: S608
                    f"VALUES ({', '.join('?' * len(cols))})"
                ),
                [tuple(r[c] for c in cols) for r in rows],
            )

    def _update(
        self,
        cur: Any,
        table: str,
        key: tuple[str, ...],
        ids: list[str],
        kept: OrderedDict[str, dict[Any, dict[str, Any]]],
        now_rows: dict[str, dict[Any, dict[str, Any]]],
    ) -> None:
        """Only the rows that changed since this runner wrote them: a row whose key is gone
        or whose values changed deleted, a new or changed row inserted. A case this runner
        does not know the rows of gets all its rows replaced."""
        unknown = [c for c in ids if c not in kept]
        if unknown:
            self._replace(cur, table, unknown, [])
        gone: list[tuple[Any, ...]] = []
        added: list[dict[str, Any]] = []
        for case_id, rows_now in now_rows.items():
            before = kept.get(case_id)
            if before is None:
                added.extend(rows_now.values())
                continue
            for k, row in before.items():
                if rows_now.get(k) != row:
                    gone.append((case_id, *k))
            added.extend(row for k, row in rows_now.items() if before.get(k) != row)
        if gone:
            where = " AND ".join(f"{c} = ?" for c in ("case_id", *key))
            cur.executemany(self.views.sql(f"DELETE FROM {table} WHERE {where}"), gone)  # noqa: S608 - our names
        self._insert(cur, table, added)

    def run_until_current(self, progress: Callable[[int, int], None] | None = None) -> int:
        head = self.app.max_notification_id()
        done = 0
        while True:
            try:
                n = self.run_once()
            except PositionMoved:
                continue
            if n == 0:
                break
            done += n
            if progress:
                progress(min(head, min(self.positions().values())), head)
            with self._advanced:
                self._advanced.notify_all()
        if progress and head:
            progress(head, head)
        return done

    def rebuild(
        self,
        names: Iterable[str] | None = None,
        progress: Callable[[int, int], None] | None = None,
        workers: int | None = None,
        before_swap: Callable[[], None] | None = None,
    ) -> int:
        """Rebuild the named projections (all by default) into fresh tables, in parallel by
        case on PostgreSQL (``workers`` processes, default one per core), and swap them in;
        then catch up with what was recorded meanwhile (``projections.rebuild``).
        ``before_swap`` is called when the new tables are complete, before the swap."""
        from projections.rebuild import rebuild

        return rebuild(self, names, progress, workers=workers, before_swap=before_swap)

    def rebuild_in_place(
        self,
        names: Iterable[str] | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> int:
        """Empty the named projections (all by default) and replay the whole log into them
        in this process: readers see the tables fill. The baseline the benchmark compares
        ``rebuild`` with."""
        chosen = set(names or self.names)
        unknown = chosen - set(self.names)
        if unknown:
            raise ValueError(f"unknown projection(s): {', '.join(sorted(unknown))}")
        with self.views.transaction() as cur:
            for p in self.projections:
                if p.name in chosen:
                    for table in p.tables:
                        cur.execute(f"DELETE FROM {table}")  # noqa: S608 - our table names
                    cur.execute(
                        self.views.sql("DELETE FROM projection_tracking WHERE name = ?"),
                        (p.name,),
                    )
        self._written.clear()
        self._written_at.clear()
        self._rebuilding = True
        kept, self.batch_size = self.batch_size, max(self.batch_size, 5000)  # fewer commits
        try:
            return self.run_until_current(progress)
        finally:
            self._rebuilding = False
            self.batch_size = kept

    # --- beside the service ----------------------------------------------------------

    def wait_for(self, position: int, timeout: float = 2.0) -> bool:
        """Block until every projection reached ``position`` (read-your-writes)."""
        deadline = time.monotonic() + timeout
        pause = 0.002
        while min(self.positions().values()) < position:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if self._thread is None and not self.external:
                self.run_until_current()
                continue
            if self._thread is None:  # another process runs the projections: wake it, poll
                wake_runner_process()
                time.sleep(min(remaining, pause))
                pause = min(0.02, pause * 2)
                continue
            self._wake.set()
            with self._advanced:
                self._advanced.wait(min(remaining, 0.05))
        return True

    def start(self, interval: float = 0.2) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._loop, args=(interval,), name="projection-runner", daemon=True
        )
        self._thread.start()

    def _loop(self, interval: float) -> None:
        """Follow the log. A case's rows are recomputed from all its events, once per batch
        it appears in; so after each catch-up the runner pauses ``pace`` times as long as
        the catch-up took (at least ``interval``, at most ``max_pause``, which bounds the
        projections' lag): its share of a core stays under 1 / (1 + pace) while a catch-up
        takes less than ``max_pause / pace``, and under load a long case's recomputation is
        shared by all the writes to it in the pause. A
        reader waiting for its own write (``wait_for``) ends the pause at once."""
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.run_until_current()
                self.last_error = None
            except Exception as e:
                self.last_error = f"{type(e).__name__}: {e}"
                log.warning("projection_runner_error", error=self.last_error)
                self._stop.wait(1.0)
            took = time.monotonic() - started
            self._wake.wait(max(interval, min(self.max_pause, took * self.pace)))
            self._wake.clear()

    def follow(self, interval: float = 0.2, parent: int | None = None) -> None:
        """Run in the foreground until interrupted (``caselog projections follow``), or,
        with ``parent``, until that process is gone (the runner beside ``caselog serve``)."""
        self.start(interval)
        try:
            while self._thread is not None and self._thread.is_alive():
                self._thread.join(timeout=0.5)
                if parent is not None and os.getppid() != parent:
                    break
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None


#: the pid of the runner child of ``caselog serve`` (``RunnerProcess``), for the processes
#: that serve beside it: they wake it with SIGUSR1 when a reader waits for its own write
RUNNER_PID_ENV = "CASELOG_RUNNER_PID"
#: at most one wake signal per this many seconds from one process
WAKE_EVERY = 0.005
_wake_lock = threading.Lock()
_last_wake = 0.0


def wake_runner_process() -> bool:
    """End the pause of the runner process named by ``CASELOG_RUNNER_PID`` (SIGUSR1), so a
    reader waiting for its own write waits for one catch-up instead of up to ``max_pause``.

    Sent only to a process that is our runner and is ready for it: its command line runs
    ``application.follower`` and it blocks or catches SIGUSR1 (read from ``/proc``; where there
    is no ``/proc`` nothing is sent and the reader polls). So a pid that is gone or was
    reused by another program is never signalled (SIGUSR1's default action would end it),
    nor a runner still starting. At most one signal per ``WAKE_EVERY`` seconds per process:
    a runner woken once catches up with every write committed before it runs."""
    global _last_wake
    raw = os.environ.get(RUNNER_PID_ENV, "")
    if not raw.isdigit() or not hasattr(signal, "SIGUSR1"):
        return False
    with _wake_lock:
        now = time.monotonic()
        if now - _last_wake < WAKE_EVERY:
            return False
        _last_wake = now
    pid = int(raw)
    if not _is_runner(pid):
        return False
    try:
        os.kill(pid, signal.SIGUSR1)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _is_runner(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            if b"application.follower" not in fh.read():
                return False
        with open(f"/proc/{pid}/status") as fh:
            masks = dict(line.split(":", 1) for line in fh if line.startswith(("SigBlk", "SigCgt")))
    except OSError:
        return False
    bit = 1 << (signal.SIGUSR1 - 1)
    return any(int(m.strip(), 16) & bit for m in masks.values())


def wake_on_signal(runner: ProjectionRunner) -> None:
    """The runner process's wake thread: each SIGUSR1 ends the runner's pause. The signal
    is blocked in every thread and taken here with ``sigwait`` (no handler runs inside the
    main thread, so nothing it holds can be re-entered)."""
    while True:
        signal.sigwait({signal.SIGUSR1})
        runner._wake.set()


#: the key of a row within its case's rows, per table the runner can update row by row
#: (``ProjectionRunner._update``); a table not named here is replaced per touched case
ROW_KEYS: dict[str, tuple[str, ...]] = {
    "case_summary": (),
    "case_product": ("product",),
    "consumption_month": ("month",),
    "entitlement": ("seq",),
    "case_signal": ("seq",),
    "declaration_line": ("seq",),
    "caseload": (),
    "case_doc": (),
}


def _by_case(
    rows: list[dict[str, Any]], key: tuple[str, ...], touched: list[str]
) -> dict[str, dict[Any, dict[str, Any]]]:
    """The rows of each touched case (none for a case without rows) by their key."""
    out: dict[str, dict[Any, dict[str, Any]]] = {c: {} for c in touched}
    for row in rows:
        out.setdefault(row["case_id"], {})[tuple(row[c] for c in key)] = row
    return out


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
