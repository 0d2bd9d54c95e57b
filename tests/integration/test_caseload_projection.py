"""The caseload projection: rows of a fixed history, paging over the table, and catch-up in
any batching equals a rebuild (SQLite and PostgreSQL; the hypothesis property on SQLite)."""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from application.application import CaseLog
from application.demo import generate
from projections.caseload import BadCursor, Filters, decode_cursor, encode_cursor, page
from projections.runner import ProjectionRunner
from storage.config import store_config
from storage.views import ViewStore
from tests.builders import indication, municipality, referral

TODAY = date(2030, 1, 1)


def caseload(views: ViewStore) -> list[tuple]:
    return sorted(views.query("SELECT * FROM caseload"))


def test_a_case_row_follows_its_events(store: CaseLog) -> None:
    # given a referred case, then indicated
    gm = municipality()
    cid, _ = store.open_case(gm, referral(on=date(2024, 1, 8), client_ref="k-1"))
    runner = ProjectionRunner(store)
    runner.run_until_current()
    (line,) = page(runner.views, "zou", Filters(), on=TODAY).cases
    assert (line.status, line.product, line.version) == ("referred", None, 1)
    store.record(cid, gm, indication(product="02A05", ends_on=date(2024, 6, 30)))
    # when the runner catches up
    runner.run_until_current()
    # then the row is replaced, not added
    (line,) = page(runner.views, "zou", Filters(), on=TODAY).cases
    assert (line.case_id, line.status, line.product) == (str(cid), "indicated", "02A05")
    assert (line.starts_on, line.ends_on, line.version) == (date(2024, 1, 15), date(2024, 6, 30), 2)
    # R-15 (no intake in 14 days) is open; R-29 was closed by the decision
    assert line.open_signals == ["R-15"]
    assert page(runner.views, "drechtsteden", Filters(), on=TODAY).cases == []


def test_pages_of_the_demo_set_cover_every_case_once_in_order(store: CaseLog) -> None:
    store.import_cases(generate(60, seed=5), chunk=20)
    runner = ProjectionRunner(store)
    runner.run_until_current()
    for tenant in ("zou", "drechtsteden"):
        walked, after = [], None
        while True:
            got = page(runner.views, tenant, Filters(), on=TODAY, after=after, limit=9)
            walked += got.cases
            if got.next_cursor is None:
                break
            after = decode_cursor(got.next_cursor)
        keys = [(c.referred_on, c.case_id) for c in walked]
        assert keys == sorted(keys, reverse=True)
        total = runner.views.query("SELECT COUNT(*) FROM caseload WHERE tenant = ?", [tenant])
        assert len(set(keys)) == len(keys) == total[0][0] > 0


def test_signal_filter_answers_the_same_by_lookup_and_by_walking_the_order(
    store: CaseLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.import_cases(generate(80, seed=9), chunk=20)
    runner = ProjectionRunner(store)
    runner.run_until_current()

    def walk(rule: str) -> list[str]:
        seen, after = [], None
        while True:
            got = page(runner.views, "zou", Filters(signal=rule), on=TODAY, after=after, limit=4)
            seen += [c.case_id for c in got.cases]
            assert all(rule in c.open_signals for c in got.cases)
            if got.next_cursor is None:
                return seen
            after = decode_cursor(got.next_cursor)

    by_lookup = {rule: walk(rule) for rule in ("R-14", "R-15", "C-05", "R-29")}
    monkeypatch.setattr("projections.caseload.FEW_FLAGGED", 0)
    by_walking = {rule: walk(rule) for rule in ("R-14", "R-15", "C-05", "R-29")}
    assert by_lookup == by_walking
    assert sum(len(v) for v in by_lookup.values()) > 4


def test_cursor_round_trips_and_refuses_what_it_did_not_issue() -> None:
    cursor = encode_cursor("2024-01-08", "6a1f0c1e-8f0e-4f53-9a55-0d2b9a3f5a11")
    assert decode_cursor(cursor) == ("2024-01-08", "6a1f0c1e-8f0e-4f53-9a55-0d2b9a3f5a11")
    for bad in ("", "x", "!!!!", encode_cursor("2024-13-01", "x"), "Mnwy" + cursor[4:]):
        with pytest.raises(BadCursor):
            decode_cursor(bad)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cases=st.integers(min_value=1, max_value=10),
    seed=st.integers(min_value=0, max_value=10_000),
    first_batch=st.integers(min_value=1, max_value=300),
    stop_after=st.integers(min_value=0, max_value=5),
    second_batch=st.integers(min_value=1, max_value=300),
)
def test_caseload_after_any_catch_up_equals_a_rebuild_property(
    cases: int, seed: int, first_batch: int, stop_after: int, second_batch: int
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        app = CaseLog(store=store_config(f"sqlite:///{Path(tmp) / 'p.db'}"))
        try:
            app.import_cases(generate(cases, seed=seed), chunk=3)
            runner = ProjectionRunner(app, batch_size=first_batch)
            for _ in range(stop_after):
                runner.run_once()
            app.import_cases(generate(2, seed=seed + 1), chunk=1)  # written while catching up
            ProjectionRunner(app, views=runner.views, batch_size=second_batch).run_until_current()
            incremental = caseload(runner.views)
            runner.rebuild(["caseload"])
            assert caseload(runner.views) == incremental
            assert len(incremental) == cases + 2
            runner.views.close()
        finally:
            app.close()
