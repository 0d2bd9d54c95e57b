"""GET /v1/iwmo/outbox (and the WMO323 read) through a real HTTP client, on both stores."""

from __future__ import annotations

import httpx

from iwmo import codec
from iwmo.messages import Wmo301, Wmo305, Wmo307, Wmo317, Wmo319
from projections.outbox import OutboxProjection
from tests.e2e.conftest import Live

HOURS_4 = {"amount": "4", "unit": "hour", "frequency": "week"}
BSN = "999990019"


def ok(r: httpx.Response, status: int = 200) -> dict:
    assert r.status_code == status, r.text
    return r.json()


def case_with_client(client: httpx.Client, live: Live, ref: str) -> str:
    gemeente = live.token("municipality")
    ok(
        client.post(
            "/v1/clients",
            headers=gemeente,
            json={"client_ref": ref, "bsn": BSN, "name": "Jansen", "birth_date": "1980-01-01"},
        ),
        201,
    )
    cid = ok(
        client.post(
            "/v1/cases",
            headers=gemeente,
            json={
                "client_ref": ref,
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
                "assignment_number": f"TW-{ref}",
                "product": "02A05",
                "volume": HOURS_4,
                "decided_on": "2024-01-10",
                "starts_on": "2024-01-15",
                "ends_on": "2024-12-31",
                "decision_ref": "B-1",
            },
        )
    )
    return cid


def feed(client: httpx.Client, headers: dict, after: int = 0, limit: int = 100) -> dict:
    return ok(
        client.get("/v1/iwmo/outbox", params={"after": after, "limit": limit}, headers=headers)
    )


def test_a_decision_feeds_the_provider_and_a_start_feeds_the_municipality(
    live: Live, client: httpx.Client
) -> None:
    # given a case indicated by the municipality and started by the provider
    cid = case_with_client(client, live, "o-1")
    aanbieder, gemeente = live.token("provider"), live.token("municipality")
    ok(client.post(f"/v1/cases/{cid}/start", headers=aanbieder, json={"started_on": "2024-01-20"}))
    # then the provider's feed holds a WMO301 with the assignment, Afzender the gemeentecode
    mine = feed(client, aanbieder)["messages"]
    assert [m["code"] for m in mine] == ["WMO301"]
    msg = codec.decode(mine[0]["xml"].encode())
    assert isinstance(msg, Wmo301)
    assert (msg.header.afzender, msg.header.ontvanger) == ("0355", "98000001")
    assert msg.client.bsn == BSN
    (product,) = msg.client.toegewezen_producten
    assert (product.toewijzing_nummer, product.product.code) == ("TW-o-1", "02A05")
    assert (product.omvang.volume, product.omvang.eenheid, product.omvang.frequentie) == (
        4,
        "04",
        "2",
    )
    # and the municipality's feed holds the WMO305 of the start
    theirs = feed(client, gemeente)["messages"]
    assert [m["code"] for m in theirs] == ["WMO305"]
    for town, expected in (("0355", 1), ("Zeist", 1), ("0312", 0)):
        narrowed = client.get("/v1/iwmo/outbox", params={"municipality": town}, headers=gemeente)
        assert len(ok(narrowed)["messages"]) == expected
    bad = client.get("/v1/iwmo/outbox", params={"municipality": "9999"}, headers=gemeente)
    assert bad.status_code == 400
    start = codec.decode(theirs[0]["xml"].encode())
    assert isinstance(start, Wmo305)
    assert start.client.start_producten[0].begindatum.isoformat() == "2024-01-20"
    assert (start.header.afzender, start.header.ontvanger) == ("98000001", "0355")


