"""KPIs pre-aggregated and bitemporal: the rows behind ``GET /v1/kpis`` (issue 12).

Each case version contributes *items* to the KPI cells tenant x provider x product x
municipality x month (:func:`items`, a pure function of the case's KPI summary): the case
itself (its referral and end, for the ``cases`` count), an intake, decision, start or end
dated on its business day with the duration in days (the spreads need only the histogram of
durations: median and p90 are exact from it), scale moves by day, contacts, no-shows and the
amount due by month, ZRM changes. Every item is written for the product ``''`` (any
product: the case counts once) and for each of the case's products (the product filter).

Recorded time: the runner writes, for every version of a case, the items that changed as
rows with ``recorded_from`` = the version's recorded instant and closes the rows that no
longer hold (``recorded_to`` = that instant). The rows valid at an instant T are the
items of every case as recorded at T, so "KPIs as of T" is one SQL aggregate over them
(:func:`kpis`), no case is replayed; the current KPIs are the rows with ``recorded_to IS
NULL``. For periods of whole months two sums keep the reads O(cells): ``kpi_cell``, the
rows valid now per cell, and ``kpi_cell_bucket``, the changes to each cell per recorded
month and day (:func:`moves`), so the cells as of T are the buckets before T's day plus
the rows opened and closed on T's day up to T.

Scope of a period ``[start, end]`` (``projections.kpis.in_scope``: referred by its end, not
ended before its start): for an item dated ``d`` inside the period, a referral on or before
``d`` is by the end and an end on or after ``d`` is not before the start, so the item
carries the referral day (``ref``) or end day (``endd``) only when they fall the other way,
and SQL checks those few; the same with a month's first and last day for monthly items.

Lasting outflow (R-31) is decided when the KPIs are asked, not when the rows are written:
an end in the period looks up the client's other referrals among the ``case`` rows valid
at T (any provider of the tenant), and the window (``lasting_outflow_months`` from the
catalogue) is judged against T's date (today without ``as_of``). So a return recorded
later changes the earlier month's figures from the instant it was recorded (the end stops
counting as lasting or pending), while ``as_of`` an instant before it still answers what
was known then; and an end becomes ``lasting`` when its window passes without a stored row
changing.
"""

from __future__ import annotations

import calendar
import functools
import weakref
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import msgspec

from domain import clock
from domain.clock import instant_text
from projections.kpis import CaseSummary, Kpis, Outflow, Tally, document

TABLE = "kpi_item"
#: identity of an item: tenant, provider, municipality, client_ref, product, measure, grain,
#: pos, ref, endd, value, aux
Key = tuple[str, str, str, str, str, str, str, str, str, str, str, str]
Items = dict[Key, int]
KEY_COLUMNS = (
    "tenant", "provider", "municipality", "client_ref", "product",
    "measure", "grain", "pos", "ref", "endd", "value", "aux",
)  # fmt: skip
COLUMNS = ("case_id", *KEY_COLUMNS, "n", "recorded_from", "recorded_to")
#: the rows as plain inserts (SQLite, and a rebuild's COPY on PostgreSQL)
_INSERT_ITEMS = (
    f"INSERT INTO {TABLE} ({', '.join(COLUMNS)}) "  # noqa: S608 - our names
    f"VALUES ({', '.join('?' * len(COLUMNS))})"
)
DATED = ("intake", "decision", "start", "end", "trajectory", "down", "up")
MONTHLY = ("contacts", "no_shows", "cost")


def _iso(d: date | None) -> str:
    return d.isoformat() if d is not None else ""


def _frame(s: CaseSummary) -> tuple[Any, ...]:
    """Everything of a summary that items read besides the monthly counts and amounts."""
    return (
        s.tenant, s.provider, s.municipality, s.client_ref, s.products, s.referred_on,
        s.intake_on, s.decided_on, s.started_on, s.ended_on, s.end_reason, s.moves,
        s.zrm_first, s.zrm_last,
    )  # fmt: skip


@functools.lru_cache(maxsize=4096)
def _month_span(key: str) -> tuple[date, date]:
    year, month = int(key[:4]), int(key[5:7])
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])


def _month_items(s: CaseSummary, key: str) -> list[tuple[tuple[str, ...], int]]:
    """The monthly items of month ``key`` (contacts, no-shows, cost), before the head; each
    of a measure of its own (so no two share an item)."""
    out: list[tuple[tuple[str, ...], int]] = []
    first, last = _month_span(key)
    referred, ended = s.referred_on, s.ended_on
    ref = referred.isoformat() if referred > first else ""
    endd = ended.isoformat() if ended is not None and ended < last else ""
    n = s.contacts.get(key)
    if n:
        out.append((("contacts", "m", key, ref, endd, "", ""), n))
    n = s.no_shows.get(key)
    if n:
        out.append((("no_shows", "m", key, ref, endd, "", ""), n))
    if key in s.cost:
        amount = s.cost[key]
        out.append((("cost", "m", key, ref, endd, "null" if amount is None else amount, ""), 1))
    return out


def _with_head(s: CaseSummary, out: Iterable[tuple[tuple[str, ...], int]]) -> Items:
    head = (s.tenant, s.provider, s.municipality, s.client_ref)
    return {
        (*head, product, *item): n  # type: ignore[misc]
        for product in ("", *s.products)
        for item, n in out
    }


def items(s: CaseSummary) -> Items:
    """What one case version contributes to the KPI cells."""
    out: Counter[tuple[str, ...]] = Counter()
    referred, ended = s.referred_on, s.ended_on

    def on_day(measure: str, day: date, value: str = "", aux: str = "", n: int = 1) -> None:
        ref = _iso(referred) if referred > day else ""
        endd = _iso(ended) if ended is not None and ended < day else ""
        out[(measure, "d", day.isoformat(), ref, endd, value, aux)] += n

    out[("case", "", "", _iso(referred), _iso(ended), "", "")] += 1
    if s.intake_on is not None:
        on_day("intake", s.intake_on, str((s.intake_on - referred).days))
    if s.decided_on is not None:
        on_day("decision", s.decided_on, str((s.decided_on - referred).days))
        if s.started_on is not None:
            on_day("start", s.started_on, str((s.started_on - s.decided_on).days))
    if ended is not None:
        on_day("end", ended, s.end_reason or "?", _iso(referred))
        if s.started_on is not None:
            on_day("trajectory", ended, str((ended - s.started_on).days))
    for move in s.moves:
        on_day(move.direction, move.day)
    for key in dict.fromkeys([*s.contacts, *s.no_shows, *s.cost]):
        for item, n in _month_items(s, key):
            out[item] += n
    for domain, score in s.zrm_last.items():
        if domain in s.zrm_first:
            change = str(score - s.zrm_first[domain])
            out[("zrm", "", "", _iso(referred), _iso(ended), domain, change)] += 1
    return _Items(_with_head(s, out.items()))


