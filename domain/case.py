"""The case aggregate: one client's guidance trajectory with one provider (R-xx in
shared/DOMAIN.md).

Commands check the rules (``domain.rules``) against the current state and then trigger a
past-tense event. Events only *apply*: a replay never refuses history. State is the pure fold
of ``domain.state`` over the effective entries, so a correction or retraction refolds.
"""

# No ``from __future__ import annotations`` here: eventsourcing turns the nested event
# classes into dataclasses and the msgspec mapper reads their real annotations.
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

import msgspec
from eventsourcing.domain import Aggregate
from eventsourcing.domain import Snapshot as BaseSnapshot

from domain import clock, rules
from domain import facts as f
from domain.catalogue import Catalogue
from domain.errors import AlreadyApplied
from domain.state import CaseState, Entry, evolve, fold
from domain.values import Actor


@dataclass(frozen=True)
class CorrectionAsPosted:
    """A correction whose replacement is read once the target's kind is known: a client
    posts the replacement without naming its kind (shared/API.md, corrections), so the
    aggregate checks the target first and then asks ``read_replacement`` for a fact of the
    target's kind (it may refuse the body with an InvalidValue)."""

    event_version: int
    reason: str
    read_replacement: Callable[[type[f.Fact]], f.CorrectableFact]


class CaseSnapshotState(msgspec.Struct, kw_only=True):
    created_on: datetime
    modified_on: datetime
    entries: list[Entry]
    state: CaseState
    #: request key -> the last version it produced (idempotency; added later, default {})
    requests: dict[str, int] = {}


