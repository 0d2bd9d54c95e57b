"""Request and response shapes of the HTTP API (shared/API.md).

Request bodies are the API's own Structs, written out here, each with one explicit mapping
(``fact``) to the fact its command records. They are kept apart from the stored facts
(domain/facts.py) on purpose: a case is kept 15 years (R-33), so a field added to the API
must never change what is stored, and a stored field must never appear on the wire by
accident. Both sides share the value types and constraints of ``domain.values``.

``tests/unit/test_stored_event_fixtures.py`` fails when a fact's stored shape changes;
the OpenAPI document's request schemas come from the Structs below.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import msgspec

from domain import facts as f
from domain.values import (
    ChangeKind,
    Channel,
    ContactKind,
    Destination,
    EndReason,
    EvaluationKind,
    Goal,
    Ref,
    ShortText,
    Text,
    Volume,
)


class Body(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Base of every request body: unknown fields are refused (422 naming the field)."""


# --- opening and recording ---------------------------------------------------------------


class ReferralBody(Body, kw_only=True, frozen=True):
    client_ref: Ref
    municipality: ShortText
    provider: Ref
    referred_on: date

    def fact(self, tenant: str) -> f.Referral:
        """The tenant is the token's, never the body's."""
        return f.Referral(
            client_ref=self.client_ref,
            tenant=tenant,
            municipality=self.municipality,
            provider=self.provider,
            referred_on=self.referred_on,
        )


class IntakeBody(Body, kw_only=True, frozen=True):
    held_on: date

    def fact(self) -> f.Intake:
        return f.Intake(held_on=self.held_on)


class IndicationBody(Body, kw_only=True, frozen=True):
    assignment_number: Ref
    product: Ref
    surcharge: bool = False
    volume: Volume
    starts_on: date
    ends_on: date
    decision_ref: Ref
    goals: list[Goal] = []
    decided_on: date

    def fact(self) -> f.Indication:
        return f.Indication(
            assignment_number=self.assignment_number,
            product=self.product,
            surcharge=self.surcharge,
            volume=self.volume,
            starts_on=self.starts_on,
            ends_on=self.ends_on,
            decision_ref=self.decision_ref,
            goals=list(self.goals),
            decided_on=self.decided_on,
        )


class SupportPlanBody(Body, kw_only=True, frozen=True):
    agreed_on: date
    goals: list[Goal] = []
    contact_agreement: Text = ""

    def fact(self) -> f.SupportPlan:
        return f.SupportPlan(
            agreed_on=self.agreed_on,
            goals=list(self.goals),
            contact_agreement=self.contact_agreement,
        )


class CareStartBody(Body, kw_only=True, frozen=True):
    started_on: date

    def fact(self) -> f.CareStart:
        return f.CareStart(started_on=self.started_on)


class ContactBody(Body, kw_only=True, frozen=True):
    occurred_on: date
    minutes: f.Minutes
    kind: ContactKind
    channel: Channel = "in_person"
    professionals: f.Headcount = 1
    participants: f.Headcount = 1

    def fact(self) -> f.Contact:
        return f.Contact(
            occurred_on=self.occurred_on,
            minutes=self.minutes,
            kind=self.kind,
            channel=self.channel,
            professionals=self.professionals,
            participants=self.participants,
        )


class NoShowBody(Body, kw_only=True, frozen=True):
    scheduled_at: datetime
    cancelled_at: datetime | None = None
    planned_minutes: f.Minutes | None = None

    def fact(self) -> f.NoShow:
        return f.NoShow(
            scheduled_at=self.scheduled_at,
            cancelled_at=self.cancelled_at,
            planned_minutes=self.planned_minutes,
        )


class EvaluationBody(Body, kw_only=True, frozen=True):
    evaluated_on: date
    kind: EvaluationKind
    zrm: dict[str, int] = {}

    def fact(self) -> f.Evaluation:
        return f.Evaluation(evaluated_on=self.evaluated_on, kind=self.kind, zrm=dict(self.zrm))


