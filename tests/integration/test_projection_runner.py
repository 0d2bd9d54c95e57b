"""The projection runner: catch-up equals rebuild, resumes after interruption, and a
redelivered batch changes nothing (SQLite and PostgreSQL; hypothesis on SQLite)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from application.application import CaseLog
from application.demo import generate
from projections.runner import ProjectionRunner
from storage.config import store_config
from storage.views import ViewStore

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
