"""Exports: /v1/kpis as CSV and XLSX with group_by (each row equals the JSON KPIs for that
group's filter), and a case's history as a dispute file (JSON and CSV), on both stores."""

from __future__ import annotations

import csv
import io
import json
import time
from decimal import Decimal

import httpx
import pytest
from openpyxl import load_workbook

from application.demo import generate
from tests.e2e.conftest import Live

CSV = "text/csv"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PERIOD = {"period_start": "2022-02-15", "period_end": "2022-06-10"}


def flat(value: object, prefix: str = "") -> dict[str, object]:
    if isinstance(value, dict):
        out: dict[str, object] = {}
        for k, v in value.items():
            out |= flat(v, f"{prefix}{k}.")
        return out
    return {prefix[:-1]: value}


def cell(value: object) -> str:
    """How a JSON value reads in a CSV cell."""
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value)


@pytest.fixture
def demo(live: Live) -> Live:
    live.app.import_cases(generate(80, seed=7), chunk=20)
    # the imported history projected before the first question (a bulk import is caught up
    # version by version for the KPI rows: longer than a read's bounded wait under load)
    deadline = time.monotonic() + 120
    while httpx.get(f"{live.url}/health").json().get("projections_lag") != 0:
        assert time.monotonic() < deadline, "projections did not catch up"
        time.sleep(0.1)
    return live


def json_kpis(client: httpx.Client, live: Live, row: dict, group_by: list[str]) -> dict:
    params = {"period_start": row["period_start"], "period_end": row["period_end"]}
    params |= {k: row[k] for k in ("provider", "product", "municipality") if k in group_by}
    r = client.get("/v1/kpis", headers=live.token("contract_manager"), params=params)
    assert r.status_code == 200, r.text
    figures = flat(r.json())
    return {k: v for k, v in figures.items() if not k.startswith("filters.")}


def rows_of_csv(response: httpx.Response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.text)))


def test_kpi_csv_row_per_provider_and_month_equals_the_json_for_that_filter(
    demo: Live, client: httpx.Client
) -> None:
    # when a contract manager asks for the KPIs per provider and month as CSV
    group_by = ["provider", "month"]
    r = client.get("/v1/kpis", headers=demo.token("contract_manager") | {"Accept": CSV},
                   params=PERIOD | {"group_by": "month,provider"})  # fmt: skip
    rows = rows_of_csv(r)
    assert r.headers["content-disposition"].startswith("attachment; filename=")
    # then the groups are the providers x the five months the period touches, clipped
    assert list(rows[0])[:6] == [
        "provider",
        "month",
        "period_start",
        "period_end",
        "as_of",
        "cases",
    ]
    assert {row["month"] for row in rows} == {"2022-02", "2022-03", "2022-04", "2022-05", "2022-06"}
    assert {row["provider"] for row in rows} == {"aanbieder-a", "aanbieder-b", "aanbieder-c"}
    feb = next(row for row in rows if row["month"] == "2022-02")
    assert (feb["period_start"], feb["period_end"]) == ("2022-02-15", "2022-02-28")
    assert all(row["period_start"][:7] == row["month"] == row["period_end"][:7] for row in rows)
    # and every row holds exactly the JSON figures of /v1/kpis for its provider and month
    for row in rows:
        expected = json_kpis(client, demo, row, group_by)
        assert {k: row[k] for k in expected} == {k: cell(v) for k, v in expected.items()}
        extra = set(row) - set(expected) - set(group_by)
        assert all(row[k] == "" for k in extra), extra  # e.g. reasons only other groups have
    assert sum(int(row["cases"]) for row in rows) > 0


def test_kpi_csv_default_breakdown_is_provider_product_municipality_month(
    demo: Live, client: httpx.Client
) -> None:
    params = {"period_start": "2022-04-01", "period_end": "2022-05-31"}
    headers = demo.token("municipality", tenant="drechtsteden") | {"Accept": CSV}
    rows = rows_of_csv(client.get("/v1/kpis", headers=headers, params=params))
    assert list(rows[0])[:4] == ["provider", "product", "municipality", "month"]
    assert len(rows) > 5
    for row in rows[::3]:
        params = {"period_start": row["period_start"], "period_end": row["period_end"]}
        params |= {k: row[k] for k in ("provider", "product", "municipality")}
        r = client.get("/v1/kpis", headers=demo.token("municipality", tenant="drechtsteden"),
                       params=params)  # fmt: skip
        expected = {k: v for k, v in flat(r.json()).items() if not k.startswith("filters.")}
        assert {k: row[k] for k in expected} == {k: cell(v) for k, v in expected.items()}


