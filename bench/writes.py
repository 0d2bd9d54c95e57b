"""``python -m bench.writes [--workers 1,2,4] [--seconds 10] [--json FILE]``

HTTP contact writes at 50 connections (wrk) through ``caselog serve --workers N`` (the
projection runner inline, as ``serve`` starts it by default), each N in turn, beside the raw
baseline: single-row insert transactions on the same PostgreSQL database, measured right
before and right after each HTTP run (the load of a shared machine drifts within minutes;
the mean of the two is that run's baseline). ``write_ratio`` = HTTP writes per second / raw
transactions per second. Each configuration runs plain writes and keyed writes (a fresh
``Idempotency-Key`` per request: the claim and answer rows on top of the event).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.__main__ import (
    SECRET,
    free_port,
    log,
    make_database,
    prepare_write_targets,
    raw_single_row_txn,
    run_wrk,
    token,
    vm_hwm_mb,
    wait_healthy,
)

WRK_SCRIPT = """
local ids = {%(ids)s}
local token = "%(token)s"
local keyed = %(keyed)s
local threads = 0
local i = 0
setup = function(thread)
  thread:set("tid", threads)
  threads = threads + 1
end
request = function()
  i = i + 1
  local id = ids[(i %% #ids) + 1]
  local body = string.format('{"occurred_on":"2024-%%02d-%%02d","minutes":30,"kind":"direct"}',
                             2 + (i %% 10), 1 + (i %% 28))
  local headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}
  if keyed then
    headers["Idempotency-Key"] = string.format("%(run)s-%%d-%%d", tid, i)
  end
  return wrk.format("POST", "/v1/cases/" .. id .. "/contacts", headers, body)
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %%d %%d %%f %%d\\n", summary.requests, summary.duration,
    latency:percentile(99), summary.errors.status + summary.errors.connect +
    summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""


def wrk_writes(
    base: str, case_ids: list[str], seconds: float, keyed: bool, run: str
) -> tuple[float, float, int]:
    """wrk -t2 -c50: writes per second, p99 in ms, non-2xx/socket errors."""
    t = token("provider", provider="aanbieder-a")["Authorization"].split()[1]
    script = WRK_SCRIPT % {
        "ids": ", ".join(f'"{c}"' for c in case_ids),
        "token": t,
        "keyed": "true" if keyed else "false",
        "run": run,
    }
    requests, duration_us, p99_us, errors = run_wrk(script, base, seconds)
    return int(requests) / (int(duration_us) / 1e6), float(p99_us) / 1000, int(errors)


def start_service(
    url: str, workers: int, code: str | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """``caselog serve --workers N`` with its projection runner, until /health answers;
    ``code``: a source tree to run instead of this one (e.g. an earlier commit)."""

    port = free_port()
    env = {**os.environ, "CASELOG_JWT_SECRET": SECRET, "CASELOG_DATABASE_URL": url,
           "CASELOG_LOG_LEVEL": "warning"}  # fmt: skip
    if code:
        env["PYTHONPATH"] = code
    more = ["--workers", str(workers)] if workers > 1 else []
    proc = subprocess.Popen(
        [sys.executable, "-m", "caselog.cli", "serve", "--port", str(port), *more],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        cwd=code or None,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    wait_healthy(proc, base)
    return proc, base


def family_rss_mb(pid: int) -> float:
    """Peak RSS of the service: the parent and, with workers, its largest worker."""
    peaks = [vm_hwm_mb(pid)]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    for child in children:
        with contextlib.suppress(OSError):
            peaks.append(vm_hwm_mb(int(child)))
    return max(peaks)


def loadavg() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def run(
    workers: list[int], seconds: float, keyed_too: bool = True, before: str | None = None
) -> dict[str, Any]:
    from application.application import CaseLog
    from storage.config import store_config
    from storage.views import ViewStore

    figures: dict[str, Any] = {"cpus": os.cpu_count(), "seconds": seconds, "runs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        url, drop = make_database("postgres", Path(tmp))
        try:
            app = CaseLog(store=store_config(url))
            ViewStore(app.store).close()  # migrations once, before the services start
            app.close()
            configs = [("before", 1, before)] if before else []
            configs += [(f"workers_{n}", n, None) for n in workers]
            for label, n, code in configs:
                proc, base = start_service(url, n, code)
                try:
                    targets = prepare_write_targets(base, 50)
                    for keyed in [False, True] if keyed_too else [False]:
                        name = label + ("_keyed" if keyed else "")
                        load_before = loadavg()
                        raw_before = raw_single_row_txn(url, "postgres", 1000)
                        per_s, p99, errors = wrk_writes(
                            base, targets, seconds, keyed, run=f"w{n}-{time.time_ns()}"
                        )
                        raw_after = raw_single_row_txn(url, "postgres", 1000)
                        raw = (raw_before + raw_after) / 2
                        figures["runs"][name] = {
                            "write_per_s": round(per_s, 1),
                            "write_http_p99_ms": round(p99, 1),
                            "errors": errors,
                            "raw_single_row_txn_per_s": [round(raw_before), round(raw_after)],
                            "write_ratio": round(per_s / raw, 3),
                            "loadavg_1m_before": load_before,
                        }
                        log(
                            f"{name}: {per_s:.0f}/s p99 {p99:.1f} ms errors {errors}, raw "
                            f"{raw_before:.0f}/{raw_after:.0f} txn/s, ratio {per_s / raw:.2f}"
                        )
                    figures["runs"][label]["serve_peak_rss_mb"] = round(family_rss_mb(proc.pid), 1)
                finally:
                    proc.terminate()
                    proc.wait(timeout=30)
        finally:
            drop()
    return figures


def main() -> int:
    if not shutil.which("wrk"):
        raise SystemExit("python -m bench.writes needs wrk: apt-get install wrk")
    p = argparse.ArgumentParser(prog="python -m bench.writes")
    p.add_argument("--workers", default="1,2,4", help="comma-separated worker counts")
    p.add_argument("--seconds", type=float, default=10.0, help="wrk seconds per run")
    p.add_argument("--plain-only", action="store_true", help="skip the keyed runs")
    p.add_argument("--json", dest="json_path", help="write the figures here")
    p.add_argument(
        "--before",
        metavar="DIR",
        help="also measure the source tree DIR (e.g. `git archive COMMIT | tar -x -C DIR`) "
        "as run 'before', first, on the same database",
    )
    args = p.parse_args()
    figures = run(
        [int(x) for x in args.workers.split(",")],
        args.seconds,
        keyed_too=not args.plain_only,
        before=args.before,
    )
    text = json.dumps(figures, indent=2)
    print(text)
    if args.json_path:
        Path(args.json_path).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