def items_after(
    before: CaseSummary, kept: Items, s: CaseSummary, months: Iterable[str] | None = None
) -> Items:
    """``items(s)`` from the items of the version before (``kept``, of summary ``before``):
    when only monthly counts or amounts changed, only those months' items are replaced (a
    contact changes its month's, not the whole history's); otherwise in full. ``months``,
    when known, are the only months whose counts or amounts can differ, with ``s`` made
    from ``before`` (the same frame: ``projections.derive``)."""
    if months is None:
        if _frame(before) != _frame(s):
            return items(s)
        # the months whose count or amount differs (set operations on the items)
        months = (
            {k for k, _ in before.contacts.items() ^ s.contacts.items()}
            | {k for k, _ in before.no_shows.items() ^ s.no_shows.items()}
            | {k for k, _ in before.cost.items() ^ s.cost.items()}
        )
    changed = sorted(
        k
        for k in set(months)
        if before.contacts.get(k) != s.contacts.get(k)
        or before.no_shows.get(k) != s.no_shows.get(k)
        or (k in before.cost) != (k in s.cost)
        or before.cost.get(k) != s.cost.get(k)
    )
    if not changed:
        return kept
    out = _After(kept)
    out.base = weakref.ref(kept) if isinstance(kept, _After | _Items) else None
    out.touched = touched = set()
    head = (s.tenant, s.provider, s.municipality, s.client_ref)
    products = ("", *s.products)  # the same before: part of the frame
    for key in changed:
        for item, n in _month_items(before, key):
            for product in products:
                k: Key = (*head, product, *item)  # type: ignore[assignment]
                touched.add(k)
                left = out[k] - n
                if left:
                    out[k] = left
                else:
                    del out[k]
        for item, n in _month_items(s, key):
            for product in products:
                k = (*head, product, *item)  # type: ignore[assignment]
                touched.add(k)
                out[k] = out.get(k, 0) + n
    return out


class _Items(dict[Key, int]):
    """Items as :func:`items` makes them (a dict an :class:`_After` can refer to weakly)."""

    __slots__ = ("__weakref__",)


class _After(_Items):
    """Items made by :func:`items_after` from ``base``: they differ from it only in the
    keys of ``touched``, so :func:`timeline` compares those, not every item of the case.
    (Weakly: a runner keeps a case's last items, not every version's before them.)"""

    __slots__ = ("base", "touched")
    base: weakref.ref[_Items] | None
    touched: set[Key]


def timeline(
    case_id: str,
    prior: dict[Key, tuple[int, str]],
    versions: Iterable[tuple[str, Items]],
) -> tuple[list[tuple[Any, ...]], dict[Key, tuple[int, str]]]:
    """The rows of one case, and the items valid after the last version: ``prior`` holds
    the items valid just before the first of ``versions`` (recorded instant, items) with
    the instant each became valid."""
    rows: list[tuple[Any, ...]] = []
    valid = dict(prior)
    last: Items | None = None
    for instant, now in versions:
        if now is last:  # a version that changed no item (``items_after`` kept them)
            continue
        if (
            last is not None
            and isinstance(now, _After)
            and now.base is not None
            and now.base() is last
        ):
            # only its touched items can differ from the version before (``valid``)
            for key in now.touched:
                held = valid.get(key)
                n = now.get(key)
                if held is not None and held[0] != n:
                    rows.append((case_id, *key, held[0], held[1], instant))
                    del valid[key]
                    held = None
                if held is None and n is not None:
                    valid[key] = (n, instant)
            last = now
            continue
        last = now
        for key, (n, since) in list(valid.items()):
            if now.get(key) != n:
                rows.append((case_id, *key, n, since, instant))
                del valid[key]
        for key, n in now.items():
            if key not in valid:
                valid[key] = (n, instant)
    rows.extend((case_id, *key, n, since, None) for key, (n, since) in valid.items())
    return rows, valid


def cell(key: Key) -> tuple[str, ...]:
    """An item's row in ``kpi_cell``: without the client, at month resolution. A day
    becomes its month, and a referral or end day its month, kept only when it lies on the
    other side of the item's month (for ``case`` and ``zrm``: always). Exact for periods of
    whole months: a case referred in a month is referred by the period's end when that
    month is, and likewise for ends and the period's start.

    An ``end`` keeps its day (R-31: whether its window has passed is a matter of days) and
    drops the referral day in ``aux`` (only the ends of clients with more than one case
    need it, and those are read from ``kpi_item``)."""
    tenant, provider, municipality, _, product, measure, grain, pos, ref, endd, value, aux = key
    month = pos[:7] if grain else ""
    ref = ref[:7] if ref and (not month or ref[:7] > month) else ""
    endd = endd[:7] if endd and (not month or endd[:7] < month) else ""
    if measure == "end":
        return (tenant, provider, municipality, product, measure, "d", pos, ref, endd, value, "")
    return (tenant, provider, municipality, product, measure, "m" if grain else "", month,
            ref, endd, value, aux)  # fmt: skip


#: a cell's provider or municipality summed over all of them (a roll-up row)
ALL = "*"


