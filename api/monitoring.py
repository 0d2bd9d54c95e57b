"""Cross-case reads: open signals for case handlers, KPIs for contract management, health.

Both come from the projection runner's tables. Before answering, the handler waits (up to
two seconds) for the runner to reach the log's current head, so a client sees the effect of
its own acknowledged writes (read-your-writes).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import anyio
import msgspec
from litestar import Request, Response, get

from api.context import aware, invalid, require, services
from api.exports import KpiTable, kpi_export
from api.problems import Forbidden
from api.schemas import Health
from application.application import today
from domain.values import Actor
from projections.kpis import Kpis
from projections.queries import SignalRow, kpis, open_signals

#: Paging bound on /v1/signals: beyond a 64-bit integer the store itself would fail (500).
MAX_OFFSET = 1_000_000_000


class SignalsOut(msgspec.Struct):
    signals: list[SignalRow]
    on: date


@get("/v1/signals", summary="Signals (R-14, R-15, R-18, R-29, duration limits)")
async def get_signals(
    request: Request[Any, Any, Any],
    actor: Actor,
    provider: str | None = None,
    open: bool = True,
    on: date | None = None,
    limit: int = 500,
    offset: int = 0,
) -> SignalsOut:
    """Signals raised by ``on`` (default today); ``open=true`` keeps those not closed then.
    A provider sees only its own cases' signals."""
    require(actor, "municipality", "provider")
    if actor.role == "provider":
        if provider and provider != actor.provider:
            raise Forbidden("a provider sees only its own signals")
        provider = actor.provider
    if not 1 <= limit <= 1000:
        raise invalid("limit", "1..1000")
    if not 0 <= offset <= MAX_OFFSET:
        raise invalid("offset", f"0..{MAX_OFFSET}")
    svc = services(request)
    day = on or today()

    def read() -> SignalsOut:
        services(request).caught_up()
        rows = open_signals(
            svc.views,
            actor.tenant,
            provider=provider,
            on=day,
            only_open=open,
            limit=limit,
            offset=offset,
        )
        return SignalsOut(signals=rows, on=day)

    return await anyio.to_thread.run_sync(read)


@get("/v1/kpis", summary="Contract-management KPIs (uitstroom, doorlooptijd, afschaling, ...)")
async def get_kpis(
    request: Request[Any, Any, Any],
    actor: Actor,
    period_start: date,
    period_end: date,
    provider: str | None = None,
    product: str | None = None,
    municipality: str | None = None,
    as_of: datetime | None = None,
    group_by: str | None = None,
) -> Response[Kpis | KpiTable]:
    """Aggregates only: no case ids, no client references (contract managers never need
    names). ``as_of`` answers as the system knew it at that recorded instant. ``Accept:
    text/csv`` or the XLSX media type (or ``group_by``) answers a table, one row per group
    (``group_by``: provider, product, municipality, month; default all four): api/exports.py."""
    require(actor, "contract_manager", "municipality")
    if period_end < period_start:
        raise invalid("period_end", "before period_start")
    aware(as_of, "as_of")
    table = await kpi_export(
        request, actor, period_start, period_end, provider=provider, product=product,
        municipality=municipality, as_of=as_of, group_by=group_by,
    )  # fmt: skip
    if table is not None:
        return table
    svc = services(request)

    def read() -> Kpis:
        services(request).caught_up()
        return kpis(
            svc.views,
            svc.app,
            actor.tenant,
            period_start,
            period_end,
            provider=provider,
            product=product,
            municipality=municipality,
            as_of=as_of,
        )

    return Response(await anyio.to_thread.run_sync(read))


@get("/health", summary="Liveness and store reachability", exclude_from_auth=True)
async def health(request: Request[Any, Any, Any]) -> Response[Health]:
    svc = services(request)

    def check() -> Response[Health]:
        if not svc.probe_store():  # fast: a direct connection, refused at once when down
            return Response(Health(status="unavailable", store="unreachable"), status_code=503)
        try:
            head = svc.app.max_notification_id()
            lag = head - min(svc.runner.positions().values())
        except Exception as e:
            return Response(Health(status="unavailable", store=type(e).__name__), status_code=503)
        return Response(Health(status="ok", store="reachable", projections_lag=lag))

    return await anyio.to_thread.run_sync(check)


MONITORING = [get_signals, get_kpis, health]
