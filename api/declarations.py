"""GET /v1/declarations: a month's declaration lines with totals, as JSON or CSV.

The lines come from the declarations projection (``projections.declarations``), the same
lines the WMO323 is built from, so the JSON read, the CSV and the iWmo declaration agree.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from decimal import Decimal
from typing import Any

import anyio
import msgspec
from litestar import Request, Response, get

from api.context import aware, invalid, require, services
from api.problems import Forbidden
from domain.values import Actor
from projections.declarations import DeclarationLine, lines_for_month

ROLES = ("municipality", "provider", "contract_manager")
CSV = "text/csv"
COLUMNS = [f for f in DeclarationLine.__struct_fields__ if f != "client_ref"]


class Totals(msgspec.Struct, kw_only=True):
    lines: int
    cases: int
    declarable_minutes: int
    amount_due: str | None
    declared_amount: str | None
    unpriced_lines: int


class DeclarationsOut(msgspec.Struct, kw_only=True):
    month: str
    provider: str | None
    municipality: str | None
    as_of: datetime | None
    lines: list[DeclarationLine]
    totals: Totals


def parse_month(month: str) -> str:
    ok = (
        len(month) == 7
        and month[4] == "-"
        and (month[:4] + month[5:]).isdigit()
        and 1 <= int(month[5:]) <= 12
    )
    if not ok:
        raise invalid("month", "expected YYYY-MM")
    return month


def scope_provider(actor: Actor, provider: str | None) -> str | None:
    """A provider reads only its own lines (asking for another provider's is refused)."""
    if actor.role != "provider":
        return provider
    if provider and provider != actor.provider:
        raise Forbidden("a provider reads only its own declarations")
    return actor.provider


def totals(lines: list[DeclarationLine]) -> Totals:
    def total(values: list[str | None]) -> str | None:
        known = [Decimal(v) for v in values if v is not None]
        return str(sum(known, Decimal("0.00"))) if len(known) == len(values) else None

    return Totals(
        lines=len(lines),
        cases=len({x.case_id for x in lines}),
        declarable_minutes=sum(x.declarable_minutes for x in lines),
        amount_due=total([x.amount_due for x in lines]),
        declared_amount=total([x.declared_amount for x in lines]),
        unpriced_lines=sum(1 for x in lines if x.rate is None),
    )


def to_csv(lines: list[DeclarationLine]) -> str:
    """One row per line; the client reference stays out (an export leaves the system)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for line in lines:
        writer.writerow(["" if (v := getattr(line, c)) is None else v for c in COLUMNS])
    return out.getvalue()


@get("/v1/declarations", summary="A month's declaration lines per case per assignment, totals")
async def get_declarations(
    request: Request[Any, Any, Any],
    actor: Actor,
    month: str,
    provider: str | None = None,
    municipality: str | None = None,
    as_of: datetime | None = None,
) -> Response[Any]:
    """One line per case per assignment (what a WMO323 would declare); ``Accept: text/csv``
    gives the same lines as a table for a spreadsheet."""
    require(actor, *ROLES)
    month = parse_month(month)
    provider = scope_provider(actor, provider)
    aware(as_of, "as_of")
    svc = services(request)

    def read() -> list[DeclarationLine]:
        svc.caught_up()
        return lines_for_month(
            svc.views,
            svc.app,
            actor.tenant,
            month,
            provider=provider,
            municipality=municipality,
            as_of=as_of,
        )

    lines = await anyio.to_thread.run_sync(read)
    if CSV in (request.headers.get("accept") or ""):
        return Response(to_csv(lines), media_type=f"{CSV}; charset=utf-8")
    return Response(
        DeclarationsOut(
            month=month,
            provider=provider,
            municipality=municipality,
            as_of=as_of,
            lines=lines,
            totals=totals(lines),
        )
    )


DECLARATIONS = [get_declarations]
