"""iWmo figures beside ``write_http_commands_per_s`` of the same run (issue 10):

- ``iwmo_cli_import_msgs_per_s``: ``caselog iwmo import`` of a folder of 10,000 messages
  (5,000 clients: a WMO301 granting and a WMO305 starting care each), in this process on the
  bench database, answers written beside the files.
- ``iwmo_http_msgs_per_s``: single WMO307 messages POSTed to /v1/iwmo/messages by 50
  concurrent connections (the same load generator as the JSON write figure), one client
  each as the JSON figure has one case per connection, each message a new fact: a stop,
  then its withdrawal (StatusAanlevering 3), then a stop again.

A message costs a hardened XML parse, the schema walk, the ledger row and the lookups on
top of the command itself; the goal is at least half the JSON write rate.
"""

from __future__ import annotations

import asyncio
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

START = date(2025, 2, 3)
STOP = date(2025, 6, 30)


def bsn(n: int) -> str:
    """The n-th nine-digit number passing the eleven-check (distinct per n)."""
    head = 20_000_000 + n * 11
    while True:
        digits = f"{head:08d}"
        check = sum(int(d) * w for d, w in zip(digits, range(9, 1, -1), strict=True)) % 11
        if check < 10:
            return digits + str(check)
        head += 1


def write_folder(folder: Path, clients: int) -> list[tuple[str, str]]:
    """A 301 and a 305 per client; returns (bsn, ToewijzingNummer) per client."""
    from iwmo import codec
    from iwmo import examples as ex

    out = []
    for n in range(clients):
        b, number = bsn(n), f"B{n:07d}"
        grant = ex.wmo301(
            f"G{n:09d}", START, ex.assignment(number, START, START + timedelta(300)), bsn=b
        )
        start = ex.wmo305(f"S{n:09d}", START, number, START, START, bsn=b)
        (folder / f"a-{n:07d}.xml").write_bytes(codec.encode(grant))
        (folder / f"b-{n:07d}.xml").write_bytes(codec.encode(start))
        out.append((b, number))
    return out