def cells(key: Key) -> list[tuple[str, ...]]:
    """The ``kpi_cell`` rows an item counts in: its own :func:`cell`, and the roll-ups over
    every provider, every municipality, and both (provider and/or municipality ``*``). A
    query without a provider or municipality filter reads the roll-up rows: at 100,000
    cases a tenant's year is 73,651 cells by provider and municipality, 5,112 rolled up
    over both (docs/performance.md)."""
    c = cell(key)
    tenant, provider, municipality, *rest = c
    return [
        c,
        (tenant, ALL, municipality, *rest),
        (tenant, provider, ALL, *rest),
        (tenant, ALL, ALL, *rest),
    ]


def whole_months(start: date, end: date) -> bool:
    """A period from the first of a month to the last of a month (``kpi_cell`` answers it)."""
    return start.day == 1 and end.day == calendar.monthrange(end.year, end.month)[1]


CELL_COLUMNS = tuple(c for c in KEY_COLUMNS if c != "client_ref")
BUCKETS = "kpi_cell_bucket"
#: the clients with more than one case (migrations/0011_kpi_client.sql)
CLIENTS = "kpi_client"
BUCKET_COLUMNS = (*CELL_COLUMNS, "span", "bucket")
#: the spans of ``kpi_cell_bucket``: recorded month (``YYYY-MM``) and day (``YYYY-MM-DD``)
SPANS = (("m", 7), ("d", 10))


def moves(key: Key, n: int, start: str, stop: str | None) -> list[tuple[tuple[str, ...], int]]:
    """What one ``kpi_item`` row adds to ``kpi_cell_bucket``: +n to its cell in the month
    and in the day it was recorded from and, once closed, -n in the month and the day it
    was closed. (Not for ``end`` items: as of an instant, ends are read from ``kpi_item``.)"""
    if key[5] == "end":
        return []
    out = [((*c, span, start[:width]), n) for c in cells(key) for span, width in SPANS]
    if stop is not None:
        out.extend(((*c, span, stop[:width]), -n) for c in cells(key) for span, width in SPANS)
    return out


class KpiCellProjection:
    """The ``kpi_item`` rows, versioned: the runner hands it every version of each case a
    batch touched, not only the last (see ``ProjectionRunner.run_once``); and the current
    ``kpi_cell`` rows, moved by what the batch changed."""

    name = "kpi_cells"
    tables = (TABLE, "kpi_cell", BUCKETS, "kpi_gap", CLIENTS)
    versioned = True

    def write(
        self,
        cur: Any,
        views: Any,
        histories: dict[str, list[tuple[str, Items]]],
        fresh: set[str],
        gaps: dict[str, tuple[str, str, str]] | None = None,
    ) -> None:
        """Replace each case's rows from its first instant in the batch on. Rows closed
        before it are kept; those valid just before it are read and continued, so a batch
        read again (after a crash, or positions moved back) writes the same rows."""
        since = {c: h[0][0] for c, h in histories.items() if c not in fresh and h}
        prior: dict[str, dict[Key, tuple[int, str]]] = defaultdict(dict)
        change: Counter[tuple[str, ...]] = Counter()  # to the current cells
        monthly: Counter[tuple[str, ...]] = Counter()  # to the cells per recorded month, day
        if since:
            cols = ", ".join(COLUMNS)
            ids = list(since)
            for chunk in _chunks(ids, 500):
                marks = ", ".join("?" * len(chunk))
                cur.execute(
                    views.sql(
                        f"SELECT {cols} FROM {TABLE} WHERE case_id IN ({marks})"  # noqa: S608 - our column names, values are parameters
                        " AND (recorded_to IS NULL OR recorded_to >= ?)"
                    ),
                    (*chunk, min(since[c] for c in chunk)),
                )
                for row in cur.fetchall():
                    case_id, key, n, start, stop = row[0], row[1:13], row[13], row[14], row[15]
                    first = since[case_id]
                    if stop is None or stop >= first:  # deleted below: take it back
                        _take_back(key, n, start, stop, change, monthly)
                    if start < first and (stop is None or stop >= first):
                        prior[case_id][key] = (n, start)
            cur.executemany(
                views.sql(
                    f"DELETE FROM {TABLE} WHERE case_id = ? "  # noqa: S608
                    "AND (recorded_to IS NULL OR recorded_to >= ?)"
                ),
                list(since.items()),
            )
        rows: list[tuple[Any, ...]] = []
        for case_id, history in histories.items():
            written, now = timeline(case_id, prior.get(case_id, {}), history)
            rows.extend(written)
            for row in written:
                for where, delta in moves(row[1:13], row[13], row[14], row[15]):
                    monthly[where] += delta
            for key, (n, _) in now.items():
                for c in cells(key):
                    change[c] += n
        if rows and views.is_postgres:  # one statement for the batch's rows
            cur.execute(
                f"INSERT INTO {TABLE} ({', '.join(COLUMNS)}) {_unnest(len(COLUMNS) - 3, 1, 2)}",
                _rows(rows),
            )
        elif rows:
            cur.executemany(views.sql(_INSERT_ITEMS), rows)
        gaps = gaps or {}
        redone = [
            (c, gaps[c][1] if c in gaps else h[0][0])
            for c, h in histories.items()
            if c not in fresh and h
        ]
        cur.executemany(
            views.sql("DELETE FROM kpi_gap WHERE case_id = ? AND gap_from >= ?"), redone
        )
        found = [(c, *g) for c, g in gaps.items() if g[1] < g[2]]
        if found:
            cur.executemany(
                views.sql(
                    "INSERT INTO kpi_gap (case_id, tenant, gap_from, gap_to) VALUES (?, ?, ?, ?)"
                ),
                found,
            )
        _add(cur, views, "kpi_cell", CELL_COLUMNS, change)
        _add(cur, views, BUCKETS, BUCKET_COLUMNS, monthly, signed=True)
        _mark_clients(cur, views, histories)

    def write_whole(
        self, cur: Any, views: Any, histories: dict[str, list[tuple[str, Items]]]
    ) -> None:
        """Rebuild only (``ProjectionRunner.apply_histories``): the rows of cases given with
        every version, into a table that holds none of theirs, as plain inserts (a ``COPY``
        on the rebuild's cursor). The cells are not touched: :func:`sum_cells` computes them
        from all the rows at the end, where adding each batch's changes cost an upsert per
        cell and batch."""
        rows = [row for c, h in histories.items() for row in timeline(c, {}, h)[0]]
        if rows:
            cur.executemany(views.sql(_INSERT_ITEMS), rows)

    def forget(self, cur: Any, views: Any, case_id: str) -> None:
        """Take a case out of the summed cells before its rows are deleted (R-33
        destruction): its current rows from ``kpi_cell``, and every row's changes from
        ``kpi_cell_bucket``; so both stay the sums of the ``kpi_item`` rows that remain."""
        change: Counter[tuple[str, ...]] = Counter()
        monthly: Counter[tuple[str, ...]] = Counter()
        cur.execute(
            views.sql(f"SELECT {', '.join(COLUMNS)} FROM {TABLE} WHERE case_id = ?"),  # noqa: S608 - our column names
            (case_id,),
        )
        clients = set()
        for row in cur.fetchall():
            _take_back(row[1:13], row[13], row[14], row[15], change, monthly)
            clients.add((row[1], row[4]))  # tenant, client_ref
        _add(cur, views, "kpi_cell", CELL_COLUMNS, change)
        _add(cur, views, BUCKETS, BUCKET_COLUMNS, monthly, signed=True)
        for tenant, client_ref in clients:  # unmarked when one case is left without this one
            cur.execute(
                views.sql(
                    f"DELETE FROM {CLIENTS} WHERE tenant = ? AND client_ref = ? AND "  # noqa: S608 - our names
                    f"(SELECT COUNT(DISTINCT case_id) FROM {TABLE} WHERE tenant = ? "
                    "AND client_ref = ? AND measure = 'case' AND product = '' AND case_id <> ?) < 2"
                ),
                (tenant, client_ref, tenant, client_ref, case_id),
            )