def test_feed_is_ordered_paged_and_each_fact_appears_once(live: Live, client: httpx.Client) -> None:
    aanbieder, gemeente = live.token("provider"), live.token("municipality")
    cid = case_with_client(client, live, "o-2")
    ok(client.post(f"/v1/cases/{cid}/start", headers=aanbieder, json={"started_on": "2024-01-20"}))
    req = ok(
        client.post(
            f"/v1/cases/{cid}/change-requests",
            headers=aanbieder,
            json={
                "kind": "scale_down",
                "volume": {"amount": "2", "unit": "hour", "frequency": "week"},
                "effective_on": "2024-03-01",
                "report": "gaat goed",
            },
        ),
        201,
    )
    ok(
        client.post(
            f"/v1/cases/{cid}/change-requests/{req['request_id']}/decision",
            headers=gemeente,
            json={"granted": False, "decided_on": "2024-02-20", "reason": "nog niet"},
        )
    )
    ok(
        client.post(
            f"/v1/cases/{cid}/scale-changes",
            headers=gemeente,
            json={
                "effective_on": "2024-04-01",
                "product": "02A05",
                "volume": {"amount": "2", "unit": "hour", "frequency": "week"},
                "reason": "afschaling",
            },
        )
    )
    ok(
        client.post(
            f"/v1/cases/{cid}/end",
            headers=aanbieder,
            json={"ended_on": "2024-06-30", "reason": "19", "destination": "none"},
        )
    )
    # the provider's feed, one message a page
    first = feed(client, aanbieder, limit=1)
    second = feed(client, aanbieder, after=first["next"], limit=1)
    rest = feed(client, aanbieder, after=second["next"])
    pages = first["messages"] + second["messages"] + rest["messages"]
    assert [m["code"] for m in pages] == ["WMO301", "WMO319", "WMO301"]
    assert [m["id"] for m in pages] == sorted(m["id"] for m in pages)
    refusal = codec.decode(pages[1]["xml"].encode())
    assert isinstance(refusal, Wmo319)
    assert refusal.antwoord.verzoek_antwoord == "1"
    scaled = codec.decode(pages[2]["xml"].encode())
    numbers = {p.toewijzing_nummer: p for p in scaled.client.toegewezen_producten}
    assert len(numbers) == 2  # the withdrawn assignment (shortened) and the new one
    assert numbers["TW-o-2"].einddatum.isoformat() == "2024-03-31"
    assert numbers["TW-o-2"].reden_wijziging == "05"
    assert feed(client, aanbieder, after=rest["next"])["messages"] == []
    # the municipality's feed: start, change request, stop
    codes = [m["code"] for m in feed(client, gemeente)["messages"]]
    assert codes == ["WMO305", "WMO317", "WMO307"]
    types = [type(codec.decode(m["xml"].encode())) for m in feed(client, gemeente)["messages"]]
    assert types == [Wmo305, Wmo317, Wmo307]
    # and a rebuild gives the same rows
    before = feed(client, gemeente)["messages"] + feed(client, aanbieder)["messages"]
    svc = live_services(live)
    OutboxProjection(live.app, svc).rebuild()
    after = feed(client, gemeente)["messages"] + feed(client, aanbieder)["messages"]
    assert after == before


def live_services(live: Live):
    from storage.views import ViewStore

    return ViewStore(live.app.store)


def test_positions_beyond_the_log_are_client_mistakes_not_500(
    live: Live, client: httpx.Client
) -> None:
    headers = live.token("provider")
    huge = 2**70
    r = client.get("/v1/iwmo/outbox", params={"after": huge}, headers=headers)
    assert r.status_code == 400, r.text
    assert "after" in [e["field"] for e in r.json()["errors"]]
    assert client.get(f"/v1/iwmo/outbox/{huge}", headers=headers).status_code == 404


def test_an_erased_clients_message_cannot_be_built_410(live: Live, client: httpx.Client) -> None:
    cid = case_with_client(client, live, "o-3")
    aanbieder = live.token("provider")
    assert cid
    from application.registry import ClientRegistry

    ClientRegistry(live_services(live)).erase("zou", "o-3", by="test")
    (msg,) = feed(client, aanbieder)["messages"]
    assert msg["xml"] is None
    assert "erased" in msg["problem"]
    r = client.get(f"/v1/iwmo/outbox/{msg['id']}", headers=aanbieder)
    assert r.status_code == 410


def test_the_declaration_cycle_declare_submit_correct(
    live: Live, client: httpx.Client, example_tariffs: None
) -> None:
    from iwmo.messages import Wmo323

    cid = case_with_client(client, live, "o-4")
    aanbieder = live.token("provider")
    ok(client.post(f"/v1/cases/{cid}/start", headers=aanbieder, json={"started_on": "2024-01-20"}))
    ok(
        client.post(
            f"/v1/cases/{cid}/contacts",
            headers=aanbieder,
            json={"occurred_on": "2024-02-05", "minutes": 60, "kind": "direct"},
        )
    )
    path = "/v1/iwmo/declarations/2024-02"
    # the provider reads its WMO323 (by gemeentecode or name) and submits it unchanged
    r = client.get(path, params={"municipality": "0355"}, headers=aanbieder)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/xml")
    first = codec.decode(r.content)
    assert isinstance(first, Wmo323)
    # naming itself by its own AGB code gives the same message; another provider's is 403
    own = client.get(path, params={"municipality": "0355", "provider": "98000001"},
                     headers=aanbieder)  # fmt: skip
    assert own.status_code == 200, own.text
    assert own.content == r.content
    other = client.get(path, params={"municipality": "0355", "provider": "98000002"},
                       headers=aanbieder)  # fmt: skip
    assert other.status_code == 403, other.text
    (line,) = first.declaratie.clienten[0].prestaties
    assert (line.geleverd_volume, line.product_tarief, line.ingediend_bedrag.bedrag) == (
        1,
        9000,
        9000,
    )
    answer = client.post(
        "/v1/iwmo/messages",
        content=r.content,
        headers={**aanbieder, "Content-Type": "application/xml"},
    )
    assert answer.status_code == 200, answer.text
    # the month is declared now: nothing new to declare (409, rule C-07)
    again = client.get(path, params={"municipality": "Zeist"}, headers=aanbieder)
    assert again.status_code == 409
    assert again.json()["rule"] == "C-07"
    # a late contact: the next WMO323 credits the declared line and declares the new one
    ok(
        client.post(
            f"/v1/cases/{cid}/contacts",
            headers=aanbieder,
            json={"occurred_on": "2024-02-26", "minutes": 60, "kind": "direct"},
        )
    )
    second = codec.decode(
        client.get(path, params={"municipality": "0355"}, headers=aanbieder).content
    )
    credit, debit = second.declaratie.clienten[0].prestaties
    assert credit.ingediend_bedrag.debet_credit == "C"
    assert credit.product_referentie.vorig_referentie_nummer == (
        line.product_referentie.referentie_nummer
    )
    assert (debit.geleverd_volume, debit.ingediend_bedrag.bedrag) == (2, 18000)
    # a municipality asks with the provider named; another provider is refused
    gemeente = live.token("municipality")
    r = client.get(path, params={"municipality": "0355", "provider": "98000001"}, headers=gemeente)
    assert r.status_code == 200, r.text
    other = live.token("provider", provider="aanbieder-b")
    assert (
        client.get(
            path, params={"municipality": "0355", "provider": "aanbieder-a"}, headers=other
        ).status_code
        == 403
    )


