"""kill -9 of the service during a write load: after a restart every acknowledged write is
in the log exactly once, with clients retrying what was not acknowledged under the same
Idempotency-Key. Many writers on one case: gap-free versions, never a 500."""

from __future__ import annotations

import threading
import time
from collections import Counter

import httpx
import pytest

from application.application import CaseLog
from domain.values import Actor
from storage.config import store_config
from tests.faults.conftest import Service, token

pytestmark = pytest.mark.fault

MUNICIPALITY = token("municipality")
PROVIDER = token("provider", provider="aanbieder-a", sub="begeleider-1")


def active_case(url: str, n: int) -> str:
    with httpx.Client(base_url=url, timeout=30) as c:
        cid = c.post("/v1/cases", headers=MUNICIPALITY, json={
            "client_ref": f"fault-{n}", "municipality": "Houten", "provider": "aanbieder-a",
            "referred_on": "2024-01-08"}).json()["case_id"]  # fmt: skip
        c.post(f"/v1/cases/{cid}/indications", headers=MUNICIPALITY, json={
            "assignment_number": f"F-{n}", "product": "02A05",
            "volume": {"amount": "40", "unit": "hour", "frequency": "week"},
            "starts_on": "2024-01-15", "ends_on": "2024-12-31", "decision_ref": "F",
            "decided_on": "2024-01-12"})  # fmt: skip
        r = c.post(f"/v1/cases/{cid}/start", headers=PROVIDER, json={"started_on": "2024-01-20"})
        assert r.status_code == 200, r.text
        return str(cid)


def test_kill_9_during_writes_loses_and_duplicates_nothing(service: Service) -> None:
    cases = [active_case(service.url, n) for n in range(6)]
    per_case = 25
    acked: dict[str, int] = {}
    lock = threading.Lock()
    statuses: Counter[int] = Counter()
    stop_at = time.monotonic() + 90

    def client(i: int, cid: str) -> None:
        with httpx.Client(timeout=10) as c:
            for n in range(per_case):
                key = f"w-{i}-{n}"
                body = {
                    "occurred_on": f"2024-02-{1 + n % 28:02d}",
                    "minutes": 10 + n,
                    "kind": "direct",
                }
                while time.monotonic() < stop_at:  # retry with the same key until acknowledged
                    try:
                        r = c.post(f"{service.url}/v1/cases/{cid}/contacts",
                                   headers=PROVIDER | {"Idempotency-Key": key}, json=body)  # fmt: skip
                    except httpx.HTTPError:
                        time.sleep(0.1)
                        continue
                    with lock:
                        statuses[r.status_code] += 1
                    if r.status_code == 200:
                        with lock:
                            acked[key] = r.json()["version"]
                        break
                    time.sleep(0.2)  # 409 in progress / 503: try again

    threads = [threading.Thread(target=client, args=(i, cid)) for i, cid in enumerate(cases)]
    for t in threads:
        t.start()
    while len(acked) < 40 and time.monotonic() < stop_at:
        time.sleep(0.01)
    service.kill()  # kill -9 in the middle of the load
    time.sleep(0.5)
    service.start()
    for t in threads:
        t.join()
    assert statuses[500] == 0
    assert len(acked) == len(cases) * per_case, "every write was acknowledged in the end"
    # every acknowledged write is in the log exactly once, at the version acknowledged
    app = CaseLog(store=store_config(service.database_url), group_commit=False)
    try:
        auditor = Actor(sub="a", role="auditor", tenant="zou")
        seen: Counter[str] = Counter()
        version_of: dict[str, int] = {}
        for cid in cases:
            from uuid import UUID

            events = app.get_history(UUID(cid), auditor)
            assert [e.originator_version for e in events] == list(range(1, len(events) + 1))
            for e in events:
                if e.actor.request_key:
                    key = e.actor.request_key.split(":", 1)[1]
                    seen[key] += 1
                    version_of[key] = e.originator_version
        assert set(seen) == set(acked)
        assert all(n == 1 for n in seen.values()), [k for k, n in seen.items() if n > 1]
        assert version_of == acked
    finally:
        app.close()


def test_many_writers_on_one_case_get_gap_free_versions_and_no_500(service: Service) -> None:
    cid = active_case(service.url, 99)
    statuses: Counter[int] = Counter()
    lock = threading.Lock()

    def writer(i: int) -> None:
        with httpx.Client(timeout=30) as c:
            for n in range(15):
                # half of them pin the version they read: losers get 412
                headers = dict(PROVIDER)
                if n % 2:
                    v = c.get(f"{service.url}/v1/cases/{cid}", headers=MUNICIPALITY).json()[
                        "version"
                    ]
                    headers["If-Match"] = f'"{v}"'
                r = c.post(f"{service.url}/v1/cases/{cid}/contacts", headers=headers,
                           json={"occurred_on": "2024-03-01", "minutes": 5, "kind": "direct"})  # fmt: skip
                with lock:
                    statuses[r.status_code] += 1

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(statuses) <= {200, 409, 412}, statuses
    with httpx.Client(timeout=30) as c:
        events = c.get(f"{service.url}/v1/cases/{cid}/history", headers=MUNICIPALITY).json()[
            "events"
        ]
    assert [e["version"] for e in events] == list(range(1, len(events) + 1))
    assert len(events) == 3 + statuses[200]
