"""The case, entitlement and consumption GETs answer from the stored rows through a real
HTTP client: each write is seen by the read that follows it at once, the answer is byte for
byte the live one (``version`` / ``as_of`` compute live), the access rules hold on the rows
path, and rows that lag are never served (the read computes live instead)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import uvicorn

import api.reads
from api.app import create_app
from application.application import CaseLog
from projections.runner import ProjectionRunner
from storage.config import store_config
from tests.e2e.conftest import KEY, Live, _free_port

HOURS_4 = {"amount": "4", "unit": "hour", "frequency": "week"}


@contextmanager
def serving(app: CaseLog, run_projections: bool) -> Iterator[Live]:
    asgi = create_app(app=app, jwt_key=KEY, run_projections=run_projections)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(asgi, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    try:
        yield Live(url=f"http://127.0.0.1:{port}", app=app)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def app(database_url: str) -> Iterator[CaseLog]:
    app = CaseLog(store=store_config(database_url))
    try:
        yield app
    finally:
        app.close()


@pytest.fixture(autouse=True)
def patient(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reads wait for the runner's catch-up (long enough on a busy test machine), so that a
    read right after a write is answered from the rows; by default it is computed from the
    events (the same answer, ``test_rows_that_lag_are_never_served_the_read_computes_live``)."""
    monkeypatch.setattr(api.reads, "WAIT_SECONDS", 2.0)


class Counted:
    """Counts the live loads of a case (``CaseLog.get_case``, or ``CaseLog.derived_head``
    when the rows lag): none for a rows answer."""

    def __init__(self, app: CaseLog) -> None:
        self.calls = 0
        real: Callable[..., Any] = app.get_case
        real_derived: Callable[..., Any] = app.derived_head

        def get_case(*args: Any, **kw: Any) -> Any:
            self.calls += 1
            return real(*args, **kw)

        def derived_head(*args: Any, **kw: Any) -> Any:
            self.calls += 1
            return real_derived(*args, **kw)

        app.get_case = get_case  # type: ignore[method-assign]
        app.derived_head = derived_head  # type: ignore[method-assign]