def test_a_declaration_without_prices_is_a_409_naming_the_rule(
    live: Live, client: httpx.Client, monkeypatch
) -> None:
    monkeypatch.delenv("CASELOG_EXAMPLE_TARIFFS", raising=False)
    cid = case_with_client(client, live, "o-5")
    aanbieder = live.token("provider")
    ok(client.post(f"/v1/cases/{cid}/start", headers=aanbieder, json={"started_on": "2024-01-20"}))
    ok(
        client.post(
            f"/v1/cases/{cid}/contacts",
            headers=aanbieder,
            json={"occurred_on": "2024-02-05", "minutes": 60, "kind": "direct"},
        )
    )
    r = client.get(
        "/v1/iwmo/declarations/2024-02", params={"municipality": "Zeist"}, headers=aanbieder
    )
    assert r.status_code == 409
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["rule"] == "C-03"
    assert "no price" in r.json()["detail"]


def test_a_wmo301_carries_the_clients_assignments_on_all_cases_with_that_provider(
    live: Live, client: httpx.Client
) -> None:
    gemeente, aanbieder = live.token("municipality"), live.token("provider")
    case_with_client(client, live, "o-6")
    # a second case of the same client with the same provider, indicated later
    second = ok(
        client.post(
            "/v1/cases",
            headers=gemeente,
            json={
                "client_ref": "o-6",
                "municipality": "Zeist",
                "provider": "aanbieder-a",
                "referred_on": "2024-02-01",
            },
        ),
        201,
    )["case_id"]
    ok(
        client.post(
            f"/v1/cases/{second}/indications",
            headers=gemeente,
            json={
                "assignment_number": "TW-o-6-b",
                "product": "02A03",
                "volume": HOURS_4,
                "decided_on": "2024-02-05",
                "starts_on": "2024-02-05",
                "ends_on": "2024-12-31",
                "decision_ref": "B-2",
            },
        )
    )
    first, latest = feed(client, aanbieder)["messages"]
    assert [
        p.toewijzing_nummer for p in codec.decode(first["xml"].encode()).client.toegewezen_producten
    ] == ["TW-o-6"]
    numbers = {
        p.toewijzing_nummer
        for p in codec.decode(latest["xml"].encode()).client.toegewezen_producten
    }
    assert numbers == {"TW-o-6", "TW-o-6-b"}


def test_the_feed_as_of_an_instant_holds_what_was_recorded_by_then(
    live: Live, client: httpx.Client
) -> None:
    from datetime import UTC, datetime

    aanbieder = live.token("provider")
    cid = case_with_client(client, live, "o-7")
    feed(client, aanbieder)  # caught up
    before = datetime.now(UTC).isoformat()
    ok(
        client.post(
            f"/v1/cases/{cid}/scale-changes",
            headers=live.token("municipality"),
            json={
                "effective_on": "2024-04-01",
                "product": "02A05",
                "volume": {"amount": "2", "unit": "hour", "frequency": "week"},
                "reason": "afschaling",
            },
        )
    )
    now = feed(client, aanbieder)["messages"]
    then = ok(client.get("/v1/iwmo/outbox", params={"as_of": before}, headers=aanbieder))
    assert len(now) == 2
    assert then["messages"] == now[:1]
