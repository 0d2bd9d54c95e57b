"""Case reads: state, history, entitlement, consumption and dispute replay.

Case-level reads are computed from the case's own events (loaded with snapshots, ~1 ms), by
the same pure functions the projection runner uses for its tables. So every read reflects
the client's acknowledged writes at once, and the time-travel parameters are exact:
``as_of`` (recorded instant), ``version`` and ``on`` (business date).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import anyio
import msgspec
from litestar import Request, Response, get

from api.context import aware, invalid, parse_case_id, require, services
from caselog.application import today
from domain.errors import CaseNotFound
from domain.values import Actor, Volume
from projections.case_view import case_document
from projections.consumption import Decision, Minutes, MonthConsumption, NoShows
from projections.derive import derive
from projections.entitlement import AssignmentView
from projections.history import HistoryEvent, Step, history, replay

READERS = ("municipality", "provider", "auditor")


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
    app = services(request).app

    def read() -> Response[Any]:
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
    app = services(request).app

    def read() -> EntitlementOut:
        case = app.get_case(cid, actor, as_of=as_of)
        cat = app.catalogues.for_tenant(case.state.tenant)
        day = on or today()
        views = derive(str(cid), case.state, case.entries, cat, case.version).entitlements_on(day)
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
            version=case.version,
        )

    return await anyio.to_thread.run_sync(read)


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
    app = services(request).app

    def read() -> ConsumptionOut:
        case = app.get_case(cid, actor, as_of=as_of)
        cat = app.catalogues.for_tenant(case.state.tenant)
        derived = derive(str(cid), case.state, case.entries, cat, case.version)
        m = derived.months.get(month) or MonthConsumption(
            month=month, financing="none", amount_due="0.00"
        )
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
            version=case.version,
        )

    return await anyio.to_thread.run_sync(read)


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
