"""Corrections through the HTTP API, on both stores: the aggregate judges the target (C-07,
C-08) before the replacement is read as the target's kind, and a replacement that does not
fit that kind is a 422 naming the field under ``replacement``."""

from __future__ import annotations

import httpx

from tests.e2e.conftest import Live
from tests.e2e.test_domain_fidelity import INDICATION, fields, new_case


def started_case(live: Live, client: httpx.Client) -> str:
    path = new_case(live, client, client_ref="zou-corr")
    gm, pr = live.token("municipality"), live.token("provider")
    assert client.post(f"{path}/indications", headers=gm, json=INDICATION).status_code == 200
    r = client.post(f"{path}/start", headers=pr, json={"started_on": "2024-01-20"})
    assert r.status_code == 200, r.text
    return path  # versions: 1 referral, 2 indication, 3 start of care


def correct(live: Live, client: httpx.Client, path: str, role: str, body: dict) -> httpx.Response:
    return client.post(f"{path}/corrections", headers=live.token(role), json=body)


def test_a_start_of_care_is_corrected_as_posted_C07(live: Live, client: httpx.Client) -> None:
    path = started_case(live, client)
    r = correct(live, client, path, "provider",
                {"event_version": 3, "replacement": {"started_on": "2024-01-22"}, "reason": "typo"})  # fmt: skip
    assert r.status_code == 200, r.text
    case = client.get(path, headers=live.token("provider")).json()
    assert case["version"] == 4
    assert case["started_on"] == "2024-01-22"


def test_a_version_the_case_does_not_have_is_refused_C07(live: Live, client: httpx.Client) -> None:
    path = started_case(live, client)
    r = correct(live, client, path, "provider",
                {"event_version": 9, "replacement": {"started_on": "2024-01-22"}, "reason": "x"})  # fmt: skip
    assert r.status_code == 409, r.text
    assert r.json()["rule"] == "C-07"


def test_the_referral_is_not_corrected_by_replacement_C07(live: Live, client: httpx.Client) -> None:
    path = started_case(live, client)
    r = correct(live, client, path, "municipality",
                {"event_version": 1, "replacement": {"referred_on": "2024-01-09"}, "reason": "x"})  # fmt: skip
    assert r.status_code == 409, r.text
    assert r.json()["rule"] == "C-07"


def test_only_the_writer_role_corrects_before_the_body_is_read_C08(
    live: Live, client: httpx.Client
) -> None:
    # a municipality's replacement of the provider's start is refused for its role first,
    # even though its body would not fit a start of care either
    path = started_case(live, client)
    r = correct(live, client, path, "municipality",
                {"event_version": 3, "replacement": {"held_on": "2024-01-22"}, "reason": "x"})  # fmt: skip
    assert r.status_code == 409, r.text
    assert r.json()["rule"] == "C-08"


def test_a_replacement_of_another_shape_is_422_naming_the_field(
    live: Live, client: httpx.Client
) -> None:
    path = started_case(live, client)
    r = correct(live, client, path, "provider",
                {"event_version": 3, "replacement": {"held_on": "2024-01-22"}, "reason": "x"})  # fmt: skip
    assert r.status_code == 422, r.text
    assert fields(r) == ["replacement"]  # the unknown field held_on, at the replacement's top
    r = correct(live, client, path, "provider",
                {"event_version": 3, "replacement": {"started_on": "soon"}, "reason": "x"})  # fmt: skip
    assert r.status_code == 422, r.text
    assert fields(r) == ["replacement.started_on"]
    assert client.get(path, headers=live.token("provider")).json()["version"] == 3
