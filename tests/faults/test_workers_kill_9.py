"""kill -9 of ``caselog serve --workers 2`` under keyed writes. First the service process
alone: its two workers (signalled by the kernel) finish the requests they run and stop,
and the projection runner follows; nothing outlives it. Then the whole service at once
(the service process frozen, its workers killed, then it: as an OOM kill of the unit),
which leaves claims pending. After each restart every retry is answered 2xx with the
first answer, each key applied exactly once."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.faults.conftest import Service
from tests.faults.test_crash_and_restart import PROVIDER, active_case
from tests.faults.test_idempotency_after_crash import _applied_versions, _body, _pending_keys

pytestmark = [pytest.mark.fault, pytest.mark.postgres]


def _children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has ended


def test_kill_9_of_the_service_with_two_workers(pg_url: str, tmp_path: Path) -> None:
    service = Service(pg_url, tmp_path / "service.log", args=("--workers", "2"))
    service.start()
    try:
        _scenario(service)
    finally:
        service.stop()


def _scenario(service: Service) -> None:
    cases = [active_case(service.url, n) for n in range(4)]
    sent: dict[str, tuple[str, int]] = {}
    answers: dict[str, int] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def writer(attempt: int, i: int, cid: str) -> None:
        n = 0
        while not stop.is_set():
            key = f"workers-{attempt}-{i}-{n}"
            with lock:
                sent[key] = (cid, n)
            try:  # a connection per request: both workers are writing when the kill comes
                r = httpx.post(f"{service.url}/v1/cases/{cid}/contacts", json=_body(n),
                               headers=PROVIDER | {"Idempotency-Key": key}, timeout=10)  # fmt: skip
            except httpx.HTTPError:
                return
            if r.status_code == 200:
                with lock:
                    answers[key] = r.json()["version"]
            n += 1

    pending: set[str] = set()
    for attempt in range(6):
        assert service.proc is not None
        children = _children(service.proc.pid)
        assert len(children) == 3  # two workers and the projection runner
        workers = [pid for pid in children if b"api.server" in _cmdline(pid)]
        assert len(workers) == 2
        stop.clear()
        threads = [
            threading.Thread(target=writer, args=(attempt, i, c)) for i, c in enumerate(cases * 4)
        ]
        for t in threads:
            t.start()
        time.sleep(1.5)
        if attempt > 0:  # the whole service at once: frozen, so it replaces no worker
            os.kill(service.proc.pid, signal.SIGSTOP)
            for pid in workers:
                os.kill(pid, signal.SIGKILL)
        service.kill()
        # no worker and no runner outlives the service
        deadline = time.monotonic() + 15
        while any(_alive(pid) for pid in children):
            assert time.monotonic() < deadline, "a worker or the runner outlived kill -9"
            time.sleep(0.1)
        stop.set()
        for t in threads:
            t.join()
        pending |= _pending_keys(service.database_url)
        service.start()
        if attempt > 0 and pending:
            break
    assert pending, "killing the whole service left no claim pending in five tries"

    retried: dict[str, int] = {}
    with httpx.Client(base_url=service.url, headers=PROVIDER, timeout=10) as client:
        for key in sorted(pending) + sorted(answers):
            cid, n = sent[key]
            r = client.post(f"/v1/cases/{cid}/contacts", json=_body(n),
                            headers={"Idempotency-Key": key})  # fmt: skip
            assert r.status_code == 200, (key, r.status_code, r.text)
            retried[key] = r.json()["version"]
    assert {k: retried[k] for k in answers} == answers
    applied = _applied_versions(service.database_url, cases)
    assert {k: applied[k] for k in retried} == retried
