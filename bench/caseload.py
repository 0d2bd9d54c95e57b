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


# --- the page query alone at a size the full bench takes long to reach -----------------------


def query_only(cases: int, copies: int, rounds: int = 5) -> dict[str, Any]:
    """``python -m bench.caseload --cases 10000 --copies 10``: project ``cases`` demo cases
    on a throwaway PostgreSQL database, copy their caseload and signal rows ``copies`` times
    under new case ids (100,000 rows from 10,000 cases in a minute instead of a large
    import and rebuild), then time ``projections.caseload.page`` in-process for each filter,
    first page and two cursor pages deeper. Figure: ``caseload_query_ms_p95``."""
    import uuid
    from datetime import date

    import psycopg

    from application.application import CaseLog
    from bench.__main__ import PG_ADMIN, import_figure, pct
    from projections import caseload
    from projections.runner import ProjectionRunner
    from storage.config import store_config
    from storage.views import ViewStore

    name = f"caselog_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    try:
        app = CaseLog(store=store_config(url))
        ViewStore(app.store).close()
        import_figure(app, cases)
        ProjectionRunner(app).rebuild()
        cols = (
            "tenant, provider, municipality, client_ref, status, product, surcharge, "
            "referred_on, starts_on, ends_on, version, recorded_at"
        )
        signal_cols = "seq, tenant, provider, rule, raised_on, closed_on, detail"
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TEMP TABLE base_ids AS SELECT case_id FROM caseload")
            for k in range(1, copies):
                for table, columns in (("caseload", cols), ("case_signal", signal_cols)):
                    conn.execute(
                        f"INSERT INTO {table} (case_id, {columns}) "
                        f"SELECT md5(t.case_id || %s)::uuid::text, {columns} "
                        f"FROM {table} t JOIN base_ids USING (case_id)",
                        (str(k),),
                    )
            conn.execute("ANALYZE caseload")
            conn.execute("ANALYZE case_signal")
            rows = conn.execute("SELECT count(*) FROM caseload").fetchone()[0]
        views = ViewStore(app.store)
        times: list[float] = []
        for _ in range(rounds):
            for f in FILTERS:
                kw: dict[str, Any] = {
                    k: date.fromisoformat(v) if k.startswith("referred") else v
                    for k, v in f.items()
                }
                after = None
                for _ in range(3):
                    started = time.perf_counter()
                    got = caseload.page(
                        views, "zou", caseload.Filters(**kw), on=date.today(), after=after
                    )
                    times.append((time.perf_counter() - started) * 1000)
                    if got.next_cursor is None:
                        break
                    after = caseload.decode_cursor(got.next_cursor)
        views.close()
        app.close()
        return {
            "caseload_rows": rows,
            "caseload_query_pages": len(times),
            "caseload_query_ms_p50": round(pct(times, 50), 3),
            "caseload_query_ms_p95": round(pct(times, 95), 3),
        }
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    import argparse
    import json

    p = argparse.ArgumentParser(prog="python -m bench.caseload")
    p.add_argument("--cases", type=int, default=10_000)
    p.add_argument("--copies", type=int, default=10)
    args = p.parse_args()
    print(json.dumps(query_only(args.cases, args.copies), indent=2))