def test_kpi_xlsx_per_product_equals_the_json_with_numbers_as_numbers(
    demo: Live, client: httpx.Client
) -> None:
    r = client.get("/v1/kpis", headers=demo.token("contract_manager", tenant="drechtsteden")
                   | {"Accept": XLSX}, params=PERIOD | {"group_by": "product"})  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == XLSX
    assert r.headers["content-disposition"].endswith('.xlsx"')
    sheet = load_workbook(io.BytesIO(r.content), read_only=True).active
    header, *lines = [list(line) for line in sheet.iter_rows(values_only=True)]
    assert header[:2] == ["product", "period_start"]
    assert len(lines) >= 3
    for line in lines:
        row = dict(zip(header, line, strict=True))
        params = PERIOD | {"product": row["product"]}
        got = client.get("/v1/kpis", headers=demo.token("contract_manager", tenant="drechtsteden"),
                         params=params).json()  # fmt: skip
        expected = {k: v for k, v in flat(got).items() if not k.startswith("filters.")}
        for key, value in expected.items():
            if key == "cost":
                assert row[key] == Decimal(value), key
            else:
                assert row[key] == value, key


def test_kpi_table_as_json_when_group_by_without_accept(demo: Live, client: httpx.Client) -> None:
    r = client.get("/v1/kpis", headers=demo.token("contract_manager"),
                   params=PERIOD | {"group_by": "municipality"})  # fmt: skip
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["group_by"] == ["municipality"]
    assert body["columns"][:2] == ["municipality", "period_start"]
    whole = client.get("/v1/kpis", headers=demo.token("contract_manager"), params=PERIOD).json()
    assert sum(row["cases"] for row in body["rows"]) == whole["cases"]  # a case has one town


@pytest.mark.parametrize(
    ("role", "params", "status"),
    [
        ("contract_manager", {"group_by": "provider,client"}, 422),
        ("contract_manager", {"group_by": "provider", "period_end": "2022-01-01"}, 400),
        ("provider", {}, 403),
        ("auditor", {}, 403),
    ],
)
def test_kpi_export_refusals(
    live: Live, client: httpx.Client, role: str, params: dict, status: int
) -> None:
    r = client.get("/v1/kpis", headers=live.token(role) | {"Accept": CSV}, params=PERIOD | params)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")


def test_kpi_csv_without_cases_is_a_header(live: Live, client: httpx.Client) -> None:
    r = client.get("/v1/kpis", headers=live.token("contract_manager") | {"Accept": CSV},
                   params=PERIOD)  # fmt: skip
    assert r.status_code == 200
    assert r.text.splitlines()[0].startswith("provider,product,municipality,month,period_start")
    assert len(r.text.splitlines()) == 1


# --- dispute file ---------------------------------------------------------------------------


@pytest.fixture
def case_id(live: Live, client: httpx.Client) -> str:
    gm, ap = live.token("municipality"), live.token("provider")
    cid = client.post("/v1/cases", headers=gm, json={
        "client_ref": "zou-9", "municipality": "Houten", "provider": "aanbieder-a",
        "referred_on": "2024-01-08"}).json()["case_id"]  # fmt: skip
    for path, body, who in (
        ("intake", {"held_on": "2024-01-12"}, ap),
        ("indications", {"assignment_number": "TW-1", "product": "02A05", "decided_on": "2024-01-15",
                         "volume": {"amount": "4", "unit": "hour", "frequency": "week"},
                         "starts_on": "2024-01-15", "ends_on": "2024-12-31", "decision_ref": "B-1"}, gm),
        ("start", {"started_on": "2024-01-20"}, ap),
        ("contacts", {"occurred_on": "2024-02-01", "minutes": 45, "kind": "direct"}, ap),
        ("corrections", {"event_version": 5, "reason": "typo",
                         "replacement": {"occurred_on": "2024-02-01", "minutes": 50, "kind": "direct"}}, ap),
    ):  # fmt: skip
        r = client.post(f"/v1/cases/{cid}/{path}", headers=who, json=body)
        assert r.status_code == 200, r.text
    return str(cid)


