"""Issue 13 item 1 and 9: the decision date (R-20) and values that contradict each other."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from uuid import UUID

import msgspec
import pytest
from eventsourcing.persistence import StoredEvent

from domain import facts as f
from domain.case import Case
from domain.errors import InvalidValue, RuleViolation
from projections.kpis import aggregate, summarise
from projections.signals import signals
from storage.mapper import MsgspecMapper
from tests.builders import (
    catalogue,
    contact,
    indication,
    municipality,
    no_show,
    provider,
    referral,
    zou_case,
)

ZOU = catalogue("zou")
FIXTURES = Path(__file__).parent.parent / "fixtures"


def referred(on: date = date(2024, 1, 8)) -> Case:
    return Case.open(municipality(), referral(on=on), ZOU)


def test_an_indication_without_a_decision_date_is_refused_R20() -> None:
    # the decision date is required on the fact itself: no clock can fill it in later
    with pytest.raises(TypeError, match="decided_on"):
        f.Indication(  # type: ignore[call-arg]
            assignment_number="TW-1",
            product="02A05",
            volume=indication().volume,
            starts_on=date(2024, 1, 15),
            ends_on=date(2024, 12, 31),
            decision_ref="B-1",
        )


def test_care_cannot_start_before_the_decision_date_R20() -> None:
    # given a retroactive decision: valid from 2024-01-15, decided on 2024-02-01
    case = referred()
    case.record(municipality(), indication(decided_on=date(2024, 2, 1)), ZOU)
    # when care is said to start in between, it is refused with R-20
    with pytest.raises(RuleViolation, match="R-20"):
        case.record(provider(), f.CareStart(started_on=date(2024, 1, 20)), ZOU)
    # on the decision date it may start
    case.record(provider(), f.CareStart(started_on=date(2024, 2, 1)), ZOU)
    assert case.state.started_on == date(2024, 2, 1)


def test_correcting_the_start_to_before_the_decision_is_refused_R20() -> None:
    case = referred()
    case.record(municipality(), indication(decided_on=date(2024, 1, 18)), ZOU)
    case.record(provider(), f.CareStart(started_on=date(2024, 1, 20)), ZOU)
    with pytest.raises(RuleViolation, match="R-20"):
        case.correct(
            provider(),
            f.Correction(
                event_version=case.version,
                replacement=f.CareStart(started_on=date(2024, 1, 16)),
                reason="typo",
            ),
            ZOU,
        )


def test_lead_times_and_R29_use_the_decision_date_R29() -> None:
    # given a referral on 2024-01-08, decided on 2024-03-20 (72 days), valid from 2024-01-15
    case = referred()
    case.record(municipality(), indication(decided_on=date(2024, 3, 20)), ZOU)
    case.record(provider(), f.CareStart(started_on=date(2024, 3, 25)), ZOU)
    # the R-29 signal (56 days) opens on 2024-03-04 and closes on the decision date
    (r29,) = [s for s in signals(case.state, case.entries, ZOU) if s.rule == "R-29"]
    assert (r29.raised_on, r29.closed_on) == (date(2024, 3, 4), date(2024, 3, 20))
    summary = summarise("c1", case.state, case.entries, ZOU, case.version)
    k = aggregate([summary], date(2024, 1, 1), date(2024, 12, 31))
    assert k.doorlooptijd.referral_to_indication_days.median == 72
    assert k.doorlooptijd.indication_to_start_days.median == 5  # never negative


V2_INDICATION = (
    b'{"timestamp":"2024-01-16T09:30:00.000000Z","actor":{"sub":"c","role":"municipality",'
    b'"tenant":"zou","provider":null,"note":null,"request_key":null},"occurred_on":"2024-01-15",'
    b'"fact":{"fact_type":"Indication","assignment_number":"TW-9","product":"02A05",'
    b'"surcharge":false,"volume":{"amount":"4","unit":"hour","frequency":"week"},'
    b'"starts_on":"2024-01-15","ends_on":"2024-12-31","decision_ref":"B-9","goals":[],'
    b'"decided_on":null},"class_version":2}'
)


def decode(topic: str, raw: bytes) -> object:
    record = StoredEvent(
        originator_id=UUID("0b3c1a52-4a0e-4c2c-9f51-2f1c0d5b7e11"),
        originator_version=2,
        topic=topic,
        state=raw,
    )
    return MsgspecMapper().to_domain_event(record)


def test_a_stored_v2_indication_without_decision_date_upcasts_to_its_validity_start_R20() -> None:
    # given the fixture stored by class_version 2 with no decision date
    raw = (FIXTURES / "indication_granted_v2_no_decision_date.json").read_bytes()
    assert raw.strip() == V2_INDICATION
    event = decode("domain.case:Case.IndicationGranted", raw)
    # then the documented upcast: the validity start, not the recording date (2024-01-16)
    assert isinstance(event, Case.IndicationGranted)
    assert event.fact.decided_on == date(2024, 1, 15)


def test_a_stored_v2_indication_keeps_its_decision_date_R20() -> None:
    raw = V2_INDICATION.replace(b'"decided_on":null', b'"decided_on":"2024-01-10"')
    event = decode("domain.case:Case.IndicationGranted", raw)
    assert event.fact.decided_on == date(2024, 1, 10)  # type: ignore[attr-defined]


def test_a_stored_v1_correction_of_an_indication_upcasts_its_decision_date_R20() -> None:
    fact = msgspec.json.decode(V2_INDICATION)["fact"]
    fact.pop("decided_on")
    raw = msgspec.json.encode(
        {
            "timestamp": "2024-01-20T09:30:00.000000Z",
            "actor": {"sub": "c", "role": "municipality", "tenant": "zou"},
            "occurred_on": "2024-01-15",
            "fact": {
                "fact_type": "Correction",
                "event_version": 2,
                "replacement": fact,
                "reason": "volume",
            },
        }
    )
    event = decode("domain.case:Case.EventCorrected", raw)
    assert event.fact.replacement.decided_on == date(2024, 1, 15)  # type: ignore[attr-defined]


def test_a_case_round_trips_with_its_decision_dates_through_a_snapshot_R20() -> None:
    case = zou_case()
    snap = Case.Snapshot.take(case)
    mapper = MsgspecMapper()
    back = mapper.to_domain_event(mapper.to_stored_event(snap)).mutate(None)
    assert back.state.assignments[0].decided_on == date(2024, 1, 15)


def test_an_indication_ending_before_it_starts_is_an_invalid_value_naming_ends_on_C06() -> None:
    case = referred()
    with pytest.raises(InvalidValue) as refused:
        case.record(
            municipality(),
            indication(starts_on=date(2024, 3, 1), ends_on=date(2024, 2, 1)),
            ZOU,
        )
    assert refused.value.field == "ends_on"


def test_a_cancellation_after_the_appointment_is_an_invalid_value_C06() -> None:
    case = zou_case()
    late = no_show(date(2024, 2, 1))
    with pytest.raises(InvalidValue) as refused:
        case.record(
            provider(),
            msgspec.structs.replace(late, cancelled_at=late.scheduled_at.replace(hour=12)),
            ZOU,
        )
    assert refused.value.field == "cancelled_at"


def test_a_legacy_decision_date_after_the_start_does_not_block_other_corrections_R20() -> None:
    # given a stored history the old service wrote: decision date taken from its clock
    # (2024-03-01), after care started (2024-01-20)
    case = referred()
    case.trigger_event(
        Case.IndicationGranted,
        actor=municipality(),
        occurred_on=date(2024, 1, 15),
        fact=indication(decided_on=date(2024, 3, 1)),
    )
    case.trigger_event(
        Case.CareStarted,
        actor=provider(),
        occurred_on=date(2024, 1, 20),
        fact=f.CareStart(started_on=date(2024, 1, 20)),
    )
    case.record(provider(), contact(on=date(2024, 2, 1)), ZOU)
    # a correction of something else is not refused for the legacy date
    case.correct(
        provider(),
        f.Correction(
            event_version=case.version, replacement=contact(on=date(2024, 2, 2)), reason="x"
        ),
        ZOU,
    )
    # moving the start is judged by the rule
    with pytest.raises(RuleViolation, match="R-20"):
        case.correct(
            provider(),
            f.Correction(
                event_version=3, replacement=f.CareStart(started_on=date(2024, 1, 25)), reason="y"
            ),
            ZOU,
        )
    # and the municipality can correct the decision date itself
    case.correct(
        municipality(),
        f.Correction(
            event_version=2, replacement=indication(decided_on=date(2024, 1, 12)), reason="z"
        ),
        ZOU,
    )
    assert case.state.assignments[0].decided_on == date(2024, 1, 12)
