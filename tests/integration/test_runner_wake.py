"""The cross-process wake of the runner beside ``caselog serve`` (projections/runner.py):
a reader in the serving process ends the runner child's pause with SIGUSR1, so its own write
becomes visible after one catch-up instead of after the pause; a pid that is not our runner
(gone, reused, or a runner still starting) is never signalled."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date

import pytest

import projections.runner as runner_module
from application.application import CaseLog
from application.follower import RunnerProcess
from domain import facts as f
from projections.runner import RUNNER_PID_ENV, ProjectionRunner, wake_runner_process
from storage.config import store_config
from tests.builders import contact, indication, municipality, provider, referral


@pytest.fixture
def no_rate_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner_module, "WAKE_EVERY", 0.0)


def test_a_pid_that_is_not_our_runner_is_never_signalled(
    monkeypatch: pytest.MonkeyPatch, no_rate_limit: None
) -> None:
    # a live process of another program (SIGUSR1's default action would end it)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        monkeypatch.setenv(RUNNER_PID_ENV, str(other.pid))
        assert wake_runner_process() is False
        time.sleep(0.1)
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()
    # a process that is gone, and no pid at all
    assert wake_runner_process() is False
    monkeypatch.setenv(RUNNER_PID_ENV, "not-a-pid")
    assert wake_runner_process() is False
    monkeypatch.delenv(RUNNER_PID_ENV)
    assert wake_runner_process() is False


@pytest.fixture
def runner_child(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunnerProcess]:
    monkeypatch.delenv(RUNNER_PID_ENV, raising=False)
    monkeypatch.setenv("CASELOG_DATABASE_URL", database_url)
    # the store's tables first, as `caselog serve` does before it starts its runner: on
    # SQLite a test's CaseLog creating them waited for the child's schema lock under load
    CaseLog(store=store_config(database_url)).close()
    child = RunnerProcess(database_url)
    child.start()
    try:
        assert child.proc is not None
        assert os.environ[RUNNER_PID_ENV] == str(child.proc.pid)
        deadline = time.monotonic() + 30
        while not runner_module._is_runner(child.proc.pid):  # ready for wakes
            assert time.monotonic() < deadline, "the runner child did not start"
            assert child.proc.poll() is None
            time.sleep(0.05)
        yield child
    finally:
        child.stop()


def test_the_runner_child_takes_wakes_and_keeps_running(
    runner_child: RunnerProcess, no_rate_limit: None
) -> None:
    for _ in range(200):
        assert wake_runner_process() is True
    time.sleep(0.2)
    assert runner_child.proc is not None
    assert runner_child.proc.poll() is None


def test_at_most_one_wake_per_interval_from_one_process(runner_child: RunnerProcess) -> None:
    time.sleep(runner_module.WAKE_EVERY)
    sent = [wake_runner_process() for _ in range(50)]
    assert sent[0] is True
    assert sent.count(True) < 10  # 50 calls in well under 10 intervals


def visibility(app: CaseLog, reader: ProjectionRunner, case_id: object, day: date) -> float:
    """Seconds from a write until the runner child has projected it."""
    app.record(case_id, provider(), contact(on=day))  # type: ignore[arg-type]
    head = app.max_notification_id()
    started = time.monotonic()
    assert reader.wait_for(head, timeout=5.0)
    return time.monotonic() - started


def test_a_woken_runner_shows_a_write_well_before_its_pause_ends(
    runner_child: RunnerProcess, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given the runner child following the log, and a reader in this process
    app = CaseLog(store=store_config(database_url))
    try:
        case_id, _ = app.open_case(municipality(), referral())
        app.record(case_id, municipality(), indication())
        app.record(case_id, provider(), f.CareStart(started_on=date(2024, 1, 20)))
        reader = ProjectionRunner(app)
        reader.external = True
        days = [date(2024, 2, 1 + d) for d in range(20)]
        # when each write is followed at once by a read that waits for it, with wakes
        woken = [visibility(app, reader, case_id, d) for d in days[:10]]
        # and, in the same run, without them (the reader only polls)
        monkeypatch.delenv(RUNNER_PID_ENV)
        polled = [visibility(app, reader, case_id, d) for d in days[10:]]
    finally:
        app.close()
    # then a woken runner shows the write in a fraction of the time its pause would take
    assert max(woken) < 1.0
    assert statistics.median(woken) < statistics.median(polled) / 2, (woken, polled)
