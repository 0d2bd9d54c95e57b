"""Reads from the stored rows (projections/stored_reads.py) equal the live computation from
the case's events, for every case of a random history projected in random batches, on SQLite
and PostgreSQL: the case document, the entitlement (today, and ``on`` random days) and the
consumption of every month (and of a month without activity), byte for byte. Rows that do
not hold the case's current version are never served: the read says ``Behind``."""

from __future__ import annotations

from datetime import date, timedelta
from uuid import UUID

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from application.application import CaseLog, today
from application.demo import generate
from domain import facts as f
from projections.case_view import case_document
from projections.consumption import consumption
from projections.entitlement import entitlements
from projections.runner import ProjectionRunner
from projections.stored_reads import ENTITLEMENT, INEXACT, Behind, Stored, StoredReads
from tests.builders import catalogue, contact, indication, municipality, provider, referral
from tests.conftest import fresh_store

STORES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
_json = msgspec.json.encode


def last_notifications(app: CaseLog) -> dict[UUID, int]:
    """Each case's last notification id (the log read in full)."""
    last: dict[UUID, int] = {}
    start = 1
    while batch := list(app.select_notifications(start=start, limit=1000)):
        for n in batch:
            last[n.originator_id] = n.id
        start = batch[-1].id + 1
    return last


def check_every_case(
    app: CaseLog, runner: ProjectionRunner, reads: StoredReads, days: list[int]
) -> tuple[int, int]:
    """Every read of every case equals the live computation, or says the rows are behind
    (only when they are); the counts of reads answered from rows and of ``on`` days the
    rows could not answer exactly."""
    answered = inexact = 0
    positions = runner.positions()
    reached = min(positions[name] for name in ENTITLEMENT)
    for case_id, notification in last_notifications(app).items():
        live = app.heads.get(case_id)
        caught_up = reached >= notification and positions["case_doc"] >= notification
        cat = app.catalogues.for_tenant(live.state.tenant)
        # the case document
        got = reads.case(case_id)
        if isinstance(got, Behind):
            assert not caught_up
            assert got.notification == notification
        else:
            assert isinstance(got, Stored)
            assert (got.version, got.tenant, got.provider) == (
                live.version,
                live.state.tenant,
                live.state.provider,
            )
            assert _json(got.value) == _json(case_document(live))
            answered += 1
        # the consumption of every month, and of a month without any
        months = consumption(live.state, live.entries, cat)
        for month in [*months, "1999-01"]:
            found = reads.consumption(case_id, month)
            if isinstance(found, Behind):
                assert not caught_up
                continue
            assert isinstance(found, Stored)
            assert found.version == live.version
            assert _json(found.value) == _json(months.get(month))
            answered += 1
        # the entitlement today and on days around the case's facts
        facts = sorted(e.occurred_on for e in live.entries) or [live.state.referred_on]
        for day in [today(), facts[-1], *(facts[0] + timedelta(days=d) for d in days)]:
            ent = reads.entitlement(case_id, day)
            if isinstance(ent, Behind):
                assert not caught_up
                continue
            if ent is INEXACT:  # only for a day before facts already recorded
                assert day < facts[-1] or day < date.fromisoformat(f"{max(months)}-01")
                inexact += 1
                continue
            assert isinstance(ent, Stored)
            assert ent.version == live.version
            expected = entitlements(live.state, live.entries, cat, day)
            assert _json(ent.value) == _json(expected)
            answered += 1
        if caught_up:  # the day of the last fact and later: always from the rows
            assert isinstance(reads.entitlement(case_id, today()), Stored)
    return answered, inexact