class ScaleChangeBody(Body, kw_only=True, frozen=True):
    """A scale change decided directly; the new assignment number is the service's."""

    effective_on: date
    product: Ref
    volume: Volume
    surcharge: bool = False
    reason: Text = ""

    def fact(self) -> f.ScaleChange:
        return f.ScaleChange(
            effective_on=self.effective_on,
            product=self.product,
            volume=self.volume,
            surcharge=self.surcharge,
            reason=self.reason,
        )


class EndBody(Body, kw_only=True, frozen=True):
    ended_on: date
    reason: EndReason
    destination: Destination = "none"

    def fact(self) -> f.End:
        return f.End(ended_on=self.ended_on, reason=self.reason, destination=self.destination)


# --- change requests and decisions ---------------------------------------------------------


class ChangeRequestBody(Body, kw_only=True, frozen=True):
    kind: ChangeKind
    product: Ref | None = None
    volume: Volume | None = None
    surcharge: bool | None = None
    ends_on: date | None = None
    effective_on: date
    report: Text

    def fact(self, request_id: str) -> f.ChangeRequest:
        """The request id is the service's (answered in the 201)."""
        return f.ChangeRequest(
            request_id=request_id,
            kind=self.kind,
            product=self.product,
            volume=self.volume,
            surcharge=self.surcharge,
            ends_on=self.ends_on,
            effective_on=self.effective_on,
            report=self.report,
        )


class DecisionBody(Body, kw_only=True, frozen=True):
    granted: bool
    decided_on: date
    reason: Text = ""
    assignment_number: Ref | None = None

    def fact(self, request_id: str) -> f.ChangeDecision:
        """The request id is the path's."""
        return f.ChangeDecision(
            request_id=request_id,
            granted=self.granted,
            decided_on=self.decided_on,
            reason=self.reason,
            assignment_number=self.assignment_number,
        )


# --- corrections ---------------------------------------------------------------------------


class CorrectionBody(Body, kw_only=True, frozen=True):
    """Retract an event (``retract: true``) or replace its fact (``replacement``: the body
    of the same kind of fact, as it was posted)."""

    event_version: f.Version
    retract: bool = False
    replacement: dict[str, Any] | None = None
    reason: Text


class ScaleChangeReplacementBody(ScaleChangeBody, kw_only=True, frozen=True):
    """A corrected scale change keeps (or corrects) its assignment number and decision
    date, which the original carried."""

    assignment_number: Ref | None = None
    decided_on: date | None = None

    def fact(self) -> f.ScaleChange:
        return f.ScaleChange(
            effective_on=self.effective_on,
            product=self.product,
            volume=self.volume,
            surcharge=self.surcharge,
            reason=self.reason,
            assignment_number=self.assignment_number,
            decided_on=self.decided_on,
        )


class AwbzConversionBody(Body, kw_only=True, frozen=True):
    """Only ever a replacement: the conversion itself is an operator's command (R-05)."""

    converted_on: date
    awbz_class: f.AwbzClass
    function_codes: list[ShortText] = []
    assignment_number: Ref
    product: Ref
    surcharge: bool
    volume: Volume
    starts_on: date
    ends_on: date

    def fact(self) -> f.AwbzConversion:
        return f.AwbzConversion(
            converted_on=self.converted_on,
            awbz_class=self.awbz_class,
            function_codes=list(self.function_codes),
            assignment_number=self.assignment_number,
            product=self.product,
            surcharge=self.surcharge,
            volume=self.volume,
            starts_on=self.starts_on,
            ends_on=self.ends_on,
        )


#: The body a correction's ``replacement`` is read as, by the kind of the corrected fact.
REPLACEMENT_BODY: dict[type[f.Fact], type[Any]] = {
    f.Intake: IntakeBody,
    f.Indication: IndicationBody,
    f.SupportPlan: SupportPlanBody,
    f.CareStart: CareStartBody,
    f.Contact: ContactBody,
    f.NoShow: NoShowBody,
    f.Evaluation: EvaluationBody,
    f.ScaleChange: ScaleChangeReplacementBody,
    f.End: EndBody,
    f.AwbzConversion: AwbzConversionBody,
}


# --- answers -------------------------------------------------------------------------------


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
