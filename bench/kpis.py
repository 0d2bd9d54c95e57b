"""``python -m bench.kpis [--scale small|medium|large] [--store postgres|sqlite] [--json FILE]``

KPI queries before and after the pre-aggregated, bitemporal rows (issue 12), in the same
run on the same database: the demo history is imported, every projection rebuilt, and then
the same queries are answered both ways in this process (no HTTP):

- ``replayed``: ``projections.queries.kpis_replayed``, the way ``GET /v1/kpis`` answered
  before: per-case summaries aggregated in Python, and for ``as_of`` every case written
  after the instant rebuilt from its events;
- ``stored``: ``projections.queries.kpis``, one SQL aggregate over the ``kpi_item`` rows
  valid at the instant.

Figures: ``kpi_query_ms_p95`` (one tenant, the year 2022, every other query for one
provider) and ``as_of_kpi_ms_p95`` (the same, as of historic instants mid-way through the
imported history), each ``_replayed`` and ``_stored``, and both answers compared. Also the
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
            equal = True
            for label, instants, n in (
                ("kpi_query_ms_p95", [None], queries),
                ("as_of_kpi_ms_p95", HISTORIC, historic),
            ):
                for how, fn in (("replayed", kpis_replayed), ("stored", kpis)):
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
                        if how == "stored" and i < len(instants) * 2:
                            expected = kpis_replayed(
                                runner.views, app, "zou", *PERIOD, provider=provider, as_of=as_of
                            )
                            equal &= msgspec.to_builtins(answer) == msgspec.to_builtins(expected)
                    figures[f"{label}_{how}"] = pct(times, 95)
                    log(f"{label}_{how}: {figures[f'{label}_{how}']:.1f} ms")
            figures["stored_equals_replayed"] = equal
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
