"""docs/api.md's walk-through, run as written against a live server with demo data.

The page's ``sh`` blocks are concatenated in order and run by bash in one shell (variables
set by earlier steps, such as ``CASE``, ``RID`` and ``AS_OF``, carry over); ``curl`` gets
``--fail-with-body`` so that any 4xx/5xx answer stops the run. Afterwards the walked case
must show no negative lead time and no signal closed on the recording date (the defect of
issue 13: a decision date taken from the recording clock)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import httpx
import pytest

from caselog.demo import generate
from tests.e2e.conftest import KEY, Live

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "api.md"
BLOCK = re.compile(r"^```sh\n(.*?)^```$", re.S | re.M)

pytestmark = pytest.mark.skipif(
    not (shutil.which("bash") and shutil.which("curl") and shutil.which("jq")),
    reason="the walk-through needs bash, curl and jq",
)


def walkthrough() -> str:
    blocks = BLOCK.findall(DOC.read_text())
    assert len(blocks) >= 5, "docs/api.md lost its sh blocks"
    return "\n".join(
        [
            "set -euo pipefail",
            'curl() { command curl --fail-with-body --show-error "$@"; echo; }',
            *blocks,
            'echo "WALKED_CASE=$CASE"',
        ]
    )


def run_docs(live: Live) -> tuple[str, str]:
    env = dict(os.environ)
    env.update(
        B=live.url,
        CASELOG_JWT_SECRET=KEY,
        PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]),
        PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
    )
    done = subprocess.run(
        ["bash", "-c", walkthrough()],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    (case_id,) = re.findall(r"^WALKED_CASE=(\S+)$", done.stdout, re.M)
    return case_id, done.stdout


def test_the_api_walkthrough_runs_as_written_R20_R29(live: Live, client: httpx.Client) -> None:
    # given a live server with demo data
    live.app.import_cases(generate(30, seed=2022))
    # when docs/api.md's walk-through runs as written
    case_id, _ = run_docs(live)
    m, cm = live.token("municipality"), live.token("contract_manager")
    # then the walked case's lead times are not negative
    events = client.get(f"/v1/cases/{case_id}/history", headers=m).json()["events"]
    by_type = {e["type"]: e["data"] for e in events}
    referred = date.fromisoformat(by_type["CaseOpened"]["referred_on"])
    decided = date.fromisoformat(by_type["IndicationGranted"]["decided_on"])
    started = date.fromisoformat(by_type["CareStarted"]["started_on"])
    assert referred <= decided <= started
    kpis = client.get(
        "/v1/kpis",
        headers=cm,
        params={"period_start": "2024-01-01", "period_end": "2024-12-31"},
    ).json()
    for name, spread in kpis["doorlooptijd"].items():
        if isinstance(spread, dict):
            assert spread["n"] >= 1, name
            assert spread["median"] >= 0, name
            assert spread["p90"] >= 0, name
    # and no signal of it closed on the day it was recorded
    today = date.today().isoformat()
    signals = client.get("/v1/signals", headers=m, params={"open": "false"}).json()["signals"]
    mine = [s for s in signals if s["case_id"] == case_id]
    assert all(s.get("closed_on") != today for s in mine), mine
    assert not [s for s in mine if s["rule"] == "R-29"]  # decided 4 days after the referral
