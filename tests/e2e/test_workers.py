"""``caselog serve --workers 2``: two serving processes behind one port, one projection
runner. Every request opens its own connection, so the two workers take turns at random:
keyed writes to the same cases from many clients are applied exactly once each, versions
stay gap-free, nothing answers 5xx; a retry gets the first answer from either worker; a
case written through one worker is read at its newest version through the other."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import httpx
import pytest

from api.auth import issue_token
from application.application import CaseLog
from domain.values import Actor
from storage.config import store_config
from storage.views import ViewStore
from tests.e2e.conftest import KEY, _free_port

pytestmark = pytest.mark.postgres
ROOT = Path(__file__).resolve().parents[2]


def _token(role: str, provider: str | None = None, sub: str = "w") -> dict[str, str]:
    t = issue_token(role=role, tenant="zou", provider=provider, sub=sub, key=KEY)
    return {"Authorization": f"Bearer {t}"}


GM = _token("municipality")
PROVIDER = _token("provider", provider="aanbieder-a", sub="begeleider-w")


@pytest.fixture
def service(pg_url: str, tmp_path: Path) -> Iterator[tuple[str, str, subprocess.Popen[bytes]]]:
    port = _free_port()
    env = {**os.environ, "CASELOG_JWT_SECRET": KEY, "CASELOG_DATABASE_URL": pg_url}
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "caselog.cli", "serve", "--port", str(port), "--workers", "2"],
        env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while b"listening on" not in (tmp_path / "serve.log").read_bytes():
        assert proc.poll() is None, (tmp_path / "serve.log").read_text()
        assert time.monotonic() < deadline, "caselog serve --workers 2 did not start"
        time.sleep(0.1)
    try:
        yield url, pg_url, proc
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
    text = (tmp_path / "serve.log").read_text()
    assert text.count("listening on") == 1  # said once, by the service, not per worker
    assert "Traceback" not in text


def _active_case(url: str, n: int) -> str:
    cid = httpx.post(f"{url}/v1/cases", headers=GM, json={
        "client_ref": f"w-{n}", "municipality": "Houten", "provider": "aanbieder-a",
        "referred_on": "2024-01-08"}).json()["case_id"]  # fmt: skip
    httpx.post(f"{url}/v1/cases/{cid}/indications", headers=GM, json={
        "assignment_number": f"W-{n}", "product": "02A05",
        "volume": {"amount": "40", "unit": "hour", "frequency": "week"},
        "starts_on": "2024-01-15", "ends_on": "2024-12-31", "decision_ref": "W",
        "decided_on": "2024-01-12"}).raise_for_status()  # fmt: skip
    r = httpx.post(
        f"{url}/v1/cases/{cid}/start", headers=PROVIDER, json={"started_on": "2024-01-20"}
    )
    assert r.status_code == 200, r.text
    return str(cid)


def _body(n: int) -> dict[str, object]:
    return {"occurred_on": f"2024-03-{1 + n % 28:02d}", "minutes": 5 + n % 60, "kind": "direct"}


def _workers_that_claimed(db: str) -> set[str]:
    views = ViewStore(store_config(db))
    try:
        return {r[0] for r in views.query("SELECT DISTINCT incarnation FROM idempotency")}
    finally:
        views.close()


def test_keyed_writes_from_many_clients_apply_once_each_gap_free_and_never_5xx(
    service: tuple[str, str, subprocess.Popen[bytes]],
) -> None:
    url, db, _ = service
    cases = [_active_case(url, n) for n in range(4)]
    answers: dict[str, tuple[str, int]] = {}
    statuses: Counter[int] = Counter()
    lock = threading.Lock()

    def client(i: int) -> None:
        for n in range(20):
            cid, key = cases[(i + n) % len(cases)], f"c{i}-{n}"
            # a new connection per request: the two workers share the work at random
            r = httpx.post(f"{url}/v1/cases/{cid}/contacts", json=_body(n),
                           headers=PROVIDER | {"Idempotency-Key": key}, timeout=30)  # fmt: skip
            with lock:
                statuses[r.status_code] += 1
                if r.status_code == 200:
                    answers[key] = (cid, r.json()["version"])

    threads = [threading.Thread(target=client, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == Counter({200: 12 * 20})
    # both workers served keyed writes (each claim names the worker that made it)
    assert len(_workers_that_claimed(db)) == 2
    app = CaseLog(store=store_config(db), group_commit=False)
    try:
        auditor = Actor(sub="a", role="auditor", tenant="zou")
        applied: dict[str, tuple[str, int]] = {}
        for cid in cases:
            history = app.get_history(UUID(cid), auditor)
            # versions gap-free, and each key applied exactly once at the version answered
            assert [e.originator_version for e in history] == list(range(1, len(history) + 1))
            for e in history:
                if e.actor.request_key:
                    key = e.actor.request_key.split(":", 1)[1]
                    assert key not in applied
                    applied[key] = (cid, e.originator_version)
    finally:
        app.close()
    assert applied == answers


def test_a_retry_gets_the_first_answer_from_either_worker(
    service: tuple[str, str, subprocess.Popen[bytes]],
) -> None:
    url, _, _ = service
    cid = _active_case(url, 0)
    headers = PROVIDER | {"Idempotency-Key": "once"}
    first = httpx.post(f"{url}/v1/cases/{cid}/contacts", json=_body(1), headers=headers)
    assert first.status_code == 200
    for _ in range(12):  # new connections: both workers answer some of the retries
        again = httpx.post(f"{url}/v1/cases/{cid}/contacts", json=_body(1), headers=headers)
        assert again.status_code == 200
        assert again.json() == first.json()
        assert again.headers["etag"] == first.headers["etag"]
        assert again.headers["idempotent-replayed"] == "true"
    case = httpx.get(f"{url}/v1/cases/{cid}", headers=GM).json()
    assert case["version"] == first.json()["version"]  # applied once


def test_a_case_written_through_one_worker_is_read_new_through_the_other(
    service: tuple[str, str, subprocess.Popen[bytes]],
) -> None:
    url, _, _ = service
    cid = _active_case(url, 0)
    for n in range(30):
        # each request on its own connection: written by one worker, read by either
        written = httpx.post(f"{url}/v1/cases/{cid}/contacts", json=_body(n), headers=PROVIDER)
        assert written.status_code == 200
        version = written.json()["version"]
        read = httpx.get(f"{url}/v1/cases/{cid}", headers=GM)
        assert read.status_code == 200
        assert read.json()["version"] == version
        assert read.headers["etag"] == f'"{version}"'
        # and time travel to that version too (each worker's timeline cache)
        past = httpx.get(f"{url}/v1/cases/{cid}", params={"version": version}, headers=GM)
        assert past.status_code == 200
        assert past.json()["version"] == version
        # If-Match with the newest version is accepted whichever worker judges it
        nxt = httpx.post(f"{url}/v1/cases/{cid}/contacts", json=_body(n + 1),
                         headers=PROVIDER | {"If-Match": f'"{version + 1}"'})  # fmt: skip
        assert nxt.status_code == 412  # not yet: the case is at `version`
        ok = httpx.post(f"{url}/v1/cases/{cid}/contacts", json=_body(n + 2),
                        headers=PROVIDER | {"If-Match": f'"{version}"'})  # fmt: skip
        assert ok.status_code == 200, ok.text
        assert ok.json()["version"] == version + 1


def test_sigterm_stops_the_workers_and_the_runner(
    service: tuple[str, str, subprocess.Popen[bytes]],
) -> None:
    _, _, proc = service
    children = _children(proc.pid)
    assert len(children) == 3  # two workers and the projection runner
    proc.terminate()
    assert proc.wait(timeout=30) == 0
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() for pid in children):
        assert time.monotonic() < deadline, "a worker or the runner outlived the service"
        time.sleep(0.1)


def _children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def test_a_worker_that_dies_is_replaced_and_its_claims_released(
    service: tuple[str, str, subprocess.Popen[bytes]],
) -> None:
    from api.idempotency import PENDING, SERVICE_ENV, IdempotencyStore, request_hash

    url, db, proc = service
    cid = _active_case(url, 0)
    workers = [p for p in _children(proc.pid) if b"api.server" in _cmdline(p)]
    assert len(workers) == 2
    victim = workers[0]
    environ = dict(
        item.split(b"=", 1) for item in Path(f"/proc/{victim}/environ").read_bytes().split(b"\0")
        if b"=" in item
    )  # fmt: skip
    # given a request the worker has claimed and not answered yet
    body = b'{"occurred_on":"2024-03-05","minutes":30,"kind":"direct"}'
    path = f"/v1/cases/{cid}/contacts"
    views = ViewStore(store_config(db))
    try:
        claims = IdempotencyStore(views, environ[SERVICE_ENV.encode()].decode(), victim)
        assert (
            claims.claim("zou", "begeleider-w", "in-flight", request_hash("POST", path, body))
            is None
        )
        # when the worker is killed
        os.kill(victim, 9)
        deadline = time.monotonic() + 30
        while True:
            now = [p for p in _children(proc.pid) if b"api.server" in _cmdline(p)]
            if len(now) == 2 and victim not in now:
                break
            assert time.monotonic() < deadline, "the dead worker was not replaced"
            time.sleep(0.1)
        # then its claim was released before the replacement started
        pending = views.query(views.sql("SELECT key FROM idempotency WHERE status = ?"), (PENDING,))
        assert ("in-flight",) not in [tuple(r) for r in pending]
    finally:
        views.close()
    # and the client's retry runs at once (not 409 "in progress"), applied once
    headers = PROVIDER | {"Idempotency-Key": "in-flight", "Content-Type": "application/json"}
    retry = httpx.post(url + path, content=body, headers=headers)
    assert retry.status_code == 200, retry.text
    again = httpx.post(url + path, content=body, headers=headers)
    assert again.json() == retry.json()
    assert (
        httpx.get(f"{url}/v1/cases/{cid}", headers=GM).json()["version"] == retry.json()["version"]
    )


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""
