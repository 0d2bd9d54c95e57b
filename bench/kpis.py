"""``python -m bench.kpis [--scale small|medium|large] [--store postgres|sqlite] [--json FILE]``

KPI queries before and after the pre-aggregated, bitemporal rows (issue 12), in the same
run on the same database: the demo history is imported, every projection rebuilt, and then
the same queries are answered both ways in this process (no HTTP):

- ``replayed``: ``projections.queries.kpis_replayed``, the way ``GET /v1/kpis`` answered
  before: per-case summaries aggregated in Python, and for ``as_of`` every case written
  after the instant rebuilt from its events;
- ``stored``: ``projections.queries.kpis``, the way it answers now: for whole months
  (``PERIOD`` is a year) the current ``kpi_cell`` rows, or as of an instant the
  ``kpi_cell_bucket`` sums of the recorded months before the instant's plus the
  ``kpi_item`` rows opened and closed in its month;
- ``items`` (as of an instant only): ``projections.kpi_cells.kpis(buckets=False)``, the
  way the stored path answered as of an instant before ``kpi_cell_bucket``: one SQL
  aggregate over the ``kpi_item`` rows valid at the instant. Its answers are compared with
  the bucket path's for every query (``buckets_equal_items``).

Figures: ``kpi_query_ms_p95`` (one tenant, the year 2022, every other query for one
provider) and ``as_of_kpi_ms_p95`` (the same, as of historic instants mid-way through the
imported history), each ``_replayed`` and ``_stored`` (as of: also ``_items``, with
``as_of_buckets_ratio`` = items / stored), and the answers compared. Also the
rebuild with and without the ``kpi_cells`` projection (``rebuild_events_per_s``), because
the runner computes a KPI summary for every version of a case, not only the last.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import msgspec

from bench.__main__ import SCALES, log, make_database, pct

PERIOD = (date(2022, 1, 1), date(2022, 12, 31))
HISTORIC = [datetime(2022, m, d, 12, tzinfo=UTC) for m, d in ((9, 1), (6, 15), (11, 20))]


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    out = fn()
    return (time.perf_counter() - started) * 1000, out


def run(scale: str, store: str, queries: int, historic: int) -> dict[str, Any]:
    from application.application import CaseLog
    from application.demo import generate
    from projections import kpi_cells
    from projections.queries import kpis, kpis_replayed
    from projections.runner import ALL, ProjectionRunner
    from storage.config import store_config

    figures: dict[str, Any] = {"scale": scale, "store": store, "cases": SCALES[scale]}
    with tempfile.TemporaryDirectory() as tmp:
        url, drop = make_database(store, Path(tmp))
        try:
            app = CaseLog(store=store_config(url))
            log(f"importing {SCALES[scale]} cases ({store})")
            figures["events"] = app.import_cases(generate(SCALES[scale], seed=2022), chunk=500)
            without = ProjectionRunner(app, projections=[p for p in ALL if p.name != "kpi_cells"])
            log("rebuild without kpi_cells")
            ms, _ = timed(without.rebuild)
            figures["rebuild_events_per_s_without_kpi_cells"] = figures["events"] / ms * 1000
            runner = ProjectionRunner(app, views=without.views)
            log("rebuild of every projection")
            ms, _ = timed(runner.rebuild)
            figures["rebuild_events_per_s"] = figures["events"] / ms * 1000
            figures["kpi_item_rows"] = runner.views.query("SELECT count(*) FROM kpi_item")[0][0]
            figures["kpi_item_rows_current"] = runner.views.query(
                "SELECT count(*) FROM kpi_item WHERE recorded_to IS NULL"
            )[0][0]
            figures["kpi_cell_rows"] = runner.views.query("SELECT count(*) FROM kpi_cell")[0][0]
            figures["kpi_cell_bucket_rows"] = runner.views.query(
                "SELECT count(*) FROM kpi_cell_bucket"
            )[0][0]
            cat = app.catalogue("zou")

            def items(views: Any, _app: Any, tenant: str, *period: date, **query: Any) -> Any:
                return kpi_cells.kpis(
                    views,
                    tenant,
                    *period,
                    lasting_months=cat.lasting_outflow_months,
                    decision_within_days=cat.decision_within_days,
                    buckets=False,
                    **query,
                )

            both_equal = True
            equal = True
            for label, instants, n in (
                ("kpi_query_ms_p95", [None], queries),
                ("as_of_kpi_ms_p95", HISTORIC, historic),
            ):
                ways: list[tuple[str, Callable[..., Any]]] = [
                    ("replayed", kpis_replayed),
                    ("stored", kpis),
                ]
                if label == "as_of_kpi_ms_p95":
                    ways.append(("items", items))
                answers: dict[tuple[str, int], Any] = {}
                for how, fn in ways:
                    times: list[float] = []
                    for i in range(n):
                        as_of = instants[i % len(instants)]
                        provider = "aanbieder-b" if i % 2 else None
                        ms, answer = timed(
                            lambda fn=fn, as_of=as_of, provider=provider: fn(
                                runner.views, app, "zou", *PERIOD, provider=provider, as_of=as_of
                            )
                        )
                        times.append(ms)
                        answers[(how, i)] = msgspec.to_builtins(answer)
                        if how == "items":
                            both_equal &= answers[(how, i)] == answers[("stored", i)]
                        if how == "stored" and i < len(instants) * 2:
                            expected = kpis_replayed(
                                runner.views, app, "zou", *PERIOD, provider=provider, as_of=as_of
                            )
                            equal &= msgspec.to_builtins(answer) == msgspec.to_builtins(expected)
                    figures[f"{label}_{how}"] = pct(times, 95)
                    log(f"{label}_{how}: {figures[f'{label}_{how}']:.1f} ms")
            figures["stored_equals_replayed"] = equal
            figures["buckets_equal_items"] = both_equal
            figures["as_of_buckets_ratio"] = (
                figures["as_of_kpi_ms_p95_items"] / figures["as_of_kpi_ms_p95_stored"]
            )
            runner.views.close()
            app.close()
        finally:
            drop()
    for k, v in list(figures.items()):
        if isinstance(v, float):
            figures[k] = round(v, 2)
    return figures


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m bench.kpis")
    p.add_argument("--scale", choices=list(SCALES), default="small")
    p.add_argument("--store", choices=["postgres", "sqlite"], default="postgres")
    p.add_argument("--queries", type=int, default=10)
    p.add_argument("--historic", type=int, default=6, help="as-of queries per way")
    p.add_argument("--json", dest="json_path")
    args = p.parse_args()
    figures = run(args.scale, args.store, args.queries, args.historic)
    text = json.dumps(figures, indent=2)
    print(text)
    if args.json_path:
        Path(args.json_path).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
