"""GET /v1/declarations and GET /v1/catalogue through a real HTTP client, on both stores."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import httpx

from tests.e2e.conftest import Live

HOURS_4 = {"amount": "4", "unit": "hour", "frequency": "week"}


def ok(r: httpx.Response, status: int = 200) -> dict:
    assert r.status_code == status, r.text
    return r.json()


def zou_case(
    client: httpx.Client, live: Live, client_ref: str, provider: str = "aanbieder-a"
) -> str:
    gemeente, aanbieder = live.token("municipality"), live.token("provider", provider=provider)
    cid = ok(
        client.post(
            "/v1/cases",
            headers=gemeente,
            json={
                "client_ref": client_ref,
                "municipality": "Zeist",
                "provider": provider,
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
                "assignment_number": f"TW-{client_ref}",
                "product": "02A05",
                "volume": HOURS_4,
                "decided_on": "2024-01-10",
                "starts_on": "2024-01-15",
                "ends_on": "2024-12-31",
                "decision_ref": "B-1",
            },
        )
    )
    ok(client.post(f"/v1/cases/{cid}/start", headers=aanbieder, json={"started_on": "2024-01-20"}))
    return cid


def contact(client: httpx.Client, live: Live, cid: str, day: str, minutes: int, **kw) -> None:
    ok(
        client.post(
            f"/v1/cases/{cid}/contacts",
            headers=live.token("provider", provider=kw.pop("provider", "aanbieder-a")),
            json={"occurred_on": day, "minutes": minutes, "kind": "direct", **kw},
        )
    )


def test_month_lines_sum_to_each_cases_consumption(
    live: Live, client: httpx.Client, example_tariffs: None
) -> None:
    # given two cases with February contacts
    a, b = zou_case(client, live, "d-1"), zou_case(client, live, "d-2")
    contact(client, live, a, "2024-02-01", 60)
    contact(client, live, a, "2024-02-12", 45)
    contact(client, live, b, "2024-02-05", 30)
    # when the municipality reads February's declarations
    body = ok(
        client.get(
            "/v1/declarations", params={"month": "2024-02"}, headers=live.token("municipality")
        )
    )
    # then one line per case, and each line equals the case's consumption of the month
    assert {x["case_id"] for x in body["lines"]} == {a, b}
    for line in body["lines"]:
        used = ok(
            client.get(
                f"/v1/cases/{line['case_id']}/consumption",
                params={"month": "2024-02"},
                headers=live.token("municipality"),
            )
        )
        assert line["declarable_minutes"] == used["declarable_minutes"]
        assert line["amount_due"] == used["amount_due"]
        assert (line["product"], line["unit"], line["rate"]) == ("02A05", "hour", "90.00")
        assert "client_ref" in line
    totals = body["totals"]
    assert (totals["lines"], totals["cases"], totals["declarable_minutes"]) == (2, 2, 135)
    assert Decimal(totals["amount_due"]) == Decimal("202.50")
    assert totals["declared_amount"] == "270.00"  # 2 h + 1 h at 90.00 (hours rounded)


def test_csv_gives_the_same_lines_without_client_refs(
    live: Live, client: httpx.Client, example_tariffs: None
) -> None:
    cid = zou_case(client, live, "d-3")
    contact(client, live, cid, "2024-03-04", 90)
    headers = {**live.token("contract_manager"), "Accept": "text/csv"}
    r = client.get("/v1/declarations", params={"month": "2024-03"}, headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == 1
    assert (rows[0]["case_id"], rows[0]["declarable_minutes"], rows[0]["volume"]) == (
        cid,
        "90",
        "2",
    )
    assert "client_ref" not in rows[0]


def test_a_provider_reads_only_its_own_lines(live: Live, client: httpx.Client) -> None:
    mine, theirs = zou_case(client, live, "d-4"), zou_case(client, live, "d-5", "aanbieder-b")
    contact(client, live, mine, "2024-02-01", 60)
    contact(client, live, theirs, "2024-02-01", 60, provider="aanbieder-b")
    own = ok(
        client.get("/v1/declarations", params={"month": "2024-02"}, headers=live.token("provider"))
    )
    assert [x["case_id"] for x in own["lines"]] == [mine]
    r = client.get(
        "/v1/declarations",
        params={"month": "2024-02", "provider": "aanbieder-b"},
        headers=live.token("provider"),
    )
    assert r.status_code == 403
    assert (
        client.get(
            "/v1/declarations", params={"month": "2024-02"}, headers=live.token("auditor")
        ).status_code
        == 403
    )


def test_as_of_answers_as_the_lines_were_known_then(live: Live, client: httpx.Client) -> None:
    cid = zou_case(client, live, "d-6")
    contact(client, live, cid, "2024-02-01", 60)
    before = datetime.now(UTC).isoformat()
    contact(client, live, cid, "2024-02-02", 30)
    gemeente = live.token("municipality")
    now = ok(client.get("/v1/declarations", params={"month": "2024-02"}, headers=gemeente))
    then = ok(
        client.get(
            "/v1/declarations", params={"month": "2024-02", "as_of": before}, headers=gemeente
        )
    )
    assert now["totals"]["declarable_minutes"] == 90
    assert then["totals"]["declarable_minutes"] == 60


def test_a_bad_month_is_a_400_naming_the_field(live: Live, client: httpx.Client) -> None:
    r = client.get(
        "/v1/declarations", params={"month": "2024-13"}, headers=live.token("municipality")
    )
    assert r.status_code == 400
    assert r.json()["errors"][0]["field"] == "month"


def test_catalogue_maps_municipalities_providers_and_products(
    live: Live, client: httpx.Client
) -> None:
    body = ok(
        client.get("/v1/catalogue", params={"on": "2024-06-01"}, headers=live.token("provider"))
    )
    assert {"name": "Zeist", "gemeentecode": "0355"} in body["municipalities"]
    assert {"id": "aanbieder-a", "agb": "98000001", "example": True} in body["providers"]
    products = {p["code"]: p for p in body["products"]}
    assert products["02A05"]["iwmo"] == {"category": "02", "code": "02A05", "example": False}
    assert products["02A05"]["financing"] == "hourly"
    sdd = ok(
        client.get(
            "/v1/catalogue",
            params={"on": "2016-06-01"},
            headers=live.token("municipality", tenant="drechtsteden"),
        )
    )
    ib2 = next(p for p in sdd["products"] if p["code"] == "IB2")
    assert ib2["iwmo"]["example"] is True
    assert ib2["prices"][0]["amount"] == "732.16"
    assert "IB0" not in {p["code"] for p in sdd["products"]}  # from 2022 only
