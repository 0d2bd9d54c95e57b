"""Write and read cost against a case's length: ``python -m bench.long_cases [--store sqlite]``.

Cases of 10, 100, 1,000 and 5,000 events are imported (the bulk path), the service is
started (``caselog serve``, projections inline: the default layout, so the projection runner
shares the process as in production on one host). Then one phase per size, the same load
in each, in the same run: 8 clients send keyed contacts to the cases of that size (400
writes) while one client reads them:

- ``write_ms_p50_<n>``: a keyed contact on a case of ``n`` events (HTTP);
- ``case_read_ms_p95_<n>``: ``GET /v1/cases/{id}`` of a case of ``n`` events, under that load;
- ``long_case_write_ratio`` = ``write_ms_p50_1000 / write_ms_p50_10`` (goal <= 1.5), and the
  same for reads (``long_case_read_ratio``) and for 5,000 events (``..._5000_ratio``).

Every case is written to once before timing (the first command on a case loads it).
Used by ``python -m bench`` too (the figures join its JSON).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

SIZES = (10, 100, 1_000, 5_000)
#: writes per size and concurrent writers; cases per size so that the timed writes grow a
#: case by half its length at most (a 10-event case gets 5 writes)
WRITES = 400
CLIENTS = 8
CASES = {10: 80, 100: 16, 1_000: 8, 5_000: 8}
#: ``python -m bench --scale smoke`` (the test that every figure is reported): a case or two
#: per size, so the 50,000 events of the long cases are not built, imported and projected
#: for a run that asserts no figure's size
SMOKE_CASES = {10: 8, 100: 2, 1_000: 1, 5_000: 1}


def build_case(app: Any, n_events: int, i: int) -> Any:
    """A case of ``n_events`` events: referral, indication, start of care, contacts."""
    from domain import facts as f
    from domain.case import Case
    from domain.clock import recorded_at
    from domain.values import Actor, Volume

    cat = app.catalogues.for_tenant("zou")
    gm = Actor(sub="bench", role="municipality", tenant="zou")
    pr = Actor(sub="bench", role="provider", tenant="zou", provider="aanbieder-a")
    base = datetime(2021, 1, 1, tzinfo=UTC)
    with recorded_at(base):
        case = Case.open(
            gm,
            f.Referral(
                client_ref=f"long-{n_events}-{i}",
                tenant="zou",
                municipality="Houten",
                provider="aanbieder-a",
                referred_on=date(2021, 1, 1),
            ),
            cat,
        )
        case.record(
            gm,
            f.Indication(
                assignment_number=f"LC-{n_events}-{i}",
                product="02A05",
                volume=Volume(amount=Decimal(8), unit="hour", frequency="week"),
                starts_on=date(2021, 1, 4),
                ends_on=date(2021, 12, 31),
                decision_ref="LC",
                decided_on=date(2021, 1, 4),
            ),
            cat,
        )
        case.record(pr, f.CareStart(started_on=date(2021, 1, 4)), cat)
    for k in range(3, n_events):
        day = date(2021, 1, 4) + timedelta(days=k % 360)  # within the allocation (C-05)
        with recorded_at(base + timedelta(minutes=k)):
            case.record(
                pr,
                f.Contact(occurred_on=day, minutes=30 + k % 4 * 15, kind="direct"),
                cat,
            )
    return case


def import_long_cases(
    url: str, cases_by_size: dict[int, int] | None = None
) -> dict[int, list[str]]:
    """Import ``cases_by_size[n]`` cases of ``n`` events for every size (default
    ``CASES``); the case ids by size."""
    from application.application import CaseLog
    from storage.config import store_config

    counts = cases_by_size or CASES
    app = CaseLog(store=store_config(url), group_commit=False)
    try:
        ids: dict[int, list[str]] = {}
        for size, n in counts.items():
            cases = [build_case(app, size, i) for i in range(n)]
            ids[size] = [str(c.id) for c in cases]
            app.import_cases(cases, chunk=10)
        return ids
    finally:
        app.close()


def measure(
    base: str,
    ids: dict[int, list[str]],
    writes_per_size: int = WRITES,
    clients: int = CLIENTS,
    rounds: int = 4,
) -> dict[str, float]:
    """One phase per size, the same load in each: ``clients`` writers sending keyed
    contacts to the cases of that size (each client its own cases, one request at a time)
    and one reader reading them, until the phase's writes are acknowledged. The phases run
    in ``rounds`` passes over the sizes, so a burst of load from elsewhere on the machine
    falls on every size alike."""
    import asyncio

    import httpx

    from bench.__main__ import pct, token

    pr = token("provider", provider="aanbieder-a")
    run = time.time_ns()
    body = {"occurred_on": "2021-06-15", "minutes": 45, "kind": "direct"}

    async def phase(size: int, cids: list[str], n: int) -> tuple[list[float], list[float]]:
        writes: list[float] = []
        reads: list[float] = []
        done = asyncio.Event()
        quota = writes_per_size // clients // rounds

        async def writer(c: httpx.AsyncClient, k: int) -> None:
            mine = cids[k::clients] or cids[k % len(cids) :: len(cids)]
            for i in range(quota):
                cid = mine[i % len(mine)]
                started = time.perf_counter()
                r = await c.post(
                    f"/v1/cases/{cid}/contacts",
                    headers=pr | {"Idempotency-Key": f"lc-{run}-{size}-{n}-{k}-{i}"},
                    json=body,
                )
                writes.append((time.perf_counter() - started) * 1000)
                assert r.status_code == 200, r.text

        async def reader(c: httpx.AsyncClient) -> None:
            i = 0
            while not done.is_set():
                started = time.perf_counter()
                r = await c.get(f"/v1/cases/{cids[i % len(cids)]}", headers=pr)
                reads.append((time.perf_counter() - started) * 1000)
                assert r.status_code == 200, r.text
                i += 1

        async with httpx.AsyncClient(base_url=base, timeout=60) as c:
            for cid in cids if n == 0 else ():  # warm up: the first command loads the case
                r = await c.post(
                    f"/v1/cases/{cid}/contacts",
                    headers=pr | {"Idempotency-Key": f"lc-{run}-warm-{cid}"},
                    json=body,
                )
                assert r.status_code == 200, r.text
            read_task = asyncio.create_task(reader(c))
            await asyncio.gather(*(writer(c, k) for k in range(clients)))
            done.set()
            await read_task
        return writes, reads

    writes: dict[int, list[float]] = {size: [] for size in ids}
    reads: dict[int, list[float]] = {size: [] for size in ids}
    for n in range(rounds):
        for size, cids in ids.items():
            w, r = asyncio.run(phase(size, cids, n))
            writes[size] += w
            reads[size] += r
    figures: dict[str, float] = {}
    for size in ids:
        figures[f"write_ms_p50_{size}"] = statistics.median(writes[size])
        figures[f"case_read_ms_p95_{size}"] = pct(reads[size], 95)
    low = min(ids)
    for size in ids:
        if size == low:
            continue
        suffix = "" if size == 1_000 else f"_{size}"
        figures[f"long_case_write_ratio{suffix}"] = (
            figures[f"write_ms_p50_{size}"] / figures[f"write_ms_p50_{low}"]
        )
        figures[f"long_case_read_ratio{suffix}"] = (
            figures[f"case_read_ms_p95_{size}"] / figures[f"case_read_ms_p95_{low}"]
        )
    return {k: round(v, 3) for k, v in figures.items()}


def start_service(url: str, projections: str = "inline") -> tuple[Any, str]:
    import os
    import subprocess

    from bench.__main__ import SECRET, free_port, wait_healthy

    port = free_port()
    env = {**os.environ, "CASELOG_JWT_SECRET": SECRET, "CASELOG_DATABASE_URL": url}
    command = [sys.executable, "-m", "caselog.cli", "serve", "--port", str(port)]
    proc = subprocess.Popen(
        [*command, "--projections", projections],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    wait_healthy(proc, base, what="server")
    return proc, base


def run(
    url: str,
    writes: int = WRITES,
    projections: str = "inline",
    cases_by_size: dict[int, int] | None = None,
) -> dict[str, float]:
    """Import (``cases_by_size``, default ``CASES``), serve, measure; the service is stopped
    afterwards."""
    from bench.__main__ import log, wait_caught_up

    log("long cases: importing 10 / 100 / 1,000 / 5,000-event cases")
    ids = import_long_cases(url, cases_by_size)
    proc, base = start_service(url, projections)
    try:
        if projections == "inline":  # the runner first catches up with the import
            wait_caught_up(base)
        log("long cases: writes and reads round-robin over the sizes")
        return measure(base, ids, writes)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> int:
    from bench.__main__ import make_database

    p = argparse.ArgumentParser(prog="python -m bench.long_cases")
    p.add_argument("--store", choices=["postgres", "sqlite"], default="postgres")
    p.add_argument("--writes", type=int, default=WRITES, help="writes per case size")
    p.add_argument("--projections", choices=["inline", "off"], default="inline")
    p.add_argument("--json", dest="json_path")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url, drop = make_database(args.store, Path(tmp))
        try:
            figures = {"store": args.store, **run(url, args.writes, args.projections)}
        finally:
            drop()
    text = json.dumps(figures, indent=2)
    print(text)
    if args.json_path:
        Path(args.json_path).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
