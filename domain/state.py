"""Case state as a pure fold over the effective facts of a case.

``fold`` is the one place that says what a fact does to a case. The aggregate, time travel
("what was true on a business date") and the projections all call it, so they cannot drift.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from typing import Literal

import msgspec

from domain import facts as f
from domain.values import Goal, Role, Volume

Status = Literal["referred", "indicated", "active", "ended"]


class Assignment(msgspec.Struct, frozen=True, kw_only=True):
    """One iWmo toewijzing: a product and volume for a validity span."""

    assignment_number: str
    product: str
    surcharge: bool
    volume: Volume
    starts_on: date
    ends_on: date
    decision_ref: str = ""
    decided_on: date | None = None
    goals: list[Goal] = []
    #: Last day in force when withdrawn by a scale change (iWmo: withdrawal + new assignment).
    withdrawn_on: date | None = None
    source_version: int

    @property
    def until(self) -> date:
        """Last day this assignment is in force."""
        return min(self.ends_on, self.withdrawn_on) if self.withdrawn_on else self.ends_on

    def valid_on(self, day: date) -> bool:
        return self.starts_on <= day <= self.until


class OpenRequest(msgspec.Struct, frozen=True, kw_only=True):
    version: int
    request: f.ChangeRequest


class Entry(msgspec.Struct, frozen=True, kw_only=True):
    """A fact as it counts now: corrections replace ``fact``, retractions set ``retracted``."""

    version: int
    event_type: str
    role: Role
    occurred_on: date
    fact: f.AnyFact
    retracted: bool = False
    corrected_by: list[int] = []


class CaseState(msgspec.Struct, frozen=True, kw_only=True):
    tenant: str
    client_ref: str
    municipality: str
    provider: str
    referred_on: date
    intake_on: date | None = None
    assignments: tuple[Assignment, ...] = ()
    support_plan_on: date | None = None
    started_on: date | None = None
    ended_on: date | None = None
    end_reason: str | None = None
    destination: str | None = None
    first_evaluation: f.Evaluation | None = None
    last_evaluation: f.Evaluation | None = None
    open_requests: tuple[OpenRequest, ...] = ()
    decided_requests: tuple[str, ...] = ()
    converted_from_awbz: bool = False

    @property
    def status(self) -> Status:
        if self.ended_on is not None:
            return "ended"
        if self.started_on is not None:
            return "active"
        if self.assignments:
            return "indicated"
        return "referred"

    @property
    def current(self) -> Assignment | None:
        """The latest assignment not withdrawn (the one a change applies to)."""
        live = [a for a in self.assignments if a.withdrawn_on is None]
        return live[-1] if live else None

    def assignment_on(self, day: date) -> Assignment | None:
        for a in reversed(self.assignments):
            if a.valid_on(day):
                return a
        return None

    def request(self, request_id: str) -> OpenRequest | None:
        return next((r for r in self.open_requests if r.request.request_id == request_id), None)


def _assign(state: CaseState, new: Assignment) -> CaseState:
    """Add an assignment; one still running past the new start is withdrawn the day before."""
    day_before = new.starts_on - timedelta(days=1)
    kept = tuple(
        msgspec.structs.replace(a, withdrawn_on=day_before)
        if a.withdrawn_on is None and a.ends_on >= new.starts_on
        else a
        for a in state.assignments
    )
    return msgspec.structs.replace(state, assignments=(*kept, new))


def evolve(state: CaseState | None, version: int, fact: f.Fact) -> CaseState:
    """The state after ``fact`` (recorded as ``version``). Pure; never refuses."""
    if isinstance(fact, f.Referral):
        return CaseState(
            tenant=fact.tenant,
            client_ref=fact.client_ref,
            municipality=fact.municipality,
            provider=fact.provider,
            referred_on=fact.referred_on,
        )
    assert state is not None, "the first fact of a case is its referral"
    rep = msgspec.structs.replace
    match fact:
        case f.Intake():
            return rep(state, intake_on=fact.held_on)
        case f.Indication() | f.AwbzConversion():
            new = Assignment(
                assignment_number=fact.assignment_number,
                product=fact.product,
                surcharge=fact.surcharge,
                volume=fact.volume,
                starts_on=fact.starts_on,
                ends_on=fact.ends_on,
                decision_ref=getattr(fact, "decision_ref", "AWBZ-conversie"),
                decided_on=getattr(fact, "decided_on", None) or fact.business_date(),  # AWBZ
                goals=getattr(fact, "goals", []),
                source_version=version,
            )
            state = _assign(state, new)
            if isinstance(fact, f.AwbzConversion):
                state = rep(state, converted_from_awbz=True)
            return state
        case f.SupportPlan():
            return rep(state, support_plan_on=fact.agreed_on)
        case f.CareStart():
            return rep(state, started_on=fact.started_on)
        case f.Contact() | f.NoShow():
            return state  # counted and classified by the projections (R-10..R-16)
        case f.Evaluation():
            first = state.first_evaluation
            if first is None or fact.evaluated_on < first.evaluated_on:
                first = fact
            last = state.last_evaluation
            if last is None or fact.evaluated_on >= last.evaluated_on:
                last = fact
            return rep(state, first_evaluation=first, last_evaluation=last)
        case f.ChangeRequest():
            return rep(
                state,
                open_requests=(*state.open_requests, OpenRequest(version=version, request=fact)),
            )
        case f.ChangeDecision():
            return rep(
                state,
                open_requests=tuple(
                    r for r in state.open_requests if r.request.request_id != fact.request_id
                ),
                decided_requests=(*state.decided_requests, fact.request_id),
            )
        case f.ScaleChange():
            current = state.current
            if current is None:  # a corrected history may leave nothing to change
                return state
            new = Assignment(
                assignment_number=fact.assignment_number
                or f"{current.assignment_number}-{version}",
                product=fact.product,
                surcharge=fact.surcharge,
                volume=fact.volume,
                starts_on=fact.effective_on,
                ends_on=current.ends_on,
                decision_ref=current.decision_ref,
                decided_on=fact.decided_on or fact.effective_on,
                goals=current.goals,
                source_version=version,
            )
            return _assign(state, new)
        case f.Extension():
            return rep(
                state,
                assignments=tuple(
                    rep(a, ends_on=fact.ends_on)
                    if a.assignment_number == fact.assignment_number
                    else a
                    for a in state.assignments
                ),
            )
        case f.End():
            return rep(
                state,
                ended_on=fact.ended_on,
                end_reason=fact.reason,
                destination=fact.destination,
            )
    raise TypeError(f"no evolution for {type(fact).__name__}")


def is_timely_cancellation(fact: f.NoShow, notice_hours: int) -> bool:
    """R-13: cancelled at least ``notice_hours`` before the appointment is not a no-show."""
    return fact.cancelled_at is not None and (
        fact.scheduled_at - fact.cancelled_at >= timedelta(hours=notice_hours)
    )


def fold(entries: Iterable[Entry], on: date | None = None) -> CaseState | None:
    """Fold the effective entries; with ``on``, only facts true on or before that date
    (``None`` before the referral: the case did not exist yet in business time)."""
    state: CaseState | None = None
    for e in entries:
        if e.retracted:
            continue
        if on is not None and e.occurred_on > on:
            if state is None:
                return None
            continue
        state = evolve(state, e.version, e.fact)
    return state
