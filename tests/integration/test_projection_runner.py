"""The projection runner: catch-up equals rebuild, resumes after interruption, and a
redelivered batch changes nothing (SQLite and PostgreSQL; hypothesis on SQLite)."""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from application.application import CaseLog
from application.demo import generate
from domain import facts as f
from projections import kpi_cells
from projections import rebuild as rebuild_module
from projections.runner import ProjectionRunner
from storage.config import store_config
from storage.views import ViewStore
from tests.builders import contact, indication, municipality, provider, referral
from tests.conftest import fresh_store

TABLES = (
    "case_summary",
    "case_product",
    "consumption_month",
    "entitlement",
    "case_signal",
    "kpi_item",
)


def dump(views: ViewStore) -> dict[str, list[tuple]]:
    return {t: sorted(views.query(f"SELECT * FROM {t}")) for t in TABLES}


def load(app: CaseLog, cases: int, seed: int) -> None:
    app.import_cases(generate(cases, seed=seed), chunk=7)


def test_catch_up_in_batches_with_an_interruption_equals_a_rebuild(store: CaseLog) -> None:
    # given a log written in two waves, projected incrementally in between
    load(store, 12, seed=1)
    runner = ProjectionRunner(store, batch_size=37)
    runner.run_once()
    runner.run_once()  # interrupted here: a new runner resumes from the tracked position
    load(store, 8, seed=2)
    resumed = ProjectionRunner(store, views=runner.views, batch_size=101)
    resumed.run_until_current()
    incremental = dump(runner.views)
    assert all(p.lag == 0 for p in resumed.status())
    # when everything is rebuilt from the log
    resumed.rebuild()
    # then the rows are identical
    assert dump(runner.views) == incremental
    assert len(incremental["case_summary"]) == 20


def test_a_redelivered_batch_changes_nothing(store: CaseLog) -> None:
    load(store, 6, seed=3)
    runner = ProjectionRunner(store, batch_size=50)
    runner.run_until_current()
    before = dump(runner.views)
    # redeliver: move the positions back and run again
    with runner.views.transaction() as cur:
        cur.execute("UPDATE projection_tracking SET position = 0")
    runner.run_until_current()
    assert dump(runner.views) == before


def test_rebuild_of_one_projection_leaves_the_others(store: CaseLog) -> None:
    load(store, 4, seed=4)
    runner = ProjectionRunner(store)
    runner.run_until_current()
    before = dump(runner.views)
    runner.rebuild(["signals"])
    assert dump(runner.views) == before


