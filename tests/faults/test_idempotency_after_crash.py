"""kill -9 with keyed writes in flight: the dead process's Idempotency-Key claims must not
keep its clients' retries at 409 "in progress" after the restart. Every retry right after
the restart is answered 2xx with the first answer (the version that applied the request)."""

from __future__ import annotations

import threading
import time
from uuid import UUID

import httpx
import pytest

from api.idempotency import PENDING
from application.application import CaseLog
from domain.values import Actor
from storage.config import store_config
from storage.views import ViewStore
from tests.faults.conftest import Service
from tests.faults.test_crash_and_restart import PROVIDER, active_case

pytestmark = pytest.mark.fault


def _pending_keys(url: str) -> set[str]:
    views = ViewStore(store_config(url))
    try:
        rows = views.query(views.sql("SELECT key FROM idempotency WHERE status = ?"), (PENDING,))
    finally:
        views.close()
    return {r[0] for r in rows}


def _applied_versions(url: str, cases: list[str]) -> dict[str, int]:
    """Request key -> the version that applied it, read from the log itself."""
    app = CaseLog(store=store_config(url), group_commit=False)
    try:
        auditor = Actor(sub="a", role="auditor", tenant="zou")
        out: dict[str, int] = {}
        for cid in cases:
            for e in app.get_history(UUID(cid), auditor):
                if e.actor.request_key:
                    out[e.actor.request_key.split(":", 1)[1]] = e.originator_version
        return out
    finally:
        app.close()


def _body(n: int) -> dict[str, object]:
    return {"occurred_on": f"2024-02-{1 + n % 28:02d}", "minutes": 10 + n % 50, "kind": "direct"}


def test_retries_right_after_a_kill_9_restart_get_the_first_answer(service: Service) -> None:
    cases = [active_case(service.url, n) for n in range(4)]
    sent: dict[str, tuple[str, int]] = {}  # key -> (case, body number)
    answers: dict[str, int] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def writer(i: int, cid: str) -> None:
        with httpx.Client(timeout=10) as c:
            n = 0
            while not stop.is_set():
                key = f"crash-{i}-{n}"
                with lock:
                    sent[key] = (cid, n)
                try:
                    r = c.post(f"{service.url}/v1/cases/{cid}/contacts", json=_body(n),
                               headers=PROVIDER | {"Idempotency-Key": key})  # fmt: skip
                except httpx.HTTPError:
                    return  # the service died under this request
                if r.status_code == 200:
                    with lock:
                        answers[key] = r.json()["version"]
                n += 1

    pending: set[str] = set()
    for _attempt in range(5):  # a kill between two requests leaves nothing pending: again
        stop.clear()
        threads = [threading.Thread(target=writer, args=(i, c)) for i, c in enumerate(cases * 3)]
        for t in threads:
            t.start()
        time.sleep(1.5)
        service.kill()
        stop.set()
        for t in threads:
            t.join()
        pending = _pending_keys(service.database_url)
        service.start()
        if pending:
            break
    assert pending, "kill -9 left no claim pending in five tries"

    # every retry right after the restart is answered 2xx, never 409 "in progress"
    retried: dict[str, int] = {}
    with httpx.Client(timeout=10) as c:
        for key in sorted(pending) + sorted(answers):
            cid, n = sent[key]
            r = c.post(f"{service.url}/v1/cases/{cid}/contacts", json=_body(n),
                       headers=PROVIDER | {"Idempotency-Key": key})  # fmt: skip
            assert r.status_code == 200, (key, r.status_code, r.text)
            retried[key] = r.json()["version"]
    # acknowledged writes get their first answer again
    assert {k: retried[k] for k in answers} == answers
    # each key is applied exactly once, at the version its retry reports
    applied = _applied_versions(service.database_url, cases)
    assert {k: applied[k] for k in retried} == retried
