"""Request and response shapes of the HTTP API (shared/API.md).

Request bodies for facts are derived from the fact Structs themselves (same fields, same
constraints, no ``fact_type`` tag, unknown fields refused), so the wire and the event
payload cannot drift apart. Bodies that differ from a fact are written out here.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import msgspec

from domain import facts as f
from domain.values import Text


@cache
def body_of(cls: type[f.Fact], drop: tuple[str, ...] = (), name: str | None = None) -> Any:
    spec: list[Any] = []
    for field in msgspec.structs.fields(cls):
        if field.name in drop:
            continue
        if field.default is not msgspec.NODEFAULT:
            spec.append((field.name, field.type, field.default))
        elif field.default_factory is not msgspec.NODEFAULT:
            spec.append(
                (field.name, field.type, msgspec.field(default_factory=field.default_factory))
            )
        else:
            spec.append((field.name, field.type))
    return msgspec.defstruct(
        name or f"{cls.__name__}Body",
        spec,
        kw_only=True,
        frozen=True,
        forbid_unknown_fields=True,
        module=__name__,
    )


def to_fact(cls: type[f.Fact], body: msgspec.Struct, **extra: Any) -> Any:
    return cls(**msgspec.structs.asdict(body), **extra)


ReferralBody = body_of(f.Referral, drop=("tenant",))
IntakeBody = body_of(f.Intake)
IndicationBody = body_of(f.Indication)
SupportPlanBody = body_of(f.SupportPlan)
CareStartBody = body_of(f.CareStart)
ContactBody = body_of(f.Contact)
NoShowBody = body_of(f.NoShow)
EvaluationBody = body_of(f.Evaluation)
ScaleChangeBody = body_of(f.ScaleChange, drop=("assignment_number", "decided_on"))
EndBody = body_of(f.End)


ChangeRequestBody = body_of(f.ChangeRequest, drop=("request_id",))  # the id is ours
DecisionBody = body_of(f.ChangeDecision, drop=("request_id",), name="DecisionBody")  # in the path


class CorrectionBody(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Retract an event (``retract: true``) or replace its fact (``replacement``: the body
    of the same kind of fact, as it was posted)."""

    event_version: f.Version
    retract: bool = False
    replacement: dict[str, Any] | None = None
    reason: Text


class Written(msgspec.Struct):
    case_id: str
    version: int


class ChangeRequestWritten(msgspec.Struct):
    case_id: str
    version: int
    request_id: str


class Health(msgspec.Struct):
    status: str
    store: str
    projections_lag: int | None = None
