"""GET /v1/cases: the caseload, its filters, cursor paging and its scope (both stores)."""

from __future__ import annotations

from datetime import date, timedelta
from uuid import UUID

import httpx
import pytest

from domain import facts as f
from tests.builders import municipality, provider, referral
from tests.e2e.conftest import Live

HOURS = {"amount": "4", "unit": "hour", "frequency": "week"}


def open_case(client: httpx.Client, live: Live, referred_on: str, **kw: str) -> str:
    body = {"client_ref": f"c-{referred_on}", "municipality": "Houten",
            "provider": "aanbieder-a", "referred_on": referred_on} | kw  # fmt: skip
    r = client.post("/v1/cases", headers=live.token("municipality"), json=body)
    assert r.status_code == 201, r.text
    return str(r.json()["case_id"])


def indicate_and_start(
    client: httpx.Client, live: Live, cid: str, referred_on: str, product: str = "02A05"
) -> None:
    day = date.fromisoformat(referred_on)
    r = client.post(f"/v1/cases/{cid}/indications", headers=live.token("municipality"), json={
        "assignment_number": f"TW-{cid[:6]}", "product": product, "volume": HOURS,
        "decided_on": referred_on, "starts_on": referred_on,
        "ends_on": str(day + timedelta(days=300)), "decision_ref": "B-1"})  # fmt: skip
    assert r.status_code == 200, r.text
    started = {"started_on": str(day + timedelta(days=5))}
    r = client.post(f"/v1/cases/{cid}/start", headers=live.token("provider"), json=started)
    assert r.status_code == 200, r.text


def listed(client: httpx.Client, headers: dict[str, str], **params: object) -> list[dict]:
    r = client.get("/v1/cases", headers=headers, params=params)
    assert r.status_code == 200, r.text
    return list(r.json()["cases"])


def ids(cases: list[dict]) -> list[str]:
    return [c["case_id"] for c in cases]


def test_opened_case_answers_201_with_its_location_and_is_listed_at_once(
    live: Live, client: httpx.Client
) -> None:
    # given a municipality opens a case
    r = client.post("/v1/cases", headers=live.token("municipality"), json={
        "client_ref": "zou-7", "municipality": "Houten", "provider": "aanbieder-a",
        "referred_on": "2024-03-01"})  # fmt: skip
    # then the 201 says where the case lives, and that URL reads it
    assert r.status_code == 201
    cid = r.json()["case_id"]
    assert r.headers["location"] == f"/v1/cases/{cid}"
    assert client.get(r.headers["location"], headers=live.token("auditor")).status_code == 200
    # and the caseload lists it at once (read-your-writes), with the case's summary fields
    (line,) = listed(client, live.token("municipality"))
    assert line == {
        "case_id": cid, "status": "referred", "client_ref": "zou-7", "municipality": "Houten",
        "provider": "aanbieder-a", "product": None, "surcharge": None,
        "referred_on": "2024-03-01", "starts_on": None, "ends_on": None,
        "open_signals": ["R-15", "R-29"], "version": 1,
    }  # fmt: skip


def test_a_retried_open_answers_the_same_location(live: Live, client: httpx.Client) -> None:
    headers = live.token("municipality") | {"Idempotency-Key": "open-zou-8"}
    body = {"client_ref": "zou-8", "municipality": "Houten", "provider": "aanbieder-a",
            "referred_on": "2024-03-01"}  # fmt: skip
    first = client.post("/v1/cases", headers=headers, json=body)
    again = client.post("/v1/cases", headers=headers, json=body)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["location"] == first.headers["location"]
    assert first.headers["location"] == f"/v1/cases/{first.json()['case_id']}"


def test_change_request_answers_201_with_the_case_location(
    live: Live, client: httpx.Client
) -> None:
    cid = open_case(client, live, "2024-01-08")
    indicate_and_start(client, live, cid, "2024-01-08")
    r = client.post(f"/v1/cases/{cid}/change-requests", headers=live.token("provider"), json={
        "kind": "extension", "ends_on": "2025-06-30", "effective_on": "2024-12-31",
        "report": "nog nodig"})  # fmt: skip
    assert r.status_code == 201, r.text
    assert r.headers["location"] == f"/v1/cases/{cid}"


def test_newest_referral_first_and_summary_equals_the_case_read(
    live: Live, client: httpx.Client
) -> None:
    a = open_case(client, live, "2024-01-08")
    b = open_case(client, live, "2024-05-02")
    c = open_case(client, live, "2024-03-15")
    indicate_and_start(client, live, b, "2024-05-02")
    gm = live.token("municipality")
    cases = listed(client, gm)
    assert ids(cases) == [b, c, a]
    case = client.get(f"/v1/cases/{b}", headers=gm).json()
    for field in ("status", "product", "surcharge", "starts_on", "ends_on", "version",
                  "client_ref", "municipality", "provider", "referred_on"):  # fmt: skip
        assert cases[0][field] == case[field], field


