"""``python -m bench.rebuild [--scale small|medium|large] [--store postgres|sqlite]
[--workers 1,2] [--in-place yes|no] [--json FILE]``

The rebuild alone, in the same run on the same database: the raw read of the event table
(the baseline of ``rebuild_ratio``), the single-process replay into the live tables
(``ProjectionRunner.rebuild_in_place``, the rebuild as it was) and the rebuild into fresh
tables swapped in (``ProjectionRunner.rebuild``) with each number of worker processes
asked for, each followed by the same rebuild of every projection but the bitemporal KPI
history (``kpi_cells``; ``caselog projections rebuild NAME...``), to show what the history
costs. Each rebuild runs in its own child process (``python -m bench --rebuild-child``),
so its peak RSS (the largest of the process and its workers) is its own.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.__main__ import SCALES, import_figure, in_child, log, make_database, raw_read

#: the bitemporal KPI history: the projection a rebuild also runs without, to show its cost
KPI_HISTORY = "kpi_cells"


def run(scale: str, store: str, workers: list[int], in_place: bool = True) -> dict[str, Any]:
    from application.application import CaseLog
    from projections.runner import ALL
    from storage.config import store_config
    from storage.views import ViewStore

    figures: dict[str, Any] = {"scale": scale, "store": store, "cases": SCALES[scale]}
    with tempfile.TemporaryDirectory() as tmp:
        url, drop = make_database(store, Path(tmp))
        try:
            app = CaseLog(store=store_config(url))
            ViewStore(app.store).close()
            _, figures["events"] = import_figure(app, SCALES[scale])
            app.close()
            figures["raw_read_rows_per_s"] = raw = raw_read(url, store)
            if in_place:
                log("rebuild in place, one process")
                done = in_child(url, "--in-place")
                figures["rebuild_in_place_events_per_s"] = rate = done["events"] / done["seconds"]
                figures["rebuild_in_place_ratio"] = rate / raw
                figures["rebuild_in_place_peak_rss_mb"] = done["peak_rss_mb"]
            others = ",".join(p.name for p in ALL if p.name != KPI_HISTORY)
            for n in workers:
                log(f"rebuild into fresh tables, {n} worker(s)")
                done = in_child(url, "--workers", str(n))
                rate = done["events"] / done["seconds"]
                figures[f"rebuild_w{n}_events_per_s"] = rate
                figures[f"rebuild_w{n}_ratio"] = rate / raw
                figures[f"rebuild_w{n}_peak_rss_mb"] = done["peak_rss_mb"]
                # every projection but the KPI history, right after (all are current, so
                # its catch-up has nothing to do): what the history costs
                log(f"rebuild of every projection but {KPI_HISTORY}, {n} worker(s)")
                done = in_child(url, "--workers", str(n), "--names", others)
                rate = done["events"] / done["seconds"]
                figures[f"rebuild_w{n}_without_kpi_history_events_per_s"] = rate
                figures[f"rebuild_w{n}_without_kpi_history_ratio"] = rate / raw
        finally:
            drop()
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()}


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m bench.rebuild")
    p.add_argument("--scale", choices=list(SCALES), default="small")
    p.add_argument("--store", choices=["postgres", "sqlite"], default="postgres")
    p.add_argument("--workers", default="1,2", help="worker counts to measure, e.g. 1,2,4")
    p.add_argument(
        "--in-place",
        choices=["yes", "no"],
        default="yes",
        help="also the single-process log-order replay (slow at large scale)",
    )
    p.add_argument("--json", dest="json_path")
    args = p.parse_args()
    workers = [int(w) for w in args.workers.split(",")]
    figures = run(args.scale, args.store, workers, args.in_place == "yes")
    text = json.dumps(figures, indent=2)
    if args.json_path:
        Path(args.json_path).write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
