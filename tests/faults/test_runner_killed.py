"""The projection runner killed (kill -9) in the middle of catching up: a new runner resumes
from the tracked position and its tables equal a full rebuild."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from application.application import CaseLog
from application.demo import generate
from projections.runner import ProjectionRunner
from storage.config import store_config
from tests.faults.conftest import ROOT
from tests.integration.test_projection_runner import dump

pytestmark = pytest.mark.fault


def test_a_runner_killed_mid_batch_resumes_to_the_same_tables(database_url: str) -> None:
    app = CaseLog(store=store_config(database_url))
    try:
        app.import_cases(generate(250, seed=11))
        runner = ProjectionRunner(app, batch_size=200)
        head = app.recorder.max_notification_id()
        env = {**os.environ, "CASELOG_DATABASE_URL": database_url}
        child = subprocess.Popen(
            [sys.executable, "-m", "caselog.cli", "projections", "follow"],
            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # wait until it is part-way
            try:
                positions = runner.positions()
            except Exception:
                positions = {}
            if positions and 0 < min(positions.values()) < head:
                break
            time.sleep(0.02)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        part_way = runner.positions()
        assert min(part_way.values()) < head, "killed before the end"
        # a new runner resumes from the tracked positions
        runner.run_until_current()
        resumed = dump(runner.views)
        assert all(s.lag == 0 for s in runner.status())
        runner.rebuild()
        assert dump(runner.views) == resumed
        runner.views.close()
    finally:
        app.close()
