"""Events are contracts: every event round-trips through the store's mapper, and payloads
stored by older versions still decode through the upcasters (STYLE 3)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from domain import facts as f
from domain.case import Case
from storage.mapper import MsgspecMapper
from tests.builders import active_case, catalogue, contact, municipality, provider

FIXTURES = Path(__file__).parent.parent / "fixtures"


def stored(mapper: MsgspecMapper, event: object) -> StoredEvent:
    return mapper.to_stored_event(event)


def test_every_event_of_a_lifecycle_round_trips_through_the_mapper() -> None:
    # given a case with one event of most kinds
    case = active_case()
    cat = catalogue()
    case.record(provider(), contact(kind="group", professionals=2, participants=10), cat)
    case.record(municipality(), f.End(ended_on=case.state.current.ends_on, reason="19"), cat)
    mapper = MsgspecMapper()
    # when each is stored and read back
    for event in case.collect_events():
        back = mapper.to_domain_event(stored(mapper, event))
        # then it is equal, field by field
        assert type(back) is type(event)
        assert back.__dict__ == event.__dict__


def test_a_stored_v1_indication_decodes_through_the_upcaster() -> None:
    # given an IndicationGranted stored by version 1 (flat hours_per_week)
    path = FIXTURES / "indication_granted_v1.json"
    raw = path.read_bytes()
    record = StoredEvent(
        originator_id=UUID("0b3c1a52-4a0e-4c2c-9f51-2f1c0d5b7e11"),
        originator_version=2,
        topic="domain.case:Case.IndicationGranted",
        state=raw,
    )
    # when it is decoded today
    event = MsgspecMapper().to_domain_event(record)
    # then it carries the v2 volume
    assert isinstance(event, Case.IndicationGranted)
    assert event.fact.volume.amount == Decimal("3.5")
    assert (event.fact.volume.unit, event.fact.volume.frequency) == ("hour", "week")
    assert event.fact.assignment_number == "TW-2016-01"


def test_events_carry_business_date_recorded_time_and_actor_but_no_identity() -> None:
    case = active_case()
    for event in case.collect_events():
        assert event.occurred_on is not None
        assert event.timestamp.tzinfo is not None
        assert event.actor.sub
        payload = MsgspecMapper().to_stored_event(event).state.decode()
        assert "bsn" not in payload.lower()
        assert "name" not in payload.lower()