@pytest.mark.parametrize("kind", STORES)
@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    cases=st.integers(min_value=1, max_value=10),
    seed=st.integers(min_value=0, max_value=100_000),
    batch=st.integers(min_value=1, max_value=400),
    stop_after=st.integers(min_value=0, max_value=4),
    days=st.lists(st.integers(min_value=-30, max_value=900), max_size=4),
)
def test_stored_reads_equal_the_live_computation_for_every_case_property(
    kind: str,
    request: pytest.FixtureRequest,
    cases: int,
    seed: int,
    batch: int,
    stop_after: int,
    days: list[int],
) -> None:
    admin = request.getfixturevalue("pg_server") if kind == "postgres" else None
    with fresh_store(kind, admin) as app:
        # given a random history, projected part of the way in random batches
        app.import_cases(generate(cases, seed=seed), chunk=5)
        runner = ProjectionRunner(app, batch_size=batch)
        reads = StoredReads(runner.views, app.events_table())
        for _ in range(stop_after):
            runner.run_once()
        # then every read from the rows equals the live one, or says the rows are behind
        check_every_case(app, runner, reads, days)
        # and once the runner is current, every case is answered from the rows
        runner.run_until_current()
        answered, _ = check_every_case(app, runner, reads, days)
        assert answered >= cases * 3


def test_a_write_after_the_catch_up_makes_the_rows_behind_until_the_next(
    store: CaseLog,
) -> None:
    # given a started case with a contact, projected
    case_id, _ = store.open_case(municipality(), referral())
    store.record(case_id, municipality(), indication())
    store.record(case_id, provider(), f.CareStart(started_on=date(2024, 1, 20)))
    store.record(case_id, provider(), contact(on=date(2024, 2, 1)))
    runner = ProjectionRunner(store)
    reads = StoredReads(runner.views, store.events_table())
    runner.run_until_current()
    before = reads.case(case_id)
    assert isinstance(before, Stored)
    # when a contact is recorded after the runner's last catch-up
    version = store.record(case_id, provider(), contact(on=date(2024, 2, 8)))
    # then none of the case's rows is served: they hold the version before the write
    head = last_notifications(store)[case_id]
    for got in (
        reads.case(case_id),
        reads.consumption(case_id, "2024-02"),
        reads.entitlement(case_id, today()),
    ):
        assert got == Behind(version, head, head - 1)
    # and after the next catch-up they hold the write
    runner.run_until_current()
    after = reads.case(case_id)
    month = reads.consumption(case_id, "2024-02")
    assert isinstance(after, Stored)
    assert isinstance(month, Stored)
    assert after.version == after.value.version == version == before.version + 1
    assert month.value is not None
    assert month.value.minutes.direct == 120


def test_an_entitlement_on_a_day_before_recorded_facts_is_not_answered_from_rows(
    store: CaseLog,
) -> None:
    # given a case with contacts in February and March 2024, projected
    case_id, _ = store.open_case(municipality(), referral())
    store.record(case_id, municipality(), indication())
    store.record(case_id, provider(), f.CareStart(started_on=date(2024, 1, 20)))
    store.record(case_id, provider(), contact(on=date(2024, 2, 1)))
    store.record(case_id, provider(), contact(on=date(2024, 2, 20)))
    store.record(case_id, provider(), contact(on=date(2024, 3, 5)))
    runner = ProjectionRunner(store)
    runner.run_until_current()
    reads = StoredReads(runner.views, store.events_table())
    live = store.heads.get(case_id)
    # then days before the last contact need the live count (hours used through that day)
    for day in (date(2024, 1, 31), date(2024, 2, 10), date(2024, 3, 4)):
        assert reads.entitlement(case_id, day) is INEXACT
    # and from the last contact on the rows answer, as the live count does
    for day in (date(2024, 3, 5), date(2024, 4, 1), today()):
        got = reads.entitlement(case_id, day)
        assert isinstance(got, Stored)
        expected = entitlements(live.state, live.entries, catalogue(), day)
        assert _json(got.value) == _json(expected)
        assert got.value[0].hours_used == "3.00"


@pytest.mark.parametrize("kind", STORES)
def test_a_case_without_events_has_no_stored_answer(
    kind: str, request: pytest.FixtureRequest
) -> None:
    admin = request.getfixturevalue("pg_server") if kind == "postgres" else None
    with fresh_store(kind, admin) as app:
        reads = StoredReads(ProjectionRunner(app).views, app.events_table())
        unknown = UUID(int=1)
        assert reads.case(unknown) is None
        assert reads.consumption(unknown, "2024-01") is None
        assert reads.entitlement(unknown, today()) is None