def test_each_filter_selects_exactly_its_cases(live: Live, client: httpx.Client) -> None:
    # given cases that differ in one respect each
    plain = open_case(client, live, "2024-01-08")
    other_provider = open_case(client, live, "2024-01-09", provider="aanbieder-b")
    zeist = open_case(client, live, "2024-01-10", municipality="Zeist")
    active = open_case(client, live, "2024-01-11")
    indicate_and_start(client, live, active, "2024-01-11")
    other_product = open_case(client, live, "2024-01-12")
    indicate_and_start(client, live, other_product, "2024-01-12", product="02A04")
    late = open_case(client, live, "2024-06-01")
    # two consecutive no-shows on one active case, no contact since
    streak = open_case(client, live, "2024-01-13")
    indicate_and_start(client, live, streak, "2024-01-13")
    for day in ("2024-02-05", "2024-02-12"):
        r = client.post(f"/v1/cases/{streak}/no-shows", headers=live.token("provider"),
                        json={"scheduled_at": f"{day}T10:00:00+01:00", "planned_minutes": 60})  # fmt: skip
        assert r.status_code == 200, r.text
    gm = live.token("municipality")
    everyone = {plain, other_provider, zeist, active, other_product, late, streak}
    assert set(ids(listed(client, gm))) == everyone
    # then each filter keeps exactly its cases
    assert ids(listed(client, gm, provider="aanbieder-b")) == [other_provider]
    assert ids(listed(client, gm, municipality="Zeist")) == [zeist]
    assert set(ids(listed(client, gm, status="active"))) == {active, other_product, streak}
    assert set(ids(listed(client, gm, status="referred"))) == everyone - {
        active,
        other_product,
        streak,
    }
    assert ids(listed(client, gm, product="02A04")) == [other_product]
    assert ids(listed(client, gm, signal="R-14")) == [streak]
    assert "R-14" in listed(client, gm, signal="R-14")[0]["open_signals"]
    assert ids(listed(client, gm, referred_from="2024-06-01")) == [late]
    assert set(ids(listed(client, gm, referred_to="2024-01-09"))) == {plain, other_provider}
    assert ids(listed(client, gm, referred_from="2024-01-10", referred_to="2024-01-10")) == [zeist]
    # and filters combine
    assert ids(listed(client, gm, status="active", product="02A05", signal="R-14")) == [streak]
    assert listed(client, gm, provider="aanbieder-b", status="active") == []


def test_paging_with_writes_in_between_neither_skips_nor_repeats(
    live: Live, client: httpx.Client
) -> None:
    # given 90 cases, several referred on the same day (ties are ordered by case id)
    gm, ap = municipality(), provider()
    start = date(2023, 1, 2)
    cases = {}
    for i in range(90):
        cid, _ = live.app.open_case(
            gm, referral(on=start + timedelta(days=i // 3), client_ref=f"k{i}")
        )
        cases[str(cid)] = start + timedelta(days=i // 3)
    seen: list[str] = []
    cursor = None
    newer: list[str] = []
    written: set[str] = set()
    while True:
        params = {"limit": 7} | ({"cursor": cursor} if cursor else {})
        r = client.get("/v1/cases", headers=live.token("municipality"), params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        seen += ids(body["cases"])
        # when, between pages, cases already seen and cases still ahead are written to
        behind = next((c for c in reversed(seen) if c not in written), None)
        ahead = next((c for c in cases if c not in seen and c not in written), None)
        for cid in (behind, ahead):
            if cid is not None:
                live.app.record(UUID(cid), ap, f.Intake(held_on=cases[cid] + timedelta(days=3)))
                written.add(cid)
        # and a case is referred that sorts before the cursor (newer than any page so far)
        cid, _ = live.app.open_case(gm, referral(on=date(2025, 1, 1), client_ref="new"))
        newer.append(str(cid))
        cursor = body["next_cursor"]
        if cursor is None:
            break
    # then every case present at the start was listed exactly once, in order
    assert len(seen) == len(set(seen)) == 90
    assert set(seen) == set(cases)
    assert [cases[c] for c in seen] == sorted((cases[c] for c in seen), reverse=True)
    assert len(written) > 20
    # and a fresh walk starts with the cases referred meanwhile
    first = listed(client, live.token("municipality"), limit=len(newer))
    assert set(ids(first)) == set(newer)


@pytest.mark.parametrize(
    ("params", "status", "field"),
    [
        ({"limit": 501}, 422, "limit"),
        ({"limit": 0}, 422, "limit"),
        ({"status": "lost"}, 422, "status"),
        ({"signal": "14"}, 422, "signal"),
        ({"referred_from": "2024-02-01", "referred_to": "2024-01-01"}, 422, "referred_to"),
        ({"cursor": "not-a-cursor"}, 400, "cursor"),
        ({"cursor": "MXwyMDI0LTAxLTA4fG5vdC1hLXV1aWQ"}, 400, "cursor"),  # 1|2024-01-08|not-a-uuid
        ({"referred_from": "yesterday"}, 400, "referred_from"),
    ],
)
def test_bad_parameters_are_problems_naming_the_field(
    live: Live, client: httpx.Client, params: dict, status: int, field: str
) -> None:
    r = client.get("/v1/cases", headers=live.token("municipality"), params=params)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert field in [e["field"] for e in r.json()["errors"]]


def test_limit_500_is_allowed(live: Live, client: httpx.Client) -> None:
    open_case(client, live, "2024-01-08")
    r = client.get("/v1/cases", headers=live.token("auditor"), params={"limit": 500})
    assert r.status_code == 200
    assert r.json()["next_cursor"] is None