def _mark_clients(cur: Any, views: Any, histories: dict[str, list[tuple[str, Items]]]) -> None:
    """Mark in ``kpi_client`` the clients of the written cases that now have more than one
    case (any case row of theirs, current or closed); once marked, a client stays marked
    while it has two cases (R-33 destruction unmarks, ``forget``)."""
    by_tenant: dict[str, set[str]] = defaultdict(set)
    for history in histories.values():
        for key in history[-1][1] if history else ():
            by_tenant[key[0]].add(key[3])  # tenant, client_ref: the same in every item
            break
    for tenant, refs in by_tenant.items():
        for chunk in _chunks(sorted(refs), 500):
            marks = ", ".join("?" * len(chunk))
            cur.execute(
                views.sql(
                    f"SELECT client_ref FROM {TABLE} WHERE tenant = ? AND client_ref IN ({marks}) "  # noqa: S608 - our names, values are parameters
                    "AND measure = 'case' AND product = '' "
                    "GROUP BY client_ref HAVING COUNT(DISTINCT case_id) > 1"
                ),
                (tenant, *chunk),
            )
            found = [(tenant, r[0]) for r in cur.fetchall()]
            if found:
                cur.executemany(
                    views.sql(
                        f"INSERT INTO {CLIENTS} (tenant, client_ref) VALUES (?, ?) "  # noqa: S608 - our names
                        "ON CONFLICT (tenant, client_ref) DO NOTHING"
                    ),
                    found,
                )


def _cell_sql() -> str:
    """SQL: :func:`cell` of a ``kpi_item`` row, as the columns of ``CELL_COLUMNS``."""
    month = "CASE WHEN measure = 'end' THEN pos WHEN grain <> '' THEN substr(pos, 1, 7) ELSE '' END"
    return ", ".join(
        [
            "tenant", "provider", "municipality", "product", "measure",
            "CASE WHEN measure = 'end' THEN 'd' WHEN grain <> '' THEN 'm' ELSE '' END AS grain",
            f"{month} AS pos",
            "CASE WHEN ref <> '' AND (grain = '' OR substr(ref, 1, 7) > substr(pos, 1, 7)) "
            "THEN substr(ref, 1, 7) ELSE '' END AS ref",
            "CASE WHEN endd <> '' AND (grain = '' OR substr(endd, 1, 7) < substr(pos, 1, 7)) "
            "THEN substr(endd, 1, 7) ELSE '' END AS endd",
            "value", "CASE WHEN measure = 'end' THEN '' ELSE aux END AS aux",
        ]
    )  # fmt: skip


def sum_cells(cur: Any) -> None:
    """``kpi_cell`` and ``kpi_cell_bucket`` (with their roll-ups, :func:`rollups`) and
    ``kpi_client`` computed afresh from all the ``kpi_item`` rows, in SQL (the same text on
    SQLite and PostgreSQL): what the runner keeps by adding each batch's changes
    (:func:`cells`, :func:`moves`, ``_mark_clients``), for a rebuild that wrote the rows with
    :meth:`KpiCellProjection.write_whole`. Equal to catch-up (the rebuild properties in
    tests/integration/test_projection_runner.py compare every table). The parts are
    independent once ``kpi_item`` has its statistics: a rebuild on PostgreSQL runs them on
    two connections at once (``projections.rebuild``)."""
    for statement in SUM_STATEMENTS["items"] + SUM_STATEMENTS["cells"] + SUM_STATEMENTS["buckets"]:
        cur.execute(statement)


