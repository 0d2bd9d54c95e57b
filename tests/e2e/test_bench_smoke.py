"""The benchmark runs end to end at the smallest scale and reports every named figure
(a smoke run: no timing is asserted; figures are read in docs/performance.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

FIGURES = [
    "raw_pg_single_row_txn_per_s", "write_http_commands_per_s", "write_http_p99_ms", "write_ratio",
    "raw_pg_executemany_rows_per_s", "import_events_per_s", "import_ratio",
    "raw_pg_read_rows_per_s", "rebuild_events_per_s", "rebuild_ratio",
    "timetravel_ms_p50", "timetravel_ms_p99", "kpi_query_ms_p95", "case_read_ms_p95",
    "as_of_kpi_s", "as_of_kpi_ms_p95", "serve_peak_rss_mb", "rebuild_peak_rss_mb", "caseload_page_ms_p95",
    *(f"write_ms_p50_{n}" for n in (10, 100, 1000, 5000)),
    *(f"case_read_ms_p95_{n}" for n in (10, 100, 1000, 5000)),
    "long_case_write_ratio", "long_case_read_ratio", "catch_up_after_writes_s",
    "iwmo_cli_import_msgs_per_s", "iwmo_http_msgs_per_s", "iwmo_http_p99_ms", "iwmo_http_ratio",
]  # fmt: skip


def bench_figures(tmp_path: Path, module: str, *args: str) -> dict:
    """Run ``python -m MODULE ARGS --json FILE`` (a bench) and read its figures."""
    out = tmp_path / f"{module}.json"
    subprocess.run(
        [sys.executable, "-m", module, *args, "--json", str(out)],
        check=True,
        timeout=300,
        capture_output=True,
    )
    figures: dict = json.loads(out.read_text())
    return figures


@pytest.mark.postgres
def test_bench_smoke_reports_every_figure(pg_server: str, tmp_path: Path) -> None:
    figures = bench_figures(
        tmp_path, "bench", "--scale", "smoke", "--write-seconds", "2", "--long-writes", "64"
    )
    missing = [name for name in FIGURES if name not in figures]
    assert missing == []
    assert figures["write_http_errors"] == 0
    assert figures["iwmo_http_errors"] == 0
    assert all(figures[name] > 0 for name in FIGURES)
    # the iWmo messages and the JSON writes driven by the same load generator (wrk when
    # installed), so their ratio compares the two paths
    assert figures["iwmo_load_generator"].split()[0] == figures["load_generator"].split()[0]


KPI_FIGURES = [
    f"{figure}_{how}"
    for figure in ("kpi_query_ms_p95", "as_of_kpi_ms_p95")
    for how in ("replayed", "stored")
]


@pytest.mark.postgres
def test_kpi_bench_answers_the_same_both_ways(pg_server: str, tmp_path: Path) -> None:
    figures = bench_figures(
        tmp_path, "bench.kpis", "--scale", "smoke", "--queries", "4", "--historic", "6"
    )
    assert figures["stored_equals_replayed"] is True
    assert figures["buckets_equal_items"] is True
    assert all(figures[name] > 0 for name in KPI_FIGURES)
    assert figures["as_of_kpi_ms_p95_items"] > 0
    assert figures["kpi_cell_bucket_rows"] > 0
    assert figures["kpi_item_rows"] > figures["kpi_item_rows_current"] > 0


def test_derive_bench_reports_the_cost_per_version_and_the_rebuild_both_ways(
    tmp_path: Path,
) -> None:
    figures = bench_figures(
        tmp_path, "bench.derive", "--repeat", "1", "--cases", "10", "--rounds", "1"
    )
    for n in (10, 100, 1000, 5000):
        assert figures[f"full_ms_{n}"] > 0
        assert figures[f"next_ms_{n}"] > 0
        assert figures[f"past_month_ms_{n}"] > 0
    assert figures["next_ratio_5000_10"] > 0
    assert figures["rebuild_events_per_s_incremental"] > 0
    assert figures["rebuild_events_per_s_full"] > 0


@pytest.mark.postgres
def test_rebuild_bench_reports_the_rebuild_with_and_without_the_kpi_history(
    pg_server: str, tmp_path: Path
) -> None:
    figures = bench_figures(
        tmp_path, "bench.rebuild", "--scale", "smoke", "--workers", "2", "--in-place", "no"
    )
    assert figures["events"] > 0
    assert "rebuild_in_place_events_per_s" not in figures  # --in-place no
    for name in ("rebuild_w2", "rebuild_w2_without_kpi_history"):
        assert figures[f"{name}_events_per_s"] > 0
        expected = figures[f"{name}_events_per_s"] / figures["raw_read_rows_per_s"]
        assert figures[f"{name}_ratio"] == pytest.approx(expected, abs=1e-3)
