"""R-33 retention: the report lists a referral that never ended, and after the term the
case's own events are destroyed (events, snapshots, read models), on both stores."""

from __future__ import annotations

from datetime import date
from uuid import UUID

import pytest
from eventsourcing.application import AggregateNotFoundError

from application.application import CaseLog
from application.registry import retention_report
from application.retention import _case_tables, destroy_case
from caselog.cli import main
from domain import facts as f
from domain.case import Case
from domain.errors import CaseNotFound, RuleViolation
from domain.values import Actor
from projections.runner import ProjectionRunner
from storage.views import ViewStore
from tests.builders import catalogue, indication, municipality, pieces, provider, referral

SDD = catalogue("drechtsteden")
GM, PR = municipality("drechtsteden"), provider("drechtsteden")


def ended_2016(client_ref: str) -> Case:
    case = Case.open(GM, referral("drechtsteden", on=date(2016, 1, 4), client_ref=client_ref), SDD)
    case.record(
        GM,
        indication(
            "IB1",
            starts_on=date(2016, 1, 11),
            ends_on=date(2016, 12, 31),
            volume=pieces(1, "four_weeks"),
            decided_on=date(2016, 1, 8),
        ),
        SDD,
    )
    case.record(PR, f.CareStart(started_on=date(2016, 1, 11)), SDD)
    zrm = {"geestelijke_gezondheid": 2, "financien": 3}  # health data
    case.record(PR, f.Evaluation(evaluated_on=date(2016, 6, 1), kind="interim", zrm=zrm), SDD)
    case.record(PR, f.End(ended_on=date(2016, 12, 31), reason="19"), SDD)
    return case


def never_ended(client_ref: str) -> Case:
    """A referral in 2016 that never got an indication nor an end."""
    return Case.open(GM, referral("drechtsteden", on=date(2016, 3, 1), client_ref=client_ref), SDD)


def recent(client_ref: str) -> Case:
    case = Case.open(GM, referral("drechtsteden", on=date(2024, 1, 2), client_ref=client_ref), SDD)
    case.record(GM, indication("IB2", decided_on=date(2024, 1, 10)), SDD)
    return case


@pytest.fixture
def cases(store: CaseLog) -> tuple[UUID, UUID, UUID]:
    made = [ended_2016("sdd-a"), never_ended("sdd-b"), recent("sdd-c")]
    store.import_cases(made)
    ProjectionRunner(store).run_until_current()
    return made[0].id, made[1].id, made[2].id


def listed(store: CaseLog, on: date) -> set[str]:
    views = ViewStore(store.store)
    try:
        return {r.case_id for r in retention_report(views, on)}
    finally:
        views.close()


def test_the_retention_report_lists_a_referral_that_never_ended_R33(
    store: CaseLog, cases: tuple[UUID, UUID, UUID]
) -> None:
    ended, referral_only, _ = cases
    # no provision granted: 5 years from the referral (2016-03-01 -> 2021-03-01)
    assert listed(store, date(2021, 3, 2)) == {str(referral_only)}
    # granted: 15 years from the end (2016-12-31 -> 2031-12-31)
    assert listed(store, date(2032, 1, 1)) == {str(ended), str(referral_only)}


def test_a_case_past_its_term_is_destroyed_with_its_events_R33(
    store: CaseLog, cases: tuple[UUID, UUID, UUID]
) -> None:
    ended, _, newer = cases
    views = ViewStore(store.store)
    auditor = Actor(sub="a", role="auditor", tenant="drechtsteden")
    try:
        store.get_case(ended, auditor)  # the head is now kept by the read cache
        # before the term: refused
        with pytest.raises(RuleViolation, match="R-33"):
            destroy_case(store, views, ended, by="archivaris", today=date(2031, 12, 31))
        assert store.recorder.select_events(ended)
        # after the term: events, snapshots and read-model rows are gone
        done = destroy_case(store, views, ended, by="archivaris", today=date(2032, 1, 1))
        assert done.events == 5
        assert done.view_rows > 0
        assert store.recorder.select_events(ended) == []
        with pytest.raises(AggregateNotFoundError):
            store.repository.get(ended)
        # and a read through the head cache no longer finds it either
        with pytest.raises(CaseNotFound):
            store.get_case(ended, auditor)
        for table in _case_tables(views):
            rows = views.query(f"SELECT COUNT(*) FROM {table} WHERE case_id = ?", (str(ended),))
            assert rows[0][0] == 0, table
        # the other cases and the log's order are untouched
        assert len(store.recorder.select_events(newer)) == 2
        assert sum(1 for _ in store.iter_events(1, 100)) == 1 + 2
        ProjectionRunner(store, views=views).run_until_current()
    finally:
        views.close()


def test_the_destruction_command_destroys_only_what_is_due_R33(
    store: CaseLog, cases: tuple[UUID, UUID, UUID], capsys: pytest.CaptureFixture[str]
) -> None:
    ended, referral_only, _ = cases
    args = ["retention", "destroy", "--yes", "--database-url", store.store.url]
    # the referral without provision is past its 5 years today; the 2016 end is not (2031)
    assert main([*args, str(referral_only), "--by", "archivaris"]) == 0
    assert '"events":1' in capsys.readouterr().out
    assert main([*args, str(ended), "--by", "archivaris"]) == 1
    assert "R-33" in capsys.readouterr().err
    assert len(store.recorder.select_events(ended)) == 5
