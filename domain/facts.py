"""The facts a case records: one payload Struct per kind of event.

A fact is what happened, in the words of the iWmo standard and shared/API.md; the event that
carries it adds who recorded it (``actor``), when it was true (``occurred_on``) and when it
was recorded (``timestamp``). Facts are tagged (``fact_type``) so that a correction can carry
a replacement of any correctable kind and still decode typed.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import msgspec

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

Minutes = Annotated[int, msgspec.Meta(ge=1, le=24 * 60)]
Headcount = Annotated[int, msgspec.Meta(ge=1, le=500)]
Version = Annotated[int, msgspec.Meta(ge=1)]
AwbzClass = Annotated[int, msgspec.Meta(ge=1, le=10)]


class Fact(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    forbid_unknown_fields=True,
    tag_field="fact_type",
    tag=True,
):
    """Base of every payload. ``business_date`` is the date the fact was true."""

    def business_date(self) -> date:
        raise NotImplementedError


class Referral(Fact, kw_only=True, frozen=True):
    """Aanmelding: the municipality refers a client to a provider."""

    client_ref: Ref
    tenant: Ref
    municipality: ShortText
    provider: Ref
    referred_on: date

    def business_date(self) -> date:
        return self.referred_on


class Intake(Fact, kw_only=True, frozen=True):
    """Intakegesprek held by the provider (R-15: within 2 weeks, not declarable)."""

    held_on: date

    def business_date(self) -> date:
        return self.held_on


class Indication(Fact, kw_only=True, frozen=True):
    """Beschikking / iWmo toewijzing (WMO301) with its ToewijzingNummer."""

    assignment_number: Ref
    product: Ref
    surcharge: bool = False
    volume: Volume
    starts_on: date
    ends_on: date
    decision_ref: Ref
    goals: list[Goal] = []
    #: The decision date (iWmo Toewijzingsdatum, R-20): a business date of its own, required
    #: and never taken from the recording clock. Events stored before it was required are
    #: upcast explicitly (``Case.IndicationGranted.upcast_v2_v3``, docs/events.md).
    decided_on: date

    def business_date(self) -> date:
        return self.starts_on


class SupportPlan(Fact, kw_only=True, frozen=True):
    """Ondersteuningsplan, based on the indication's goals (R-22)."""

    agreed_on: date
    goals: list[Goal] = []
    contact_agreement: Text = ""

    def business_date(self) -> date:
        return self.agreed_on


class CareStart(Fact, kw_only=True, frozen=True):
    """Start of care (iWmo WMO305: sent only after care really started)."""

    started_on: date

    def business_date(self) -> date:
        return self.started_on


class Contact(Fact, kw_only=True, frozen=True):
    """A contact with the client or network (R-10), in whole minutes."""

    occurred_on: date
    minutes: Minutes
    kind: ContactKind
    channel: Channel = "in_person"
    professionals: Headcount = 1
    participants: Headcount = 1

    def business_date(self) -> date:
        return self.occurred_on


class NoShow(Fact, kw_only=True, frozen=True):
    """An appointment the client missed (R-13): not cancelled, or cancelled < 24 h ahead."""

    scheduled_at: datetime
    cancelled_at: datetime | None = None
    #: Planned length of the appointment; a declarable no-show (02A04, 02A05 up to the
    #: cap) counts this many minutes. Added later: older events decode with ``None``.
    planned_minutes: Minutes | None = None

    def business_date(self) -> date:
        return self.scheduled_at.date()


class Evaluation(Fact, kw_only=True, frozen=True):
    """Evaluation with ZRM scores for the domains given only (R-23, R-32)."""

    evaluated_on: date
    kind: EvaluationKind
    zrm: dict[str, int] = {}

    def business_date(self) -> date:
        return self.evaluated_on


class ChangeRequest(Fact, kw_only=True, frozen=True):
    """Wijzigingsverzoek (iWmo WMO317) by the provider; R-19 requires its report."""

    request_id: Ref
    kind: ChangeKind
    product: Ref | None = None
    volume: Volume | None = None
    surcharge: bool | None = None
    ends_on: date | None = None
    effective_on: date
    report: Text

    def business_date(self) -> date:
        return self.effective_on


class ChangeDecision(Fact, kw_only=True, frozen=True):
    """The municipality's answer to a change request (iWmo WMO319)."""

    request_id: Ref
    granted: bool
    decided_on: date
    reason: Text = ""
    assignment_number: Ref | None = None

    def business_date(self) -> date:
        return self.decided_on


class ScaleChange(Fact, kw_only=True, frozen=True):
    """Op- of afschaling: a withdrawal of the running assignment plus a new one (R-25, R-30)."""

    effective_on: date
    product: Ref
    volume: Volume
    surcharge: bool = False
    reason: Text = ""
    assignment_number: Ref | None = None
    decided_on: date | None = None

    def business_date(self) -> date:
        return self.effective_on


class Extension(Fact, kw_only=True, frozen=True):
    """Verlenging: the running assignment keeps its number and gets a later end date."""

    assignment_number: Ref
    ends_on: date
    decided_on: date
    reason: Text = ""

    def business_date(self) -> date:
        return self.decided_on


class End(Fact, kw_only=True, frozen=True):
    """End of care (uitstroom) with the iWmo RedenBeeindiging and where the client goes."""

    ended_on: date
    reason: EndReason
    destination: Destination = "none"

    def business_date(self) -> date:
        return self.ended_on


class AwbzConversion(Fact, kw_only=True, frozen=True):
    """Technische omzetting (R-05) of a running AWBZ indication on the conversion date.

    ``product`` and ``surcharge`` are the outcome of the conversion table in force on
    ``converted_on``, recorded with its inputs so that a replay shows the decision."""

    converted_on: date
    awbz_class: AwbzClass
    function_codes: list[ShortText] = []
    assignment_number: Ref
    product: Ref
    surcharge: bool
    volume: Volume
    starts_on: date
    ends_on: date

    def business_date(self) -> date:
        return self.converted_on


class Retraction(Fact, kw_only=True, frozen=True):
    """An earlier event was wrong and no longer counts (it stays in the log)."""

    event_version: Version
    reason: Text

    def business_date(self) -> date:
        raise NotImplementedError  # the event carries the target's business date


#: What a correction may replace. Referral, requests and decisions are corrected by new
#: requests and decisions, not by replacement.
CorrectableFact = (
    Intake
    | Indication
    | SupportPlan
    | CareStart
    | Contact
    | NoShow
    | Evaluation
    | ScaleChange
    | End
    | AwbzConversion
)
CORRECTABLE_TYPES: tuple[type[Fact], ...] = (
    Intake,
    Indication,
    SupportPlan,
    CareStart,
    Contact,
    NoShow,
    Evaluation,
    ScaleChange,
    End,
    AwbzConversion,
)


class Correction(Fact, kw_only=True, frozen=True):
    """An earlier event is replaced by ``replacement`` (same kind of fact)."""

    event_version: Version
    replacement: CorrectableFact
    reason: Text

    def business_date(self) -> date:
        return self.replacement.business_date()


#: Every fact, for typed decoding of a stored entry or snapshot.
AnyFact = (
    Referral
    | Intake
    | Indication
    | SupportPlan
    | CareStart
    | Contact
    | NoShow
    | Evaluation
    | ChangeRequest
    | ChangeDecision
    | ScaleChange
    | Extension
    | End
    | AwbzConversion
    | Retraction
    | Correction
)
