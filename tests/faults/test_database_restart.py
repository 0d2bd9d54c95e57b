"""PostgreSQL stopped and started again under load: the service answers 503 while the store
is down, recovers by itself, and nothing acknowledged is lost."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path
from uuid import UUID

import httpx
import pytest

from caselog.application import CaseLog
from caselog.config import store_config
from domain.values import Actor
from tests.faults.conftest import Service
from tests.faults.test_crash_and_restart import PROVIDER, active_case
from tests.pgcluster import PrivateCluster

pytestmark = [pytest.mark.fault, pytest.mark.postgres]


@pytest.fixture
def pg_service(private_pg: PrivateCluster, private_pg_url: str, tmp_path: Path):
    """The service on the tests' own PostgreSQL server (tests/pgcluster.py), which this
    test stops and starts: the shared server other tests use is never restarted."""
    svc = Service(private_pg_url, tmp_path / "service.log")
    svc.start()
    try:
        yield svc
    finally:
        if not private_pg.ready():
            private_pg.start()
        svc.stop()


def test_the_service_answers_503_while_postgres_is_down_and_recovers(
    pg_service: Service, private_pg: PrivateCluster
) -> None:
    svc = pg_service
    cid = active_case(svc.url, 1)
    statuses: Counter[int] = Counter()
    acked: dict[str, int] = {}
    done = threading.Event()

    def client() -> None:
        n = 0
        with httpx.Client(timeout=15) as c:
            while not done.is_set():
                key = f"pg-{n}"
                try:
                    r = c.post(f"{svc.url}/v1/cases/{cid}/contacts",
                               headers=PROVIDER | {"Idempotency-Key": key},
                               json={"occurred_on": "2024-02-01", "minutes": 5, "kind": "direct"})  # fmt: skip
                except httpx.HTTPError:
                    statuses[-1] += 1
                    time.sleep(0.1)
                    continue
                statuses[r.status_code] += 1
                if r.status_code == 200:
                    acked[key] = r.json()["version"]
                    n += 1
                else:
                    time.sleep(0.1)

    thread = threading.Thread(target=client)
    thread.start()
    try:
        time.sleep(1.0)
        private_pg.stop()
        time.sleep(1.0)
        health = httpx.get(svc.url + "/health", timeout=15).status_code
        # fresh requests while the store is down fail fast with 503
        fresh = []
        with httpx.Client(timeout=5) as c:
            for _ in range(3):
                fresh.append(c.get(f"{svc.url}/v1/cases/{cid}", headers=PROVIDER).status_code)
                fresh.append(c.post(f"{svc.url}/v1/cases/{cid}/contacts", headers=PROVIDER,
                                    json={"occurred_on": "2024-02-01", "minutes": 5, "kind": "direct"}).status_code)  # fmt: skip
        down = Counter(statuses)
        private_pg.start()
        deadline = time.monotonic() + 60
        before = len(acked)
        while len(acked) < before + 10 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        done.set()
        thread.join(timeout=60)
    assert health == 503
    assert fresh == [503] * 6, fresh
    assert down[500] == 0, down
    assert statuses[500] == 0, statuses
    assert len(acked) >= before + 10, "the service recovered by itself"
    app = CaseLog(store=store_config(svc.database_url), group_commit=False)
    try:
        events = app.get_history(UUID(cid), Actor(sub="a", role="auditor", tenant="zou"))
        keys = Counter(e.actor.request_key.split(":", 1)[1] for e in events if e.actor.request_key)
        assert set(acked) <= set(keys)
        assert all(n == 1 for n in keys.values())
        assert acked == {
            e.actor.request_key.split(":", 1)[1]: e.originator_version
            for e in events
            if e.actor.request_key and e.actor.request_key.split(":", 1)[1] in acked
        }
    finally:
        app.close()
