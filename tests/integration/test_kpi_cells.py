"""KPIs from the pre-aggregated, bitemporal rows (projections/kpi_cells.py) equal the KPIs
aggregated from the case summaries (projections/kpis.py ``aggregate``, the definition) for
random histories, batchings, filters, periods and ``as_of`` instants, on SQLite and
PostgreSQL; and the lasting-outflow window (R-31) moves with a return recorded later."""

from __future__ import annotations

import calendar
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from application.application import CaseLog
from application.demo import generate
from domain import clock
from domain import facts as f
from domain.case import Case
from projections import kpi_cells
from projections.kpi_cells import KEY_COLUMNS, KpiCellProjection, end_cells, moves, rollups
from projections.kpi_cells import cells as cells_of
from projections.kpis import Kpis
from projections.queries import kpis, kpis_replayed
from projections.runner import ProjectionRunner
from storage.views import MIGRATIONS, _statements
from tests.builders import catalogue, indication, municipality, provider, referral
from tests.conftest import fresh_store

STORES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def both(runner: ProjectionRunner, app: CaseLog, tenant: str, **query: object) -> tuple[Kpis, Kpis]:
    stored = kpis(runner.views, app, tenant, **query)  # type: ignore[arg-type]
    replayed = kpis_replayed(runner.views, app, tenant, **query)  # type: ignore[arg-type]
    return stored, replayed


def instants(runner: ProjectionRunner) -> list[datetime]:
    rows = runner.views.query("SELECT DISTINCT recorded_from FROM kpi_item")
    return sorted(datetime.fromisoformat(r[0].replace("Z", "+00:00")) for r in rows)


@pytest.mark.parametrize("kind", STORES)
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    cases=st.integers(min_value=1, max_value=14),
    seed=st.integers(min_value=0, max_value=100_000),
    first_batch=st.integers(min_value=1, max_value=400),
    stop_after=st.integers(min_value=0, max_value=4),
    second_batch=st.integers(min_value=1, max_value=400),
    exact_versions=st.sampled_from([200, 200, 5]),
    data=st.data(),
)
def test_kpis_from_the_bitemporal_rows_equal_kpis_from_the_summaries_property(
    kind: str,
    request: pytest.FixtureRequest,
    cases: int,
    seed: int,
    first_batch: int,
    stop_after: int,
    second_batch: int,
    exact_versions: int,
    data: st.DataObject,
) -> None:
    admin = request.getfixturevalue("pg_server") if kind == "postgres" else None
    with fresh_store(kind, admin) as app:
        # given a random history projected in random batches, interrupted and resumed
        app.import_cases(generate(cases, seed=seed), chunk=5)
        runner = ProjectionRunner(app, batch_size=first_batch)
        # versions of a case derived one by one per batch; more: a gap (answered by replay)
        runner.exact_versions = exact_versions
        for _ in range(stop_after):
            runner.run_once()
        resumed = ProjectionRunner(app, views=runner.views, batch_size=second_batch)
        resumed.exact_versions = exact_versions
        resumed.run_until_current()
        seen = instants(runner)
        summaries = runner.views.query(
            "SELECT tenant, provider, municipality, referred_on, ended_on FROM case_summary"
        )
        # periods start or end near the days that decide the scope, or anywhere
        near = sorted({date.fromisoformat(d) for r in summaries for d in r[3:] if d})
        day = st.builds(
            lambda d, shift: d + timedelta(days=shift), st.sampled_from(near), st.integers(-2, 2)
        ) | st.dates(date(2015, 6, 1), date(2024, 6, 30))
        products = runner.views.query("SELECT DISTINCT product FROM case_product")
        for _ in range(6):
            # when the KPIs are asked for a random period, filters and instant
            tenant = data.draw(st.sampled_from(["zou", "drechtsteden"]))
            start = data.draw(day)
            end = data.draw(
                st.builds(lambda n, s=start: s + timedelta(days=n), st.integers(0, 900))
                | day.filter(lambda d, s=start: d >= s)
            )
            if data.draw(st.booleans()):  # whole months: answered from kpi_cell when current
                start = start.replace(day=1)
                end = end.replace(day=calendar.monthrange(end.year, end.month)[1])
            pick = st.none() | st.sampled_from([*sorted({r[1] for r in summaries}), "nobody"])
            where = st.none() | st.sampled_from([*sorted({r[2] for r in summaries}), "nowhere"])
            product = st.none() | st.sampled_from(sorted(r[0] for r in products))
            as_of = data.draw(
                st.none()
                | st.builds(
                    lambda t, d: t + timedelta(microseconds=d),
                    st.sampled_from(seen),
                    st.integers(-1, 1),
                )
                # at the turn of a recorded month (kpi_cell_bucket: the months before T's)
                | st.builds(
                    lambda t, d, later: (
                        (
                            t.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
                            + timedelta(days=32 * later)
                        ).replace(day=1)
                        + timedelta(microseconds=d)
                    ),
                    st.sampled_from(seen),
                    st.integers(-1, 1),
                    st.integers(0, 1),
                )
            )
            stored, replayed = both(
                runner,
                app,
                tenant,
                start=start,
                end=end,
                provider=data.draw(pick),
                municipality=data.draw(where),
                product=data.draw(product),
                as_of=as_of,
            )
            # then the pre-aggregated rows give exactly the figures of the summaries
            assert msgspec.to_builtins(stored) == msgspec.to_builtins(replayed)
        runner.views.close()