def _sum_statements() -> dict[str, list[str]]:
    cells = ", ".join(CELL_COLUMNS)
    own = _cell_sql()
    width = dict(SPANS)
    # each row moves its cell by +n on the day it was recorded from and, once closed, by -n
    # on the day it was closed: one scan, both sides (a join with two rows, as SQLite too
    # can); a month's bucket is the sum of its days' (a day summing to 0 adds nothing)
    day = (
        f"SELECT {own}, CASE WHEN side.k = 1 THEN substr(recorded_from, 1, {width['d']}) "  # noqa: S608 - our names
        f"ELSE substr(recorded_to, 1, {width['d']}) END AS bucket, side.k * n AS n "
        f"FROM {TABLE} CROSS JOIN (SELECT 1 AS k UNION ALL SELECT -1) AS side "
        "WHERE measure <> 'end' AND (side.k = 1 OR recorded_to IS NOT NULL)"
    )
    return {
        # statistics of the rows summed, here and after each sum that a later one reads: on
        # fresh tables the planner guesses a few hundred rows and sorts where it would hash
        # (at 10,000 cases 1.9 s for a sum a hash does in 0.4 s)
        "items": [f"ANALYZE {TABLE}"],
        "cells": [
            "DELETE FROM kpi_cell",
            f"INSERT INTO kpi_cell ({cells}, n) SELECT {cells}, SUM(n) FROM "  # noqa: S608 - our names
            f"(SELECT {own}, n FROM {TABLE} WHERE recorded_to IS NULL) AS c "
            f"GROUP BY {cells}",
            "ANALYZE kpi_cell",
            *rollups("kpi_cell", CELL_COLUMNS),
            f"DELETE FROM {CLIENTS}",  # noqa: S608 - our names
            f"INSERT INTO {CLIENTS} (tenant, client_ref) SELECT tenant, client_ref FROM {TABLE} "  # noqa: S608 - our names
            "WHERE measure = 'case' AND product = '' "
            "GROUP BY tenant, client_ref HAVING COUNT(DISTINCT case_id) > 1",
        ],
        "buckets": [
            f"DELETE FROM {BUCKETS}",  # noqa: S608 - our names
            f"INSERT INTO {BUCKETS} ({cells}, span, bucket, n) "  # noqa: S608 - our names
            f"SELECT {cells}, 'd', bucket, SUM(n) FROM ({day}) AS m "
            f"GROUP BY {cells}, bucket HAVING SUM(n) <> 0",
            f"ANALYZE {BUCKETS}",
            f"INSERT INTO {BUCKETS} ({cells}, span, bucket, n) "  # noqa: S608 - our names
            f"SELECT {cells}, 'm', substr(bucket, 1, {width['m']}), SUM(n) FROM {BUCKETS} "
            f"WHERE span = 'd' GROUP BY {cells}, substr(bucket, 1, {width['m']}) "
            "HAVING SUM(n) <> 0",
            f"ANALYZE {BUCKETS}",
            *rollups(BUCKETS, BUCKET_COLUMNS),
        ],
    }


def end_cells() -> list[str]:
    """SQL: the ``end`` rows of ``kpi_cell`` (:func:`cell`, one per reason and day) and
    their roll-ups, from the current ``kpi_item`` rows, for a ``kpi_cell`` that has none
    (``migrations/0013_kpi_end_cells.sql`` is this text)."""
    cells = ", ".join(CELL_COLUMNS)
    return [
        f"INSERT INTO kpi_cell ({cells}, n) SELECT {cells}, SUM(n) FROM "  # noqa: S608 - our names
        f"(SELECT {_cell_sql()}, n FROM {TABLE} WHERE recorded_to IS NULL "
        f"AND measure = 'end') AS c GROUP BY {cells}",
        *rollups("kpi_cell", CELL_COLUMNS, "measure = 'end'"),
    ]


def rollups(table: str, columns: tuple[str, ...], only: str = "") -> list[str]:
    """SQL: the roll-up rows of ``table`` (:func:`cells`) from its own rows (those matching
    ``only``, when given), which must be the only ones there (``sum_cells``;
    ``migrations/0012_kpi_cell_rollups.sql`` is this text for both tables)."""
    own = "provider <> '*' AND municipality <> '*'" + (f" AND {only}" if only else "")
    out = []
    for provider, municipality in (("'*'", "municipality"), ("provider", "'*'"), ("'*'", "'*'")):
        picked = ", ".join(
            provider if c == "provider" else municipality if c == "municipality" else c
            for c in columns
        )
        grouped = ", ".join(
            c
            for c in columns
            if not (c == "provider" and provider == "'*'")
            and not (c == "municipality" and municipality == "'*'")
        )
        out.append(
            f"INSERT INTO {table} ({', '.join(columns)}, n) SELECT {picked}, SUM(n) "  # noqa: S608 - our names
            f"FROM {table} WHERE {own} GROUP BY {grouped} HAVING SUM(n) <> 0"
        )
    return out


#: ``sum_cells`` in its parts: ``items`` first, then ``cells`` (with ``kpi_client``) and
#: ``buckets`` in either order or at once
SUM_STATEMENTS = _sum_statements()


def _take_back(
    key: Key,
    n: int,
    start: str,
    stop: str | None,
    change: Counter[tuple[str, ...]],
    monthly: Counter[tuple[str, ...]],
) -> None:
    """What a ``kpi_item`` row about to be deleted added, taken back: from ``kpi_cell``
    while it is current, from ``kpi_cell_bucket`` its opening (and closing)."""
    if stop is None:
        for c in cells(key):
            change[c] -= n
    for where, delta in moves(key, n, start, stop):
        monthly[where] -= delta


def _unnest(texts: int, ints: int = 1, more_texts: int = 0) -> str:
    """PostgreSQL: ``SELECT`` the rows of one JSON parameter (:func:`_rows`, an array of
    arrays; ``texts`` text columns, then ``ints`` integer ones, then ``more_texts`` text
    ones): thousands of rows in one statement instead of one statement each. One JSON text
    encoded by msgspec, where array parameters were dumped by psycopg element by element
    in Python (40% of a catch-up on PostgreSQL, py-spy; docs/performance.md)."""
    kinds = ["text"] * texts + ["int"] * ints + ["text"] * more_texts
    return (
        "SELECT "  # noqa: S608 - our type names
        + ", ".join(f"(x->>{i})::{k}" for i, k in enumerate(kinds))
        + " FROM jsonb_array_elements(%s::jsonb) AS x"
    )


_json = msgspec.json.Encoder().encode


def _rows(rows: list[tuple[Any, ...]]) -> tuple[str]:
    """The parameter of :func:`_unnest`: ``rows`` as one JSON array of arrays."""
    return (_json(rows).decode(),)


