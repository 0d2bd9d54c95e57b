"""``python -m bench --scale small|medium|large [--store postgres|sqlite] --json FILE``

Measures each figure of the speed issue beside its raw-database baseline, on the same
database, in the same run, and writes them as one JSON document. Deterministic data:
``application.demo.generate`` with a fixed seed. PostgreSQL runs in a throwaway database that is
dropped afterwards (``--keep`` keeps it); SQLite in a temporary file.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.caseload import caseload_figures

SCALES = {"smoke": 200, "small": 1_000, "medium": 10_000, "large": 100_000}
PG_ADMIN = os.environ.get("CASELOG_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
SECRET = "bench-secret-" + "z" * 40
#: historic instants for ``as_of_kpi_ms_p95``: mid-way through the demo history
HISTORIC_INSTANTS = ["2022-09-01T00:00:00Z", "2022-06-15T12:00:00Z", "2022-11-20T12:00:00Z"]


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


# --- databases ---------------------------------------------------------------------------


def make_database(store: str, tmp: Path) -> tuple[str, Callable[[], None]]:
    if store == "sqlite":
        return f"sqlite:///{tmp / 'bench.db'}", lambda: None
    import psycopg

    name = f"caselog_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name

    def drop() -> None:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return url, drop


# --- raw baselines -------------------------------------------------------------------------


def raw_single_row_txn(url: str, store: str, n: int = 2000) -> float:
    if store == "sqlite":
        import sqlite3

        conn = sqlite3.connect(url[len("sqlite:///") :], isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE IF NOT EXISTS raw_bench (id INTEGER PRIMARY KEY, body BLOB)")
        started = time.perf_counter()
        for _ in range(n):
            conn.execute("BEGIN")
            conn.execute("INSERT INTO raw_bench (body) VALUES (?)", (os.urandom(200),))
            conn.execute("COMMIT")
        took = time.perf_counter() - started
        conn.execute("DROP TABLE raw_bench")
        conn.close()
        return n / took
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE raw_bench (id BIGSERIAL PRIMARY KEY, body BYTEA)")
        started = time.perf_counter()
        for _ in range(n):
            with conn.transaction():
                conn.execute("INSERT INTO raw_bench (body) VALUES (%s)", (os.urandom(200),))
        took = time.perf_counter() - started
        conn.execute("DROP TABLE raw_bench")
    return n / took


def raw_executemany(url: str, store: str, n: int = 100_000) -> float:
    rows = [(uuid.uuid4().bytes, i, "topic", os.urandom(200)) for i in range(n)]
    if store == "sqlite":
        import sqlite3

        conn = sqlite3.connect(url[len("sqlite:///") :], isolation_level=None)
        conn.execute("CREATE TABLE raw_many (a BLOB, b INTEGER, c TEXT, d BLOB)")
        started = time.perf_counter()
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO raw_many VALUES (?, ?, ?, ?)", rows)
        conn.execute("COMMIT")
        took = time.perf_counter() - started
        conn.execute("DROP TABLE raw_many")
        conn.close()
        return n / took
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE raw_many (a BYTEA, b BIGINT, c TEXT, d BYTEA)")
        started = time.perf_counter()
        with conn.transaction(), conn.cursor() as cur:
            cur.executemany("INSERT INTO raw_many VALUES (%s, %s, %s, %s)", rows)
        took = time.perf_counter() - started
        conn.execute("DROP TABLE raw_many")
    return n / took


def raw_read(url: str, store: str) -> float:
    """Read the whole event table in notification order (the rebuild's raw baseline)."""
    if store == "sqlite":
        import sqlite3

        conn = sqlite3.connect(url[len("sqlite:///") :])
        started = time.perf_counter()
        n = 0
        for _row in conn.execute(
            "SELECT rowid, originator_id, originator_version, topic, state FROM stored_events "
            "ORDER BY rowid"
        ):
            n += 1
        took = time.perf_counter() - started
        conn.close()
        return n / took
    import psycopg

    with psycopg.connect(url) as conn, conn.cursor(name="raw_read") as cur:
        cur.itersize = 10_000
        started = time.perf_counter()
        cur.execute(
            "SELECT notification_id, originator_id, originator_version, topic, state "
            "FROM caselog_events ORDER BY notification_id"
        )
        n = 0
        for _row in cur:
            n += 1
        took = time.perf_counter() - started
    return n / took


# --- caselog figures -----------------------------------------------------------------------


def settle(url: str, store: str) -> float:
    """Write out what earlier phases left dirty (a forced checkpoint), so a measured phase
    does not share the disk with their flushing; the seconds it took."""
    started = time.perf_counter()
    if store == "sqlite":
        import sqlite3

        with contextlib.closing(sqlite3.connect(url[len("sqlite:///") :])) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    else:
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CHECKPOINT")
    return round(time.perf_counter() - started, 1)


def import_figure(app: Any, cases: int) -> tuple[float, int]:
    """The bulk path (demo data, imports): cases built through their commands, saved 200
    per transaction. Only the saving is timed; generation streams beside it."""
    from application.demo import generate

    log(f"generating and importing {cases} cases")
    saving = 0.0
    events = 0
    batch: list[Any] = []

    def save() -> None:
        nonlocal saving, events
        events += sum(len(c.pending_events) for c in batch)
        started = time.perf_counter()
        app.import_cases(batch, chunk=len(batch), analyze=False)  # COPY on PostgreSQL
        saving += time.perf_counter() - started
        batch.clear()

    for i, case in enumerate(generate(cases, seed=2022)):
        batch.append(case)
        if len(batch) == 200:
            save()
        if i and i % 10_000 == 0:
            log(f"  {i} cases, {events} events")
    if batch:
        save()
    started = time.perf_counter()
    app.analyze()  # as the end of one import_cases call does: part of the bulk path
    saving += time.perf_counter() - started
    return events / saving, events


def long_case(app: Any, n_events: int = 1000) -> tuple[Any, list[Any]]:
    """A case of about ``n_events`` events, recorded at distinct instants."""
    from datetime import datetime
    from decimal import Decimal

    from domain import facts as f
    from domain.case import Case
    from domain.clock import recorded_at
    from domain.values import Actor, Volume

    cat = app.catalogues.for_tenant("zou")
    gm = Actor(sub="c", role="municipality", tenant="zou")
    pr = Actor(sub="b", role="provider", tenant="zou", provider="aanbieder-a")
    base = datetime(2020, 1, 1, tzinfo=UTC)
    instants = []

    def at(i: int) -> Any:
        instants.append(base + timedelta(hours=i))
        return recorded_at(instants[-1])

    with at(0):
        case = Case.open(
            gm,
            f.Referral(
                client_ref="long",
                tenant="zou",
                municipality="Houten",
                provider="aanbieder-a",
                referred_on=date(2020, 1, 1),
            ),
            cat,
        )
    with at(1):
        case.record(
            gm,
            f.Indication(
                assignment_number="L-1",
                product="02A05",
                volume=Volume(amount=Decimal(8), unit="hour", frequency="week"),
                starts_on=date(2020, 1, 2),
                ends_on=date(2020, 12, 31),
                decision_ref="L",
                decided_on=date(2020, 1, 2),
            ),
            cat,
        )
    with at(2):
        case.record(pr, f.CareStart(started_on=date(2020, 1, 2)), cat)
    for i in range(3, n_events + 1):
        with at(i):
            case.record(
                pr,
                f.Contact(
                    occurred_on=date(2020, 1, 2) + timedelta(days=(i % 360)),
                    minutes=30,
                    kind="direct",
                ),
                cat,
            )
    app.save(case)
    return case.id, instants


def timetravel(app: Any) -> tuple[float, float]:
    from domain.values import Actor

    case_id, instants = long_case(app)
    actor = Actor(sub="a", role="auditor", tenant="zou")
    rng = random.Random(1)
    times = []
    for i in range(400):
        started = time.perf_counter()
        if i % 2:
            app.get_case(case_id, actor, version=rng.randint(1, len(instants)))
        else:
            app.get_case(case_id, actor, as_of=rng.choice(instants))
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), pct(times, 99)