class Case(Aggregate):
    """Casus: a referral, its indications, care, contacts, evaluations and end."""

    class Event(Aggregate.Event):
        actor: Actor
        occurred_on: date

        create_timestamp = staticmethod(clock.now)

        def apply(self, aggregate: Any) -> None:
            aggregate._apply_fact(self)
            aggregate._remember_request(self)

    class CaseOpened(Aggregate.Created):
        """Aanmelding (referral) by the municipality."""

        create_timestamp = staticmethod(clock.now)
        actor: Actor
        occurred_on: date
        fact: f.Referral

    class IntakeHeld(Event):
        fact: f.Intake

    class IndicationGranted(Event):
        """Beschikking / toewijzing. v3 requires the decision date; v2 carries the iWmo
        volume; v1 (legacy imports) had a flat ``hours_per_week``."""

        fact: f.Indication
        class_version = 3

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            legacy_decision_date(state["fact"])

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            fact = state["fact"]
            hours = fact.pop("hours_per_week", None)
            if "volume" not in fact:
                if hours is None:
                    fact["volume"] = {"amount": "1", "unit": "piece_output", "frequency": "week"}
                else:
                    fact["volume"] = {"amount": str(hours), "unit": "hour", "frequency": "week"}

    class SupportPlanAgreed(Event):
        """Ondersteuningsplan."""

        fact: f.SupportPlan

    class CareStarted(Event):
        fact: f.CareStart

    class ContactRecorded(Event):
        fact: f.Contact

    class NoShowRecorded(Event):
        """A missed appointment; a timely cancellation (R-13) is recorded too and classified
        by the projections as a cancellation, not a no-show."""

        fact: f.NoShow

    class EvaluationRecorded(Event):
        fact: f.Evaluation

    class ChangeRequested(Event):
        """Wijzigingsverzoek by the provider."""

        fact: f.ChangeRequest

    class ChangeDecided(Event):
        """The municipality's decision on a change request."""

        fact: f.ChangeDecision

    class ScaleChanged(Event):
        """Op-/afschaling: the running assignment is withdrawn and a new one starts."""

        fact: f.ScaleChange

    class IndicationExtended(Event):
        """Verlenging: same assignment number, later end date."""

        fact: f.Extension

    class CaseEnded(Event):
        """Beëindiging (uitstroom)."""

        fact: f.End

    class AwbzIndicationConverted(Event):
        """Technische omzetting of an AWBZ indication (R-05)."""

        fact: f.AwbzConversion

    class EventRetracted(Event):
        fact: f.Retraction

        def apply(self, aggregate: Any) -> None:
            aggregate._apply_retraction(self)
            aggregate._remember_request(self)

    class EventCorrected(Event):
        """v2: a replacement indication carries its decision date (see IndicationGranted)."""

        fact: f.Correction
        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            legacy_decision_date(state["fact"]["replacement"])

        def apply(self, aggregate: Any) -> None:
            aggregate._apply_correction(self)
            aggregate._remember_request(self)

    class Snapshot(BaseSnapshot):
        """v2: indications in the entries carry their decision date (see IndicationGranted)."""

        state: CaseSnapshotState  # type: ignore[assignment]
        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            for entry in state["state"]["entries"]:
                legacy_decision_date(entry["fact"])
                if entry["fact"].get("fact_type") == "Correction":
                    legacy_decision_date(entry["fact"]["replacement"])

        @classmethod
        def take(cls, aggregate: Any) -> "Case.Snapshot":
            return cls(
                originator_id=aggregate.id,
                originator_version=aggregate.version,
                timestamp=cls.create_timestamp(),
                topic="domain.case:Case",
                # the library types ``state`` as a dict; caselog's snapshot is a Struct
                state=CaseSnapshotState(  # type: ignore[arg-type]
                    created_on=aggregate.created_on,
                    modified_on=aggregate.modified_on,
                    entries=list(aggregate.entries),
                    state=aggregate.state,
                    requests=dict(aggregate.requests),
                ),
            )

        def mutate(self, _: Any) -> "Case":
            case = object.__new__(Case)
            case.__dict__.update(
                _id=self.originator_id,
                _version=self.originator_version,
                _created_on=self.state.created_on,
                _modified_on=self.state.modified_on,
                _pending_events=[],
                entries=list(self.state.entries),
                state=self.state.state,
                requests=dict(self.state.requests),
            )
            return case

    # --- construction --------------------------------------------------------------

    def __init__(self, actor: Actor, occurred_on: date, fact: f.Referral) -> None:
        self.entries: list[Entry] = [
            Entry(
                version=1,
                event_type="CaseOpened",
                role=actor.role,
                occurred_on=occurred_on,
                fact=fact,
            )
        ]
        self.state: CaseState = evolve(None, 1, fact)
        self.requests: dict[str, int] = {}
        if actor.request_key:
            self.requests[actor.request_key] = 1

    @classmethod
    def open(
        cls, actor: Actor, referral: f.Referral, cat: Catalogue, case_id: UUID | None = None
    ) -> "Case":
        """Open a case on a referral (aanmelding)."""
        rules.check_referral(cat, referral)
        return cls._create(
            cls.CaseOpened,
            id=case_id,
            actor=actor,
            occurred_on=referral.referred_on,
            fact=referral,
        )

    # --- commands ------------------------------------------------------------------

    def check_new_request(self, actor: Actor) -> None:
        """Idempotency: a request whose key this case has seen is not applied again."""
        if actor.request_key and actor.request_key in self.requests:
            raise AlreadyApplied(self.id, self.requests[actor.request_key])

    def record(self, actor: Actor, fact: f.Fact, cat: Catalogue) -> None:
        """Record a fact after checking the lifecycle rules against the current state."""
        self.check_new_request(actor)
        self._record(actor, fact, cat)

    def _record(self, actor: Actor, fact: f.Fact, cat: Catalogue) -> None:
        rules.check_fact(cat, self.state, fact)
        if isinstance(fact, f.End):
            ended = evolve(self.state, self.version + 1, fact)
            rules.check_care_within_span(self.entries, ended)
        self.trigger_event(
            EVENT_FOR_FACT[type(fact)], actor=actor, occurred_on=fact.business_date(), fact=fact
        )

    def decide_change(self, actor: Actor, decision: f.ChangeDecision, cat: Catalogue) -> None:
        """Decide a provider's change request; a granted one changes the entitlement in the
        same transaction (an extension keeps the assignment number, a scale change is a
        withdrawal plus a new assignment)."""
        self.check_new_request(actor)
        req = rules.check_change_decision(self.state, decision).request
        effect: f.Fact | None = None
        if decision.granted:
            current = self.state.current
            assert current is not None
            if req.kind == "extension":
                assert req.ends_on is not None
                effect = f.Extension(
                    assignment_number=current.assignment_number,
                    ends_on=req.ends_on,
                    decided_on=decision.decided_on,
                    reason=decision.reason,
                )
            else:
                effect = f.ScaleChange(
                    effective_on=req.effective_on,
                    product=req.product or current.product,
                    volume=req.volume or current.volume,
                    surcharge=current.surcharge if req.surcharge is None else req.surcharge,
                    reason=decision.reason or req.report,
                    assignment_number=decision.assignment_number,
                    decided_on=decision.decided_on,
                )
            rules.check_fact(cat, self.state, effect)
        self.trigger_event(
            self.ChangeDecided, actor=actor, occurred_on=decision.decided_on, fact=decision
        )
        if effect is not None:
            self._record(actor, effect, cat)

    def retract(self, actor: Actor, retraction: f.Retraction, cat: Catalogue) -> None:
        """Take an earlier event out of the count; it stays in the log."""
        self.check_new_request(actor)
        target = rules.check_correction_target(self.entries, retraction.event_version, actor)
        self._check_refold(retraction.event_version, None)
        self.trigger_event(
            self.EventRetracted, actor=actor, occurred_on=target.occurred_on, fact=retraction
        )

    def correct(
        self, actor: Actor, correction: f.Correction | CorrectionAsPosted, cat: Catalogue
    ) -> None:
        """Replace an earlier event's fact by a corrected one of the same kind.

        C-07 (the target exists, is correctable, not retracted, and the replacement is of its
        kind) and C-08 (only the writer's role corrects) are checked here, before the
        replacement is read: a correction as posted learns its kind from the target."""
        self.check_new_request(actor)
        target = rules.check_correction_target(self.entries, correction.event_version, actor)
        if isinstance(correction, CorrectionAsPosted):
            correction = f.Correction(
                event_version=correction.event_version,
                replacement=correction.read_replacement(type(target.fact)),
                reason=correction.reason,
            )
        new = correction.replacement
        rules.check_replacement_kind(target, new)
        self._check_replacement(cat, target, new)
        self._check_refold(correction.event_version, new)
        self.trigger_event(
            self.EventCorrected, actor=actor, occurred_on=new.business_date(), fact=correction
        )

    # --- queries -----------------------------------------------------------------

    def entry(self, version: int) -> Entry:
        return next(e for e in self.entries if e.version == version)

    def state_on(self, day: date) -> CaseState | None:
        """What was true on business date ``day`` by what this version of the case knows."""
        return fold(self.entries, on=day)

    # --- evolution (never refuses) ---------------------------------------------------

    def _apply_fact(self, event: Any) -> None:
        entry = Entry(
            version=event.originator_version,
            event_type=type(event).__name__,
            role=event.actor.role,
            occurred_on=event.occurred_on,
            fact=event.fact,
        )
        self.entries.append(entry)
        self.state = evolve(self.state, entry.version, entry.fact)

    def _remember_request(self, event: Any) -> None:
        key = event.actor.request_key
        if key:
            self.requests[key] = event.originator_version

    def _apply_retraction(self, event: Any) -> None:
        self.entries = _replace_entry(
            self.entries, event.fact.event_version, event.originator_version, None
        )
        self.state = _refold(self.entries)

    def _apply_correction(self, event: Any) -> None:
        self.entries = _replace_entry(
            self.entries,
            event.fact.event_version,
            event.originator_version,
            event.fact.replacement,
        )
        self.state = _refold(self.entries)

    # --- helpers for corrections -------------------------------------------------------

    def _check_replacement(self, cat: Catalogue, target: Entry, new: f.Fact) -> None:
        """The replacement must pass the checks its kind of fact passes, judged against the
        case as it would be without the original."""
        without = [e for e in self.entries if e.version != target.version]
        before = _refold(without)
        if isinstance(new, f.Indication | f.AwbzConversion):
            # A corrected indication keeps its assignment number (iWmo correction).
            product = rules.check_product(
                cat, new.product, new.starts_on, new.volume, surcharge=new.surcharge
            )
            rules.check_duration(product, new.starts_on, new.ends_on)
            return
        if isinstance(new, f.ScaleChange):
            return  # checked for consistency by the refold
        rules.check_fact(cat, _without_end(before, target, new), new)

    def _check_refold(self, version: int, replacement: f.Fact | None) -> None:
        trial = _replace_entry(self.entries, version, self.version + 1, replacement)
        state = _refold(trial)
        rules.check_consistent(state, before=self.state)
        rules.check_care_within_span(trial, state)


