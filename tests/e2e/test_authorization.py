"""The authorisation matrix: every endpoint x role x foreign tenant x foreign provider.

A role that may not use an endpoint gets 403; a case of another tenant or (for providers)
another provider is 404, so its existence does not leak; no token is 401.
"""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.conftest import Live

ALL = ("municipality", "provider", "contract_manager", "auditor")
HOURS = {"amount": "4", "unit": "hour", "frequency": "week"}

# (method, path, roles allowed, body)
CASE_ENDPOINTS = [
    ("POST", "/intake", ("provider",), {"held_on": "2024-01-12"}),
    ("POST", "/indications", ("municipality",), {
        "assignment_number": "TW-2", "product": "02A05", "volume": HOURS,
        "starts_on": "2024-02-01", "ends_on": "2024-12-31", "decision_ref": "B-2", "decided_on": "2024-01-12"}),
    ("POST", "/support-plan", ("provider",), {"agreed_on": "2024-01-21"}),
    ("POST", "/start", ("provider",), {"started_on": "2024-01-21"}),
    ("POST", "/contacts", ("provider",), {"occurred_on": "2024-02-01", "minutes": 30, "kind": "direct"}),
    ("POST", "/no-shows", ("provider",), {"scheduled_at": "2024-02-02T10:00:00+01:00", "planned_minutes": 60}),
    ("POST", "/evaluations", ("provider",), {"evaluated_on": "2024-03-01", "kind": "periodic", "zrm": {"financien": 3}}),
    ("POST", "/change-requests", ("provider",), {"kind": "extension", "ends_on": "2025-01-14", "effective_on": "2024-12-31", "report": "nog nodig"}),
    ("POST", "/change-requests/WV-x/decision", ("municipality",), {"granted": False, "decided_on": "2024-03-01"}),
    ("POST", "/scale-changes", ("municipality",), {"effective_on": "2024-05-01", "product": "02A05", "volume": HOURS}),
    ("POST", "/end", ("municipality", "provider"), {"ended_on": "2024-11-30", "reason": "19"}),
    ("POST", "/corrections", ("municipality", "provider"), {"event_version": 1, "retract": True, "reason": "test"}),
    ("GET", "", ("municipality", "provider", "auditor"), None),
    ("GET", "/history", ("municipality", "provider", "auditor"), None),
    ("GET", "/entitlement", ("municipality", "provider"), None),
    ("GET", "/consumption?month=2024-02", ("municipality", "provider"), None),
    ("GET", "/replay", ("auditor", "municipality"), None),
]  # fmt: skip

OTHER_ENDPOINTS = [
    ("POST", "/v1/cases", ("municipality",), {
        "client_ref": "x", "municipality": "Houten", "provider": "aanbieder-a", "referred_on": "2024-01-08"}),
    ("GET", "/v1/signals", ("municipality", "provider"), None),
    ("GET", "/v1/cases", ("municipality", "provider", "auditor"), None),
    ("GET", "/v1/cases?signal=R-14&status=active&limit=500", ("municipality", "provider", "auditor"), None),
    ("GET", "/v1/kpis?period_start=2024-01-01&period_end=2024-12-31", ("contract_manager", "municipality"), None),
]  # fmt: skip


@pytest.fixture
def case_id(live: Live, client: httpx.Client) -> str:
    gemeente, aanbieder = live.token("municipality"), live.token("provider")
    cid = client.post("/v1/cases", headers=gemeente, json={
        "client_ref": "zou-1", "municipality": "Houten", "provider": "aanbieder-a",
        "referred_on": "2024-01-08"}).json()["case_id"]  # fmt: skip
    client.post(f"/v1/cases/{cid}/indications", headers=gemeente, json=CASE_ENDPOINTS[1][3] | {
        "assignment_number": "TW-1", "starts_on": "2024-01-15"})  # fmt: skip
    r = client.post(f"/v1/cases/{cid}/start", headers=aanbieder, json={"started_on": "2024-01-20"})
    assert r.status_code == 200, r.text
    return str(cid)


def send(
    client: httpx.Client, method: str, url: str, headers: dict, body: object
) -> httpx.Response:
    return client.request(method, url, headers=headers, json=body)