ITEMS_NOW = f"SELECT {', '.join(KEY_COLUMNS)}, n FROM kpi_item WHERE recorded_to IS NULL"
CELLS = (
    "SELECT tenant, provider, municipality, product, measure, grain, pos, ref, endd, value, "
    "aux, n FROM kpi_cell"
)
ITEMS = f"SELECT {', '.join(KEY_COLUMNS)}, n, recorded_from, recorded_to FROM kpi_item"
BUCKETS = (
    "SELECT tenant, provider, municipality, product, measure, grain, pos, ref, endd, value, "
    "aux, span, bucket, n FROM kpi_cell_bucket"
)


def buckets_from_items(runner: ProjectionRunner) -> list[tuple[object, ...]]:
    """kpi_cell_bucket by its definition: each item row +n in its cell in the month it was
    recorded from, -n in the month it was closed."""
    summed: Counter[tuple[str, ...]] = Counter()
    for row in runner.views.query(ITEMS):
        for where, n in moves(row[:12], row[12], row[13], row[14]):
            summed[where] += n
    return sorted((*key, n) for key, n in summed.items() if n)


def test_catch_up_equals_rebuild_for_the_bitemporal_rows_and_the_current_cells(
    store: CaseLog,
) -> None:
    # given a history caught up in small batches, with a batch read again
    store.import_cases(generate(10, seed=7), chunk=3)
    runner = ProjectionRunner(store, batch_size=29)
    runner.run_once()
    runner.run_once()
    with runner.views.transaction() as cur:
        cur.execute("UPDATE projection_tracking SET position = 29 WHERE name = 'kpi_cells'")
    runner.run_until_current()
    items = sorted(runner.views.query("SELECT * FROM kpi_item"))
    cells = sorted(runner.views.query(CELLS))
    buckets = sorted(runner.views.query(BUCKETS))
    assert any(r[-1] is not None for r in items)  # versions were closed
    # then the current cells are the current rows summed over the cases of each cell, at
    # month resolution (the ends at day resolution, R-31)
    summed: Counter[tuple[str, ...]] = Counter()
    for *key, n in runner.views.query(ITEMS_NOW):
        for c in cells_of(tuple(key)):  # type: ignore[arg-type]
            summed[c] += n
    assert cells == sorted((*key, n) for key, n in summed.items())
    assert any(c[4] == "end" and len(c[6]) == 10 for c in cells)
    # and the cells per recorded month are the rows' openings and closings, month by month
    assert len({r[12] for r in buckets if r[11] == "m"}) > 1
    assert buckets == buckets_from_items(runner)
    # and a rebuild writes the same rows and cells
    runner.rebuild()
    assert sorted(runner.views.query("SELECT * FROM kpi_item")) == items
    assert sorted(runner.views.query(CELLS)) == cells
    assert sorted(runner.views.query(BUCKETS)) == buckets
    # and the migration that adds kpi_cell_bucket to a database with rows fills it the same
    with runner.views.transaction() as cur:
        cur.execute("DELETE FROM kpi_cell_bucket")
        for name in ("0009_kpi_cell_bucket.sql", "0012_kpi_cell_rollups.sql"):
            for statement in _statements((MIGRATIONS / name).read_text()):
                if "kpi_cell_bucket" in statement:  # 0012: kpi_cell has its roll-ups
                    cur.execute(statement)
    assert sorted(runner.views.query(BUCKETS)) == buckets
    # and the migration that adds the end cells to a database without them fills them the same
    with runner.views.transaction() as cur:
        cur.execute("DELETE FROM kpi_cell WHERE measure = 'end'")
        for statement in _statements((MIGRATIONS / "0013_kpi_end_cells.sql").read_text()):
            if statement.startswith("INSERT"):
                cur.execute(statement)
    assert sorted(runner.views.query(CELLS)) == cells


