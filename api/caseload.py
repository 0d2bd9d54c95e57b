"""The caseload: GET /v1/cases lists a tenant's cases, filtered, newest referral first.

Served from the ``caseload`` projection (projections/caseload.py). Before answering, the
handler waits (bounded, two seconds) for the runner to pass the log's head, so a case the
caller just opened or changed is listed as written (read-your-writes, as signals and KPIs
do). Scoped like the case reads: a provider sees only its own cases, nobody another
tenant's; contract managers see aggregates only (403).
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import anyio
import msgspec
from litestar import Request, Response, get

from api.context import require, services
from api.problems import FieldError, Forbidden, problem
from application.application import today
from domain.values import Actor
from projections.caseload import STATUSES, BadCursor, CaseloadLine, Filters, decode_cursor, page

MAX_LIMIT = 500
_RULE = re.compile(r"^[A-Z]-\d{2}$")


class CaseloadOut(msgspec.Struct):
    cases: list[CaseloadLine]
    next_cursor: str | None


def _refuse(status: int, field: str, message: str) -> Response[Any]:
    """400 for a value that is not what this parameter takes (a cursor we did not issue),
    422 for a well-formed value out of range (limit 501, an unknown status)."""
    slug, title = (
        ("invalid", "Invalid values") if status == 422 else ("malformed", "Malformed request")
    )
    return problem(
        status,
        slug,
        title,
        f"{field}: {message}",
        errors=[FieldError(field=field, message=message)],
    )


@get("/v1/cases", summary="Caseload: the cases in your scope, filtered, newest referral first")
async def list_cases(
    request: Request[Any, Any, Any],
    actor: Actor,
    status: str | None = None,
    provider: str | None = None,
    municipality: str | None = None,
    product: str | None = None,
    signal: str | None = None,
    referred_from: date | None = None,
    referred_to: date | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Response[CaseloadOut]:
    """Every filter is optional: ``status`` (referred, indicated, active, ended), ``provider``,
    ``municipality``, ``product`` (the current product), ``signal`` (a rule id, e.g. ``R-14``:
    cases with that signal open today), ``referred_from`` / ``referred_to`` (inclusive).
    ``limit`` 1..500 (default 50). Follow ``next_cursor`` (``null`` on the last page) with
    the same filters; a case changed while paging keeps its place in the order."""
    require(actor, "municipality", "provider", "auditor")
    if actor.role == "provider":
        if provider is not None and provider != actor.provider:
            raise Forbidden("a provider sees only its own cases")
        provider = actor.provider
    if not 1 <= limit <= MAX_LIMIT:
        return _refuse(422, "limit", f"between 1 and {MAX_LIMIT}")
    if status is not None and status not in STATUSES:
        return _refuse(422, "status", f"one of {', '.join(STATUSES)}")
    if signal is not None and not _RULE.match(signal):
        return _refuse(422, "signal", "a rule id such as R-14")
    if referred_from and referred_to and referred_to < referred_from:
        return _refuse(422, "referred_to", "before referred_from")
    try:
        after = decode_cursor(cursor) if cursor is not None else None
    except BadCursor:
        return _refuse(400, "cursor", "not a cursor from a previous page")
    filters = Filters(
        status=status,
        provider=provider,
        municipality=municipality,
        product=product,
        signal=signal,
        referred_from=referred_from,
        referred_to=referred_to,
    )
    svc = services(request)

    def read() -> Response[CaseloadOut]:
        svc.caught_up()
        found = page(svc.views, actor.tenant, filters, on=today(), after=after, limit=limit)
        return Response(CaseloadOut(cases=found.cases, next_cursor=found.next_cursor))

    return await anyio.to_thread.run_sync(read)


CASELOAD = [list_cases]