def test_a_rebuild_of_some_projections_catches_up_those_and_no_other(store: CaseLog) -> None:
    # given a log no projection has read yet (say, a projection new in this release and
    # none run so far)
    load(store, 4, seed=5)
    runner = ProjectionRunner(store)
    head = store.max_notification_id()
    # when two projections are rebuilt, with events recorded while they are built
    runner.rebuild(["signals", "caseload"], before_swap=lambda: load(store, 1, seed=6))
    # then those two caught up with the events recorded meanwhile, and the others were left
    # where they were: a named rebuild never replays the rest in log order
    positions = runner.positions()
    assert store.max_notification_id() > head
    assert positions["signals"] == positions["caseload"] == store.max_notification_id()
    assert {p for name, p in positions.items() if name not in ("signals", "caseload")} == {0}


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cases=st.integers(min_value=1, max_value=10),
    seed=st.integers(min_value=0, max_value=10_000),
    first_batch=st.integers(min_value=1, max_value=300),
    stop_after=st.integers(min_value=0, max_value=5),
    second_batch=st.integers(min_value=1, max_value=300),
)
def test_any_batching_and_interruption_equals_a_rebuild_property(
    cases: int, seed: int, first_batch: int, stop_after: int, second_batch: int
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        app = CaseLog(store=store_config(f"sqlite:///{Path(tmp) / 'p.db'}"))
        try:
            load(app, cases, seed)
            runner = ProjectionRunner(app, batch_size=first_batch)
            for _ in range(stop_after):
                runner.run_once()
            ProjectionRunner(app, views=runner.views, batch_size=second_batch).run_until_current()
            incremental = dump(runner.views)
            runner.rebuild()
            assert dump(runner.views) == incremental
            runner.views.close()
        finally:
            app.close()


# --- the rebuild into fresh tables, swapped in ---------------------------------------------

ALL_TABLES = (
    *TABLES,
    "caseload",
    "declaration_line",
    "kpi_cell",
    "kpi_cell_bucket",
    "kpi_gap",
    "kpi_client",
    "case_doc",
    "projection_tracking",
)


def dump_all(views: ViewStore) -> dict[str, list[tuple]]:
    out = {t: sorted(views.query(f"SELECT * FROM {t}")) for t in ALL_TABLES}
    out["projection_tracking"] = sorted(r[:2] for r in out["projection_tracking"])
    return out


def test_a_parallel_rebuild_equals_a_sequential_catch_up(store: CaseLog) -> None:
    # given a log projected by ordinary catch-up in small batches
    load(store, 16, seed=11)
    runner = ProjectionRunner(store, batch_size=61)
    runner.run_until_current()
    caught_up = dump_all(runner.views)
    # when it is rebuilt by three workers (PostgreSQL: processes by case range; SQLite: one)
    n = runner.rebuild(workers=3)
    # then every table holds the same rows and the positions are at the head
    assert n == store.max_notification_id()
    assert dump_all(runner.views) == caught_up


def test_readers_see_the_old_tables_until_the_swap_and_later_events_count_once(
    store: CaseLog,
) -> None:
    load(store, 8, seed=12)
    runner = ProjectionRunner(store)
    runner.run_until_current()
    before = dump_all(runner.views)
    seen: dict[str, dict[str, list[tuple]]] = {}

    def meanwhile() -> None:
        # the new tables are complete but not yet swapped in: a reader sees the old ones,
        # and the service records more events (the live runner is not running)
        seen["during"] = dump_all(ViewStore(store.store))
        load(store, 3, seed=13)

    runner.rebuild(workers=2, before_swap=meanwhile)
    assert seen["during"] == before
    after = dump_all(runner.views)
    # the events recorded during the rebuild were applied once, by catch-up from its head
    reference = ProjectionRunner(store, batch_size=73)
    reference.rebuild_in_place()
    assert dump_all(reference.views) == after
    assert len(after["case_summary"]) == 11


def test_a_live_runner_ahead_of_the_rebuild_head_reads_again_from_it(store: CaseLog) -> None:
    load(store, 6, seed=14)
    live = ProjectionRunner(store, batch_size=40)
    live.run_until_current()

    def meanwhile() -> None:
        # events after the rebuild's head, applied to the old tables by the live runner
        load(store, 2, seed=15)
        live.run_until_current()

    ProjectionRunner(store, views=live.views).rebuild(["kpi_cells", "kpis"], before_swap=meanwhile)
    head = store.max_notification_id()
    assert min(live.positions().values()) == head
    live.run_until_current()
    after = dump_all(live.views)
    live.rebuild_in_place()
    assert dump_all(live.views) == after


def test_unknown_projection_names_are_refused_before_anything_is_built(store: CaseLog) -> None:
    load(store, 2, seed=16)
    runner = ProjectionRunner(store)
    runner.run_until_current()
    before = dump_all(runner.views)
    with pytest.raises(ValueError, match="nope"):
        runner.rebuild(["kpis", "nope"])
    assert dump_all(runner.views) == before


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cases=st.integers(min_value=1, max_value=10),
    seed=st.integers(min_value=0, max_value=10_000),
    batch=st.integers(min_value=1, max_value=300),
    later=st.integers(min_value=0, max_value=4),
)
def test_a_rebuild_with_events_during_it_equals_catch_up_property(
    cases: int, seed: int, batch: int, later: int
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        app = CaseLog(store=store_config(f"sqlite:///{Path(tmp) / 'p.db'}"))
        try:
            load(app, cases, seed)
            runner = ProjectionRunner(app, batch_size=batch)
            runner.run_until_current()
            runner.rebuild(before_swap=lambda: load(app, later, seed + 1) if later else None)
            rebuilt = dump_all(runner.views)
            ProjectionRunner(app, views=runner.views, batch_size=batch).rebuild_in_place()
            assert dump_all(runner.views) == rebuilt
            runner.views.close()
        finally:
            app.close()


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    cases=st.integers(min_value=1, max_value=12),
    seed=st.integers(min_value=0, max_value=10_000),
    batch=st.integers(min_value=1, max_value=300),
    workers=st.integers(min_value=1, max_value=3),
)
def test_a_rebuild_case_by_case_equals_catch_up_in_log_order_on_both_stores_property(
    kind: str, request: pytest.FixtureRequest, cases: int, seed: int, batch: int, workers: int
) -> None:
    # given a random history caught up in log order, in random batches
    admin = request.getfixturevalue("pg_server") if kind == "postgres" else None
    with fresh_store(kind, admin) as app:
        load(app, cases, seed)
        runner = ProjectionRunner(app, batch_size=batch)
        runner.run_until_current()
        caught_up = dump_all(runner.views)
        # when it is rebuilt case by case (each case whole; PostgreSQL: by worker processes
        # over ranges of case ids, the KPI cells summed from the rows at the end)
        runner.rebuild(workers=workers)
        # then every table, the KPI items with their recorded-time validity and the summed
        # cells included, holds the same rows
        assert dump_all(runner.views) == caught_up
        assert caught_up["kpi_cell_bucket"]
        assert caught_up["kpi_item"]
        runner.views.close()


