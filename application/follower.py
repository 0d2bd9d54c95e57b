"""The projection runner beside ``caselog serve``: a child process that follows the log.

``projections.runner`` holds the catch-up itself; this module starts it on the
application (``python -m application.follower --parent PID``) and keeps it running.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import structlog

from application.application import CaseLog
from projections.runner import RUNNER_PID_ENV, ProjectionRunner, wake_on_signal

log = structlog.get_logger("caselog.projections")


class RunnerProcess:
    """The projection runner of ``caselog serve`` in a child process.

    Each case's rows are recomputed from all its events, so the runner's work per batch
    grows with the length of the cases it touches. In a thread of the serving process that
    work held the interpreter lock against every request (a 5,000-event case made writes to
    any case slower); in its own process it only shares the machine's cores. The child exits
    when its parent is gone (a kill -9 of the service leaves no orphan that outlives it by
    more than half a second); a child that died is started again. Two runners on one
    database never interleave (the position moves by compare-and-set), so the overlap
    while a restarted service starts its own is harmless."""

    def __init__(self, database_url: str | None = None) -> None:
        self.database_url = database_url
        self.proc: subprocess.Popen[bytes] | None = None
        self._stop = threading.Event()
        self._watch: threading.Thread | None = None

    def _spawn(self) -> subprocess.Popen[bytes]:
        env = dict(os.environ)
        if self.database_url:
            env["CASELOG_DATABASE_URL"] = self.database_url
        return subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "application.follower", "--parent", str(os.getpid())], env=env
        )

    def start(self) -> None:
        self.proc = self._spawn()
        os.environ[RUNNER_PID_ENV] = str(self.proc.pid)  # readers wake it (and workers forked)
        self._watch = threading.Thread(target=self._supervise, name="runner-watch", daemon=True)
        self._watch.start()

    def _supervise(self) -> None:
        while not self._stop.wait(1.0):
            if self.proc is not None and self.proc.poll() is not None:
                log.warning("projection_runner_exited", code=self.proc.returncode)
                self.proc = self._spawn()
                os.environ[RUNNER_PID_ENV] = str(self.proc.pid)

    def stop(self) -> None:
        self._stop.set()
        if self._watch is not None:
            self._watch.join(timeout=5)
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def main(argv: list[str] | None = None) -> int:
    """``python -m application.follower --parent PID``: follow the log beside a service."""
    import argparse
    import signal

    # first, before any thread starts: a wake (SIGUSR1) is only ever taken by the wake
    # thread below, never delivered with its default action (which would end the process)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
    p = argparse.ArgumentParser(prog="python -m application.follower")
    p.add_argument("--parent", type=int, required=True)
    args = p.parse_args(argv)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop like Ctrl-C
    app = CaseLog(group_commit=False)
    runner = ProjectionRunner(app)
    waker = threading.Thread(target=wake_on_signal, args=(runner,), name="wake", daemon=True)
    waker.start()
    try:
        runner.follow(parent=args.parent)
    finally:
        app.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
