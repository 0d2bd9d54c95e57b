"""Writes: each POST records one fact on a case (shared/API.md, "Writes").

Handlers stay thin: check the role, turn the body into a fact, call the application in a
worker thread (through ``run_write``: If-Match, Idempotency-Key), answer ``{case_id,
version}`` with an ETag. Lifecycle rules live in the domain and come back as 409/422.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Protocol
from uuid import NAMESPACE_URL, uuid4, uuid5

import msgspec
from litestar import Request, Response, post

from api import schemas as s
from api.context import invalid, parse_case_id, require, run_write, services, strict_body, written
from domain import facts as f
from domain.case import CorrectionAsPosted
from domain.errors import CaseNotFound, RuleViolation
from domain.values import Actor

PROVIDER = ("provider",)
MUNICIPALITY = ("municipality",)


class _Recordable(Protocol):
    """A request body that maps to the one fact its POST records (api/schemas.py)."""

    def fact(self) -> f.Fact: ...


async def _record(
    request: Request[Any, Any, Any],
    actor: Actor,
    case_id: str,
    data: _Recordable,
    roles: tuple[str, ...],
) -> Any:
    require(actor, *roles)
    await strict_body(request, data)
    fact = data.fact()
    cid = parse_case_id(case_id)
    app = services(request).app

    async def command(expected: int | None) -> Response[Any]:
        return written(cid, await app.record_async(cid, actor, fact, expected))

    return await run_write(request, actor, command)


@post("/v1/cases", status_code=201, summary="Open a case on a referral (aanmelding)")
async def open_case(
    request: Request[Any, Any, Any], actor: Actor, data: s.ReferralBody
) -> Response[Any]:
    """The municipality refers a client to a provider; the tenant is the token's."""
    require(actor, *MUNICIPALITY)
    await strict_body(request, data)
    referral = data.fact(tenant=actor.tenant)
    app = services(request).app
    case_id = None if actor.request_key else uuid4()

    def command(_: int | None) -> Response[Any]:
        cid, version = app.open_case(actor, referral, case_id)
        return written(cid, version, status=201)

    return await run_write(request, actor, command)


@post("/v1/cases/{case_id:str}/intake", status_code=200, summary="Intake held")
async def intake(
    request: Request[Any, Any, Any], actor: Actor, case_id: str, data: s.IntakeBody
) -> Response[Any]:
    return await _record(request, actor, case_id, data, PROVIDER)


@post(
    "/v1/cases/{case_id:str}/indications",
    status_code=200,
    summary="Indication granted (beschikking)",
)
async def indication(
    request: Request[Any, Any, Any], actor: Actor, case_id: str, data: s.IndicationBody
) -> Response[Any]:
    return await _record(request, actor, case_id, data, MUNICIPALITY)


@post("/v1/cases/{case_id:str}/support-plan", status_code=200, summary="Support plan agreed")
async def support_plan(
    request: Request[Any, Any, Any], actor: Actor, case_id: str, data: s.SupportPlanBody
) -> Response[Any]:
    return await _record(request, actor, case_id, data, PROVIDER)


@post("/v1/cases/{case_id:str}/start", status_code=200, summary="Care started")
async def start(
    request: Request[Any, Any, Any], actor: Actor, case_id: str, data: s.CareStartBody
) -> Response[Any]:
    return await _record(request, actor, case_id, data, PROVIDER)


@post("/v1/cases/{case_id:str}/contacts", status_code=200, summary="Contact recorded")
async def contact(
    request: Request[Any, Any, Any], actor: Actor, case_id: str, data: s.ContactBody
) -> Response[Any]:
    return await _record(request, actor, case_id, data, PROVIDER)


@post("/v1/cases/{case_id:str}/no-shows", status_code=200, summary="No-show recorded (R-13)")
async def no_show(
    request: Request[Any, Any, Any], actor: Actor, case_id: str, data: s.NoShowBody
) -> Response[Any]:
    return await _record(request, actor, case_id, data, PROVIDER)


@post("/v1/cases/{case_id:str}/evaluations", status_code=200, summary="Evaluation recorded (ZRM)")
async def evaluation(
    request: Request[Any, Any, Any], actor: Actor, case_id: str, data: s.EvaluationBody
) -> Response[Any]:
    return await _record(request, actor, case_id, data, PROVIDER)