def test_case_histories_give_each_case_whole_and_stop_at_the_head(store: CaseLog) -> None:
    load(store, 5, seed=21)
    head = store.max_notification_id()
    load(store, 2, seed=22)
    seen = list(store.case_histories(head))
    # each case once, its entries in version order from 1, none after the head
    assert len({c for c, _ in seen}) == len(seen) == 5
    for case_id, entries in seen:
        assert [e.originator_version for e in entries] == list(range(1, len(entries) + 1))
        assert all(e.originator_id == case_id and e.id <= head for e in entries)
    assert sum(len(e) for _, e in seen) == head


def assert_untouched_and_no_scratch(
    store: CaseLog, runner: ProjectionRunner, before: dict[str, list[tuple]]
) -> None:
    """After a failed rebuild: the live tables as ``before``, no scratch schema or file."""
    assert dump_all(runner.views) == before
    if runner.views.is_postgres:
        schemas = runner.views.query(
            "SELECT nspname FROM pg_namespace WHERE left(nspname, 15) = 'caselog_rebuild'"
        )
        assert schemas == []
    else:
        assert not Path(store.store.sqlite_path + ".rebuild").exists()


def test_a_failed_rebuild_leaves_the_tables_and_no_scratch_behind(store: CaseLog) -> None:
    load(store, 4, seed=17)
    runner = ProjectionRunner(store)
    runner.run_until_current()
    before = dump_all(runner.views)

    def fail() -> None:
        raise RuntimeError("interrupted before the swap")

    with pytest.raises(RuntimeError, match="interrupted"):
        runner.rebuild(workers=2, before_swap=fail)
    assert_untouched_and_no_scratch(store, runner, before)


