"""A whole case per tenant through the HTTP API, with time travel and dispute replay."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from tests.e2e.conftest import Live

HOURS_4 = {"amount": "4", "unit": "hour", "frequency": "week"}


def ok(r: httpx.Response, status: int = 200) -> dict:
    assert r.status_code == status, r.text
    return r.json()


def test_zou_case_from_referral_to_end(live: Live, client: httpx.Client) -> None:
    gemeente, aanbieder = live.token("municipality"), live.token("provider")
    # referral, intake, indication, plan, start
    created = ok(
        client.post(
            "/v1/cases",
            headers=gemeente,
            json={
                "client_ref": "zou-9001",
                "municipality": "Zeist",
                "provider": "aanbieder-a",
                "referred_on": "2024-01-08",
            },
        ),
        201,
    )
    cid = created["case_id"]
    assert created["version"] == 1
    path = f"/v1/cases/{cid}"
    ok(client.post(f"{path}/intake", headers=aanbieder, json={"held_on": "2024-01-12"}))
    ok(
        client.post(
            f"{path}/indications",
            headers=gemeente,
            json={
                "assignment_number": "TW-1",
                "product": "02A05",
                "volume": HOURS_4,
                "starts_on": "2024-01-15",
                "ends_on": "2024-12-31",
                "decision_ref": "B-1",
                "decided_on": "2024-01-12",
                "goals": [{"domain": "financien", "result": "schulden stabiel"}],
            },
        )
    )
    ok(client.post(f"{path}/support-plan", headers=aanbieder, json={"agreed_on": "2024-01-20"}))
    r = client.post(f"{path}/start", headers=aanbieder, json={"started_on": "2024-01-20"})
    assert r.headers["etag"] == '"5"'
    before_contacts = datetime.now(UTC).isoformat()
    # four digital hours in February: within the R-16 cap over the indication (20% of the
    # direct time of the assignment until its withdrawal on 2024-03-31: 422 minutes)
    for day in ("01", "08", "15", "22"):
        ok(
            client.post(
                f"{path}/contacts",
                headers=aanbieder,
                json={
                    "occurred_on": f"2024-02-{day}",
                    "minutes": 60,
                    "kind": "direct",
                    "channel": "digital",
                },
            )
        )
    ok(
        client.post(
            f"{path}/contacts",
            headers=aanbieder,
            json={
                "occurred_on": "2024-02-05",
                "minutes": 60,
                "kind": "group",
                "professionals": 2,
                "participants": 10,
            },
        )
    )
    ok(
        client.post(
            f"{path}/no-shows",
            headers=aanbieder,
            json={"scheduled_at": "2024-02-12T10:00:00+01:00", "planned_minutes": 60},
        )
    )
    ok(
        client.post(
            f"{path}/evaluations",
            headers=aanbieder,
            json={"evaluated_on": "2024-03-01", "kind": "periodic", "zrm": {"financien": 3}},
        )
    )
    # provider asks to scale down; municipality grants
    req = ok(
        client.post(
            f"{path}/change-requests",
            headers=aanbieder,
            json={
                "kind": "scale_down",
                "volume": {"amount": "2", "unit": "hour", "frequency": "week"},
                "effective_on": "2024-04-01",
                "report": "doelen financien bijna bereikt",
            },
        ),
        201,
    )
    ok(
        client.post(
            f"{path}/change-requests/{req['request_id']}/decision",
            headers=gemeente,
            json={"granted": True, "decided_on": "2024-03-20", "reason": "akkoord"},
        )
    )
    end = ok(
        client.post(
            f"{path}/end",
            headers=aanbieder,
            json={"ended_on": "2024-06-30", "reason": "19", "destination": "general_provision"},
        )
    )

    # reads
    case = ok(client.get(path, headers=gemeente))
    assert (case["status"], case["version"]) == ("ended", end["version"])
    assert case["volume"]["amount"] == "2"
    march = ok(client.get(path, headers=gemeente, params={"on": "2024-03-15"}))
    assert (march["status"], march["volume"]["amount"]) == ("active", "4")
    early = ok(client.get(path, headers=gemeente, params={"as_of": before_contacts}))
    assert early["version"] == 5
    assert ok(client.get(path, headers=gemeente, params={"version": 2}))["status"] == "referred"

    feb = ok(client.get(f"{path}/consumption", headers=aanbieder, params={"month": "2024-02"}))
    assert feb["minutes"] == {"direct": 240, "indirect": 0, "group": 12, "digital": 240}
    assert feb["no_shows"]["count"] == 1
    assert feb["declarable_minutes"] == 240 + 12 + 60
    assert {d["rule"] for d in feb["decisions"]} == {"R-16", "R-12", "R-13"}
    ent = ok(client.get(f"{path}/entitlement", headers=aanbieder, params={"on": "2024-03-01"}))
    assert ent["product"] == "02A05"
    assert ent["hours_used"] == "5.20"  # (240 + 12 + 60) minutes
    history = ok(client.get(f"{path}/history", headers=gemeente))["events"]
    assert [e["version"] for e in history] == list(range(1, end["version"] + 1))
    assert history[0]["type"] == "CaseOpened"
    replay = ok(client.get(f"{path}/replay", headers=live.token("auditor"), params={"until": 9}))
    assert len(replay["steps"]) == 9
    assert replay["steps"][6]["decisions"][0]["rule"] == "R-16"

    kpis = ok(
        client.get(
            "/v1/kpis",
            headers=live.token("contract_manager"),
            params={"period_start": "2024-01-01", "period_end": "2024-12-31"},
        )
    )
    assert kpis["cases"] == 1
    assert kpis["uitstroom"]["successful"] == 1
    assert kpis["afschaling"]["count"] == 2  # 4 -> 2 h/week, and the end to a general provision
    assert "client_ref" not in str(kpis)


def test_drechtsteden_2016_case_bills_four_week_periods(live: Live, client: httpx.Client) -> None:
    gemeente = live.token("municipality", tenant="drechtsteden")
    aanbieder = live.token("provider", tenant="drechtsteden", provider="sdd-1")
    cid = ok(
        client.post(
            "/v1/cases",
            headers=gemeente,
            json={
                "client_ref": "sdd-1",
                "municipality": "Dordrecht",
                "provider": "sdd-1",
                "referred_on": "2016-01-05",
            },
        ),
        201,
    )["case_id"]
    path = f"/v1/cases/{cid}"
    ok(
        client.post(
            f"{path}/indications",
            headers=gemeente,
            json={
                "assignment_number": "TW-2016",
                "product": "IB1",
                "surcharge": True,
                "volume": {"amount": "1", "unit": "piece_output", "frequency": "four_weeks"},
                "starts_on": "2016-02-01",
                "ends_on": "2016-12-31",
                "decision_ref": "B-2016",
                "decided_on": "2016-01-28",
            },
        )
    )
    ok(client.post(f"{path}/start", headers=aanbieder, json={"started_on": "2016-02-01"}))
    ok(
        client.post(
            f"{path}/contacts",
            headers=aanbieder,
            json={"occurred_on": "2016-03-10", "minutes": 60, "kind": "direct"},
        )
    )
    march = ok(client.get(f"{path}/consumption", headers=aanbieder, params={"month": "2016-03"}))
    assert march["amount_due"] == "448.11"  # R-03 IB1 337.66 + R-01 surcharge 110.45
    assert march["decisions"][0]["rule"] == "R-26"
    # IB0 did not exist yet in 2016
    r = client.post(
        f"{path}/scale-changes",
        headers=gemeente,
        json={
            "effective_on": "2016-06-01",
            "product": "IB0",
            "volume": {"amount": "1", "unit": "piece_output", "frequency": "four_weeks"},
        },
    )
    assert r.status_code == 409
    assert r.json()["detail"].startswith("R-04")
    assert r.headers["content-type"].startswith("application/problem+json")
