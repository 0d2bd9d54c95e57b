"""Writes: each POST records one fact on a case (shared/API.md, "Writes").

Handlers stay thin: check the role, turn the body into a fact, call the application in a
worker thread (through ``run_write``: If-Match, Idempotency-Key), answer ``{case_id,
version}`` with an ETag. Lifecycle rules live in the domain and come back as 409/422.
"""

from __future__ import annotations

from typing import Any
from uuid import NAMESPACE_URL, uuid4, uuid5

import msgspec
from litestar import Request, Response, post

from api import schemas as s
from api.context import invalid, parse_case_id, require, run_write, services, strict_body, written
from domain import facts as f
from domain.errors import CaseNotFound, RuleViolation
from domain.values import Actor

PROVIDER = ("provider",)
MUNICIPALITY = ("municipality",)


async def _record(
    request: Request[Any, Any, Any],
    actor: Actor,
    case_id: str,
    data: msgspec.Struct,
    cls: type[f.Fact],
    roles: tuple[str, ...],
) -> Any:
    require(actor, *roles)
    await strict_body(request, data)
    fact = s.to_fact(cls, data)
    cid = parse_case_id(case_id)
    app = services(request).app

    def command(expected: int | None) -> Response[Any]:
        return written(cid, app.record(cid, actor, fact, expected))

    return await run_write(request, actor, command)


@post("/v1/cases", status_code=201, summary="Open a case on a referral (aanmelding)")
async def open_case(
    request: Request[Any, Any, Any], actor: Actor, data: s.ReferralBody
) -> Response[Any]:
    """The municipality refers a client to a provider; the tenant is the token's."""
    require(actor, *MUNICIPALITY)
    await strict_body(request, data)
    referral = s.to_fact(f.Referral, data, tenant=actor.tenant)
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
    return await _record(request, actor, case_id, data, f.Intake, PROVIDER)


@post(
    "/v1/cases/{case_id:str}/indications",
    status_code=200,
    summary="Indication granted (beschikking)",
)
async def indication(
    request: Request[Any, Any, Any], actor: Actor, case_id: str, data: s.IndicationBody
) -> Response[Any]:
    return await _record(request, actor, case_id, data, f.Indication, MUNICIPALITY)


@post("/v1/cases/{case_id:str}/support-plan", status_code=200, summary="Support plan agreed")
async def support_plan(
    request: Request[Any, Any, Any], actor: Actor, case_id: str, data: s.SupportPlanBody
) -> Response[Any]:
    return await _record(request, actor, case_id, data, f.SupportPlan, PROVIDER)


@post("/v1/cases/{case_id:str}/start", status_code=200, summary="Care started")
async def start(
    request: Request[Any, Any, Any], actor: Actor, case_id: str, data: s.CareStartBody
) -> Response[Any]:
    return await _record(request, actor, case_id, data, f.CareStart, PROVIDER)


@post("/v1/cases/{case_id:str}/contacts", status_code=200, summary="Contact recorded")
async def contact(
    request: Request[Any, Any, Any], actor: Actor, case_id: str, data: s.ContactBody
) -> Response[Any]:
    return await _record(request, actor, case_id, data, f.Contact, PROVIDER)


@post("/v1/cases/{case_id:str}/no-shows", status_code=200, summary="No-show recorded (R-13)")
async def no_show(
    request: Request[Any, Any, Any], actor: Actor, case_id: str, data: s.NoShowBody
) -> Response[Any]:
    return await _record(request, actor, case_id, data, f.NoShow, PROVIDER)


@post("/v1/cases/{case_id:str}/evaluations", status_code=200, summary="Evaluation recorded (ZRM)")
async def evaluation(
    request: Request[Any, Any, Any], actor: Actor, case_id: str, data: s.EvaluationBody
) -> Response[Any]:
    return await _record(request, actor, case_id, data, f.Evaluation, PROVIDER)


@post("/v1/cases/{case_id:str}/scale-changes", status_code=200, summary="Scale changed by decision")
async def scale_change(
    request: Request[Any, Any, Any], actor: Actor, case_id: str, data: s.ScaleChangeBody
) -> Response[Any]:
    return await _record(request, actor, case_id, data, f.ScaleChange, MUNICIPALITY)


@post("/v1/cases/{case_id:str}/end", status_code=200, summary="Care ended (uitstroom)")
async def end(
    request: Request[Any, Any, Any], actor: Actor, case_id: str, data: s.EndBody
) -> Response[Any]:
    return await _record(request, actor, case_id, data, f.End, ("municipality", "provider"))


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
    fact = s.to_fact(f.ChangeRequest, data, request_id=request_id)
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
    decision = f.ChangeDecision(request_id=request_id, **msgspec.structs.asdict(data))
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
        case = app.get_case(cid, actor)
        try:
            target = case.entry(data.event_version)
        except StopIteration:
            raise RuleViolation("C-07", f"the case has no version {data.event_version}") from None
        kind = type(target.fact)
        if kind not in f.CORRECTABLE_TYPES:
            raise RuleViolation("C-07", f"a {kind.__name__} is not corrected by replacement")
        try:
            replacement = msgspec.convert(data.replacement, type=s.body_of(kind))
        except msgspec.ValidationError as e:
            message, _, where = str(e).partition(" - at `$.")
            raise invalid("replacement." + where.rstrip("`"), message, source="body") from None
        fact = kind(**msgspec.structs.asdict(replacement))
        correction = f.Correction(
            event_version=data.event_version, replacement=fact, reason=data.reason
        )
        return written(cid, app.correct_event(cid, actor, correction, expected))

    return await run_write(request, actor, command)


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
