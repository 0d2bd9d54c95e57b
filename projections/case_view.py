"""The case read shape of shared/API.md, from the case aggregate's state."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

import msgspec

from domain import facts as f
from domain.case import Case
from domain.state import Assignment
from domain.values import Volume


class AssignmentOut(msgspec.Struct, kw_only=True):
    assignment_number: str
    product: str
    surcharge: bool
    volume: Volume
    starts_on: date
    ends_on: date
    withdrawn_on: date | None
    decision_ref: str
    decided_on: date | None


class OpenRequestOut(msgspec.Struct, kw_only=True):
    request_id: str
    kind: str
    effective_on: date
    version: int


class CaseOut(msgspec.Struct, kw_only=True):
    case_id: UUID
    status: str
    tenant: str
    client_ref: str
    municipality: str
    provider: str
    product: str | None
    surcharge: bool | None
    volume: Volume | None
    starts_on: date | None
    ends_on: date | None
    referred_on: date
    intake_on: date | None
    support_plan_on: date | None
    started_on: date | None
    ended_on: date | None
    end_reason: str | None
    destination: str | None
    last_evaluation: f.Evaluation | None
    open_change_requests: list[OpenRequestOut]
    assignments: list[AssignmentOut]
    version: int
    recorded_at: datetime
    on: date | None = None


def _assignment(a: Assignment) -> AssignmentOut:
    return AssignmentOut(
        assignment_number=a.assignment_number,
        product=a.product,
        surcharge=a.surcharge,
        volume=a.volume,
        starts_on=a.starts_on,
        ends_on=a.until,
        withdrawn_on=a.withdrawn_on,
        decision_ref=a.decision_ref,
        decided_on=a.decided_on,
    )


def case_document(case: Case, on: date | None = None) -> CaseOut | None:
    """``case`` is a :class:`domain.case.Case`; with ``on``, what was true that day."""
    state = case.state_on(on) if on is not None else case.state
    if state is None:
        return None
    current = state.assignment_on(on) if on is not None else state.current
    if current is None and state.assignments:
        current = state.assignments[-1]
    return CaseOut(
        case_id=case.id,
        status=state.status,
        tenant=state.tenant,
        client_ref=state.client_ref,
        municipality=state.municipality,
        provider=state.provider,
        product=current.product if current else None,
        surcharge=current.surcharge if current else None,
        volume=current.volume if current else None,
        starts_on=current.starts_on if current else None,
        ends_on=current.until if current else None,
        referred_on=state.referred_on,
        intake_on=state.intake_on,
        support_plan_on=state.support_plan_on,
        started_on=state.started_on,
        ended_on=state.ended_on,
        end_reason=state.end_reason,
        destination=state.destination,
        last_evaluation=state.last_evaluation,
        open_change_requests=[
            OpenRequestOut(
                request_id=r.request.request_id,
                kind=r.request.kind,
                effective_on=r.request.effective_on,
                version=r.version,
            )
            for r in state.open_requests
        ],
        assignments=[_assignment(a) for a in state.assignments],
        version=case.version,
        recorded_at=case.modified_on,
        on=on,
    )