def test_dispute_file_json_holds_the_history_and_who_exported_it(
    live: Live, client: httpx.Client, case_id: str
) -> None:
    headers = live.token("auditor", sub="auditor-7")
    r = client.get(f"/v1/cases/{case_id}/dispute-file", headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-disposition"] == (
        f'attachment; filename="case-{case_id}-history.json"'
    )
    body = r.json()
    history = client.get(f"/v1/cases/{case_id}/history", headers=headers).json()
    assert body["events"] == history["events"]
    assert [e["type"] for e in body["events"]][-1] == "EventCorrected"
    assert body["exported_by"] == {"sub": "auditor-7", "role": "auditor", "tenant": "zou",
                                   "provider": None}  # fmt: skip
    assert (body["case"]["status"], body["case"]["version"]) == ("active", 6)


def test_dispute_file_csv_has_one_parsable_row_per_event(
    live: Live, client: httpx.Client, case_id: str
) -> None:
    headers = live.token("provider")
    r = client.get(f"/v1/cases/{case_id}/dispute-file", headers=headers | {"Accept": CSV})
    rows = rows_of_csv(r)
    assert r.headers["content-disposition"].endswith('-history.csv"')
    history = client.get(f"/v1/cases/{case_id}/history", headers=headers).json()["events"]
    assert len(rows) == len(history) == 6
    for row, event in zip(rows, history, strict=True):
        assert int(row["version"]) == event["version"]
        assert (row["type"], row["occurred_on"]) == (event["type"], event["occurred_on"])
        assert row["actor.role"] == event["actor"]["role"]
        assert json.loads(row["data"]) == event["data"]
    assert rows[4]["corrected_by"] == "6"
    assert rows[5]["corrects"] == "5"


def test_dispute_file_as_of_leaves_later_events_out(
    live: Live, client: httpx.Client, case_id: str
) -> None:
    headers = live.token("municipality")
    history = client.get(f"/v1/cases/{case_id}/history", headers=headers).json()["events"]
    instant = history[2]["recorded_at"]
    r = client.get(f"/v1/cases/{case_id}/dispute-file", headers=headers,
                   params={"as_of": instant})  # fmt: skip
    assert [e["version"] for e in r.json()["events"]] == [1, 2, 3]


def test_dispute_file_is_scoped_like_the_history(
    live: Live, client: httpx.Client, case_id: str
) -> None:
    url = f"/v1/cases/{case_id}/dispute-file"
    assert client.get(url).status_code == 401
    assert client.get(url, headers=live.token("contract_manager")).status_code == 403
    for headers in (
        live.token("provider", provider="aanbieder-b"),
        live.token("auditor", tenant="drechtsteden"),
    ):
        assert client.get(url, headers=headers | {"Accept": CSV}).status_code == 404


def test_dispute_file_csv_keeps_formula_like_text_as_text(
    live: Live, client: httpx.Client, case_id: str
) -> None:
    # given a note that a spreadsheet would run as a formula (CSV injection)
    note = '=HYPERLINK("http://x.example")'
    r = client.post(f"/v1/cases/{case_id}/evaluations",
                    headers=live.token("provider") | {"X-Audit-Toelichting": note},
                    json={"evaluated_on": "2024-03-01", "kind": "periodic", "zrm": {"financien": 3}})  # fmt: skip
    assert r.status_code == 200, r.text
    # then the CSV cell starts with a quote, while the JSON keeps the note as given
    headers = live.token("auditor")
    rows = rows_of_csv(
        client.get(f"/v1/cases/{case_id}/dispute-file", headers=headers | {"Accept": CSV})
    )
    assert rows[-1]["actor.note"] == "'" + note
    events = client.get(f"/v1/cases/{case_id}/dispute-file", headers=headers).json()["events"]
    assert events[-1]["actor"]["note"] == note