def test_as_of_every_recorded_instant_and_month_turn_the_buckets_equal_the_valid_rows(
    store: CaseLog,
) -> None:
    # given a history caught up in batches, one of them read twice
    store.import_cases(generate(8, seed=5), chunk=4)
    runner = ProjectionRunner(store, batch_size=37)
    runner.run_once()
    with runner.views.transaction() as cur:
        cur.execute("UPDATE projection_tracking SET position = 20 WHERE name = 'kpi_cells'")
    runner.run_until_current()
    rows = runner.views.query(
        "SELECT recorded_from FROM kpi_item UNION SELECT recorded_to FROM kpi_item "
        "WHERE recorded_to IS NOT NULL"
    )
    recorded = sorted(datetime.fromisoformat(r[0].replace("Z", "+00:00")) for r in rows)
    turns = sorted({t.replace(day=1, hour=0, minute=0, second=0, microsecond=0) for t in recorded})
    tick = timedelta(microseconds=1)
    moments = [*recorded, *(t - tick for t in recorded[::5]), *turns, *(t - tick for t in turns)]
    cat = store.catalogue("zou")
    for period in ((date(2015, 1, 1), date(2030, 12, 31)), (date(2022, 1, 1), date(2022, 12, 31))):
        for as_of in moments:
            # when the KPIs of whole months are asked as of the instant both ways
            answers = [
                kpi_cells.kpis(
                    runner.views,
                    "zou",
                    *period,
                    lasting_months=cat.lasting_outflow_months,
                    decision_within_days=cat.decision_within_days,
                    as_of=as_of,
                    buckets=buckets,
                )
                for buckets in (True, False)
            ]
            # then the months before the instant's from kpi_cell_bucket plus the rows of its
            # month give what the item rows valid at the instant give
            assert answers[0] is not None
            assert msgspec.to_builtins(answers[0]) == msgspec.to_builtins(answers[1]), as_of


# --- a return recorded later updates the month of the earlier end ----------------------

ZOU = catalogue("zou")
YEAR_2023 = {"start": date(2023, 1, 1), "end": date(2023, 12, 31)}


def at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 9, tzinfo=UTC)


def ended_case(client: str, referred: date, ended: date) -> Case:
    with clock.recorded_at(at(referred)):
        case = Case.open(municipality(), referral(on=referred, client_ref=client), ZOU)
        start = referred + timedelta(days=10)
        case.record(
            municipality(), indication(starts_on=start, ends_on=start + timedelta(days=300)), ZOU
        )
    with clock.recorded_at(at(start)):
        case.record(provider(), f.CareStart(started_on=start), ZOU)
    with clock.recorded_at(at(ended + timedelta(days=1))):
        case.record(provider(), f.End(ended_on=ended, reason="19"), ZOU)
    return case


def referred_case(client: str, referred: date, recorded: date) -> Case:
    with clock.recorded_at(at(recorded)):
        return Case.open(municipality(), referral(on=referred, client_ref=client), ZOU)


def test_a_return_recorded_later_updates_the_month_of_the_earlier_end_R31(
    store: CaseLog,
) -> None:
    # given two clients whose care ended in 2023: A on 30 June, B on 31 March
    runner = ProjectionRunner(store)
    store.import_cases([ended_case("c-a", date(2023, 1, 10), date(2023, 6, 30))])
    store.import_cases([ended_case("c-b", date(2022, 11, 1), date(2023, 3, 31))])
    runner.run_until_current()
    before = datetime(2024, 2, 1, tzinfo=UTC)
    stored, replayed = both(runner, store, "zou", **YEAR_2023, as_of=before)
    assert stored == replayed
    # both windows (12 months) still open on 1 February 2024: pending, not lasting
    assert (stored.uitstroom.count, stored.uitstroom.lasting_pending) == (2, 2)
    # when A returns (referred 1 Feb 2024, within A's window, recorded 5 Feb) and B is
    # referred again on 1 May 2024, after B's window closed on 31 March
    store.import_cases([referred_case("c-a", date(2024, 2, 1), date(2024, 2, 5))])
    store.import_cases([referred_case("c-b", date(2024, 5, 1), date(2024, 5, 2))])
    runner.run_until_current()
    # then, as known on 4 February, nothing changed for 2023 yet
    stored, replayed = both(runner, store, "zou", **YEAR_2023, as_of=before + timedelta(days=3))
    assert stored == replayed
    assert (stored.uitstroom.lasting, stored.uitstroom.lasting_pending) == (0, 2)
    # from the return's recorded instant A's end is not lasting; B's window is still open
    stored, replayed = both(runner, store, "zou", **YEAR_2023, as_of=at(date(2024, 2, 6)))
    assert stored == replayed
    assert (stored.uitstroom.lasting, stored.uitstroom.lasting_pending) == (0, 1)
    # and once B's window passed without a return in it, B's end is lasting (the only end
    # whose window has passed: A's runs to 30 June 2024)
    stored, replayed = both(runner, store, "zou", **YEAR_2023, as_of=at(date(2024, 4, 2)))
    assert stored == replayed
    assert (stored.uitstroom.lasting, stored.uitstroom.lasting_pending) == (1, 0)
    assert stored.uitstroom.rate_lasting == 1.0
    # today: the same, with B's later referral (after its window) changing nothing
    stored, replayed = both(runner, store, "zou", **YEAR_2023)
    assert msgspec.to_builtins(stored) == msgspec.to_builtins(replayed)
    assert (stored.uitstroom.count, stored.uitstroom.lasting) == (2, 1)
    assert stored.uitstroom.rate_lasting == 0.5