def rebuild_child(
    url: str, in_place: bool = False, workers: int | None = None, names: list[str] | None = None
) -> None:
    """Run in a child process so its peak RSS is the rebuild's own (the largest of this
    process and its workers). ``in_place``: the single-process replay into the live tables
    (the rebuild before fresh tables and workers), measured in the same run as a baseline.
    ``names``: only these projections (all by default)."""
    from application.application import CaseLog
    from projections.runner import ProjectionRunner
    from storage.config import store_config

    app = CaseLog(store=store_config(url))
    runner = ProjectionRunner(app)
    started = time.perf_counter()
    n = runner.rebuild_in_place(names) if in_place else runner.rebuild(names, workers=workers)
    took = time.perf_counter() - started
    peak = max(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
    )
    print(json.dumps({"events": n, "seconds": took, "peak_rss_mb": peak / 1024}))


def in_child(url: str, *args: str) -> dict[str, Any]:
    """``rebuild_child`` in a child process of its own (``python -m bench --rebuild-child``):
    its events, seconds and peak RSS."""
    out = subprocess.run(
        [sys.executable, "-m", "bench", "--rebuild-child", url, *args],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def start_server(url: str) -> tuple[subprocess.Popen[bytes], str]:
    """The production layout: the service, and the projection runner beside it."""
    port = free_port()
    env = {**os.environ, "CASELOG_JWT_SECRET": SECRET, "CASELOG_DATABASE_URL": url}
    proc = subprocess.Popen(
        [sys.executable, "-m", "caselog.cli", "serve", "--port", str(port), "--projections", "off"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    runner = subprocess.Popen(
        [sys.executable, "-m", "caselog.cli", "projections", "follow"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    proc.runner = runner  # type: ignore[attr-defined]
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(proc, base, attempts=200)
    except RuntimeError:
        runner.kill()
        raise
    return proc, base


def wait_healthy(
    proc: subprocess.Popen[bytes], base: str, attempts: int = 300, what: str = "caselog serve"
) -> None:
    """Until ``base``/health answers 200 (0.1 s apart); the process killed if it never does."""
    import httpx

    for _ in range(attempts):
        try:
            if httpx.get(base + "/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{what} did not start")


def wait_caught_up(base: str, attempts: int = 1200) -> None:
    """Until the service's projections have caught up with the log (0.5 s apart), e.g.
    with an import made before it started."""
    import httpx

    for _ in range(attempts):
        if httpx.get(base + "/health", timeout=10).json().get("projections_lag") == 0:
            return
        time.sleep(0.5)


def token(role: str, tenant: str = "zou", provider: str | None = None) -> dict[str, str]:
    from api.auth import issue_token

    t = issue_token(role=role, tenant=tenant, provider=provider, key=SECRET, ttl_seconds=7200)
    return {"Authorization": f"Bearer {t}"}


def prepare_write_targets(base: str, clients: int) -> list[str]:
    import httpx

    gm = token("municipality")
    pr = token("provider", provider="aanbieder-a")
    ids = []
    with httpx.Client(base_url=base, timeout=30) as c:
        for i in range(clients):
            cid = c.post(
                "/v1/cases",
                headers=gm,
                json={
                    "client_ref": f"bench-{i}",
                    "municipality": "Houten",
                    "provider": "aanbieder-a",
                    "referred_on": "2024-01-08",
                },
            ).json()["case_id"]
            c.post(
                f"/v1/cases/{cid}/indications",
                headers=gm,
                json={
                    "assignment_number": f"B-{i}",
                    "product": "02A05",
                    "volume": {"amount": "40", "unit": "hour", "frequency": "week"},
                    "starts_on": "2024-01-15",
                    "ends_on": "2024-12-31",
                    "decision_ref": "B",
                    "decided_on": "2024-01-12",
                },
            )
            c.post(f"/v1/cases/{cid}/start", headers=pr, json={"started_on": "2024-01-20"})
            ids.append(cid)
    return ids


def write_load(base: str, case_ids: list[str], seconds: float) -> tuple[float, float, int]:
    import httpx

    pr = token("provider", provider="aanbieder-a")
    latencies: list[float] = []
    errors = 0

    async def client(cid: str, deadline: float) -> None:
        nonlocal errors
        async with httpx.AsyncClient(base_url=base, timeout=60) as c:
            i = 0
            while time.perf_counter() < deadline:
                body = {
                    "occurred_on": f"2024-{2 + i % 10:02d}-{1 + i % 28:02d}",
                    "minutes": 30,
                    "kind": "direct",
                }
                i += 1
                started = time.perf_counter()
                r = await c.post(f"/v1/cases/{cid}/contacts", headers=pr, json=body)
                latencies.append((time.perf_counter() - started) * 1000)
                if r.status_code != 200:
                    errors += 1

    async def main() -> float:
        started = time.perf_counter()
        deadline = started + seconds
        await asyncio.gather(*(client(cid, deadline) for cid in case_ids))
        return time.perf_counter() - started

    took = asyncio.run(main())
    return len(latencies) / took, pct(latencies, 99), errors


WRK_SCRIPT = """
local ids = {%(ids)s}
local token = "%(token)s"
local i = 0
request = function()
  i = i + 1
  local id = ids[(i %% #ids) + 1]
  local body = string.format('{"occurred_on":"2024-%%02d-%%02d","minutes":30,"kind":"direct"}',
                             2 + (i %% 10), 1 + (i %% 28))
  return wrk.format("POST", "/v1/cases/" .. id .. "/contacts",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}, body)
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %%d %%d %%f %%d\\n", summary.requests, summary.duration,
    latency:percentile(99), summary.errors.status + summary.errors.connect +
    summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""


def run_wrk(script: str, base: str, seconds: float) -> list[str]:
    """Run wrk (C, two threads, 50 connections: a load generator that is not the bottleneck)
    with a Lua ``script`` whose ``done`` writes one line ``RESULT requests duration_us p99_us
    errors ...``; that line's fields after ``RESULT``."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(script)
    try:
        out = subprocess.run(
            [
                shutil.which("wrk") or "wrk",
                "-t2",
                "-c50",
                f"-d{int(seconds)}s",
                "--timeout",
                "30s",
                "-s",
                fh.name,
                base,
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    finally:
        os.unlink(fh.name)
    line = next(x for x in out.splitlines() if x.startswith("RESULT"))
    return line.split()[1:]


def write_load_wrk(base: str, case_ids: list[str], seconds: float) -> tuple[float, float, int]:
    """Contacts to ``case_ids`` driven by wrk: (writes/s, p99 ms, errors)."""
    t = token("provider", provider="aanbieder-a")["Authorization"].split()[1]
    script = WRK_SCRIPT % {"ids": ", ".join(f'"{c}"' for c in case_ids), "token": t}
    requests, duration_us, p99_us, errors = run_wrk(script, base, seconds)
    return int(requests) / (int(duration_us) / 1e6), float(p99_us) / 1000, int(errors)


def read_latencies(
    base: str, case_ids: list[str], figures: dict[str, Any], save: Callable[[], None]
) -> None:
    """Case reads, KPI queries, KPIs as of historic instants (``as_of_kpi_ms_p95``), and
    two single as-of KPIs kept for comparison with earlier runs: ``recent`` (an instant a
    minute before the write load) and ``historic`` (mid-way through the imported history)."""
    import httpx

    gm = token("municipality")
    cm = token("contract_manager")
    case_times, kpi_times = [], []
    period = {"period_start": "2022-01-01", "period_end": "2022-12-31"}
    with httpx.Client(base_url=base, timeout=1800) as c:
        for i in range(200):
            started = time.perf_counter()
            r = c.get(f"/v1/cases/{case_ids[i % len(case_ids)]}", headers=gm)
            case_times.append((time.perf_counter() - started) * 1000)
            assert r.status_code == 200, r.text
        figures["case_read_ms_p95"] = pct(case_times, 95)
        for i in range(40):  # a p95 of ten would be their slowest
            params = dict(period)
            if i % 2:
                params["provider"] = "aanbieder-b"
            started = time.perf_counter()
            r = c.get("/v1/kpis", headers=cm, params=params)
            kpi_times.append((time.perf_counter() - started) * 1000)
            assert r.status_code == 200, r.text
        figures["kpi_query_ms_p95"] = pct(kpi_times, 95)
        save()
        as_of_times = []
        for i, instant in enumerate(HISTORIC_INSTANTS * 8):
            params = {**period, "as_of": instant}
            if i % 2:
                params["provider"] = "aanbieder-b"
            started = time.perf_counter()
            r = c.get("/v1/kpis", headers=cm, params=params)
            as_of_times.append((time.perf_counter() - started) * 1000)
            assert r.status_code == 200, r.text
        figures["as_of_kpi_ms_p95"] = pct(as_of_times, 95)
        save()
        for name, instant in (
            ("as_of_kpi_recent_s", figures["_before_writes"]),
            ("as_of_kpi_s", "2022-09-01T00:00:00Z"),
        ):
            log(f"{name} as of {instant}")
            started = time.perf_counter()
            r = c.get("/v1/kpis", headers=cm, params={**period, "as_of": instant})
            figures[name] = time.perf_counter() - started
            assert r.status_code == 200, r.text
            save()


def reads_only(url: str, json_path: str | None) -> dict[str, Any]:
    """``--reads-only URL``: the read figures of :func:`read_latencies` (case reads, KPIs
    now and as of historic instants) on a database a run kept (``--keep``), with the
    service started on it and its projections caught up first: the reads of a large run
    measured again after a change to the read side, without importing and rebuilding."""
    from application.application import CaseLog
    from storage.config import store_config

    app = CaseLog(store=store_config(url))
    ids = sample_case_ids(app)
    app.close()
    figures: dict[str, Any] = {"reads_only": True}

    def save() -> None:
        if json_path:
            Path(json_path).write_text(json.dumps(figures, indent=2, default=str) + "\n")

    proc, base = start_server(url)
    try:
        wait_caught_up(base)
        figures["_before_writes"] = datetime.now(UTC).isoformat()
        read_latencies(base, ids, figures, save)
    finally:
        for p in (proc, proc.runner):  # type: ignore[attr-defined]
            p.terminate()
            p.wait(timeout=30)
    figures.pop("_before_writes", None)
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()}


def sample_case_ids(app: Any, n: int = 200) -> list[str]:
    ids = []
    for _, event in app.iter_events(1, n * 20):
        if type(event).__name__ == "CaseOpened" and event.fact.tenant == "zou":
            ids.append(str(event.originator_id))
        if len(ids) >= n:
            break
    return ids


def run(
    scale: str,
    store: str,
    write_seconds: float,
    keep: bool,
    json_path: str | None = None,
    long_writes: int = 400,
    in_place_baseline: bool = True,
) -> dict[str, Any]:
    from application.application import CaseLog
    from storage.config import store_config

    cases = SCALES[scale]
    figures: dict[str, Any] = {
        "scale": scale,
        "store": store,
        "cases": cases,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
    }

    def save() -> None:
        """Write what is measured so far (a long phase may not finish)."""
        if json_path:
            Path(json_path).write_text(json.dumps(figures, indent=2, default=str) + "\n")

    with tempfile.TemporaryDirectory() as tmp:
        url, drop = make_database(store, Path(tmp))
        try:
            log(f"store {store}, {cases} cases")
            app = CaseLog(store=store_config(url))
            from storage.views import ViewStore

            ViewStore(app.store).close()  # migrations once, before any concurrent writer
            figures["raw_single_row_txn_per_s"] = raw_single_row_txn(url, store)
            figures["raw_executemany_rows_per_s"] = raw_executemany(url, store)
            figures["import_events_per_s"], figures["events"] = import_figure(app, cases)
            save()
            figures["import_ratio"] = (
                figures["import_events_per_s"] / figures["raw_executemany_rows_per_s"]
            )
            log("time travel on a 1,000-event case")
            figures["timetravel_ms_p50"], figures["timetravel_ms_p99"] = timetravel(app)
            figures["raw_read_rows_per_s"] = raw_read(url, store)
            if scale != "smoke" and in_place_baseline:
                # the smoke run only checks that every figure is there; the log-order replay
                # (the rebuild as it was) costs more than the rest of a medium or large run
                log("rebuilding all projections in place, one process (the baseline)")
                child = in_child(url, "--in-place")
                figures["rebuild_in_place_events_per_s"] = child["events"] / child["seconds"]
                figures["rebuild_in_place_ratio"] = (
                    figures["rebuild_in_place_events_per_s"] / figures["raw_read_rows_per_s"]
                )
            log("rebuilding all projections into fresh tables, swapped in (child process)")
            child = in_child(url)
            figures["rebuild_events_per_s"] = child["events"] / child["seconds"]
            figures["rebuild_ratio"] = (
                figures["rebuild_events_per_s"] / figures["raw_read_rows_per_s"]
            )
            figures["rebuild_peak_rss_mb"] = child["peak_rss_mb"]
            save()
            ids = sample_case_ids(app)
            app.close()
            # the rebuild leaves gigabytes of dirty pages and WAL behind: without this, the
            # checkpoint that flushes them ran through the write load (run F, 2026-12-07:
            # a 20 s checkpoint over the 17 s of writes, p99 151 ms), which the raw
            # single-row baseline, measured on a quiet database, never meets
            figures["checkpoint_before_writes_s"] = settle(url, store)
            log("serving; write load with 50 clients")
            from datetime import datetime as _dt

            figures["_before_writes"] = _dt.now(UTC).isoformat()
            proc, base = start_server(url)
            try:
                targets = prepare_write_targets(base, 50)
                if shutil.which("wrk"):
                    figures["load_generator"] = "wrk -t2 -c50"
                    per_s, p99, errors = write_load_wrk(base, targets, write_seconds)
                else:
                    # a Python client takes the cores the service and PostgreSQL share: on a
                    # new 2-core machine, 419 writes/s (ratio 0.30, p99 237 ms) against
                    # 1,745/s (1.02, 54 ms) with wrk, same code, same hour
                    log(
                        "WARNING: wrk not found (apt-get install wrk): the write figures come "
                        "from a Python load generator on the same cores and are not comparable"
                    )
                    figures["load_generator"] = "httpx asyncio, 50 clients"
                    per_s, p99, errors = write_load(base, targets, write_seconds)
                figures["write_http_commands_per_s"] = per_s
                figures["write_http_p99_ms"] = p99
                figures["write_http_errors"] = errors
                figures["write_ratio"] = per_s / figures["raw_single_row_txn_per_s"]
                figures["serve_peak_rss_mb"] = vm_hwm_mb(proc.pid)
                save()
                # the reads below wait (bounded) for the runner to pass the log's head
                # (read-your-writes): measured apart, so the read figures are the reads'
                log("projections catching up with the write load")
                started = time.perf_counter()
                wait_caught_up(base)
                figures["catch_up_after_writes_s"] = time.perf_counter() - started
                log("reads")
                read_latencies(base, ids, figures, save)
                log("caseload pages")
                caseload_figures(base, url, token("municipality"), figures, pct)
                save()
                # after the reads: the 5,000 clients it adds would change their figures
                log("iWmo: folder import, then single 307 messages over HTTP")
                from bench import iwmo

                provider = token("provider", provider="aanbieder-a")
                iwmo.measure(url, base, SECRET, provider, scale, write_seconds, figures, Path(tmp))
                save()
            finally:
                for p in (proc, proc.runner):  # type: ignore[attr-defined]
                    p.terminate()
                    p.wait(timeout=30)
            from bench import long_cases

            sized = long_cases.SMOKE_CASES if scale == "smoke" else None
            figures.update(long_cases.run(url, writes=long_writes, cases_by_size=sized))
            save()
        finally:
            if not keep:
                drop()
    for k, v in list(figures.items()):
        if isinstance(v, float):
            figures[k] = round(v, 3)
    if store == "postgres":
        figures["raw_pg_single_row_txn_per_s"] = figures["raw_single_row_txn_per_s"]
        figures["raw_pg_executemany_rows_per_s"] = figures["raw_executemany_rows_per_s"]
        figures["raw_pg_read_rows_per_s"] = figures["raw_read_rows_per_s"]
    return figures


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m bench")
    p.add_argument("--scale", choices=list(SCALES), default="small")
    p.add_argument("--store", choices=["postgres", "sqlite"], default="postgres")
    p.add_argument("--json", dest="json_path", help="write the figures here")
    p.add_argument("--write-seconds", type=float, default=15.0)
    p.add_argument("--keep", action="store_true", help="keep the PostgreSQL database")
    p.add_argument("--long-writes", type=int, default=400, help="writes per case length")
    p.add_argument(
        "--in-place-baseline",
        choices=["yes", "no"],
        help="also time the single-process log-order rebuild (default: at small scale only; "
        "python -m bench.rebuild compares the rebuilds at any scale)",
    )
    p.add_argument(
        "--reads-only",
        metavar="URL",
        help="only the read figures, on a database an earlier run kept (--keep)",
    )
    p.add_argument("--rebuild-child", help=argparse.SUPPRESS)
    p.add_argument("--in-place", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--workers", type=int, help=argparse.SUPPRESS)
    p.add_argument("--names", help=argparse.SUPPRESS)  # projections, comma-separated
    args = p.parse_args()
    if args.rebuild_child:
        names = args.names.split(",") if args.names else None
        rebuild_child(args.rebuild_child, args.in_place, args.workers, names)
        return 0
    if args.reads_only:
        text = json.dumps(reads_only(args.reads_only, args.json_path), indent=2)
        print(text)
        if args.json_path:
            Path(args.json_path).write_text(text + "\n")
        return 0
    baseline = (
        args.scale == "small" if args.in_place_baseline is None else args.in_place_baseline == "yes"
    )
    figures = run(
        args.scale,
        args.store,
        args.write_seconds,
        args.keep,
        args.json_path,
        args.long_writes,
        baseline,
    )
    figures.pop("_before_writes", None)
    text = json.dumps(figures, indent=2)
    print(text)
    if args.json_path:
        Path(args.json_path).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
