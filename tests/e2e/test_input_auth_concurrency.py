"""Bad input, bad tokens, concurrency and idempotency through the real HTTP server."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import jwt
import pytest

from tests.e2e.conftest import KEY, Live

REFERRAL = {
    "client_ref": "zou-7", "municipality": "Houten", "provider": "aanbieder-a",
    "referred_on": "2024-01-08",
}  # fmt: skip
HOURS = {"amount": "4", "unit": "hour", "frequency": "week"}


def active_case(live: Live, client: httpx.Client) -> str:
    gemeente = live.token("municipality")
    cid = client.post("/v1/cases", headers=gemeente, json=REFERRAL).json()["case_id"]
    client.post(f"/v1/cases/{cid}/indications", headers=gemeente, json={
        "assignment_number": "TW-1", "product": "02A05", "volume": HOURS,
        "starts_on": "2024-01-15", "ends_on": "2024-12-31", "decision_ref": "B-1", "decided_on": "2024-01-12"})  # fmt: skip
    r = client.post(
        f"/v1/cases/{cid}/start", headers=live.token("provider"), json={"started_on": "2024-01-20"}
    )
    assert r.status_code == 200
    return str(cid)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"occurred_on": "2024-02-01", "minutes": 0, "kind": "direct"}, "minutes"),
        ({"occurred_on": "2024-02-01", "minutes": 2000, "kind": "direct"}, "minutes"),
        ({"occurred_on": "2024-02-01", "minutes": 30, "kind": "coffee"}, "kind"),
        ({"occurred_on": "2024-02-31", "minutes": 30, "kind": "direct"}, "occurred_on"),
        ({"occurred_on": "2024-02-01", "minutes": "30", "kind": "direct"}, "minutes"),
        ({"occurred_on": "2024-02-01", "minutes": 30, "kind": "direct", "bsn": "123"}, "bsn"),
        ({"minutes": 30, "kind": "direct"}, "occurred_on"),
        ({"occurred_on": "2024-02-01", "minutes": 30, "kind": "group", "participants": 0}, "participants"),
    ],
)  # fmt: skip
def test_bad_contact_fields_are_422_naming_the_field(
    live: Live, client: httpx.Client, body: dict, field: str
) -> None:
    cid = active_case(live, client)
    r = client.post(f"/v1/cases/{cid}/contacts", headers=live.token("provider"), json=body)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert {"type", "title", "status", "detail"} <= set(problem)
    assert field in [e["field"] for e in problem["errors"]]
    assert "Traceback" not in r.text
    # nothing was written
    assert client.get(f"/v1/cases/{cid}", headers=live.token("municipality")).json()["version"] == 3


def test_malformed_json_is_400_and_a_huge_body_is_413(live: Live, client: httpx.Client) -> None:
    cid = active_case(live, client)
    headers = live.token("provider") | {"content-type": "application/json"}
    r = client.post(f"/v1/cases/{cid}/contacts", headers=headers, content=b'{"minutes": ')
    assert r.status_code == 400
    r = client.post(
        f"/v1/cases/{cid}/contacts", headers=headers, content=b"[" + b"1," * 100_000 + b"1]"
    )
    assert r.status_code == 413
    r = client.get(f"/v1/cases/{cid}", headers=live.token("municipality"), params={"version": "x"})
    assert r.status_code == 400
    r = client.get("/v1/cases/not-a-uuid", headers=live.token("municipality"))
    assert r.status_code == 404


@pytest.mark.parametrize("offset", ["-1", "57853035360010010624", "1000000001"])
def test_a_signals_page_offset_out_of_range_is_422_naming_offset(
    live: Live, client: httpx.Client, offset: str
) -> None:
    r = client.get("/v1/signals", headers=live.token("municipality"), params={"offset": offset})
    assert r.status_code in (400, 422), r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    if r.status_code == 422:
        assert "offset" in [e["field"] for e in r.json()["errors"]]


def forged(claims: dict, key: str = KEY, alg: str = "HS256") -> dict[str, str]:
    return {"Authorization": "Bearer " + jwt.encode(claims, key, algorithm=alg)}


def test_bad_tokens_are_401(live: Live, client: httpx.Client) -> None:
    now = int(time.time())
    good = {"sub": "s", "role": "municipality", "tenant": "zou", "exp": now + 60}
    none_alg = jwt.encode(good, None, algorithm="none")  # type: ignore[arg-type]
    for headers in (
        forged(good | {"exp": now - 10}),  # expired
        forged(good, key="wrong-key-" + "y" * 40),  # wrong signature
        {"Authorization": "Bearer " + none_alg},  # alg: none
        forged({k: v for k, v in good.items() if k != "tenant"}),  # missing claim
        forged({k: v for k, v in good.items() if k != "exp"}),  # no expiry
        forged(good | {"role": "admin"}),  # unknown role
        forged(good | {"role": "provider"}),  # provider without provider claim
        {"Authorization": "Basic dXNlcjpwYXNz"},
    ):
        r = client.post("/v1/cases", headers=headers, json=REFERRAL)
        assert r.status_code == 401, (headers, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")


def test_rule_refusal_is_409_with_the_rule_and_stale_if_match_is_412(
    live: Live, client: httpx.Client
) -> None:
    gemeente, aanbieder = live.token("municipality"), live.token("provider")
    cid = client.post("/v1/cases", headers=gemeente, json=REFERRAL).json()["case_id"]
    r = client.post(f"/v1/cases/{cid}/start", headers=aanbieder, json={"started_on": "2024-01-20"})
    assert r.status_code == 409
    assert r.json()["detail"].startswith("R-20")
    cid = active_case(live, client)
    contact = {"occurred_on": "2024-02-01", "minutes": 30, "kind": "direct"}
    r = client.post(
        f"/v1/cases/{cid}/contacts", headers=aanbieder | {"If-Match": '"3"'}, json=contact
    )
    assert (r.status_code, r.headers["etag"]) == (200, '"4"')
    r = client.post(
        f"/v1/cases/{cid}/contacts", headers=aanbieder | {"If-Match": '"3"'}, json=contact
    )
    assert r.status_code == 412


def test_an_idempotent_retry_returns_the_first_response_and_writes_once(
    live: Live, client: httpx.Client
) -> None:
    cid = active_case(live, client)
    headers = live.token("provider") | {"Idempotency-Key": "contact-0001"}
    contact = {"occurred_on": "2024-02-01", "minutes": 30, "kind": "direct"}
    first = client.post(f"/v1/cases/{cid}/contacts", headers=headers, json=contact)
    again = client.post(f"/v1/cases/{cid}/contacts", headers=headers, json=contact)
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert again.headers["etag"] == first.headers["etag"]
    assert again.headers.get("idempotent-replayed") == "true"
    other = client.post(
        f"/v1/cases/{cid}/contacts", headers=headers, json=contact | {"minutes": 45}
    )
    assert other.status_code == 422
    events = client.get(f"/v1/cases/{cid}/history", headers=live.token("municipality")).json()[
        "events"
    ]
    assert [e["type"] for e in events].count("ContactRecorded") == 1
    # a new server on the same store still knows the key
    assert live.app.recorder.max_notification_id() == 4


def test_parallel_writes_to_one_case_are_gap_free_and_never_500(
    live: Live, client: httpx.Client
) -> None:
    cid = active_case(live, client)
    aanbieder = live.token("provider")

    def write(i: int) -> int:
        body = {"occurred_on": f"2024-03-{1 + i % 28:02d}", "minutes": 30, "kind": "direct"}
        with httpx.Client(base_url=live.url, timeout=30) as c:
            return c.post(f"/v1/cases/{cid}/contacts", headers=aanbieder, json=body).status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(write, range(60)))
    assert all(s < 500 for s in statuses), statuses
    assert statuses.count(200) == 60
    versions = [
        e["version"]
        for e in client.get(f"/v1/cases/{cid}/history", headers=live.token("municipality")).json()[
            "events"
        ]
    ]
    assert versions == list(range(1, 64))
