"""POST /v1/iwmo/messages through a real HTTP server, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, timedelta

import httpx
import pytest

from caselog.application import today
from iwmo import codec
from iwmo import examples as ex
from iwmo.messages import Bericht, Retour
from tests.e2e.conftest import Live

XML = {"Content-Type": "application/xml"}
START = date(2026, 1, 5)


def send(client: httpx.Client, headers: dict[str, str], message: Bericht | bytes) -> httpx.Response:
    body = message if isinstance(message, bytes) else codec.encode(message)
    return client.post("/v1/iwmo/messages", content=body, headers={**headers, **XML})


def retour(response: httpx.Response) -> Retour:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    answer = codec.decode(response.content)
    assert isinstance(answer, Retour)
    return answer


def codes(response: httpx.Response) -> set[str]:
    return retour(response).all_codes()


def history(client: httpx.Client, headers: dict[str, str], case_id: str) -> list[dict]:
    got = client.get(f"/v1/cases/{case_id}/history", headers=headers)
    assert got.status_code == 200, got.text
    return got.json()["events"]


def case_ids(live: Live) -> list[str]:
    return sorted({str(n.originator_id) for n in live.app.recorder.select_notifications(1, 1000)})


@pytest.fixture
def gemeente(live: Live) -> dict[str, str]:
    return live.token("municipality")


@pytest.fixture
def aanbieder(live: Live) -> dict[str, str]:
    return live.token("provider", provider="aanbieder-a")


def test_a_whole_case_runs_on_iwmo_messages_only(
    live: Live, client: httpx.Client, gemeente: dict[str, str], aanbieder: dict[str, str]
) -> None:
    # given the provider asks for an assignment (315) and the municipality grants it (301)
    day = START - timedelta(days=10)
    assert codes(send(client, aanbieder, ex.wmo315("V1", day, "REF1", START))) == {"0200"}
    [case_id] = case_ids(live)
    grant = ex.assignment("T1", START, date(2026, 12, 31), referentie="REF1", decided=day)
    assert codes(send(client, gemeente, ex.wmo301("G1", day, grant))) == {"0200"}
    # when care starts (305), a change is asked (317) and refused (319), care stops (307)
    assert codes(send(client, aanbieder, ex.wmo305("S1", START, "T1", START, START))) == {"0200"}
    ask = ex.wmo317("W1", date(2026, 3, 1), "REF2", "T1", date(2026, 3, 2), hours=6)
    assert codes(send(client, aanbieder, ask)) == {"0200"}
    refuse = ex.wmo319("A1", date(2026, 3, 5), "REF2")
    assert codes(send(client, gemeente, refuse)) == {"0200"}
    stop = ex.wmo307("E1", date(2026, 6, 30), "T1", START, START, date(2026, 6, 30))
    assert codes(send(client, aanbieder, stop)) == {"0200"}
    # then the JSON reads show the case as if entered through the JSON API
    assert case_ids(live) == [case_id]
    types = [e["type"] for e in history(client, gemeente, case_id)]
    assert types == [
        "CaseOpened",
        "IndicationGranted",
        "CareStarted",
        "ChangeRequested",
        "ChangeDecided",
        "CaseEnded",
    ]
    state = client.get(f"/v1/cases/{case_id}", headers=gemeente).json()
    assert state["status"] == "ended"
    assert state["provider"] == "aanbieder-a"
    assert state["municipality"] == "Houten"
    assert "999990019" not in str(history(client, gemeente, case_id))


def test_not_well_formed_is_400_and_not_iwmo_is_400(
    client: httpx.Client, aanbieder: dict[str, str]
) -> None:
    assert send(client, aanbieder, b"<Bericht>").status_code == 400
    other = b'<Bericht xmlns="http://example.org/x"/>'
    assert send(client, aanbieder, other).status_code == 400
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]>'
        b'<Bericht xmlns="http://www.istandaarden.nl/iwmo/3_2/wmo305/schema">&lol;</Bericht>'
    )
    got = send(client, aanbieder, bomb)
    assert got.status_code == 400
    assert got.headers["content-type"].startswith("application/problem+json")


def test_schema_breach_is_422_naming_each_element_path(
    client: httpx.Client, aanbieder: dict[str, str]
) -> None:
    body = codec.encode(ex.wmo305("S1", START, "T1", START, START))
    broken = body.replace(b"999990019", b"999990018").replace(
        b"<wmo305:StatusAanlevering>1", b"<wmo305:StatusAanlevering>2"
    )
    got = send(client, aanbieder, broken)
    assert got.status_code == 422
    fields = {e["field"] for e in got.json()["errors"]}
    assert fields == {
        "/Bericht/Client/Bsn",
        "/Bericht/Client/StartProducten/StartProduct[1]/StatusAanlevering",
    }


def test_afzender_not_the_callers_own_code_is_403(
    live: Live, client: httpx.Client, gemeente: dict[str, str]
) -> None:
    other_provider = live.token("provider", provider="aanbieder-b")
    assert (
        send(client, other_provider, ex.wmo305("S1", START, "T1", START, START)).status_code == 403
    )
    # a municipality may not send a provider's message
    assert send(client, gemeente, ex.wmo305("S1", START, "T1", START, START)).status_code == 403


def test_resend_returns_the_first_retour_and_applies_nothing(
    live: Live, client: httpx.Client, gemeente: dict[str, str]
) -> None:
    message = ex.wmo301("G1", START, ex.assignment("T1", START, date(2026, 12, 31)))
    first = send(client, gemeente, message)
    again = send(client, gemeente, message)
    assert again.content == first.content
    assert again.headers.get("idempotent-replayed") == "true"
    [case_id] = case_ids(live)
    assert len(history(client, gemeente, case_id)) == 2


def test_another_message_with_a_used_identificatie_gets_9056(
    live: Live, client: httpx.Client, gemeente: dict[str, str]
) -> None:
    send(client, gemeente, ex.wmo301("G1", START, ex.assignment("T1", START, date(2026, 12, 31))))
    other = ex.wmo301("G1", START, ex.assignment("T2", START, date(2026, 12, 31)))
    answer = retour(send(client, gemeente, other))
    assert answer.header_codes == ("9056",)
    assert answer.body is None
    [case_id] = case_ids(live)
    assert len(history(client, gemeente, case_id)) == 2


def test_dagtekening_after_today_gets_8848_and_writes_nothing(
    live: Live, client: httpx.Client, gemeente: dict[str, str]
) -> None:
    later = today() + timedelta(days=2)
    message = ex.wmo301("G1", later, ex.assignment("T1", START, date(2026, 12, 31)))
    assert retour(send(client, gemeente, message)).header_codes == ("8848",)
    assert case_ids(live) == []
