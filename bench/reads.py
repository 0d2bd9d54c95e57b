"""Case reads from the stored rows against the live computation, in the same run:
``python -m bench.reads [--store postgres|sqlite] [--reads N] [--json FILE]``.

Cases of 10, 1,000 and 5,000 events are imported (the bulk path) and the service started
(``caselog serve``: the runner in its own process) and caught up. Then, per case size, one
client reads the cases' state, entitlement and consumption of a month, one request at a
time, the two paths taking turns in blocks of ten, so that load from elsewhere falls on both
alike:

- rows: ``GET /v1/cases/{id}``, ``.../entitlement``, ``.../consumption?month=`` (what the
  read models stored);
- live: the same answers computed from the case's events, as every read did before the reads
  answered from rows (forced with ``?version=<current>`` for the case and ``as_of=<now>``
  for the entitlement and consumption: the same pure functions over every event).

Figures: ``case_read_ms_p95_<n>`` (rows) and ``case_read_live_ms_p95_<n>``, the same for
``entitlement_`` and ``consumption_``, and ``*_rows_over_live_<n>`` (the ratio of the p95s).
Then read-your-writes: ``write_then_read_ms_p50`` / ``_p95``, a contact on a 1,000-event case
followed at once by its consumption read (the read waits for the runner, woken, to pass the
write; ``..._visible`` counts reads that held the write: all of them).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SIZES = (10, 1_000, 5_000)
CASES = {10: 8, 1_000: 4, 5_000: 4}
READS = 150
#: reads per path in a row: the paths take turns in blocks, so a collection of the garbage
#: of the live path's long computations falls on the live path's own reads
BLOCK = 10
MONTH = "2021-03"


def measure(base: str, ids: dict[int, list[str]], reads: int) -> dict[str, float]:
    import httpx

    from bench.__main__ import pct, token

    gm = token("municipality")
    pr = token("provider", provider="aanbieder-a")
    figures: dict[str, float] = {}
    with httpx.Client(base_url=base, headers=gm, timeout=60) as c:

        def timed(path: str, params: dict[str, str]) -> tuple[float, Any]:
            started = time.perf_counter()
            r = c.get(path, params=params)
            took = (time.perf_counter() - started) * 1000
            assert r.status_code == 200, r.text
            return took, r

        for size in SIZES:
            cids = ids[size]
            versions = {cid: c.get(f"/v1/cases/{cid}").json()["version"] for cid in cids}
            for cid in cids:  # both paths answer alike (and the first live load is done)
                asked = requests(cid, versions[cid])
                for kind in asked["rows"]:
                    (p, q), (lp, lq) = asked["rows"][kind], asked["live"][kind]
                    same = c.get(p, params=q).content == c.get(lp, params=lq).content
                    assert same, f"{kind} of {cid}: rows and live differ"
            got: dict[str, list[float]] = {}
            for rnd in range(0, reads, BLOCK):
                paths = ["rows", "live"] if rnd % (2 * BLOCK) == 0 else ["live", "rows"]
                for which in paths:
                    for i in range(rnd, min(reads, rnd + BLOCK)):
                        cid = cids[i % len(cids)]
                        for kind, (p, params) in requests(cid, versions[cid])[which].items():
                            took, _ = timed(p, params)
                            got.setdefault(f"{kind}_{which}", []).append(took)
            for kind in ("case", "entitlement", "consumption"):
                rows_p95 = pct(got[f"{kind}_rows"], 95)
                live_p95 = pct(got[f"{kind}_live"], 95)
                figures[f"{kind}_read_ms_p95_{size}"] = rows_p95
                figures[f"{kind}_read_live_ms_p95_{size}"] = live_p95
                figures[f"{kind}_rows_over_live_{size}"] = rows_p95 / live_p95
        # read-your-writes: a write followed at once by a read of what it changed
        cid = ids[1_000][0]
        took_rw: list[float] = []
        visible = 0
        for k in range(60):
            body = {"occurred_on": f"2021-03-{1 + k % 28:02d}", "minutes": 15, "kind": "direct"}
            w = c.post(f"/v1/cases/{cid}/contacts", headers=pr, json=body)
            assert w.status_code == 200, w.text
            took, r = timed(f"/v1/cases/{cid}/consumption", {"month": MONTH})
            took_rw.append(took)
            visible += r.json()["version"] == w.json()["version"]
        figures["write_then_read_ms_p50"] = pct(took_rw, 50)
        figures["write_then_read_ms_p95"] = pct(took_rw, 95)
        figures["write_then_read_visible"] = visible / len(took_rw)
    return {k: round(v, 3) for k, v in figures.items()}


def requests(cid: str, version: int) -> dict[str, dict[str, tuple[str, dict[str, str]]]]:
    """Per path (rows, live), per kind: the GET and its parameters."""
    path, now = f"/v1/cases/{cid}", _now()
    return {
        "rows": {
            "case": (path, {}),
            "entitlement": (f"{path}/entitlement", {}),
            "consumption": (f"{path}/consumption", {"month": MONTH}),
        },
        "live": {
            "case": (path, {"version": str(version)}),
            "entitlement": (f"{path}/entitlement", {"as_of": now}),
            "consumption": (f"{path}/consumption", {"month": MONTH, "as_of": now}),
        },
    }


def _now() -> str:
    return datetime.now(UTC).isoformat()


def run(url: str, reads: int = READS) -> dict[str, float]:

    from bench.__main__ import log, wait_caught_up
    from bench.long_cases import import_long_cases, start_service

    log("reads: importing 10 / 1,000 / 5,000-event cases")
    ids = import_long_cases(url, CASES)
    proc, base = start_service(url)
    try:
        wait_caught_up(base)  # the runner first catches up with the import
        log("reads: rows and live, alternating, per case size")
        return measure(base, ids, reads)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> int:
    from bench.__main__ import make_database

    p = argparse.ArgumentParser(prog="python -m bench.reads")
    p.add_argument("--store", choices=["postgres", "sqlite"], default="postgres")
    p.add_argument("--reads", type=int, default=READS, help="reads per path, kind and size")
    p.add_argument("--json", dest="json_path")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url, drop = make_database(args.store, Path(tmp))
        try:
            figures = {"store": args.store, **run(url, args.reads)}
        finally:
            drop()
    text = json.dumps(figures, indent=2)
    print(text)
    if args.json_path:
        Path(args.json_path).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
