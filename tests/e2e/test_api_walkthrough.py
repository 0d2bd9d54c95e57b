"""docs/api.md's walk-through, run as written against a fresh ``caselog serve --demo``.

The page's ``sh`` blocks are concatenated in order and run by bash in one shell (variables
set by earlier steps, such as ``CASE``, ``RID`` and ``AS_OF``, carry over); ``curl`` gets
``--fail-with-body`` so that any 4xx/5xx answer stops the run. Afterwards the walked case
must show no negative lead time and no signal closed on the recording date (the defect of
issue 13: a decision date taken from the recording clock)."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import httpx
import pytest

from api.auth import issue_token
from tests.e2e.conftest import KEY

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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        CASELOG_JWT_SECRET=KEY,
        PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]),
        PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
        **extra,
    )
    return env


@pytest.fixture
def served(database_url: str, tmp_path: Path) -> Iterator[str]:
    """``caselog serve --demo`` on a free port and a fresh store of each kind."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "caselog.cli", "serve", "--demo", "--port", str(port)],
        env=_env(CASELOG_DATABASE_URL=database_url),
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                raise RuntimeError((tmp_path / "serve.log").read_text()[-3000:])
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def run_docs(url: str) -> str:
    done = subprocess.run(
        ["bash", "-c", walkthrough()],
        env=_env(B=url),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    (case_id,) = re.findall(r"^WALKED_CASE=(\S+)$", done.stdout, re.M)
    return case_id


def token(role: str, provider: str | None = None) -> dict[str, str]:
    jwt = issue_token(role=role, tenant="zou", provider=provider, sub="walk", key=KEY)
    return {"Authorization": f"Bearer {jwt}"}


def test_the_api_walkthrough_runs_as_written_R20_R29(served: str) -> None:
    # when docs/api.md's walk-through runs as written against `caselog serve --demo`
    case_id = run_docs(served)
    m, cm = token("municipality"), token("contract_manager")
    with httpx.Client(base_url=served, timeout=30) as client:
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
        signals = client.get("/v1/signals", headers=m, params={"open": "false"}).json()
        mine = [s for s in signals["signals"] if s["case_id"] == case_id]
        assert all(s.get("closed_on") != today for s in mine), mine
        assert not [s for s in mine if s["rule"] == "R-29"]  # decided 4 days after referral