@post("/v1/cases/{case_id:str}/scale-changes", status_code=200, summary="Scale changed by decision")
async def scale_change(
    request: Request[Any, Any, Any], actor: Actor, case_id: str, data: s.ScaleChangeBody
) -> Response[Any]:
    return await _record(request, actor, case_id, data, MUNICIPALITY)


@post("/v1/cases/{case_id:str}/end", status_code=200, summary="Care ended (uitstroom)")
async def end(
    request: Request[Any, Any, Any], actor: Actor, case_id: str, data: s.EndBody
) -> Response[Any]:
    return await _record(request, actor, case_id, data, ("municipality", "provider"))


@post("/v1/cases/{case_id:str}/change-requests", status_code=201, summary="Change requested (R-19)")
async def change_request(
    request: Request[Any, Any, Any], actor: Actor, case_id: str, data: s.ChangeRequestBody
) -> Response[Any]:
    """A provider asks for a scale change or an extension, with its report (R-19)."""
    require(actor, *PROVIDER)
    await strict_body(request, data)
    cid = parse_case_id(case_id)
    # With an Idempotency-Key the id follows from it, so a retry answers the same id.
    seed = uuid5(NAMESPACE_URL, actor.request_key) if actor.request_key else uuid4()
    request_id = f"WV-{seed.hex[:12]}"
    fact = data.fact(request_id=request_id)
    app = services(request).app

    def command(expected: int | None) -> Response[Any]:
        version = app.request_change(cid, actor, fact, expected)
        return written(cid, version, status=201, request_id=request_id)

    return await run_write(request, actor, command)


@post(
    "/v1/cases/{case_id:str}/change-requests/{request_id:str}/decision",
    status_code=200,
    summary="Change decided by the municipality",
)
async def decide(
    request: Request[Any, Any, Any],
    actor: Actor,
    case_id: str,
    request_id: str,
    data: s.DecisionBody,
) -> Response[Any]:
    """Granted requests change the entitlement in the same write (extension keeps the
    assignment number; a scale change withdraws and reassigns, R-30)."""
    require(actor, *MUNICIPALITY)
    await strict_body(request, data)
    cid = parse_case_id(case_id)
    decision = data.fact(request_id=request_id)
    app = services(request).app

    def command(expected: int | None) -> Response[Any]:
        return written(cid, app.decide_change(cid, actor, decision, expected))

    return await run_write(request, actor, command)


@post("/v1/cases/{case_id:str}/corrections", status_code=200, summary="Correct or retract an event")
async def correction(
    request: Request[Any, Any, Any], actor: Actor, case_id: str, data: s.CorrectionBody
) -> Response[Any]:
    """Only the role that wrote an event corrects it (C-08); the original stays in the log."""
    require(actor, "municipality", "provider")
    await strict_body(request, data)
    cid = parse_case_id(case_id)
    app = services(request).app
    if data.retract == (data.replacement is not None):
        raise invalid("replacement", "give either retract: true or a replacement", source="body")

    def command(expected: int | None) -> Response[Any]:
        if data.retract:
            retraction = f.Retraction(event_version=data.event_version, reason=data.reason)
            return written(cid, app.retract_event(cid, actor, retraction, expected))
        correction = CorrectionAsPosted(
            event_version=data.event_version,
            reason=data.reason,
            read_replacement=partial(read_replacement, data.replacement or {}),
        )
        return written(cid, app.correct_event(cid, actor, correction, expected))

    return await run_write(request, actor, command)


def read_replacement(replacement: dict[str, Any], kind: type[f.Fact]) -> f.CorrectableFact:
    """The posted replacement read as the body of the corrected fact's kind (422 naming
    the field under ``replacement`` when it does not fit)."""
    body = s.REPLACEMENT_BODY.get(kind)
    if body is None:  # the aggregate refuses such a target before asking (C-07)
        raise RuleViolation("C-07", f"a {kind.__name__} is not corrected by replacement")
    try:
        parsed = msgspec.convert(replacement, type=body)
    except msgspec.ValidationError as e:
        message, _, where = str(e).partition(" - at `$")
        field = "replacement" + where.rstrip("`")  # `$.x` -> replacement.x, `$` -> replacement
        raise invalid(field, message, source="body") from None
    fact: f.CorrectableFact = parsed.fact()
    return fact


WRITES = [
    open_case,
    intake,
    indication,
    support_plan,
    start,
    contact,
    no_show,
    evaluation,
    scale_change,
    end,
    change_request,
    decide,
    correction,
]

__all__ = ["WRITES", "CaseNotFound"]