def _add(
    cur: Any,
    views: Any,
    table: str,
    columns: tuple[str, ...],
    change: Counter[tuple[str, ...]],
    signed: bool = False,
) -> None:
    """Add ``change`` (key -> n) to the counts of ``table``, dropping those that reach 0
    (in ``kpi_cell`` only a key with a negative change can; ``signed``: the counts of
    ``table`` may be negative, so any key can)."""
    moved = [(*key, n) for key, n in change.items() if n]
    if not moved:
        return
    names = ", ".join(columns)
    upsert = f"ON CONFLICT ({names}) DO UPDATE SET n = {table}.n + excluded.n"
    delete = views.sql(
        f"DELETE FROM {table} WHERE n = 0 AND "  # noqa: S608 - our names
        + " AND ".join(f"{c} = ?" for c in columns)
    )
    if views.is_postgres:
        # one statement for all keys (each key once: a Counter's), answering the keys it
        # brought to 0, which are then deleted by their key (checking every changed key
        # for 0 took a join over the whole table each batch)
        cur.execute(
            f"WITH up AS (INSERT INTO {table} ({names}, n) {_unnest(len(columns))} {upsert} "  # noqa: S608 - our names
            f"RETURNING {names}, n) SELECT {names} FROM up WHERE n = 0",
            _rows(moved),
        )
        zero = cur.fetchall()
    else:
        cur.executemany(
            views.sql(
                f"INSERT INTO {table} ({names}, n) VALUES ({', '.join('?' * (len(columns) + 1))}) "  # noqa: S608 - our names
                + upsert
            ),
            moved,
        )
        # kpi_cell counts are sums of items (each n >= 1): only a key taken from can have
        # reached 0; a bucket sums openings and closings, so any key can
        zero = [key for key, n in change.items() if n < 0 or (signed and n)]
    if zero:
        cur.executemany(delete, zero)


def _chunks(values: list[str], size: int) -> Iterable[list[str]]:
    for i in range(0, len(values), size):
        yield values[i : i + size]


# --- the query ------------------------------------------------------------------------------


def kpis(
    views: Any,
    tenant: str,
    start: date,
    end: date,
    *,
    lasting_months: int,
    decision_within_days: int,
    provider: str | None = None,
    municipality: str | None = None,
    product: str | None = None,
    as_of: datetime | None = None,
    buckets: bool = True,
) -> Kpis | None:
    """The KPI document from the rows valid at ``as_of`` (now when absent): equal to
    ``projections.kpis.aggregate`` over the case summaries as recorded then. None when
    some case's rows are not exact at ``as_of`` (a gap, see ``inexact_at``). A period of
    whole months as of an instant is read from ``kpi_cell_bucket`` (``buckets=False``:
    from the ``kpi_item`` rows valid then, as any other period; ``bench.kpis`` compares)."""
    if as_of is not None and inexact_at(views, tenant, as_of):
        return None
    base, base_params = _filters("", tenant, provider, municipality, product)
    first, last = f"{start:%Y-%m}", f"{end:%Y-%m}"
    condition, params = _in_period("", start, end, base, base_params)
    valid, valid_params = _validity(as_of)
    whole = whole_months(start, end)
    # cells of whole months: the conditions on kpi_cell and kpi_cell_bucket rows
    # (every provider or municipality: the roll-up rows, ``cells``)
    cells = " AND ".join(
        ["tenant = ?", "product = ?", "provider = ?", "municipality = ?",
         "(ref = '' OR ref <= ?) AND (endd = '' OR endd >= ?)",
         "(grain = '' OR (pos >= ? AND pos <= ?))"]
    )  # fmt: skip
    cells_params = [
        tenant, product or "", provider or ALL, municipality or ALL, last, first, first, last
    ]  # fmt: skip
    if as_of is None and whole:
        # now, for whole months: the current cells, summed over cases at month resolution
        grouped = views.query(
            f"SELECT measure, value, aux, SUM(n) FROM kpi_cell WHERE {cells} "  # noqa: S608 - fixed fragments, values are parameters
            "AND measure <> 'end' GROUP BY measure, value, aux",
            cells_params,
        )
    elif as_of is not None and whole and buckets:
        # as of T, for whole months: the cells' changes recorded in the months before T's
        # and in the days of T's month before T's, plus the item rows opened (+n) and
        # closed (-n) on T's day up to T
        instant = instant_text(as_of)
        month, day = instant[:7], instant[:10]
        before = [*cells_params, month, *cells_params, month, day]
        items_in = f"{condition} AND measure <> 'end'"
        grouped = _summed(
            views.query(
                f"SELECT measure, value, aux, SUM(n) FROM {BUCKETS} "  # noqa: S608 - fixed fragments, values are parameters
                f"WHERE {cells} AND span = 'm' AND bucket < ? GROUP BY measure, value, aux "
                f"UNION ALL SELECT measure, value, aux, SUM(n) FROM {BUCKETS} "
                f"WHERE {cells} AND span = 'd' AND bucket >= ? AND bucket < ? "
                "GROUP BY measure, value, aux "
                f"UNION ALL SELECT measure, value, aux, SUM(n) FROM {TABLE} "
                f"WHERE {items_in} AND recorded_from >= ? AND recorded_from <= ? "
                "GROUP BY measure, value, aux "
                f"UNION ALL SELECT measure, value, aux, -SUM(n) FROM {TABLE} "
                f"WHERE {items_in} AND recorded_to >= ? AND recorded_to <= ? "
                "GROUP BY measure, value, aux",
                [*before, *params, day, instant, *params, day, instant],
            )
        )
    else:
        # any other period: the item rows valid at the instant (now without as_of)
        grouped = views.query(
            f"SELECT measure, value, aux, SUM(n) FROM {TABLE} WHERE {condition} AND {valid} "  # noqa: S608
            "AND measure <> 'end' GROUP BY measure, value, aux",
            [*params, *valid_params],
        )
    reference = (as_of or clock.now()).date()
    filters_e = _filters("e.", tenant, provider, municipality, product)
    ends, ends_params = _in_period("e.", start, end, *filters_e)
    # an end is dated on its day: the same condition as _in_period's, written so that the
    # index on the ends' days (kpi_item_end) can range over it
    ends += " AND e.pos >= ? AND e.pos <= ?"
    ends_params = [*ends_params, start.isoformat(), end.isoformat()]
    if as_of is None and whole:
        # now, for whole months: the ends counted per day in kpi_cell, and only those of
        # clients with more than one case read one by one
        ends_cells = [*cells_params[:6], start.isoformat(), end.isoformat()]
        outflow = _outflow_now(views, ends_cells, ends, ends_params, lasting_months, reference)
    else:
        outflow = _outflow(views, ends, ends_params, as_of, lasting_months, reference)
    t = Tally(cases=0, outflow=outflow)
    spreads = {
        "intake": t.to_intake,
        "decision": t.to_decision,
        "start": t.to_start,
        "trajectory": t.trajectory,
    }
    for measure, value, aux, total in grouped:
        n = int(total)
        if measure == "case":
            t.cases += n
        elif measure in spreads:
            spreads[measure][int(value)] += n
        elif measure == "down":
            t.downs += n
        elif measure == "up":
            t.ups += n
        elif measure == "contacts":
            t.contacts += n
        elif measure == "no_shows":
            t.no_shows += n
        elif measure == "cost":
            if value == "null":
                t.cost_complete = False
            else:
                t.cost += Decimal(value) * n
        elif measure == "zrm":
            t.progress[value][int(aux)] += n
    filters = {
        k: v
        for k, v in (("provider", provider), ("municipality", municipality), ("product", product))
        if v
    }
    return document(t, start, end, decision_within_days, as_of, filters)


