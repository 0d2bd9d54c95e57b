"""Caseload figures: ``caseload_page_ms_p95`` (a filtered page of GET /v1/cases over HTTP)
beside ``raw_caseload_sql_ms_p95`` (the same page's SQL on the same database, no service),
in the same run; ``caseload_page_ratio`` is the first over the second.

Each round asks the first page of one filter (provider, status, both, municipality, current
product, open R-14 signal, a referral range, none) and then follows its cursor two pages
deeper, so deep keyset pages are measured too. Called by ``python -m bench`` after the other
reads, while the service and its projection runner run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

FILTERS: list[dict[str, str]] = [
    {"provider": "aanbieder-b"},
    {"status": "active"},
    {"provider": "aanbieder-a", "status": "ended"},
    {"municipality": "Zeist"},
    {"product": "02A05"},
    {"signal": "R-14"},
    {"referred_from": "2022-03-01", "referred_to": "2022-06-30"},
    {},
]


def _raw_page_sql(url: str, rounds: int) -> list[float]:
    """The caseload page's main query, first pages only, straight on the database."""
    sql = (
        "SELECT case_id, status, client_ref, municipality, provider, product, surcharge, "
        "referred_on, starts_on, ends_on, version FROM caseload "
        "WHERE tenant = ? AND provider = ? AND status = ? "
        "ORDER BY referred_on DESC, case_id DESC LIMIT 51"
    )
    params = ("zou", "aanbieder-a", "ended")
    times: list[float] = []
    if url.startswith("sqlite"):
        import sqlite3

        conn = sqlite3.connect(url[len("sqlite:///") :])
        try:
            for _ in range(rounds):
                started = time.perf_counter()
                conn.execute(sql, params).fetchall()
                times.append((time.perf_counter() - started) * 1000)
        finally:
            conn.close()
        return times
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        for _ in range(rounds):
            started = time.perf_counter()
            conn.execute(sql.replace("?", "%s"), params).fetchall()
            times.append((time.perf_counter() - started) * 1000)
    return times


def caseload_figures(
    base: str,
    url: str,
    headers: dict[str, str],
    figures: dict[str, Any],
    pct: Callable[[list[float], float], float],
    rounds: int = 40,
) -> None:
    import httpx

    times: list[float] = []
    listed = 0
    with httpx.Client(base_url=base, timeout=120) as c:
        c.get("/v1/cases", headers=headers, params={"limit": 1})  # runner caught up, warm
        for i in range(rounds):
            params: dict[str, Any] = {**FILTERS[i % len(FILTERS)], "limit": 50}
            for _ in range(3):
                started = time.perf_counter()
                r = c.get("/v1/cases", headers=headers, params=params)
                times.append((time.perf_counter() - started) * 1000)
                assert r.status_code == 200, r.text
                body = r.json()
                listed += len(body["cases"])
                if body["next_cursor"] is None:
                    break
                params["cursor"] = body["next_cursor"]
    raw = _raw_page_sql(url, rounds * 3)
    figures["caseload_page_ms_p95"] = pct(times, 95)
    figures["caseload_page_ms_p50"] = pct(times, 50)
    figures["caseload_pages"] = len(times)
    figures["caseload_cases_listed"] = listed
    figures["raw_caseload_sql_ms_p95"] = pct(raw, 95)
    figures["caseload_page_ratio"] = figures["caseload_page_ms_p95"] / max(
        figures["raw_caseload_sql_ms_p95"], 1e-6
    )
