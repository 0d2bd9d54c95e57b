"""Issue 13 through the HTTP API, on both stores: the decision date (R-20), planned minutes
of declarable no-shows (R-13), contradicting values (422 naming the field), the total
volume (R-17) and lasting outflow (R-31)."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.conftest import Live

HOURS_4 = {"amount": "4", "unit": "hour", "frequency": "week"}
INDICATION = {
    "assignment_number": "TW-1",
    "product": "02A05",
    "volume": HOURS_4,
    "decided_on": "2024-01-12",
    "starts_on": "2024-01-15",
    "ends_on": "2024-12-31",
    "decision_ref": "B-1",
}


def new_case(live: Live, client: httpx.Client, client_ref: str = "zou-13") -> str:
    r = client.post(
        "/v1/cases",
        headers=live.token("municipality"),
        json={
            "client_ref": client_ref,
            "municipality": "Zeist",
            "provider": "aanbieder-a",
            "referred_on": "2024-01-08",
        },
    )
    assert r.status_code == 201, r.text
    return f"/v1/cases/{r.json()['case_id']}"


def fields(r: httpx.Response) -> list[str]:
    assert r.headers["content-type"].startswith("application/problem+json")
    return [e["field"] for e in r.json()["errors"]]


def test_an_indication_without_decided_on_is_422_naming_it_R20(
    live: Live, client: httpx.Client
) -> None:
    path = new_case(live, client)
    body = {k: v for k, v in INDICATION.items() if k != "decided_on"}
    r = client.post(f"{path}/indications", headers=live.token("municipality"), json=body)
    assert r.status_code == 422, r.text
    assert fields(r) == ["decided_on"]
    # nothing was written
    assert client.get(path, headers=live.token("municipality")).json()["version"] == 1


def test_care_before_the_decision_date_is_409_R20(live: Live, client: httpx.Client) -> None:
    path = new_case(live, client)
    gm, pr = live.token("municipality"), live.token("provider")
    late = INDICATION | {"decided_on": "2024-02-01"}
    assert client.post(f"{path}/indications", headers=gm, json=late).status_code == 200
    r = client.post(f"{path}/start", headers=pr, json={"started_on": "2024-01-20"})
    assert r.status_code == 409, r.text
    assert r.json()["rule"] == "R-20"
    r = client.post(f"{path}/start", headers=pr, json={"started_on": "2024-02-01"})
    assert r.status_code == 200, r.text


def test_an_indication_ending_before_it_starts_is_422_naming_ends_on_C06(
    live: Live, client: httpx.Client
) -> None:
    path = new_case(live, client)
    body = INDICATION | {"starts_on": "2024-03-01", "ends_on": "2024-02-01"}
    r = client.post(f"{path}/indications", headers=live.token("municipality"), json=body)
    assert r.status_code == 422, r.text
    assert fields(r) == ["ends_on"]


def started(live: Live, client: httpx.Client, indication: dict, ref: str = "zou-13") -> str:
    path = new_case(live, client, ref)
    r = client.post(f"{path}/indications", headers=live.token("municipality"), json=indication)
    assert r.status_code == 200, r.text
    r = client.post(
        f"{path}/start", headers=live.token("provider"), json={"started_on": "2024-01-15"}
    )
    assert r.status_code == 200, r.text
    return path


def test_a_declarable_no_show_needs_planned_minutes_R13(live: Live, client: httpx.Client) -> None:
    path = started(live, client, INDICATION)
    pr = live.token("provider")
    body = {"scheduled_at": "2024-02-12T10:00:00+01:00"}
    r = client.post(f"{path}/no-shows", headers=pr, json=body)
    assert r.status_code == 422, r.text
    assert fields(r) == ["planned_minutes"]
    r = client.post(f"{path}/no-shows", headers=pr, json=body | {"planned_minutes": 45})
    assert r.status_code == 200, r.text
    feb = client.get(f"{path}/consumption", headers=pr, params={"month": "2024-02"}).json()
    assert (feb["no_shows"]["declarable"], feb["declarable_minutes"]) == (1, 45)


def test_hours_beyond_the_total_volume_are_reported_not_declared_R17(
    live: Live, client: httpx.Client
) -> None:
    total = INDICATION | {"volume": {"amount": "5", "unit": "hour", "frequency": "total"}}
    path = started(live, client, total)
    pr = live.token("provider")
    for day in ("01", "08"):
        body = {"occurred_on": f"2024-02-{day}", "minutes": 180, "kind": "direct"}
        assert client.post(f"{path}/contacts", headers=pr, json=body).status_code == 200
    feb = client.get(f"{path}/consumption", headers=pr, params={"month": "2024-02"}).json()
    assert (feb["declarable_minutes"], feb["non_declarable_minutes"]) == (300, 60)
    assert feb["decisions"][-1]["rule"] == "R-17"
    ent = client.get(f"{path}/entitlement", headers=pr, params={"on": "2024-03-01"}).json()
    assert (ent["hours_used"], ent["hours_remaining"]) == ("5.00", "0.00")
    assert ent["hours_beyond_volume"] == "1.00"


def test_an_end_within_its_window_is_lasting_pending_R31(live: Live, client: httpx.Client) -> None:
    path = started(live, client, INDICATION)
    r = client.post(
        f"{path}/end",
        headers=live.token("provider"),
        json={"ended_on": "2024-06-30", "reason": "19"},
    )
    assert r.status_code == 200, r.text
    cm = live.token("contract_manager")
    params = {"period_start": "2024-01-01", "period_end": "2024-12-31"}
    early = client.get("/v1/kpis", headers=cm, params=params | {"as_of": "2025-01-01T00:00:00Z"})
    # the as_of instant lies before the case was recorded: nothing is known yet
    assert early.json()["uitstroom"]["count"] == 0
    now = client.get("/v1/kpis", headers=cm, params=params).json()["uitstroom"]
    # looked at today (years after 2024-06-30) the window has passed
    assert (now["count"], now["lasting"], now["lasting_pending"]) == (1, 1, 0)


def test_sdd_care_across_2021_is_billed_per_week_from_2021_R02(
    live: Live, client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CASELOG_EXAMPLE_TARIFFS", raising=False)  # contract prices only
    gm = live.token("municipality", tenant="drechtsteden")
    pr = live.token("provider", tenant="drechtsteden", provider="sdd-1")
    r = client.post(
        "/v1/cases",
        headers=gm,
        json={
            "client_ref": "sdd-2021",
            "municipality": "Dordrecht",
            "provider": "sdd-1",
            "referred_on": "2020-10-12",
        },
    )
    path = f"/v1/cases/{r.json()['case_id']}"
    body = {
        "assignment_number": "TW-2020",
        "product": "IB2",
        "volume": {"amount": "1", "unit": "piece_output", "frequency": "four_weeks"},
        "decided_on": "2020-10-26",
        "starts_on": "2020-11-02",
        "ends_on": "2021-10-31",
        "decision_ref": "B-2020",
    }
    assert client.post(f"{path}/indications", headers=gm, json=body).status_code == 200
    for step, data in (("start", {"started_on": "2020-11-02"}),
                       ("end", {"ended_on": "2021-02-28", "reason": "19"})):  # fmt: skip
        assert client.post(f"{path}/{step}", headers=pr, json=data).status_code == 200

    def month(key: str) -> dict:
        r = client.get(f"{path}/consumption", headers=pr, params={"month": key})
        assert r.status_code == 200, r.text
        return r.json()

    # 4-week periods under the 2016 rules until 2020-12-31, the last one cut there
    assert month("2020-11")["periods_billed"] == "2"
    assert month("2020-12")["periods_billed"] == "0.14"
    # from 2021-01-01 weeks settled per calendar month; no catalogue price: amount unknown
    jan = month("2021-01")
    assert (jan["periods_billed"], jan["amount_due"]) == ("4.43", None)