def _summed(rows: Iterable[tuple[Any, ...]]) -> list[tuple[str, str, str, int]]:
    """Rows (measure, value, aux, n) with the same measure, value and aux added up; those
    that add up to nothing dropped."""
    total: Counter[tuple[str, str, str]] = Counter()
    for measure, value, aux, n in rows:
        total[(measure, value, aux)] += int(n)
    return [(*key, n) for key, n in total.items() if n]


def _filters(
    prefix: str,
    tenant: str,
    provider: str | None,
    municipality: str | None,
    product: str | None,
) -> tuple[list[str], list[Any]]:
    """The filter conditions on item rows (columns prefixed with a table alias or not)."""
    where = [f"{prefix}tenant = ?", f"{prefix}product = ?"]
    params: list[Any] = [tenant, product or ""]
    if provider:
        where.append(f"{prefix}provider = ?")
        params.append(provider)
    if municipality:
        where.append(f"{prefix}municipality = ?")
        params.append(municipality)
    return where, params


def _in_period(
    prefix: str, start: date, end: date, where: list[str], params: list[Any]
) -> tuple[str, list[Any]]:
    """Items in scope of the period (``in_scope``) and dated inside it, after ``where``."""
    p = prefix
    first, last = f"{start:%Y-%m}", f"{end:%Y-%m}"
    condition = " AND ".join(
        [
            *where,
            f"({p}ref = '' OR {p}ref <= ?) AND ({p}endd = '' OR {p}endd >= ?)",
            f"({p}grain = '' OR ({p}grain = 'd' AND {p}pos >= ? AND {p}pos <= ?)"
            f" OR ({p}grain = 'm' AND {p}pos >= ? AND {p}pos <= ?))",
        ]
    )
    return condition, [
        *params,
        end.isoformat(),
        start.isoformat(),
        start.isoformat(),
        end.isoformat(),
        first,
        last,
    ]


def _month_number(column: str) -> str:
    """SQL: the month of an ISO day in ``column`` as one number (year x 12 + month)."""
    return (
        f"(CAST(substr({column}, 1, 4) AS INTEGER) * 12 + CAST(substr({column}, 6, 2) AS INTEGER))"
    )


def returned_within(referral: str, end: str) -> str:
    """SQL, true when the day in ``referral`` lies after the day in ``end`` and on or before
    ``add_months(end, ?)`` (the ``?`` twice: the window in months). Without date
    arithmetic, so the same text runs on SQLite and PostgreSQL: ``(month of the referral -
    months, its day) <= (month of the end, its day)``, which is the comparison with the day
    clamped to the month's last, as ``add_months`` does."""
    r, e = _month_number(referral), _month_number(end)
    return (
        f"{referral} > {end} AND ({r} - ? < {e} "
        f"OR ({r} - ? = {e} AND substr({referral}, 9, 2) <= substr({end}, 9, 2)))"
    )


def _lasting_cutoff(reference: date, months: int) -> str:
    """The last end day whose R-31 window (``add_months(end, months)``) has passed on
    ``reference``: ``add_months(d, months) <= reference`` exactly when ``d <= cutoff``
    (``add_months`` keeps the day, clamped to the month's last)."""
    year, month = divmod(reference.year * 12 + reference.month - 1 - months, 12)
    month += 1
    length = calendar.monthrange(year, month)[1]
    month_end = reference.day == calendar.monthrange(reference.year, reference.month)[1]
    return date(year, month, length if month_end else min(reference.day, length)).isoformat()


def _outflow(
    views: Any,
    ends: str,
    params: list[Any],
    as_of: datetime | None,
    lasting_months: int,
    reference: date,
) -> Outflow:
    """R-31 for the ``end`` rows of the period (``ends``: their conditions on alias ``e``),
    classified in one SQL aggregate (no row per case leaves the database): the client's
    other referrals are the ``case`` rows of the tenant valid at the same instant. A
    transfer: reason 38, or another referral dated while this case ran (referral day to end
    day); a return: another referral after the end, up to ``add_months(end,
    lasting_months)`` (:func:`returned_within`). Equal to
    ``projections.kpis.classify_outflow`` over the summaries (the property in
    tests/integration/test_kpi_cells.py).

    Only the ends of clients with more than one case (``kpi_client``) are joined with the
    client's other referrals, once per end; every other end is counted as it is (most
    clients have one case). At 100,000 cases the lookups of every end were most of a KPI
    query (``bench``, large scale, docs/performance.md)."""
    valid_r, valid_params = _validity(as_of, "r.")
    valid_e, _ = _validity(as_of, "e.")
    cutoff = _lasting_cutoff(reference, lasting_months)
    the_ends = f"{ends} AND {valid_e} AND e.measure = 'end'"
    others = _others(
        f"JOIN {CLIENTS} c ON c.tenant = e.tenant AND c.client_ref = e.client_ref", valid_r
    )
    rows = views.query(
        # the ends read once (a CTE used twice is computed once), then those of clients
        # with more than one case joined with the client's other referrals
        "WITH ends AS (SELECT e.tenant, e.case_id, e.client_ref, e.value, e.aux, e.pos, e.n "  # noqa: S608 - fixed fragments, values are parameters
        f"FROM {TABLE} e WHERE {the_ends}) "
        "SELECT e.value, CASE WHEN e.value = '38' OR x.moved = 1 THEN 't' "
        "WHEN x.came_back = 1 THEN 'r' WHEN e.pos <= ? THEN 'l' ELSE 'p' END, "
        f"CASE WHEN e.pos <= ? THEN 1 ELSE 0 END, SUM(e.n) FROM ends e LEFT JOIN ({others}) "
        "AS x ON x.case_id = e.case_id GROUP BY 1, 2, 3",
        [
            *params,
            *valid_params,
            cutoff,
            cutoff,
            lasting_months,
            lasting_months,
            *valid_params,
        ],
    )
    return _counted(rows)