def test_every_case_endpoint_by_role_tenant_and_provider(
    live: Live, client: httpx.Client, case_id: str
) -> None:
    actors = {
        "own": {role: live.token(role) for role in ALL},
        "other_provider": {"provider": live.token("provider", provider="aanbieder-b")},
        "other_tenant": {
            role: live.token(role, tenant="drechtsteden", provider="aanbieder-a") for role in ALL
        },
    }
    failures = []
    for method, suffix, roles, body in CASE_ENDPOINTS:
        url = f"/v1/cases/{case_id}{suffix}"
        if send(client, method, url, {}, body).status_code != 401:
            failures.append(f"{method} {suffix}: no token should be 401")
        for scope, tokens in actors.items():
            for role, headers in tokens.items():
                status = send(client, method, url, headers, body).status_code
                if role not in roles:
                    expected = {403}
                elif scope != "own":
                    expected = {404}
                else:
                    expected = set(range(200, 500)) - {401, 403, 404}
                if status not in expected:
                    failures.append(f"{method} {suffix} as {scope} {role}: {status}")
    assert failures == []


def test_other_endpoints_by_role(live: Live, client: httpx.Client, case_id: str) -> None:
    failures = []
    for method, url, roles, body in OTHER_ENDPOINTS:
        if send(client, method, url, {}, body).status_code != 401:
            failures.append(f"{method} {url}: no token")
        for role in ALL:
            status = send(client, method, url, live.token(role), body).status_code
            ok = status in (200, 201) if role in roles else status == 403
            if not ok:
                failures.append(f"{method} {url} as {role}: {status}")
    assert failures == []


def test_signals_never_show_another_tenant_or_provider(
    live: Live, client: httpx.Client, case_id: str
) -> None:
    params = {"on": "2030-01-01", "open": "false"}
    own = client.get("/v1/signals", headers=live.token("municipality"), params=params).json()
    assert any(s["case_id"] == case_id for s in own["signals"])
    for headers in (
        live.token("municipality", tenant="drechtsteden"),
        live.token("provider", provider="aanbieder-b"),
    ):
        seen = client.get("/v1/signals", headers=headers, params=params).json()["signals"]
        assert all(s["case_id"] != case_id for s in seen)
    r = client.get(
        "/v1/signals", headers=live.token("provider", provider="aanbieder-b"),
        params={"provider": "aanbieder-a"},
    )  # fmt: skip
    assert r.status_code == 403


def test_kpis_for_another_tenant_do_not_count_this_case(
    live: Live, client: httpx.Client, case_id: str
) -> None:
    params = {"period_start": "2024-01-01", "period_end": "2024-12-31"}
    own = client.get("/v1/kpis", headers=live.token("contract_manager"), params=params).json()
    other = client.get(
        "/v1/kpis", headers=live.token("contract_manager", tenant="drechtsteden"), params=params
    ).json()
    assert (own["cases"], other["cases"]) == (1, 0)


def test_caseload_never_lists_another_tenant_or_provider(
    live: Live, client: httpx.Client, case_id: str
) -> None:
    # given a case of aanbieder-a in zou
    for role in ("municipality", "provider", "auditor"):
        seen = client.get("/v1/cases", headers=live.token(role)).json()["cases"]
        assert [c["case_id"] for c in seen] == [case_id], role
    # then another provider and every role of another tenant list nothing, with any filter
    for headers in (
        live.token("provider", provider="aanbieder-b"),
        *(live.token(role, tenant="drechtsteden") for role in ("municipality", "auditor")),
        live.token("provider", tenant="drechtsteden", provider="aanbieder-a"),
    ):
        for params in ({}, {"provider": "aanbieder-a"}, {"status": "active"}):
            r = client.get("/v1/cases", headers=headers, params=params)
            assert r.status_code in (200, 403), r.text
            if r.status_code == 200:
                assert r.json()["cases"] == []
    # and a provider asking for another provider's caseload is refused
    r = client.get(
        "/v1/cases", headers=live.token("provider", provider="aanbieder-b"),
        params={"provider": "aanbieder-a"},
    )  # fmt: skip
    assert r.status_code == 403
