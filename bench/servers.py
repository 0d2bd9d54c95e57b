"""``python -m bench.servers``: the same app under uvicorn (uvloop + httptools) and granian,
measured with wrk in the same run: GET /health (the HTTP stack alone) and POST contacts at
50 connections (the whole write path). Both with the projection runner beside the service."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.__main__ import (
    SECRET,
    free_port,
    make_database,
    prepare_write_targets,
    write_load_wrk,
)

SERVERS = {
    "uvicorn": lambda port: [
        sys.executable,
        "-m",
        "uvicorn",
        "api.asgi:app",
        "--port",
        str(port),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--log-level",
        "warning",
        "--no-access-log",
    ],
    "granian": lambda port: [
        shutil.which("granian") or "granian",
        "--interface",
        "asgi",
        "--port",
        str(port),
        "--workers",
        "1",
        "--loop",
        "uvloop",
        "--log-level",
        "warning",
        "api.asgi:app",
    ],
}


def wrk_get(base: str, seconds: int = 8) -> float:
    out = subprocess.run(
        [shutil.which("wrk") or "wrk", "-t2", "-c50", f"-d{seconds}s", base + "/health"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("Requests/sec:"))
    return float(line.split()[1])


def main() -> int:
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, command in SERVERS.items():
            url, drop = make_database("postgres", Path(tmp))
            env = {
                **os.environ,
                "CASELOG_JWT_SECRET": SECRET,
                "CASELOG_DATABASE_URL": url,
                "CASELOG_PROJECTIONS": "off",
            }
            port = free_port()
            server = subprocess.Popen(
                command(port), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            runner = subprocess.Popen(
                [sys.executable, "-m", "caselog.cli", "projections", "follow"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            base = f"http://127.0.0.1:{port}"
            try:
                for _ in range(200):
                    try:
                        if httpx.get(base + "/health", timeout=1).status_code == 200:
                            break
                    except httpx.HTTPError:
                        time.sleep(0.1)
                health = wrk_get(base)
                targets = prepare_write_targets(base, 50)
                writes, p99, errors = write_load_wrk(base, targets, 10)
                results[name] = {
                    "health_req_per_s": round(health, 1),
                    "write_per_s": round(writes, 1),
                    "write_p99_ms": round(p99, 1),
                    "errors": errors,
                }
            finally:
                for p in (server, runner):
                    p.terminate()
                    p.wait(timeout=30)
                drop()
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