def ok(r: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert r.status_code == status, r.text
    return r.json()  # type: ignore[no-any-return]


def started_case(client: httpx.Client, live: Live) -> str:
    gemeente, aanbieder = live.token("municipality"), live.token("provider")
    cid = ok(
        client.post(
            "/v1/cases",
            headers=gemeente,
            json={
                "client_ref": "zou-7001",
                "municipality": "Zeist",
                "provider": "aanbieder-a",
                "referred_on": "2024-01-08",
            },
        ),
        201,
    )["case_id"]
    ok(
        client.post(
            f"/v1/cases/{cid}/indications",
            headers=gemeente,
            json={
                "assignment_number": "TW-1",
                "product": "02A05",
                "volume": HOURS_4,
                "starts_on": "2024-01-15",
                "ends_on": "2024-12-31",
                "decision_ref": "B-1",
                "decided_on": "2024-01-12",
            },
        )
    )
    ok(client.post(f"/v1/cases/{cid}/start", headers=aanbieder, json={"started_on": "2024-01-20"}))
    return str(cid)


def contact(client: httpx.Client, live: Live, cid: str, day: str) -> int:
    body = {"occurred_on": day, "minutes": 45, "kind": "direct"}
    r = client.post(f"/v1/cases/{cid}/contacts", headers=live.token("provider"), json=body)
    return int(ok(r)["version"])


def test_each_write_is_read_back_at_once_from_the_rows_byte_for_byte_the_live_answer(
    app: CaseLog,
) -> None:
    with serving(app, run_projections=True) as live, httpx.Client(base_url=live.url) as client:
        cid = started_case(client, live)
        gemeente = live.token("municipality")
        loads = Counted(app)
        for week, day in enumerate(("2024-02-01", "2024-02-08", "2024-03-04", "2024-03-11")):
            # when a contact is written and read back at once
            version = contact(client, live, cid, day)
            case = client.get(f"/v1/cases/{cid}", headers=gemeente)
            ent = client.get(f"/v1/cases/{cid}/entitlement", headers=gemeente)
            month = client.get(
                f"/v1/cases/{cid}/consumption", params={"month": day[:7]}, headers=gemeente
            )
            # then every read holds the write, from the rows (no case was loaded)
            assert loads.calls == 0
            assert case.headers["etag"] == f'"{version}"'
            assert ok(case)["version"] == ok(ent)["version"] == ok(month)["version"] == version
            assert ok(ent)["assignments"][0]["hours_used"] == f"{0.75 * (week + 1):.2f}"
            assert ok(month)["decisions"][-1]["event_version"] == version
            # and byte for byte the answer computed live from the events
            now = datetime.now(UTC).isoformat()
            live_case = client.get(f"/v1/cases/{cid}?version={version}", headers=gemeente)
            live_ent = client.get(
                f"/v1/cases/{cid}/entitlement", params={"as_of": now}, headers=gemeente
            )
            live_month = client.get(
                f"/v1/cases/{cid}/consumption",
                params={"month": day[:7], "as_of": now},
                headers=gemeente,
            )
            assert loads.calls == 3
            loads.calls = 0
            assert case.content == live_case.content
            assert case.headers["etag"] == live_case.headers["etag"]
            assert ent.content == live_ent.content
            assert month.content == live_month.content
        # a month without activity, and an entitlement on a day before the contacts (live)
        empty = client.get(
            f"/v1/cases/{cid}/consumption", params={"month": "2023-05"}, headers=gemeente
        )
        assert ok(empty)["financing"] == "none"
        assert loads.calls == 0
        early = ok(client.get(f"/v1/cases/{cid}/entitlement?on=2024-02-05", headers=gemeente))
        assert early["hours_used"] == "0.75"
        assert loads.calls == 1


def test_the_access_rules_hold_on_the_rows_path(app: CaseLog) -> None:
    with serving(app, run_projections=True) as live, httpx.Client(base_url=live.url) as client:
        cid = started_case(client, live)
        contact(client, live, cid, "2024-02-01")
        loads = Counted(app)
        other = live.token("provider", provider="aanbieder-b")
        elsewhere = live.token("municipality", tenant="drechtsteden")
        auditor = live.token("auditor")
        for path in ("", "/entitlement", "/consumption?month=2024-02"):
            # a provider sees only its own cases, everyone only their tenant's: 404
            assert client.get(f"/v1/cases/{cid}{path}", headers=other).status_code == 404
            assert client.get(f"/v1/cases/{cid}{path}", headers=elsewhere).status_code == 404
            # an unknown case: 404
            unknown = "00000000-0000-0000-0000-000000000001"
            expected = 403 if path else 404  # an auditor reads no entitlement/consumption
            assert client.get(f"/v1/cases/{unknown}{path}", headers=auditor).status_code == expected
            r = client.get(f"/v1/cases/{unknown}{path}", headers=live.token("municipality"))
            assert r.status_code == 404
            # the case's own provider reads it
            assert client.get(f"/v1/cases/{cid}{path}", headers=live.token("provider")).is_success
        # an auditor reads the case, not the entitlement or consumption: 403
        assert client.get(f"/v1/cases/{cid}", headers=auditor).status_code == 200
        assert client.get(f"/v1/cases/{cid}/entitlement", headers=auditor).status_code == 403
        # all of it answered without loading the case
        assert loads.calls == 0
        # and the 404 says what the live path says
        rows = client.get(f"/v1/cases/{cid}", headers=other)
        computed = client.get(f"/v1/cases/{cid}?version=1", headers=other)
        assert {**rows.json(), "request_id": ""} == {**computed.json(), "request_id": ""}


@pytest.mark.parametrize("wait", [0.0, 0.1])  # the default: no wait; a wait that times out
def test_rows_that_lag_are_never_served_the_read_computes_live(
    app: CaseLog, monkeypatch: pytest.MonkeyPatch, wait: float
) -> None:
    # given a service whose projections another process keeps, and that process stopped
    monkeypatch.setattr(api.reads, "WAIT_SECONDS", wait)
    with serving(app, run_projections=False) as live, httpx.Client(base_url=live.url) as client:
        gemeente = live.token("municipality")
        cid = started_case(client, live)
        runner = ProjectionRunner(app)
        runner.run_until_current()
        contact(client, live, cid, "2024-02-01")
        runner.run_until_current()
        loads = Counted(app)
        assert ok(client.get(f"/v1/cases/{cid}", headers=gemeente))["version"] == 4
        assert loads.calls == 0
        # when a contact is written and the runner has not run since
        version = contact(client, live, cid, "2024-02-08")
        # then the reads hold the write all the same, computed from the events
        assert ok(client.get(f"/v1/cases/{cid}", headers=gemeente))["version"] == version
        ent = ok(client.get(f"/v1/cases/{cid}/entitlement", headers=gemeente))
        assert ent["assignments"][0]["hours_used"] == "1.50"
        assert ent["version"] == version
        assert loads.calls == 2
        # and once the runner caught up, from the rows again
        runner.run_until_current()
        assert ok(client.get(f"/v1/cases/{cid}", headers=gemeente))["version"] == version
        assert loads.calls == 2
