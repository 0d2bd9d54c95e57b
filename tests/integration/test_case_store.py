"""The application on a real store: the same scenarios on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import msgspec
import pytest

from application.application import CaseLog
from domain import facts as f
from domain.case import Case
from domain.errors import CaseNotFound, RuleViolation, VersionMismatch
from storage.config import store_config
from storage.eventstore import fast_project
from tests.builders import contact, indication, municipality, provider, referral

UTC = UTC


def opened_and_started(store: CaseLog) -> tuple[object, int]:
    case_id, _ = store.open_case(municipality(), referral())
    store.record(case_id, municipality(), indication())
    version = store.record(case_id, provider(), f.CareStart(started_on=date(2024, 1, 20)))
    return case_id, version


def test_a_whole_lifecycle_is_stored_and_read_back(store: CaseLog) -> None:
    # given a case walked from referral to end
    case_id, _ = store.open_case(municipality(), referral())
    store.record(case_id, provider(), f.Intake(held_on=date(2024, 1, 12)))
    store.record(case_id, municipality(), indication())
    store.record(case_id, provider(), f.CareStart(started_on=date(2024, 1, 20)))
    for week in range(10):
        store.record(case_id, provider(), contact(on=date(2024, 2, 1) + timedelta(weeks=week)))
    last = store.record(
        case_id, provider(), f.End(ended_on=date(2024, 6, 1), reason="19", destination="none")
    )
    # when it is read back from the store
    case = store.get_case(case_id, municipality())
    # then every fact is there in order
    assert case.version == last == 15
    assert case.state.status == "ended"
    history = store.get_history(case_id, municipality())
    assert [e.originator_version for e in history] == list(range(1, 16))
    assert type(history[4]).__name__ == "ContactRecorded"


def test_a_refused_command_writes_nothing_R20(store: CaseLog) -> None:
    case_id, version = store.open_case(municipality(), referral())
    with pytest.raises(RuleViolation, match="R-20"):
        store.record(case_id, provider(), f.CareStart(started_on=date(2024, 2, 1)))
    assert store.get_case(case_id, municipality()).version == version


def test_time_travel_by_version_instant_and_business_date(store: CaseLog) -> None:
    case_id, _started = opened_and_started(store)
    between = datetime.now(UTC)
    store.record(case_id, provider(), f.End(ended_on=date(2024, 3, 1), reason="19"))
    # by version
    assert store.get_case(case_id, municipality(), version=2).state.status == "indicated"
    # by recorded instant: before the end was recorded the case was active
    assert store.get_case(case_id, municipality(), as_of=between).state.status == "active"
    with pytest.raises(CaseNotFound):
        store.get_case(case_id, municipality(), as_of=datetime(2000, 1, 1, tzinfo=UTC))
    # by business date: on 2024-01-16 it was indicated, not yet started
    on = store.get_state_on(case_id, municipality(), date(2024, 1, 16))
    assert on is not None
    assert on.status == "indicated"
    assert store.get_state_on(case_id, municipality(), date(2024, 1, 1)) is None


def test_stale_if_match_is_refused_and_writes_nothing(store: CaseLog) -> None:
    case_id, version = opened_and_started(store)
    store.record(case_id, provider(), contact())
    with pytest.raises(VersionMismatch):
        store.record(case_id, provider(), contact(), expected_version=version)
    assert store.get_case(case_id, municipality()).version == version + 1


def test_cases_of_another_tenant_or_provider_are_not_found(store: CaseLog) -> None:
    case_id, _ = opened_and_started(store)
    with pytest.raises(CaseNotFound):
        store.get_case(case_id, municipality("drechtsteden"))
    with pytest.raises(CaseNotFound):
        store.record(case_id, provider(name="aanbieder-b"), contact())
    assert store.get_case(case_id, provider()).state.provider == "aanbieder-a"


def test_parallel_writers_on_one_case_leave_gap_free_versions(store: CaseLog) -> None:
    case_id, version = opened_and_started(store)
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            for i in range(5):
                store.record(
                    case_id, provider(), contact(on=date(2024, 2, 1) + timedelta(days=n * 5 + i))
                )
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    history = store.get_history(case_id, municipality())
    assert [e.originator_version for e in history] == list(range(1, version + 21))


def test_snapshots_do_not_change_the_state(store: CaseLog) -> None:
    case_id, _ = opened_and_started(store)
    for i in range(230):
        store.record(case_id, provider(), contact(on=date(2024, 2, 1) + timedelta(days=i % 300)))
    with_snapshots = store.get_case(case_id, municipality())
    assert store.snapshots is not None
    assert list(store.snapshots.get(case_id)), "expected a snapshot every 100 events"
    replayed = store.repository.get(case_id)  # the library's own projector
    events = store.events.get(case_id)
    from storage.eventstore import fast_project

    from_events = fast_project(None, events)
    assert from_events is not None
    assert with_snapshots.state == from_events.state == replayed.state
    assert with_snapshots.entries == from_events.entries


def test_a_stale_cached_case_in_another_process_is_reloaded_not_lost(database_url: str) -> None:
    # given two application instances (two processes) writing to one case
    first = CaseLog(store=store_config(database_url))
    second = CaseLog(store=store_config(database_url))
    try:
        case_id, version = opened_and_started(first)
        first.record(case_id, provider(), contact(on=date(2024, 2, 1)))  # first caches v4
        second.record(case_id, provider(), contact(on=date(2024, 2, 2)))  # v5 from elsewhere
        # when the first writes again from its stale copy
        last = first.record(case_id, provider(), contact(on=date(2024, 2, 3)))
        # then its save conflicted, the case was reloaded and nothing was lost
        assert last == version + 3
        history = second.get_history(case_id, municipality())
        assert [e.originator_version for e in history] == list(range(1, last + 1))
        with pytest.raises(VersionMismatch):
            second.record(case_id, provider(), contact(), expected_version=version)
    finally:
        first.close()
        second.close()


def test_group_commit_checks_each_if_match_against_its_predecessors(store: CaseLog) -> None:
    case_id, version = opened_and_started(store)
    results: dict[int, object] = {}

    def write(i: int) -> None:
        try:
            results[i] = store.record(case_id, provider(), contact(), expected_version=version)
        except VersionMismatch as e:
            results[i] = e

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wins = [r for r in results.values() if isinstance(r, int)]
    assert wins == [version + 1]  # exactly one write was made on version N
    assert store.get_case(case_id, municipality()).version == version + 1


def test_the_time_travel_cache_equals_a_load_from_the_store(store: CaseLog) -> None:
    case_id, _ = opened_and_started(store)
    for i in range(57):
        store.record(case_id, provider(), contact(on=date(2024, 2, 1) + timedelta(days=i)))
    store.retract_event(case_id, provider(), f.Retraction(event_version=10, reason="dubbel"))
    head = store.get_case(case_id, municipality()).version
    for version in (1, 2, 3, 19, 20, 21, 40, 59, head - 1, head):
        cached = store.get_case(case_id, municipality(), version=version)
        loaded = store.repository.get(case_id, version=version)
        assert cached.version == loaded.version == version
        assert cached.state == loaded.state
        assert cached.entries == loaded.entries
    # a write after the cache was filled is seen at once
    newest = store.record(case_id, provider(), contact(on=date(2024, 5, 1)))
    assert store.get_case(case_id, municipality(), version=newest).version == newest
    with pytest.raises(CaseNotFound):
        store.get_case(case_id, municipality("drechtsteden"), version=3)


def keyed(actor, key: str):
    return msgspec.structs.replace(actor, request_key=f"{actor.sub}:{key}")


def test_a_request_applied_twice_is_recorded_once_even_without_the_response_cache(
    store: CaseLog,
) -> None:
    # given a referral and a contact sent with keys, as a client retrying after a crash
    gm = keyed(municipality(), "open-1")
    case_id, v1 = store.open_case(gm, referral())
    again_id, again_v = store.open_case(gm, referral())
    assert (again_id, again_v) == (case_id, v1)
    store.record(case_id, municipality(), indication())
    store.record(case_id, provider(), f.CareStart(started_on=date(2024, 1, 20)))
    pr = keyed(provider(), "contact-1")
    first = store.record(case_id, pr, contact())
    # when the same request arrives again (even with a stale If-Match)
    second = store.record(case_id, pr, contact(), expected_version=first - 1)
    # then it answers the first version and nothing new is written
    assert second == first
    history = store.get_history(case_id, municipality())
    assert [type(e).__name__ for e in history].count("ContactRecorded") == 1
    assert history[-1].actor.request_key == "begeleider-1:contact-1"


def test_the_bulk_import_path_stores_events_in_order_with_snapshots(store: CaseLog) -> None:
    # given cases built through their commands, one long enough for a snapshot
    cat = store.catalogues.for_tenant("zou")
    long = Case.open(municipality(), referral(), cat)
    long.record(municipality(), indication(), cat)
    long.record(provider(), f.CareStart(started_on=date(2024, 1, 20)), cat)
    for i in range(120):
        long.record(provider(), contact(on=date(2024, 2, 1) + timedelta(days=i % 200)), cat)
    short = Case.open(municipality(), referral(client_ref="client-2"), cat)
    # when they are imported in bulk (binary COPY on PostgreSQL)
    assert store.import_cases([long, short]) == 124
    # then the log holds them in order, loads agree with a replay, and a snapshot exists
    notifications = list(store.recorder.select_notifications(start=1, limit=1000))
    assert [n.id for n in notifications] == list(range(1, 125))
    loaded = store.get_case(long.id, municipality())
    replayed = fast_project(None, store.events.get(long.id))
    assert loaded.version == 123
    assert replayed is not None
    assert loaded.state == replayed.state
    assert store.snapshots is not None
    assert list(store.snapshots.get(long.id)), "a snapshot of the long case"


@pytest.mark.postgres
def test_a_bulk_import_leaves_the_planner_statistics_of_the_log_behind(pg_url: str) -> None:
    # given a store on PostgreSQL (its tables loaded in bulk have no statistics until an
    # ANALYZE: with none, the planner guessed some 60,000 rows per case at 4 M events)
    import psycopg

    store = CaseLog(store=store_config(pg_url))
    try:
        cat = store.catalogues.for_tenant("zou")
        cases = []
        for n in range(3):
            case = Case.open(municipality(), referral(client_ref=f"client-{n}"), cat)
            case.record(municipality(), indication(), cat)
            cases.append(case)
        # when cases are imported in bulk
        assert store.import_cases(cases) == 6
        # then the events and snapshots tables were analysed by the import itself (a manual
        # ANALYZE: autovacuum's own is counted apart), and the planner knows the log's size
        with psycopg.connect(pg_url) as conn:
            analysed = dict(
                conn.execute(
                    "SELECT relname, analyze_count FROM pg_stat_user_tables "
                    "WHERE relname IN ('caselog_events', 'caselog_snapshots')"
                ).fetchall()
            )
            tuples = conn.execute(
                "SELECT reltuples FROM pg_class WHERE relname = 'caselog_events'"
            ).fetchone()
        assert analysed == {"caselog_events": 1, "caselog_snapshots": 1}
        assert tuples == (6,)
        # and an import in several calls that asks for none leaves them as they were
        more = [Case.open(municipality(), referral(client_ref="client-9"), cat)]
        assert store.import_cases(more, analyze=False) == 1
        with psycopg.connect(pg_url) as conn:
            row = conn.execute(
                "SELECT analyze_count FROM pg_stat_user_tables WHERE relname = 'caselog_events'"
            ).fetchone()
        assert row == (1,)
    finally:
        store.close()


def test_a_bulk_import_on_sqlite_needs_no_statistics(tmp_path: Path) -> None:
    # SQLite's planner takes the key for a case's rows without statistics: nothing to do
    store = CaseLog(store=store_config(f"sqlite:///{tmp_path / 'c.db'}"))
    try:
        cat = store.catalogues.for_tenant("zou")
        assert store.import_cases([Case.open(municipality(), referral(), cat)]) == 1
        store.analyze()  # a no-op, not an error
    finally:
        store.close()