def legacy_decision_date(fact: dict[str, Any]) -> None:
    """Upcast of an indication stored before ``decided_on`` was required (R-20).

    Such an event either had no decision date or one the service took from its recording
    clock. The documented choice (docs/events.md): a missing date becomes the validity start
    (``starts_on``), the indication's own business date, never the recording date; a stored
    date is kept as it was. The validity start keeps every stored history consistent (care
    never started before it) and gives no negative lead time."""
    if fact.get("fact_type") == "Indication" and not fact.get("decided_on"):
        fact["decided_on"] = fact["starts_on"]


def _without_end(state: CaseState, target: Entry, new: f.Fact) -> CaseState:
    """A correction of the end itself is judged as if the case were still open."""
    if isinstance(new, f.End) and isinstance(target.fact, f.End):
        return msgspec.structs.replace(state, ended_on=None, end_reason=None, destination=None)
    return state


def _replace_entry(
    entries: list[Entry], version: int, by_version: int, replacement: f.Fact | None
) -> list[Entry]:
    out = []
    for e in entries:
        if e.version == version:
            e = msgspec.structs.replace(
                e,
                retracted=replacement is None,
                fact=replacement if replacement is not None else e.fact,
                occurred_on=replacement.business_date()
                if replacement is not None
                else e.occurred_on,
                corrected_by=[*e.corrected_by, by_version],
            )
        out.append(e)
    return out


def _refold(entries: list[Entry]) -> CaseState:
    state = fold(entries)
    assert state is not None
    return state


EVENT_FOR_FACT: dict[type[f.Fact], type[Case.Event]] = {
    f.Intake: Case.IntakeHeld,
    f.Indication: Case.IndicationGranted,
    f.SupportPlan: Case.SupportPlanAgreed,
    f.CareStart: Case.CareStarted,
    f.Contact: Case.ContactRecorded,
    f.NoShow: Case.NoShowRecorded,
    f.Evaluation: Case.EvaluationRecorded,
    f.ChangeRequest: Case.ChangeRequested,
    f.ScaleChange: Case.ScaleChanged,
    f.Extension: Case.IndicationExtended,
    f.End: Case.CaseEnded,
    f.AwbzConversion: Case.AwbzIndicationConverted,
}
