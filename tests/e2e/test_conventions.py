"""Service conventions through the real HTTP server: X-Request-ID, request_id in every
problem, Allow on 405, HEAD, the query string in the access log, Prometheus /metrics."""

from __future__ import annotations

import httpx
import pytest
import structlog

from tests.e2e.conftest import Live

SCRAPE = "scrape-token-" + "m" * 20


@pytest.fixture(autouse=True)
def _scrape_token(monkeypatch: pytest.MonkeyPatch) -> None:
    """The server (built after autouse fixtures) reads its settings from the environment."""
    monkeypatch.setenv("CASELOG_METRICS_TOKEN", SCRAPE)


def test_an_incoming_request_id_is_kept_and_a_bad_one_replaced(
    live: Live, client: httpx.Client
) -> None:
    r = client.get(
        "/v1/cases/nope", headers=live.token("municipality") | {"X-Request-ID": "gw-42.a:b_c"}
    )
    assert r.headers["x-request-id"] == "gw-42.a:b_c"
    assert r.json()["request_id"] == "gw-42.a:b_c"
    for bad in ("has space", "x" * 129, "a;b=c", "caf\u00e9"):
        r = client.get("/health", headers={"X-Request-ID": bad.encode()})
        kept = r.headers["x-request-id"]
        assert kept
        assert kept != bad
        assert kept.isascii()
        assert " " not in kept


def test_every_problem_names_the_request_id(live: Live, client: httpx.Client) -> None:
    municipality = live.token("municipality")
    cid = client.post("/v1/cases", headers=municipality, json={
        "client_ref": "conv-1", "municipality": "Houten", "provider": "aanbieder-a",
        "referred_on": "2024-01-08"}).json()["case_id"]  # fmt: skip
    keyed = municipality | {"Idempotency-Key": "k-1"}
    assert client.post(f"/v1/cases/{cid}/intake", headers=keyed, json={}).status_code in (
        200,
        409,
        422,
    )
    answers = [
        client.get("/v1/signals"),  # 401
        client.get(
            "/v1/kpis?period_start=2024-01-01&period_end=2024-12-31", headers=live.token("provider")
        ),  # 403
        client.get("/v1/cases/00000000-0000-0000-0000-000000000000", headers=municipality),  # 404
        client.delete("/health"),  # 405, raised while routing
        client.get("/v2/nothing-here", headers=municipality),  # 404, raised while routing
        client.get("/v1/signals?limit=0", headers=municipality),  # 400
        client.post(
            f"/v1/cases/{cid}/contacts", headers=municipality, json={"minutes": "x"}
        ),  # 422
        client.post(f"/v1/cases/{cid}/intake", headers=keyed, json={"other": 1}),  # key reused
        client.post(
            f"/v1/cases/{cid}/intake",
            headers=municipality | {"Idempotency-Key": "k" * 201},
            json={},
        ),
    ]
    for r in answers:
        assert r.status_code >= 400, r.text
        assert r.headers["content-type"].startswith("application/problem+json"), r.text
        assert r.json().get("request_id") == r.headers["x-request-id"], (r.status_code, r.text)
    assert {r.status_code for r in answers} >= {400, 401, 403, 404, 405, 422}


def test_405_says_which_methods_are_allowed(client: httpx.Client) -> None:
    r = client.put("/health")
    assert r.status_code == 405
    assert "GET" in r.headers["allow"]


def test_head_on_health_answers_without_a_body(client: httpx.Client) -> None:
    r = client.head("/health")
    assert r.status_code == 200
    assert r.content == b""
    assert r.headers["x-request-id"]


def test_the_access_log_holds_the_query_string(live: Live, client: httpx.Client) -> None:
    with structlog.testing.capture_logs() as logs:
        client.get("/v1/cases/00000000-0000-0000-0000-000000000001?as_of=2024-03-01T12:00:00Z",
                   headers=live.token("municipality"))  # fmt: skip
    lines = [x for x in logs if x.get("event") == "request"]
    assert lines, logs
    assert lines[-1]["query"] == "as_of=2024-03-01T12:00:00Z"
    assert "authorization" not in str(lines).lower()


def test_metrics_need_the_scrape_token(live: Live, client: httpx.Client) -> None:
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers=live.token("auditor")).status_code == 401
    r = client.get("/metrics", headers={"Authorization": "Bearer wrong-" + SCRAPE})
    assert r.status_code == 401
    assert r.json()["request_id"]


def test_metrics_count_requests_write_batches_and_projection_lag(
    live: Live, client: httpx.Client
) -> None:
    municipality = live.token("municipality")
    for n in range(3):
        r = client.post("/v1/cases", headers=municipality, json={
            "client_ref": f"m-{n}", "municipality": "Houten", "provider": "aanbieder-a",
            "referred_on": "2024-01-08"})  # fmt: skip
        assert r.status_code == 201
        intake = client.post(f"/v1/cases/{r.json()['case_id']}/intake",
                             headers=live.token("provider"), json={"held_on": "2024-01-10"})  # fmt: skip
        assert intake.status_code == 200, intake.text
    client.get("/v1/signals", headers=municipality)  # waits for the projections
    r = client.get("/metrics", headers={"Authorization": f"Bearer {SCRAPE}"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert 'caselog_http_requests_total{method="POST",route="/v1/cases",status="201"} 3.0' in text
    assert (
        'caselog_http_request_duration_seconds_bucket{le="+Inf",method="GET",route="/v1/signals"}'
        in text
    )
    assert "caselog_write_batched_commands_total 3.0" in text  # the three intakes
    assert "caselog_write_batches_total " in text
    assert 'caselog_projection_lag_events{projection="signals"} 0.0' in text
    assert "/v1/cases/" + "0" * 8 not in text, "routes are templates, never case ids"
