"""Events are contracts (STYLE 3, R-33: a case is kept 15 years): every event type has its
stored JSON in tests/fixtures/events/, written once by the encoder of the day. Each must
still decode to the values it was written with, and today's encoder must write every stored
field again under the same name with the same value: a renamed, retyped or dropped field
fails here instead of silently changing what is stored."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import msgspec
import pytest
from eventsourcing.persistence import StoredEvent

from domain import facts as f
from domain.case import Case
from domain.values import Actor, Goal, Volume
from storage.mapper import MsgspecMapper

EVENTS = Path(__file__).parent.parent / "fixtures" / "events"
CASE_ID = UUID("0b3c1a52-4a0e-4c2c-9f51-2f1c0d5b7e11")
AWBZ_CASE_ID = UUID("5d7c7e2e-1c57-4d1b-9a37-6a3c1f4f2b90")
RECORDED = {
    CASE_ID: datetime(2024, 1, 8, 9, 30, tzinfo=UTC),
    AWBZ_CASE_ID: datetime(2016, 1, 1, 0, 5, tzinfo=UTC),
}

MUNI = Actor(sub="consulent-1", role="municipality", tenant="zou")
PROV = Actor(sub="begeleider-1", role="provider", tenant="zou", provider="aanbieder-a")


def hours(amount: str) -> Volume:
    return Volume(amount=Decimal(amount), unit="hour", frequency="week")


#: event name -> (case, version, actor, business date, fact), as the fixture was written.
EXPECTED: dict[str, tuple[UUID, int, Actor, date, f.Fact]] = {
    "CaseOpened": (
        CASE_ID,
        1,
        Actor(sub="consulent-1", role="municipality", tenant="zou", request_key="req-7"),
        date(2024, 1, 8),
        f.Referral(
            client_ref="client-0001",
            tenant="zou",
            municipality="Houten",
            provider="aanbieder-a",
            referred_on=date(2024, 1, 8),
        ),
    ),
    "IntakeHeld": (CASE_ID, 2, PROV, date(2024, 1, 10), f.Intake(held_on=date(2024, 1, 10))),
    "IndicationGranted": (
        CASE_ID,
        3,
        MUNI,
        date(2024, 1, 15),
        f.Indication(
            assignment_number="TW-0001",
            product="02A05",
            volume=hours("4"),
            starts_on=date(2024, 1, 15),
            ends_on=date(2024, 12, 31),
            decision_ref="BESCH-1",
            goals=[Goal(domain="financien", result="debts under control")],
            decided_on=date(2024, 1, 12),
        ),
    ),
    "SupportPlanAgreed": (
        CASE_ID,
        4,
        PROV,
        date(2024, 1, 16),
        f.SupportPlan(agreed_on=date(2024, 1, 16), contact_agreement="weekly visit"),
    ),
    "CareStarted": (CASE_ID, 5, PROV, date(2024, 1, 20), f.CareStart(started_on=date(2024, 1, 20))),
    "ContactRecorded": (
        CASE_ID,
        6,
        PROV,
        date(2024, 2, 1),
        f.Contact(
            occurred_on=date(2024, 2, 1),
            minutes=45,
            kind="group",
            channel="digital",
            professionals=2,
            participants=6,
        ),
    ),
    "NoShowRecorded": (
        CASE_ID,
        7,
        PROV,
        date(2024, 2, 8),
        f.NoShow(
            scheduled_at=datetime(2024, 2, 8, 10, tzinfo=UTC),
            cancelled_at=datetime(2024, 2, 8, 8, tzinfo=UTC),
            planned_minutes=60,
        ),
    ),
    "EvaluationRecorded": (
        CASE_ID,
        8,
        PROV,
        date(2024, 3, 1),
        f.Evaluation(
            evaluated_on=date(2024, 3, 1), kind="interim", zrm={"financien": 3, "huisvesting": 2}
        ),
    ),
    "ChangeRequested": (
        CASE_ID,
        9,
        PROV,
        date(2025, 1, 1),
        f.ChangeRequest(
            request_id="WV-000000000001",
            kind="extension",
            ends_on=date(2025, 6, 30),
            effective_on=date(2025, 1, 1),
            report="needs more time",
        ),
    ),
    "ChangeDecided": (
        CASE_ID,
        10,
        MUNI,
        date(2024, 3, 10),
        f.ChangeDecision(
            request_id="WV-000000000001",
            granted=True,
            decided_on=date(2024, 3, 10),
            reason="agreed",
        ),
    ),
    "IndicationExtended": (
        CASE_ID,
        11,
        MUNI,
        date(2024, 3, 10),
        f.Extension(
            assignment_number="TW-0001",
            ends_on=date(2025, 6, 30),
            decided_on=date(2024, 3, 10),
            reason="agreed",
        ),
    ),
    "ScaleChanged": (
        CASE_ID,
        12,
        MUNI,
        date(2024, 4, 1),
        f.ScaleChange(
            effective_on=date(2024, 4, 1),
            product="02A04",
            volume=hours("2.5"),
            reason="less needed",
            assignment_number="TW-0002",
            decided_on=date(2024, 3, 20),
        ),
    ),
    "EventRetracted": (
        CASE_ID,
        13,
        PROV,
        date(2024, 2, 1),
        f.Retraction(event_version=6, reason="double entry"),
    ),
    "EventCorrected": (
        CASE_ID,
        14,
        PROV,
        date(2024, 3, 2),
        f.Correction(
            event_version=8,
            replacement=f.Evaluation(
                evaluated_on=date(2024, 3, 2), kind="interim", zrm={"financien": 4}
            ),
            reason="wrong day",
        ),
    ),
    "CaseEnded": (
        CASE_ID,
        15,
        MUNI,
        date(2024, 9, 30),
        f.End(ended_on=date(2024, 9, 30), reason="02", destination="general_provision"),
    ),
    "AwbzIndicationConverted": (
        AWBZ_CASE_ID,
        2,
        Actor(sub="consulent-2", role="municipality", tenant="drechtsteden"),
        date(2016, 1, 1),
        f.AwbzConversion(
            converted_on=date(2016, 1, 1),
            awbz_class=3,
            function_codes=["H152"],
            assignment_number="AWBZ-1",
            product="IB3",
            surcharge=True,
            volume=Volume(amount=Decimal("1"), unit="piece_output", frequency="week"),
            starts_on=date(2016, 1, 1),
            ends_on=date(2016, 12, 31),
        ),
    ),
}


def event_types() -> list[type[Any]]:
    """Every event class the case stores, found on the aggregate rather than listed."""
    return sorted(
        (
            v
            for v in vars(Case).values()
            if isinstance(v, type)
            and issubclass(v, Case.Event | Case.CaseOpened)
            and "fact" in {field.name for field in dataclasses.fields(v)}
        ),
        key=lambda c: c.__name__,
    )


def fixture(cls: type[Any]) -> Path:
    return EVENTS / f"{cls.__name__}_v{getattr(cls, 'class_version', 1)}.json"


def test_every_event_type_has_a_stored_json_fixture() -> None:
    assert {cls.__name__ for cls in event_types()} == set(EXPECTED)
    for cls in event_types():
        assert fixture(cls).exists(), f"no stored JSON for {cls.__name__}"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_stored_json_decodes_to_the_values_it_was_written_with(name: str) -> None:
    # given the event as a store holds it
    cls = getattr(Case, name)
    case_id, version, actor, occurred_on, fact = EXPECTED[name]
    raw = fixture(cls).read_bytes().strip()
    record = StoredEvent(
        originator_id=case_id,
        originator_version=version,
        topic=f"domain.case:Case.{name}",
        state=raw,
    )
    # when today's mapper decodes it
    mapper = MsgspecMapper()
    event = mapper.to_domain_event(record)
    # then every value is the one written, and it encodes to the same bytes again
    assert type(event) is cls
    assert (event.originator_id, event.originator_version) == (case_id, version)
    assert event.actor == actor
    assert event.occurred_on == occurred_on
    assert event.timestamp == RECORDED[case_id]
    assert event.fact == fact
    # and today's encoder writes every stored field again, same name, same value (a field
    # added since, with its default, may come beside them: STYLE 3)
    assert contained(
        msgspec.json.decode(raw), msgspec.json.decode(mapper.to_stored_event(event).state)
    )


def contained(stored: Any, written: Any) -> bool:
    """``stored`` is found in ``written``: same keys with the same values, recursively."""
    if isinstance(stored, dict):
        return isinstance(written, dict) and all(
            key in written and contained(value, written[key]) for key, value in stored.items()
        )
    if isinstance(stored, list):
        return (
            isinstance(written, list)
            and len(stored) == len(written)
            and all(contained(a, b) for a, b in zip(stored, written, strict=True))
        )
    return bool(stored == written)


def test_a_renamed_or_retyped_stored_field_is_noticed() -> None:
    stored = {"fact": {"held_on": "2024-01-10", "goals": [{"domain": "financien"}]}}
    assert contained(
        stored, {"fact": {"held_on": "2024-01-10", "goals": [{"domain": "financien"}], "new": 1}}
    )
    assert not contained(
        stored, {"fact": {"held": "2024-01-10", "goals": [{"domain": "financien"}]}}
    )
    assert not contained(
        stored, {"fact": {"held_on": 20240110, "goals": [{"domain": "financien"}]}}
    )
