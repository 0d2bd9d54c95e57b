"""Case reads: state, history, entitlement, consumption and dispute replay.

The case, its entitlement and a month's consumption at the case's current version (no
``version`` / ``as_of``; for the case also no ``on``) are read from the rows the projection
runner stores (``projections.stored_reads``: one indexed query, ~1 ms whatever the length of
the case), when those rows hold the case's current version. When they do not (a write the
runner has not projected yet: the caller's own, say), or cannot answer exactly (an
entitlement ``on`` a day before facts already recorded), the read computes the answer from
the case's events: a read always holds every acknowledged write, and rows that lag are never
served. It can instead wait for the runner (``WAIT_SECONDS``, off by default: see there).
Both paths build the same structures, so the answer is the same byte for byte; only its cost
differs.

The time-travel parameters are computed from the case's own events (loaded with snapshots,
~1 ms) by the same pure functions the runner uses: ``as_of`` (recorded instant),
``version`` and ``on`` (business date).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any
from uuid import UUID

import anyio
import msgspec
from litestar import Request, Response, get

from api.context import Services, aware, invalid, parse_case_id, require, services
from application.application import CaseLog, today
from domain.case import Case
from domain.errors import CaseNotFound
from domain.values import Actor, Volume
from projections.case_view import case_document
from projections.consumption import Decision, Minutes, MonthConsumption, NoShows
from projections.derive import Derived, derive
from projections.entitlement import AssignmentView
from projections.history import HistoryEvent, Step, history, replay
from projections.stored_reads import Behind, Stored

READERS = ("municipality", "provider", "auditor")
#: How long a read whose rows lag waits for the runner to pass the case's last event before
#: it computes the answer from the events: by default not at all. The runner's catch-up of a
#: case recomputes at least what the live read computes (and each wake ends its pause, which
#: under load spreads its work over fewer writes), so waiting never answers sooner; it only
#: moves the derivation out of the service's process. Measured under writes to the cases
#: read (docs/performance.md): waiting up to 2 s made the read p95 2 s, 50 ms about twice
#: that of computing at once.
WAIT_SECONDS = 0.0
#: a runner more events behind than this is not waited for: the read computes live at once
WAIT_LAG = 2000


def from_rows(
    svc: Services, actor: Actor, case_id: UUID, read: Callable[[], Any]
) -> Stored[Any] | None:
    """The answer from the stored rows, or None when it must be computed from the events.
    404 for a case that has no events or that ``actor`` may not see."""
    found = read()
    if isinstance(found, Behind):
        if not WAIT_SECONDS or found.lag > WAIT_LAG:
            return None
        if not svc.reached(found.notification, WAIT_SECONDS):
            return None
        found = read()
    if found is None:
        raise CaseNotFound(f"case {case_id} not found")
    if not isinstance(found, Stored):  # still behind, or not answerable exactly
        return None
    if not CaseLog.in_scope(found.tenant, found.provider, actor):
        raise CaseNotFound(f"case {case_id} not found")
    return found


def live(app: CaseLog, actor: Actor, cid: UUID, as_of: datetime | None) -> tuple[Case, Derived]:
    """The case and its derivation computed from the events: as of an instant, derived in
    full; at the head (the rows lag), this process's derivation stepped through the events
    since it last read the case (``CaseLog.derived_head``)."""
    if as_of is None:
        return app.derived_head(cid, actor)
    case = app.get_case(cid, actor, as_of=as_of)
    cat = app.catalogues.for_tenant(case.state.tenant)
    return case, derive(str(cid), case.state, case.entries, cat, case.version)


@get("/v1/cases/{case_id:str}", summary="Case state (time travel: as_of, version, on)")
async def get_case(
    request: Request[Any, Any, Any],
    actor: Actor,
    case_id: str,
    as_of: datetime | None = None,
    version: int | None = None,
    on: date | None = None,
) -> Response[Any]:
    require(actor, *READERS)
    cid = parse_case_id(case_id)
    as_of = aware(as_of, "as_of")
    svc = services(request)
    app = svc.app

    def read() -> Response[Any]:
        if version is None and as_of is None and on is None:
            stored = from_rows(svc, actor, cid, lambda: svc.stored.case(cid))
            if stored is not None:
                return Response(stored.value, headers={"ETag": f'"{stored.version}"'})
        case = app.get_case(cid, actor, version=version, as_of=as_of)
        doc = case_document(case, on)
        if doc is None:
            raise CaseNotFound(f"case {cid} was not referred yet on {on}")
        return Response(doc, headers={"ETag": f'"{case.version}"'})

    return await anyio.to_thread.run_sync(read)


class HistoryOut(msgspec.Struct):
    case_id: str
    events: list[HistoryEvent]


@get("/v1/cases/{case_id:str}/history", summary="Every event of the case, oldest first")
async def get_history(
    request: Request[Any, Any, Any], actor: Actor, case_id: str, as_of: datetime | None = None
) -> HistoryOut:
    require(actor, *READERS)
    cid = parse_case_id(case_id)
    as_of = aware(as_of, "as_of")
    app = services(request).app

    def read() -> HistoryOut:
        return HistoryOut(
            case_id=str(cid), events=history(app.get_history(cid, actor, as_of=as_of))
        )

    return await anyio.to_thread.run_sync(read)


class EntitlementOut(msgspec.Struct, kw_only=True):
    case_id: str
    on: date
    product: str | None
    surcharge: bool | None
    volume: Volume | None
    valid_from: date | None
    valid_until: date | None
    hours_granted: str | None
    hours_used: str | None
    hours_remaining: str | None
    used_share: str | None
    periods_billed: str | None
    assignments: list[AssignmentView]
    #: R-17: hours recorded beyond the total volume (not declarable); never a negative rest.
    hours_beyond_volume: str | None = None
    version: int


@get("/v1/cases/{case_id:str}/entitlement", summary="Entitlement on a date, hours used and left")
async def get_entitlement(
    request: Request[Any, Any, Any],
    actor: Actor,
    case_id: str,
    on: date | None = None,
    as_of: datetime | None = None,
) -> EntitlementOut:
    require(actor, "municipality", "provider")
    cid = parse_case_id(case_id)
    as_of = aware(as_of, "as_of")
    svc = services(request)
    app = svc.app

    def read() -> EntitlementOut:
        day = on or today()
        if as_of is None:
            stored = from_rows(svc, actor, cid, lambda: svc.stored.entitlement(cid, day))
            if stored is not None:
                return entitlement_out(cid, day, stored.value, stored.version)
        case, derived = live(app, actor, cid, as_of)
        return entitlement_out(cid, day, derived.entitlements_on(day), case.version)

    return await anyio.to_thread.run_sync(read)


def entitlement_out(
    cid: UUID, day: date, views: list[AssignmentView], version: int
) -> EntitlementOut:
    """The entitlement answer on ``day``: the last assignment valid that day, and all."""
    valid = [v for v in views if v.valid_from <= day <= v.valid_until]
    chosen = valid[-1] if valid else None
    return EntitlementOut(
        case_id=str(cid),
        on=day,
        product=chosen.product if chosen else None,
        surcharge=chosen.surcharge if chosen else None,
        volume=chosen.volume if chosen else None,
        valid_from=chosen.valid_from if chosen else None,
        valid_until=chosen.valid_until if chosen else None,
        hours_granted=chosen.hours_granted if chosen else None,
        hours_used=chosen.hours_used if chosen else None,
        hours_remaining=chosen.hours_remaining if chosen else None,
        used_share=chosen.used_share if chosen else None,
        periods_billed=chosen.periods_billed if chosen else None,
        hours_beyond_volume=chosen.hours_beyond_volume if chosen else None,
        assignments=views,
        version=version,
    )


class ConsumptionOut(msgspec.Struct, kw_only=True):
    case_id: str
    month: str
    financing: str
    minutes: Minutes
    no_shows: NoShows
    declarable_minutes: int
    non_declarable_minutes: int
    decisions: list[Decision]
    amount_due: str | None
    price_source: str
    periods_billed: str | None
    version: int


@get(
    "/v1/cases/{case_id:str}/consumption", summary="Minutes, no-shows, declarable time, amount due"
)
async def get_consumption(
    request: Request[Any, Any, Any],
    actor: Actor,
    case_id: str,
    month: str,
    as_of: datetime | None = None,
) -> ConsumptionOut:
    require(actor, "municipality", "provider")
    cid = parse_case_id(case_id)
    as_of = aware(as_of, "as_of")
    if (
        len(month) != 7
        or month[4] != "-"
        or not (month[:4] + month[5:]).isdigit()
        or not (1 <= int(month[5:]) <= 12)
    ):
        raise invalid("month", "expected YYYY-MM")
    svc = services(request)
    app = svc.app

    def read() -> ConsumptionOut:
        if as_of is None:
            stored = from_rows(svc, actor, cid, lambda: svc.stored.consumption(cid, month))
            if stored is not None:
                return consumption_out(cid, month, stored.value, stored.version)
        case, derived = live(app, actor, cid, as_of)
        return consumption_out(cid, month, derived.months.get(month), case.version)

    return await anyio.to_thread.run_sync(read)


def consumption_out(
    cid: UUID, month: str, m: MonthConsumption | None, version: int
) -> ConsumptionOut:
    """The consumption answer for ``month`` (a month without activity: nothing due)."""
    m = m or MonthConsumption(month=month, financing="none", amount_due="0.00")
    return ConsumptionOut(
        case_id=str(cid),
        month=month,
        financing=m.financing,
        minutes=m.minutes,
        no_shows=m.no_shows,
        declarable_minutes=m.declarable_minutes,
        non_declarable_minutes=m.non_declarable_minutes,
        decisions=m.decisions,
        amount_due=m.amount_due,
        price_source=m.price_source,
        periods_billed=m.periods_billed,
        version=version,
    )


class ReplayOut(msgspec.Struct):
    case_id: str
    until: int | None
    steps: list[Step]


@get("/v1/cases/{case_id:str}/replay", summary="Dispute replay: each step, state and decisions")
async def get_replay(
    request: Request[Any, Any, Any], actor: Actor, case_id: str, until: str | None = None
) -> ReplayOut:
    """``until``: a version number or an RFC 3339 instant (what was recorded by then)."""
    require(actor, "auditor", "municipality")
    cid = parse_case_id(case_id)
    app = services(request).app
    version: int | None = None
    instant: datetime | None = None
    if until:
        if until.isdigit():
            version = int(until)
        else:
            try:
                instant = datetime.fromisoformat(until.replace("Z", "+00:00"))
            except ValueError:
                instant = None
            if instant is None or instant.tzinfo is None:
                raise invalid("until", "a version or an instant")

    def read() -> ReplayOut:
        events = app.get_history(cid, actor, as_of=instant)
        if not events:
            raise CaseNotFound(f"case {cid} was not recorded yet at {until}")
        cat = app.catalogues.for_tenant(events[0].fact.tenant)
        steps = replay(events, cat, until=version)
        return ReplayOut(
            case_id=str(cid), until=steps[-1].event.version if steps else None, steps=steps
        )

    return await anyio.to_thread.run_sync(read)


READS = [get_case, get_history, get_entitlement, get_consumption, get_replay]