def cli_import(
    url: str, secret: str, messages: int, folder: Path
) -> tuple[float, list[tuple[str, str]]]:
    """Messages per second of the folder import; the clients it created."""
    from application.application import CaseLog, today
    from iwmo.cli import import_messages
    from iwmo.inbound import pseudonym_key
    from storage.config import store_config
    from storage.views import ViewStore

    clients = write_folder(folder, messages // 2)
    app = CaseLog(store=store_config(url))
    views = ViewStore(app.store)
    try:
        summary = import_messages(
            [folder],
            app=app,
            views=views,
            pseudonym_key=pseudonym_key(secret),
            today=today(),
        )
    finally:
        views.close()
        app.close()
    if summary.refused or set(summary.codes) != {"0200"}:
        raise RuntimeError(f"import refused messages: {summary.lines()[:8]}")
    return summary.files / summary.seconds, clients


def http_messages(
    base: str, headers: dict[str, str], clients: list[tuple[str, str]], seconds: float
) -> tuple[float, float, int, int]:
    """(messages/s, p99 ms, HTTP errors, refused answers) of single 307s at 50 connections."""
    import httpx

    from iwmo import codec
    from iwmo import examples as ex

    latencies: list[float] = []
    errors = refused = 0
    headers = {**headers, "Content-Type": "application/xml"}

    async def connection(no: int, mine: list[tuple[str, str]], deadline: float) -> None:
        nonlocal errors, refused
        sent = 0
        async with httpx.AsyncClient(base_url=base, timeout=60) as c:
            while time.perf_counter() < deadline:
                b, number = mine[sent % len(mine)]
                status = "3" if (sent // len(mine)) % 2 else "1"
                message = ex.wmo307(
                    f"H{no:02d}{sent:09d}", STOP, number, START, START, STOP, status=status, bsn=b
                )
                body = codec.encode(message, validate=False)
                sent += 1
                started = time.perf_counter()
                r = await c.post("/v1/iwmo/messages", content=body, headers=headers)
                latencies.append((time.perf_counter() - started) * 1000)
                if r.status_code != 200:
                    errors += 1
                elif b"wmo308:Client>" in r.content:
                    refused += 1

    async def main() -> float:
        started = time.perf_counter()
        deadline = started + seconds
        slices = [clients[i::50] for i in range(50)]
        await asyncio.gather(*(connection(i, s, deadline) for i, s in enumerate(slices) if s))
        return time.perf_counter() - started

    took = asyncio.run(main())
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else 0.0
    return len(latencies) / took, p99, errors, refused


IWMO_WRK_SCRIPT = """
local bodies = {%(bodies)s}
local headers = {%(headers)s}
local threads = {}
local counter = 0
setup = function(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end
refused = 0
local sent = 0
request = function()
  -- each of the 2 threads its own clients (every other one), a stop, its withdrawal and a
  -- stop again per client in turn, each message with an identification of its own
  local mine = math.floor((#bodies - tid + 1) / 2)
  local k = sent %% mine
  local client = bodies[tid + 1 + 2 * k]
  local body = client[(math.floor(sent / mine) %% 2) + 1]
  body = string.gsub(body, "HXXXXXXXXXXX", string.format("H%%02d%%09d", tid, sent))
  sent = sent + 1
  return wrk.format("POST", "/v1/iwmo/messages", headers, body)
end
response = function(status, hdrs, body)
  if status == 200 and string.find(body, "wmo308:Client>", 1, true) then
    refused = refused + 1
  end
end
done = function(summary, latency, requests)
  local n = 0
  for _, t in ipairs(threads) do n = n + t:get("refused") end
  io.write(string.format("RESULT %%d %%d %%f %%d %%d\\n", summary.requests, summary.duration,
    latency:percentile(99), summary.errors.status + summary.errors.connect +
    summary.errors.read + summary.errors.write + summary.errors.timeout, n))
end
"""


def http_messages_wrk(
    base: str, headers: dict[str, str], clients: list[tuple[str, str]], seconds: float
) -> tuple[float, float, int, int]:
    """``http_messages`` driven by wrk (C, 2 threads, 50 connections), the load generator
    of the JSON write figure: the same messages, a stop, its withdrawal and a stop again per
    client, each with an identification of its own (set by the script)."""
    from bench.__main__ import run_wrk
    from iwmo import codec
    from iwmo import examples as ex

    def template(b: str, number: str, status: str) -> str:
        message = ex.wmo307("HXXXXXXXXXXX", STOP, number, START, START, STOP, status=status, bsn=b)
        return "[==[" + codec.encode(message, validate=False).decode() + "]==]"

    bodies = ", ".join(
        "{" + template(b, number, "1") + ", " + template(b, number, "3") + "}"
        for b, number in clients
    )
    lua_headers = ", ".join(
        f'["{k}"] = "{v}"' for k, v in {**headers, "Content-Type": "application/xml"}.items()
    )
    script = IWMO_WRK_SCRIPT % {"bodies": bodies, "headers": lua_headers}
    requests, duration_us, p99_us, errors, refused = run_wrk(script, base, seconds)
    return int(requests) / (int(duration_us) / 1e6), float(p99_us) / 1000, int(errors), int(refused)


def measure(
    url: str,
    base: str,
    secret: str,
    headers: dict[str, str],
    scale: str,
    seconds: float,
    figures: dict[str, Any],
    tmp: Path,
) -> None:
    """Add the iWmo figures (and their ratios to the JSON write figure) to ``figures``."""
    # a rate, not a size: fewer messages keep the medium run under five minutes
    messages = {"smoke": 400, "medium": 2_000}.get(scale, 10_000)
    folder = tmp / "iwmo-import"
    folder.mkdir()
    per_s, clients = cli_import(url, secret, messages, folder)
    figures["iwmo_cli_import_messages"] = messages
    figures["iwmo_cli_import_msgs_per_s"] = per_s
    import shutil

    if shutil.which("wrk"):  # as the JSON write figure, so the ratio compares the paths
        figures["iwmo_load_generator"] = "wrk -t2 -c50"
        per_s, p99, errors, refused = http_messages_wrk(base, headers, clients[:50], seconds)
    else:
        figures["iwmo_load_generator"] = "httpx asyncio, 50 clients"
        per_s, p99, errors, refused = http_messages(base, headers, clients[:50], seconds)
    figures["iwmo_http_msgs_per_s"] = per_s
    figures["iwmo_http_p99_ms"] = p99
    figures["iwmo_http_errors"] = errors
    figures["iwmo_http_refused"] = refused
    write = figures.get("write_http_commands_per_s")
    if write:
        figures["iwmo_http_ratio"] = figures["iwmo_http_msgs_per_s"] / write
        figures["iwmo_cli_import_ratio"] = figures["iwmo_cli_import_msgs_per_s"] / write
