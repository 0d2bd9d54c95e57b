"""Request bodies are the API's own types (api/schemas.py), mapped explicitly onto the facts
their commands record: every value posted reaches the fact, the service's own values
(tenant, request id) come from elsewhere, and every correctable kind of fact has a body to
read a replacement as."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from api import schemas as s
from domain import facts as f

VOLUME = {"amount": "4", "unit": "hour", "frequency": "week"}
GOALS = [{"domain": "financien", "result": "debts under control"}]

#: body -> (a full example as posted, the fact it maps to, the arguments the service adds)
EXAMPLES: list[tuple[type[Any], dict[str, Any], type[f.Fact], dict[str, Any]]] = [
    (
        s.ReferralBody,
        {"client_ref": "c-1", "municipality": "Houten", "provider": "p-1", "referred_on": "2024-01-08"},
        f.Referral,
        {"tenant": "zou"},
    ),
    (s.IntakeBody, {"held_on": "2024-01-10"}, f.Intake, {}),
    (
        s.IndicationBody,
        {
            "assignment_number": "TW-1", "product": "02A05", "surcharge": True, "volume": VOLUME,
            "starts_on": "2024-01-15", "ends_on": "2024-12-31", "decision_ref": "B-1",
            "goals": GOALS, "decided_on": "2024-01-12",
        },
        f.Indication,
        {},
    ),
    (
        s.SupportPlanBody,
        {"agreed_on": "2024-01-16", "goals": GOALS, "contact_agreement": "weekly"},
        f.SupportPlan,
        {},
    ),
    (s.CareStartBody, {"started_on": "2024-01-20"}, f.CareStart, {}),
    (
        s.ContactBody,
        {
            "occurred_on": "2024-02-01", "minutes": 45, "kind": "group", "channel": "digital",
            "professionals": 2, "participants": 6,
        },
        f.Contact,
        {},
    ),
    (
        s.NoShowBody,
        {
            "scheduled_at": "2024-02-08T10:00:00+01:00",
            "cancelled_at": "2024-02-08T08:00:00+01:00",
            "planned_minutes": 60,
        },
        f.NoShow,
        {},
    ),
    (
        s.EvaluationBody,
        {"evaluated_on": "2024-03-01", "kind": "final", "zrm": {"financien": 3}},
        f.Evaluation,
        {},
    ),
    (
        s.ScaleChangeBody,
        {
            "effective_on": "2024-04-01", "product": "02A04", "volume": VOLUME,
            "surcharge": True, "reason": "less",
        },
        f.ScaleChange,
        {},
    ),
    (
        s.ScaleChangeReplacementBody,
        {
            "effective_on": "2024-04-01", "product": "02A04", "volume": VOLUME,
            "surcharge": True, "reason": "less", "assignment_number": "TW-2",
            "decided_on": "2024-03-20",
        },
        f.ScaleChange,
        {},
    ),
    (
        s.EndBody,
        {"ended_on": "2024-09-30", "reason": "02", "destination": "general_provision"},
        f.End,
        {},
    ),
    (
        s.ChangeRequestBody,
        {
            "kind": "scale_up", "product": "02A05", "volume": VOLUME, "surcharge": False,
            "ends_on": "2025-01-31", "effective_on": "2024-05-01", "report": "more needed",
        },
        f.ChangeRequest,
        {"request_id": "WV-1"},
    ),
    (
        s.DecisionBody,
        {"granted": True, "decided_on": "2024-05-02", "reason": "ok", "assignment_number": "TW-3"},
        f.ChangeDecision,
        {"request_id": "WV-1"},
    ),
    (
        s.AwbzConversionBody,
        {
            "converted_on": "2016-01-01", "awbz_class": 3, "function_codes": ["H152"],
            "assignment_number": "AWBZ-1", "product": "IB3", "surcharge": True,
            "volume": VOLUME, "starts_on": "2016-01-01", "ends_on": "2016-12-31",
        },
        f.AwbzConversion,
        {},
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("body", "posted", "kind", "added"), EXAMPLES, ids=lambda v: getattr(v, "__name__", "")
)
def test_every_posted_value_reaches_the_fact_and_nothing_else_is_invented(
    body: type[Any], posted: dict[str, Any], kind: type[f.Fact], added: dict[str, Any]
) -> None:
    # given a body with every field set, as a client posts it
    parsed = msgspec.json.decode(msgspec.json.encode(posted), type=body, strict=True)
    assert set(posted) == {field.name for field in msgspec.structs.fields(body)}
    # when it is mapped to its fact
    fact = parsed.fact(**added)
    # then the fact is of its kind and holds each posted value and each added one
    assert type(fact) is kind
    for name in posted:
        assert getattr(fact, name) == getattr(parsed, name), name
    for name, value in added.items():
        assert getattr(fact, name) == value
    # and fields the body does not carry keep the fact's defaults
    for field in msgspec.structs.fields(kind):
        if field.name not in posted and field.name not in added:
            assert getattr(fact, field.name) == field.default, field.name


def test_a_body_is_not_a_stored_fact() -> None:
    for body, *_ in EXAMPLES:
        assert not issubclass(body, f.Fact)


def test_every_correctable_fact_has_a_replacement_body_C07() -> None:
    assert set(s.REPLACEMENT_BODY) == set(f.CORRECTABLE_TYPES)
    for kind, body in s.REPLACEMENT_BODY.items():
        assert any(b is body and k is kind for b, _, k, _ in EXAMPLES), kind.__name__