def test_a_rebuild_whose_bucket_sums_fail_leaves_the_tables_and_no_scratch_behind(
    store: CaseLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    # on PostgreSQL the buckets are summed on a connection of their own, beside the cells:
    # its failure is the rebuild's, and nothing is swapped in
    load(store, 4, seed=19)
    runner = ProjectionRunner(store)
    runner.run_until_current()
    before = dump_all(runner.views)
    failing = {**kpi_cells.SUM_STATEMENTS}
    failing["buckets"] = [*failing["buckets"][:2], "SELECT n FROM no_such_table"]
    monkeypatch.setattr(kpi_cells, "SUM_STATEMENTS", failing)
    monkeypatch.setattr(rebuild_module, "SUM_STATEMENTS", failing)

    with pytest.raises(Exception, match="no_such_table"):
        runner.rebuild(workers=2)
    assert_untouched_and_no_scratch(store, runner, before)


@pytest.mark.postgres
def test_the_summed_tables_are_all_visible_after_a_rebuild_whose_bucket_chain_ran_longest(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the KPI queries read kpi_cell and kpi_cell_bucket by index only (migrations/0010):
    # that needs every page marked all-visible by VACUUM, which marks only rows no open
    # transaction can miss; so the summed tables are vacuumed once both chains committed,
    # even when the buckets' chain (here held open 2 s) ends after everything else
    app = CaseLog(store=store_config(pg_url))
    try:
        load(app, 4, seed=20)
        runner = ProjectionRunner(app)
        runner.run_until_current()
        slow = {**kpi_cells.SUM_STATEMENTS}
        slow["buckets"] = [*slow["buckets"], "SELECT pg_sleep(2)"]
        monkeypatch.setattr(rebuild_module, "SUM_STATEMENTS", slow)

        runner.rebuild(workers=2)

        pages = runner.views.query(
            "SELECT relname, relpages, relallvisible FROM pg_class "
            "WHERE relname IN ('kpi_cell', 'kpi_client', 'kpi_cell_bucket') "
            "AND relnamespace = current_schema()::regnamespace ORDER BY relname"
        )
        assert [r[0] for r in pages] == ["kpi_cell", "kpi_cell_bucket", "kpi_client"]
        assert pages[0][1] > 0, pages
        assert pages[1][1] > 0, pages  # (kpi_client may be empty)
        assert all(allvisible == total for _, total, allvisible in pages), pages
    finally:
        app.close()


def test_a_rebuild_beside_a_running_runner_and_writers_equals_catch_up(store: CaseLog) -> None:
    # given a runner following the log in its thread, as beside the service
    load(store, 6, seed=18)
    live = ProjectionRunner(store, batch_size=25)
    live.start(interval=0.01)
    try:

        def meanwhile() -> None:
            # writes while the new tables wait for the swap; the live runner applies
            # them to the old tables
            load(store, 3, seed=19)
            live.wait_for(store.max_notification_id(), timeout=30)

        # when a rebuild runs beside it, and more is written after the swap
        ProjectionRunner(store).rebuild(workers=2, before_swap=meanwhile)
        load(store, 2, seed=20)
        assert live.wait_for(store.max_notification_id(), timeout=60)
    finally:
        live.stop()
    # then the tables equal a replay of the whole log: nothing lost, nothing twice
    after = dump_all(live.views)
    assert len(after["case_summary"]) == 11
    live.rebuild_in_place()
    assert dump_all(live.views) == after


ROW_TABLES = (*TABLES, "declaration_line", "caseload", "case_doc")


def full_dump(views: ViewStore) -> dict[str, list[tuple]]:
    return {t: sorted(views.query(f"SELECT * FROM {t}")) for t in ROW_TABLES}


def a_case_in_three_months(store: CaseLog) -> tuple[Any, int]:
    case_id, _ = store.open_case(municipality(), referral())
    store.record(case_id, municipality(), indication())
    version = store.record(case_id, provider(), f.CareStart(started_on=date(2024, 1, 20)))
    for month in (2, 3, 4):
        version = store.record(case_id, provider(), contact(on=date(2024, month, 10)))
    return case_id, version


def month_row_ids(views: ViewStore, case_id: Any) -> dict[str, Any]:
    """Each consumption row's physical identity: PostgreSQL's xmin (the transaction that
    wrote the row), SQLite's rowid (a deleted and inserted row gets a new one)."""
    column = "xmin::text" if views.is_postgres else "rowid"
    return dict(
        views.query(
            f"SELECT month, {column} FROM consumption_month WHERE case_id = ?",
            [str(case_id)],
        )
    )


def test_a_contact_rewrites_only_its_months_rows_and_the_rows_equal_a_rebuild(
    store: CaseLog,
) -> None:
    # given a case with contacts in February, March and April, projected
    case_id, _ = a_case_in_three_months(store)
    runner = ProjectionRunner(store)
    runner.run_until_current()
    before = month_row_ids(runner.views, case_id)
    # when a contact in March is recorded and projected by the same runner
    store.record(case_id, provider(), contact(on=date(2024, 3, 20), minutes=30))
    runner.run_until_current()
    # then March's row is written again, February's and April's are left as they were
    after = month_row_ids(runner.views, case_id)
    assert after["2024-03"] != before["2024-03"]
    assert after["2024-02"] == before["2024-02"]
    assert after["2024-04"] == before["2024-04"]
    # and every table holds what a rebuild from the log writes
    incremental = full_dump(runner.views)
    runner.rebuild()
    assert full_dump(runner.views) == incremental


def test_rows_written_by_another_runner_are_not_taken_for_this_runners_own(
    store: CaseLog,
) -> None:
    # given a case projected by runner A
    case_id, _ = a_case_in_three_months(store)
    a = ProjectionRunner(store)
    a.run_until_current()
    # when runner B projects a contact in March, and the contact is retracted again
    version = store.record(case_id, provider(), contact(on=date(2024, 3, 20), minutes=30))
    b = ProjectionRunner(store, views=a.views)
    b.run_until_current()
    store.retract_event(case_id, provider(), f.Retraction(event_version=version, reason="dubbel"))
    # and runner A projects the retraction (March back to what A wrote before B)
    a.run_until_current()
    incremental = full_dump(a.views)
    # then A did not keep B's March as if it were its own: the rows equal a rebuild
    a.rebuild()
    assert full_dump(a.views) == incremental


def test_the_rebuild_creates_the_indexes_of_its_store_kind_without_those_dropped_later() -> None:
    from projections.rebuild import ddl

    def names(statements: list[str]) -> set[str]:
        return {s.split()[5] for s in statements if s.upper().startswith("CREATE INDEX")}

    pg, lite = ddl(["kpi_item", "kpi_cell"], postgres=True), ddl(["kpi_item", "kpi_cell"], False)
    # PostgreSQL: migrations/0010 replaced the client index by one with INCLUDE columns and
    # gave kpi_cell's key the count (ALTER TABLE, run after the CREATE TABLE)
    assert "kpi_item_client_refs" in names(pg.later)
    assert "kpi_item_client" not in names(pg.later)
    assert any("INCLUDE (n)" in s and s.startswith("ALTER TABLE kpi_cell ") for s in pg.tables)
    # SQLite skips *.postgres.sql: the index from migrations/0007 stays
    assert "kpi_item_client" in names(lite.later)
    assert "kpi_item_client_refs" not in names(lite.later)
    assert not any("INCLUDE" in s for s in lite.tables + lite.later)