def test_a_long_history_in_one_batch_leaves_a_gap_answered_from_the_summaries(
    store: CaseLog,
) -> None:
    # given cases whose whole history arrives in one batch, beyond what is derived per version
    store.import_cases(generate(4, seed=11), chunk=4)
    runner = ProjectionRunner(store, batch_size=1000)
    runner.exact_versions = 3
    runner.run_until_current()
    gaps = runner.views.query("SELECT tenant, gap_from, gap_to FROM kpi_gap")
    assert gaps  # the rows are exact only from each case's last version on
    tenant, start, stop = gaps[0]
    inside = (
        datetime.fromisoformat(start.replace("Z", "+00:00"))
        + (
            datetime.fromisoformat(stop.replace("Z", "+00:00"))
            - datetime.fromisoformat(start.replace("Z", "+00:00"))
        )
        / 2
    )
    period = {"start": date(2021, 1, 1), "end": date(2023, 12, 31)}
    # then as of an instant inside the gap the answer still equals the summaries'
    stored, replayed = both(runner, store, tenant, **period, as_of=inside)
    assert msgspec.to_builtins(stored) == msgspec.to_builtins(replayed)
    assert stored.cases > 0
    # and a redelivered batch leaves the same gaps
    with runner.views.transaction() as cur:
        cur.execute("UPDATE projection_tracking SET position = 0 WHERE name = 'kpi_cells'")
    runner.run_until_current()
    assert sorted(runner.views.query("SELECT tenant, gap_from, gap_to FROM kpi_gap")) == sorted(
        gaps
    )


def cells_from_items(runner: ProjectionRunner) -> list[tuple[object, ...]]:
    """kpi_cell by its definition: the current rows summed per cell (ends per day)."""
    summed: Counter[tuple[str, ...]] = Counter()
    for *key, n in runner.views.query(ITEMS_NOW):
        for c in cells_of(tuple(key)):  # type: ignore[arg-type]
            summed[c] += n
    return sorted((*key, n) for key, n in summed.items() if n)


def test_a_destroyed_case_leaves_the_summed_cells_R33(store: CaseLog) -> None:
    # given histories projected, cases with versions closed and current rows
    store.import_cases(generate(12, seed=11), chunk=4)
    runner = ProjectionRunner(store, batch_size=37)
    runner.run_until_current()
    case_id = runner.views.query(
        "SELECT case_id FROM kpi_item WHERE recorded_to IS NOT NULL AND measure <> 'end' "
        "ORDER BY case_id LIMIT 1"
    )[0][0]
    # when the case's share is taken out and its rows deleted, as R-33 destruction does
    with runner.views.transaction() as cur:
        KpiCellProjection().forget(cur, runner.views, case_id)
        cur.execute(runner.views.sql("DELETE FROM kpi_item WHERE case_id = ?"), (case_id,))
    # then kpi_cell and kpi_cell_bucket are still the sums of the rows that remain, and
    # kpi_client still the clients with more than one case among them
    assert sorted(runner.views.query(CELLS)) == cells_from_items(runner)
    assert sorted(runner.views.query(BUCKETS)) == buckets_from_items(runner)
    assert sorted(runner.views.query("SELECT tenant, client_ref FROM kpi_client")) == sorted(
        runner.views.query(
            "SELECT tenant, client_ref FROM kpi_item WHERE measure = 'case' AND product = '' "
            "GROUP BY tenant, client_ref HAVING COUNT(DISTINCT case_id) > 1"
        )
    )


def test_the_end_cells_migration_is_the_text_of_the_code() -> None:
    text = (MIGRATIONS / "0013_kpi_end_cells.sql").read_text()
    assert [s for s in _statements(text) if s.startswith("INSERT")] == end_cells()


def test_the_roll_up_migration_is_the_roll_up_text_of_the_code() -> None:
    from projections.kpi_cells import BUCKET_COLUMNS, BUCKETS, CELL_COLUMNS

    text = (MIGRATIONS / "0012_kpi_cell_rollups.sql").read_text()
    code = [*rollups("kpi_cell", CELL_COLUMNS), *rollups(BUCKETS, BUCKET_COLUMNS)]
    assert _statements(text) == code
