"""POST /v1/iwmo/messages through a real HTTP server, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, timedelta

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from application.application import today
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
    # the identity went into the encrypted client registry, under the case's client_ref
    who = client.get(f"/v1/clients/{state['client_ref']}", headers=gemeente).json()
    assert (who["bsn"], who["name"], who["birth_date"]) == ("999990019", "de Vries", "1980-05-17")


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


def test_the_ledger_keeps_no_identity_of_a_refused_message_in_the_clear_R33(
    live: Live, client: httpx.Client, aanbieder: dict[str, str]
) -> None:
    from storage.views import ViewStore

    # given a start of care for an assignment nobody knows: refused, and its retour repeats
    # the client's BSN and name
    message = ex.wmo305("S9", START, "UNKNOWN-1", START, START)
    first = send(client, aanbieder, message)
    assert "9019" in codes(first)
    assert message.client.bsn.encode() in first.content
    # then the ledger keeps the answer sealed, and a resend still gets it byte for byte
    views = ViewStore(live.app.store)
    try:
        stored = views.query("SELECT answer FROM iwmo_message", ())
    finally:
        views.close()
    assert stored
    assert all(message.client.bsn not in str(row[0]) for row in stored)
    again = send(client, aanbieder, message)
    assert again.content == first.content
    assert again.headers.get("idempotent-replayed") == "true"


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


# --- each retour code of IWMO.md, provoked ------------------------------------------------
END = date(2026, 12, 31)
PRODUCT_1 = "/Bericht/Client/ToegewezenProducten/ToegewezenProduct[1]"
START_1 = "/Bericht/Client/StartProducten/StartProduct[1]"
STOP_1 = "/Bericht/Client/StopProducten/StopProduct[1]"


def granted(client: httpx.Client, gemeente: dict[str, str], number: str = "T1", **kw) -> None:
    bsn = kw.pop("bsn", ex.BSN)
    message = ex.wmo301(f"G-{number}", START, ex.assignment(number, START, END, **kw), bsn=bsn)
    assert codes(send(client, gemeente, message)) == {"0200"}


def part_codes(response: httpx.Response, path: str) -> tuple[str, ...]:
    answer = retour(response)
    assert answer.body is not None, "a refused part comes back with the whole message"
    return answer.codes[path]


def events(live: Live, client: httpx.Client, headers: dict[str, str]) -> list[str]:
    return [e["type"] for cid in case_ids(live) for e in history(client, headers, cid)]


def test_305_for_an_unknown_assignment_gets_9019_and_writes_nothing(
    live: Live, client: httpx.Client, aanbieder: dict[str, str]
) -> None:
    got = send(client, aanbieder, ex.wmo305("S1", START, "NOPE", START, START))
    assert part_codes(got, START_1) == ("9019",)
    assert case_ids(live) == []


def test_305_twice_gets_9074_and_a_second_start_gets_9326(
    live: Live, client: httpx.Client, gemeente: dict[str, str], aanbieder: dict[str, str]
) -> None:
    granted(client, gemeente)
    send(client, aanbieder, ex.wmo305("S1", START, "T1", START, START))
    again = send(client, aanbieder, ex.wmo305("S2", START, "T1", START, START))
    assert part_codes(again, START_1) == ("9074",)
    later = START + timedelta(days=3)
    other = send(client, aanbieder, ex.wmo305("S3", later, "T1", START, later))
    assert part_codes(other, START_1) == ("9326",)
    assert events(live, client, gemeente).count("CareStarted") == 1


def test_307_without_the_current_start_gets_9069(
    client: httpx.Client, gemeente: dict[str, str], aanbieder: dict[str, str]
) -> None:
    granted(client, gemeente)
    stop = ex.wmo307("E1", START, "T1", START, START, START)
    assert part_codes(send(client, aanbieder, stop), STOP_1) == ("9069",)


def test_withdrawing_a_start_after_care_ended_gets_9071(
    client: httpx.Client, gemeente: dict[str, str], aanbieder: dict[str, str]
) -> None:
    granted(client, gemeente)
    send(client, aanbieder, ex.wmo305("S1", START, "T1", START, START))
    stop_day = date(2026, 3, 1)
    send(client, aanbieder, ex.wmo307("E1", stop_day, "T1", START, START, stop_day))
    withdraw = ex.wmo305("S2", stop_day, "T1", START, START, status="3")
    assert part_codes(send(client, aanbieder, withdraw), START_1) == ("9071",)


def test_317_on_a_number_that_is_not_current_gets_9351_and_0233_inside(
    live: Live, client: httpx.Client, gemeente: dict[str, str], aanbieder: dict[str, str]
) -> None:
    granted(client, gemeente)
    send(client, aanbieder, ex.wmo305("S1", START, "T1", START, START))
    ask = ex.wmo317("W1", START, "REF9", "OTHER", START + timedelta(days=7), hours=2)
    answer = retour(send(client, aanbieder, ask))
    assert answer.codes["/Bericht/Client/Verzoek"] == ("9351",)
    inner = "/Bericht/Client/Verzoek/TeWijzigenProducten/TeWijzigenProduct[1]"
    assert answer.codes[inner] == ("9351",)
    assert "ChangeRequested" not in events(live, client, gemeente)


def test_unknown_referentie_aanbieder_gets_9379(
    live: Live, client: httpx.Client, gemeente: dict[str, str]
) -> None:
    message = ex.wmo301("G1", START, ex.assignment("T1", START, END, referentie="NO-SUCH"))
    assert part_codes(send(client, gemeente, message), PRODUCT_1) == ("9379",)
    assert case_ids(live) == []
    answer = retour(send(client, gemeente, ex.wmo319("A1", START, "NO-SUCH")))
    assert answer.codes["/Bericht/Antwoord"] == ("9379",)


def test_a_toewijzing_nummer_of_another_clients_case_gets_9332(
    live: Live, client: httpx.Client, gemeente: dict[str, str]
) -> None:
    granted(client, gemeente)
    other = ex.wmo301("G2", START, ex.assignment("T1", START, END), bsn="111222333")
    assert part_codes(send(client, gemeente, other), PRODUCT_1) == ("9332",)
    assert len(case_ids(live)) == 1


def test_an_unknown_product_code_gets_S329_and_the_other_part_is_applied(
    live: Live, client: httpx.Client, gemeente: dict[str, str]
) -> None:
    message = ex.wmo301(
        "G1",
        START,
        ex.assignment("T1", START, END),
        ex.assignment("T2", START, END, code="02Z99"),
    )
    answer = retour(send(client, gemeente, message))
    assert answer.codes[PRODUCT_1] == ("0200",)
    assert answer.codes[PRODUCT_1.replace("[1]", "[2]")] == ("S329",)
    assert events(live, client, gemeente) == ["CaseOpened", "IndicationGranted"]


def test_a_gemeentecode_outside_the_region_gets_S300(
    live: Live, client: httpx.Client, aanbieder: dict[str, str]
) -> None:
    message = ex.wmo305("S1", START, "T1", START, START)
    message = msgspec_replace_ontvanger(message, "0505")
    assert retour(send(client, aanbieder, message)).header_codes == ("S300",)


def msgspec_replace_ontvanger(message: Bericht, code: str) -> Bericht:
    import msgspec

    header = msgspec.structs.replace(message.header, ontvanger=code)  # type: ignore[attr-defined]
    return msgspec.structs.replace(message, header=header)


def test_a_lifecycle_rule_refusal_gets_0001_and_writes_nothing(
    live: Live, client: httpx.Client, gemeente: dict[str, str]
) -> None:
    # C-05: 02A05 runs at most twelve months per allocation
    too_long = ex.wmo301("G1", START, ex.assignment("T1", START, date(2027, 6, 30)))
    assert part_codes(send(client, gemeente, too_long), PRODUCT_1) == ("0001",)
    assert case_ids(live) == []


# --- how 301 / 305 / 307 map onto the case -------------------------------------------------
def test_a_new_number_with_another_volume_is_a_scale_change_R30(
    live: Live, client: httpx.Client, gemeente: dict[str, str]
) -> None:
    granted(client, gemeente, hours=4)
    change = date(2026, 4, 1)
    message = ex.wmo301(
        "G2",
        change,
        ex.assignment("T1", START, change - timedelta(days=1), reason="01"),
        ex.assignment("T2", change, END, hours=2, decided=change),
    )
    assert codes(send(client, gemeente, message)) == {"0200"}
    assert events(live, client, gemeente) == ["CaseOpened", "IndicationGranted", "ScaleChanged"]
    [case_id] = case_ids(live)
    state = client.get(f"/v1/cases/{case_id}", headers=gemeente).json()
    assert state["volume"]["amount"] == "2"


def test_reden_wijziging_13_withdraws_and_14_corrects_the_assignment(
    live: Live, client: httpx.Client, gemeente: dict[str, str]
) -> None:
    granted(client, gemeente, hours=4)
    fixed = ex.wmo301("G2", START, ex.assignment("T1", START, END, hours=5, reason="14"))
    assert codes(send(client, gemeente, fixed)) == {"0200"}
    removed = ex.wmo301("G3", START, ex.assignment("T1", START, START, reason="13"))
    assert codes(send(client, gemeente, removed)) == {"0200"}
    assert events(live, client, gemeente) == [
        "CaseOpened",
        "IndicationGranted",
        "EventCorrected",
        "EventRetracted",
    ]


def test_a_later_einddatum_on_the_same_number_is_an_extension(
    live: Live, client: httpx.Client, gemeente: dict[str, str]
) -> None:
    granted(client, gemeente)
    longer = ex.wmo301("G2", START, ex.assignment("T1", START, date(2027, 1, 4), reason="04"))
    assert codes(send(client, gemeente, longer)) == {"0200"}
    repeated = ex.wmo301("G3", START, ex.assignment("T1", START, date(2027, 1, 4)))
    assert codes(send(client, gemeente, repeated)) == {"0200"}
    assert events(live, client, gemeente) == [
        "CaseOpened",
        "IndicationGranted",
        "IndicationExtended",
    ]


def test_withdrawn_start_and_stop_are_retractions_and_a_pause_ends_with_reason_20(
    live: Live, client: httpx.Client, gemeente: dict[str, str], aanbieder: dict[str, str]
) -> None:
    granted(client, gemeente)
    send(client, aanbieder, ex.wmo305("S1", START, "T1", START, START))
    withdraw = ex.wmo305("S2", START, "T1", START, START, status="3")
    assert codes(send(client, aanbieder, withdraw)) == {"0200"}
    restart = START + timedelta(days=2)
    assert codes(send(client, aanbieder, ex.wmo305("S3", restart, "T1", START, restart))) == {
        "0200"
    }
    pause = date(2026, 5, 1)
    stop = ex.wmo307("E1", pause, "T1", START, restart, pause, reason="20")
    assert codes(send(client, aanbieder, stop)) == {"0200"}
    [case_id] = case_ids(live)
    state = client.get(f"/v1/cases/{case_id}", headers=gemeente).json()
    assert state["status"] == "ended"
    unstop = ex.wmo307("E2", pause, "T1", START, restart, pause, reason="20", status="3")
    assert codes(send(client, aanbieder, unstop)) == {"0200"}
    state = client.get(f"/v1/cases/{case_id}", headers=gemeente).json()
    assert state["status"] == "active"
    assert events(live, client, gemeente)[-1] == "EventRetracted"


# --- idempotency across a crash between apply and answer -----------------------------------
def forget_answers(live: Live) -> None:
    """As if the server died after applying but before recording the answer: the ledger
    has no row, so a resend runs the message again."""
    from storage.views import ViewStore

    views = ViewStore(live.app.store)
    with views.transaction() as cur:
        cur.execute("DELETE FROM iwmo_message")
    views.close()


@pytest.mark.parametrize("kind", ["wmo301", "wmo305", "wmo315"])
def test_a_resend_after_a_crash_between_apply_and_answer_applies_nothing(
    live: Live, client: httpx.Client, gemeente: dict[str, str], aanbieder: dict[str, str], kind: str
) -> None:
    if kind == "wmo305":
        granted(client, gemeente)
    message, headers = {
        "wmo301": (ex.wmo301("G1", START, ex.assignment("T1", START, END)), gemeente),
        "wmo305": (ex.wmo305("S1", START, "T1", START, START), aanbieder),
        "wmo315": (ex.wmo315("V1", START, "REF1", START), aanbieder),
    }[kind]
    first = send(client, headers, message)
    before = events(live, client, gemeente)
    forget_answers(live)
    again = send(client, headers, message)
    assert again.headers.get("idempotent-replayed") is None  # it really ran again
    assert codes(again) == codes(first) == {"0200"}
    assert events(live, client, gemeente) == before


# --- the JSON API and the message path record the same facts -------------------------------
def test_json_api_and_messages_record_the_same_events_for_the_same_facts(
    live: Live, client: httpx.Client, gemeente: dict[str, str], aanbieder: dict[str, str]
) -> None:
    # through messages
    granted(client, gemeente)
    send(client, aanbieder, ex.wmo305("S1", START, "T1", START, START))
    stop_day = date(2026, 6, 30)
    send(client, aanbieder, ex.wmo307("E1", stop_day, "T1", START, START, stop_day, reason="22"))
    [by_message] = case_ids(live)
    # through JSON
    opened = client.post(
        "/v1/cases",
        json={
            "client_ref": "json-client",
            "municipality": "Houten",
            "provider": "aanbieder-a",
            "referred_on": START.isoformat(),
        },
        headers=gemeente,
    )
    assert opened.status_code == 201, opened.text
    case_id = opened.json()["case_id"]
    for path, body, headers in [
        (
            "indications",
            {
                "assignment_number": "J1",
                "product": "02A05",
                "volume": {"amount": "4", "unit": "hour", "frequency": "week"},
                "decided_on": START.isoformat(),
                "starts_on": START.isoformat(),
                "ends_on": END.isoformat(),
                "decision_ref": "iwmo-J1",
            },
            gemeente,
        ),
        ("start", {"started_on": START.isoformat()}, aanbieder),
        ("end", {"ended_on": stop_day.isoformat(), "reason": "22"}, aanbieder),
    ]:
        got = client.post(f"/v1/cases/{case_id}/{path}", json=body, headers=headers)
        assert got.status_code == 200, got.text

    def facts(cid: str) -> list[tuple[str, dict]]:
        out = []
        for e in history(client, gemeente, cid):
            data = {k: v for k, v in e["data"].items() if k not in ("client_ref",)}
            if "assignment_number" in data:
                data["decision_ref"] = data["decision_ref"].replace("J1", "T1")
                data["assignment_number"] = "T1"
            out.append((e["type"], e["occurred_on"], data))
        return out

    assert facts(by_message) == facts(case_id)


# --- fuzzing the endpoint: bad input gets a clear answer, never a 5xx -------------------------
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_mangled_messages_over_http_never_get_a_5xx(
    client: httpx.Client, aanbieder: dict[str, str], gemeente: dict[str, str], data: st.DataObject
) -> None:
    kind = data.draw(st.sampled_from(["301", "305", "307"]))
    message, headers = {
        "301": (ex.wmo301("G1", START, ex.assignment("T1", START, END)), gemeente),
        "305": (ex.wmo305("S1", START, "T1", START, START), aanbieder),
        "307": (ex.wmo307("E1", START, "T1", START, START, START), aanbieder),
    }[kind]
    raw = bytearray(codec.encode(message))
    for _ in range(data.draw(st.integers(0, 3))):
        at = data.draw(st.integers(0, len(raw) - 1))
        raw[at : at + data.draw(st.integers(0, 6))] = data.draw(
            st.sampled_from([b"", b"0", b"9", b"<", b"&amp;", b"x", b"\xff", b"2026-02-30"])
        )
    got = send(client, headers, bytes(raw))
    assert got.status_code in (200, 400, 403, 409, 422), got.text
    if got.status_code == 200:
        retour(got)


def test_the_whole_cycle_315_301_305_323_317_301_307_on_messages_only(
    live: Live,
    client: httpx.Client,
    gemeente: dict[str, str],
    aanbieder: dict[str, str],
    example_tariffs: None,
) -> None:
    from iwmo.messages import Wmo323, Wmo325

    day = START - timedelta(days=10)
    assert codes(send(client, aanbieder, ex.wmo315("V1", day, "REF1", START))) == {"0200"}
    grant = ex.assignment("T1", START, END, referentie="REF1", decided=day)
    assert codes(send(client, gemeente, ex.wmo301("G1", day, grant))) == {"0200"}
    assert codes(send(client, aanbieder, ex.wmo305("S1", START, "T1", START, START))) == {"0200"}
    [case_id] = case_ids(live)
    contact = {"occurred_on": "2026-02-05", "minutes": 60, "kind": "direct"}
    assert client.post(f"/v1/cases/{case_id}/contacts", json=contact, headers=aanbieder).is_success
    # the monthly declaration: read, submitted, answered line by line with a WMO325
    got = client.get(
        "/v1/iwmo/declarations/2026-02", params={"municipality": "0321"}, headers=aanbieder
    )
    assert got.status_code == 200, got.text
    assert isinstance(codec.decode(got.content), Wmo323)
    answer = codec.decode(send(client, aanbieder, got.content).content)
    assert isinstance(answer, Wmo325)
    assert answer.declaratie_antwoord is not None
    [client_answer] = answer.declaratie_antwoord.clienten or []
    assert [p.retour_codes for p in client_answer.prestaties] == [["8001"]]
    # scale up asked (317) and granted by a 301 with a new number (afschaling/opschaling)
    change = date(2026, 3, 2)
    ask = ex.wmo317("W1", date(2026, 2, 25), "REF2", "T1", change, hours=6)
    assert codes(send(client, aanbieder, ask)) == {"0200"}
    both = ex.wmo301(
        "G2",
        date(2026, 3, 1),
        ex.assignment(
            "T1", START, change - timedelta(days=1), reason="12", decided=date(2026, 3, 1)
        ),
        ex.assignment("T2", change, END, hours=6, referentie="REF2", decided=date(2026, 3, 1)),
    )
    assert codes(send(client, gemeente, both)) == {"0200"}
    stop = ex.wmo307("E1", date(2026, 6, 30), "T2", change, START, date(2026, 6, 30))
    assert codes(send(client, aanbieder, stop)) == {"0200"}
    assert [e["type"] for e in history(client, gemeente, case_id)] == [
        "CaseOpened",
        "IndicationGranted",
        "CareStarted",
        "ContactRecorded",
        "ChangeRequested",
        "ChangeDecided",
        "ScaleChanged",
        "CaseEnded",
    ]
    state = client.get(f"/v1/cases/{case_id}", headers=gemeente).json()
    assert (state["status"], state["volume"]["amount"]) == ("ended", "6")


def test_a_municipalitys_own_wmo325_is_recorded_per_line(
    live: Live, client: httpx.Client, gemeente: dict[str, str]
) -> None:
    from iwmo.inbound import declaration_answer
    from iwmo.messages import Wmo323, Wmo325
    from storage.views import ViewStore
    from tests.unit.iwmo.test_codec import wmo323

    declaration: Wmo323 = wmo323()
    path = "/Bericht/Declaratie/Clienten/Client[1]/Prestaties/Prestatie[1]"
    answer = declaration_answer(declaration, ("0200",), {path: ("9346",)}, 0, START)
    got = send(client, gemeente, answer)
    assert got.status_code == 200, got.text
    assert isinstance(codec.decode(got.content), Wmo325)
    views = ViewStore(live.app.store)
    rows = views.query(
        "SELECT provider, referentie_nummer, retour_codes FROM iwmo_declaration_outcome"
    )
    views.close()
    assert rows == [("aanbieder-a", "RN1", "9346")]