def _counted(rows: Iterable[tuple[Any, ...]]) -> Outflow:
    """The ends of rows (reason, class, window passed, count) counted for R-31; class ``t``
    transfer, ``r`` return, ``l`` lasting, ``p`` pending."""
    out = Outflow()
    for reason, kind, passed, total in rows:
        n = int(total)
        out.count += n
        out.reasons[reason or "?"] += n
        out.window_passed += int(passed) * n
        if kind == "t":
            out.transfers += n
        elif kind == "l":
            out.lasting += n
        elif kind == "p":
            out.pending += n
    return out


def _others(clients: str, valid_r: str) -> str:
    """SQL: per end of the CTE ``ends`` (joined with ``clients`` first, when given), whether
    another referral of its client was dated while the case ran (``moved``: a transfer) or
    came back within the R-31 window (``came_back``; the window in months twice, ``?``),
    among the ``case`` rows ``r`` valid as ``valid_r`` says."""
    returned = returned_within("r.ref", "e.pos")
    return (
        "SELECT e.case_id, "  # noqa: S608 - fixed fragments, values are parameters
        "MAX(CASE WHEN r.ref >= e.aux AND r.ref <= e.pos THEN 1 ELSE 0 END) AS moved, "
        f"MAX(CASE WHEN {returned} THEN 1 ELSE 0 END) AS came_back "
        f"FROM ends e {clients} JOIN {TABLE} r ON r.tenant = e.tenant AND r.product = '' "
        "AND r.measure = 'case' AND r.client_ref = e.client_ref AND r.case_id <> e.case_id "
        f"AND {valid_r} GROUP BY e.case_id"
    )


def _outflow_now(
    views: Any,
    cells_params: list[Any],
    ends: str,
    params: list[Any],
    lasting_months: int,
    reference: date,
) -> Outflow:
    """:func:`_outflow` now, for whole months, without reading every end: the ends per
    reason and day from ``kpi_cell`` (a few thousand rows for a tenant's year where there
    are some 50,000 ends), each classified as if the client had no other case (reason 38 a
    transfer, else lasting once its window has passed, else pending); then the ends of
    clients with more than one case (``kpi_client``) that another referral makes a transfer
    or a return are read from ``kpi_item`` and moved to that class. Equal to
    :func:`_outflow` (the property in tests/integration/test_kpi_cells.py)."""
    cutoff = _lasting_cutoff(reference, lasting_months)
    out = _counted(
        views.query(
            "SELECT value, CASE WHEN value = '38' THEN 't' WHEN pos <= ? THEN 'l' ELSE 'p' END, "
            "CASE WHEN pos <= ? THEN 1 ELSE 0 END, SUM(n) FROM kpi_cell "
            "WHERE tenant = ? AND product = ? AND provider = ? AND municipality = ? "
            "AND (ref = '' OR ref <= ?) AND (endd = '' OR endd >= ?) "
            "AND measure = 'end' AND grain = 'd' AND pos >= ? AND pos <= ? GROUP BY 1, 2, 3",
            [cutoff, cutoff, *cells_params],
        )
    )
    others = _others("", "r.recorded_to IS NULL")
    for kind, passed, total in views.query(
        "WITH ends AS (SELECT e.tenant, e.case_id, e.client_ref, e.aux, e.pos, e.n "  # noqa: S608 - fixed fragments, values are parameters
        f"FROM {CLIENTS} c JOIN {TABLE} e ON e.tenant = c.tenant "
        "AND e.client_ref = c.client_ref AND e.measure = 'end' AND e.recorded_to IS NULL "
        f"WHERE c.tenant = ? AND {ends} AND e.value <> '38') "
        "SELECT CASE WHEN x.moved = 1 THEN 't' ELSE 'r' END, "
        f"CASE WHEN e.pos <= ? THEN 1 ELSE 0 END, SUM(e.n) FROM ends e JOIN ({others}) "
        "AS x ON x.case_id = e.case_id WHERE x.moved = 1 OR x.came_back = 1 GROUP BY 1, 2",
        [params[0], *params, cutoff, lasting_months, lasting_months],
    ):
        n = int(total)
        if kind == "t":
            out.transfers += n
        if passed:
            out.lasting -= n
        else:
            out.pending -= n
    return out


def inexact_at(views: Any, tenant: str, as_of: datetime) -> bool:
    """Whether some case of the tenant has rows that are not exact at ``as_of``: a batch
    brought more of its versions than the runner derives one by one, and ``as_of`` lies
    between the first and the last of them."""
    instant = instant_text(as_of)
    return bool(
        views.query(
            "SELECT 1 FROM kpi_gap WHERE tenant = ? AND gap_from <= ? AND gap_to > ? LIMIT 1",
            [tenant, instant, instant],
        )
    )


def _validity(as_of: datetime | None, prefix: str = "") -> tuple[str, list[Any]]:
    p = prefix
    if as_of is None:
        return f"{p}recorded_to IS NULL", []
    instant = instant_text(as_of)
    return (
        f"{p}recorded_from <= ? AND ({p}recorded_to IS NULL OR {p}recorded_to > ?)",
        [instant, instant],
    )
