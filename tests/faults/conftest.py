"""Fault tests run the real service as a child process on 127.0.0.1 and break things:
kill -9, a database restart, a runner killed mid-batch. Bounded in time and traffic."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.auth import issue_token

SECRET = "fault-secret-" + "f" * 40
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def token(role: str, provider: str | None = None, sub: str = "fault") -> dict[str, str]:
    t = issue_token(role=role, tenant="zou", provider=provider, sub=sub, key=SECRET)
    return {"Authorization": f"Bearer {t}"}


class Service:
    """``caselog serve`` in a child process; ``kill()`` is kill -9."""

    def __init__(self, database_url: str, log: Path, args: tuple[str, ...] = ()) -> None:
        self.database_url = database_url
        self.args = args
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30) -> None:
        env = {
            **os.environ,
            "CASELOG_JWT_SECRET": SECRET,
            "CASELOG_DATABASE_URL": self.database_url,
        }
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "caselog.cli", "serve", "--port", str(self.port), *self.args],
                env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("service did not start")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@pytest.fixture
def service(database_url: str, tmp_path: Path) -> Iterator[Service]:
    svc = Service(database_url, tmp_path / "service.log")
    svc.start()
    try:
        yield svc
    finally:
        svc.stop()
