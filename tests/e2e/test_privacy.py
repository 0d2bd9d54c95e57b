"""Privacy: identifying data only in the encrypted client registry, erasable by destroying
the client's key (R-33), searched for in the database files and logs."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
import pytest

from application.registry import bsn_is_valid
from caselog.cli import main
from storage.views import ViewStore
from tests.e2e.conftest import Live

BSN = "111222333"  # passes the eleven-check
NAME = "Jansen-Verhoeven"


@pytest.mark.parametrize(
    ("bsn", "valid"),
    [
        ("111222333", True),
        ("123456782", True),
        ("111222334", False),
        ("000000000", False),
        ("12345678", False),
    ],
)
def test_bsn_eleven_check(bsn: str, valid: bool) -> None:
    assert bsn_is_valid(bsn) is valid


def files_containing(folder: Path, needles: list[bytes]) -> list[str]:
    found = []
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path.name}: {n!r}" for n in needles if n in data]
    return found


def test_register_read_and_erase_a_client(
    live: Live, client: httpx.Client, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gemeente = live.token("municipality")
    body = {"client_ref": "zou-0042", "bsn": BSN, "name": NAME, "birth_date": "1961-04-12"}
    assert client.post("/v1/clients", headers=gemeente, json=body).status_code == 201
    assert client.post("/v1/clients", headers=gemeente, json=body).status_code == 409
    assert (
        client.post(
            "/v1/clients", headers=gemeente, json=body | {"client_ref": "x", "bsn": "111222334"}
        ).status_code
        == 422
    )
    assert client.post("/v1/clients", headers=live.token("provider"), json=body).status_code == 403
    assert (
        client.get("/v1/clients/zou-0042", headers=live.token("contract_manager")).status_code
        == 403
    )
    assert (
        client.get(
            "/v1/clients/zou-0042", headers=live.token("municipality", tenant="drechtsteden")
        ).status_code
        == 404
    )
    back = client.get("/v1/clients/zou-0042", headers=gemeente).json()
    assert (back["bsn"], back["name"], back["birth_date"]) == (BSN, NAME, "1961-04-12")
    # a case for the client: events know only the pseudonym
    cid = client.post("/v1/cases", headers=gemeente, json={
        "client_ref": "zou-0042", "municipality": "Houten", "provider": "aanbieder-a",
        "referred_on": "2024-01-08"}).json()["case_id"]  # fmt: skip
    history = client.get(f"/v1/cases/{cid}/history", headers=gemeente).text
    assert BSN not in history
    assert NAME not in history

    url = live.app.store.url
    views = ViewStore(live.app.store)
    key = views.query("SELECT key_b64 FROM client_key WHERE client_ref = ?", ("zou-0042",))[0][0]
    views.close()
    if url.startswith("sqlite:///"):
        folder = Path(url[len("sqlite:///") :]).parent
        # never in plaintext, not even before erasure
        assert files_containing(folder, [BSN.encode(), NAME.encode()]) == []
    # when the client is erased
    erase = ["clients", "erase", "zou-0042", "--tenant", "zou", "--yes"]
    assert main(["--database-url", url, *erase]) == 0
    assert "key and identity destroyed" in capsys.readouterr().out
    # then nothing identifying can be read
    assert client.get("/v1/clients/zou-0042", headers=gemeente).status_code == 410
    assert client.post("/v1/clients", headers=gemeente, json=body).status_code == 410
    if url.startswith("sqlite:///"):
        raw_key = base64.b64decode(key)
        assert files_containing(folder, [BSN.encode(), NAME.encode(), key.encode(), raw_key]) == []
    # while the case history and KPIs stay intact
    assert (
        client.get(f"/v1/cases/{cid}/history", headers=gemeente).json()["events"][0]["data"][
            "client_ref"
        ]
        == "zou-0042"
    )
    kpis = client.get(
        "/v1/kpis",
        headers=live.token("contract_manager"),
        params={"period_start": "2024-01-01", "period_end": "2024-12-31"},
    )
    assert kpis.json()["cases"] == 1


def test_the_service_log_holds_no_identity_or_token(database_url: str, tmp_path: Path) -> None:
    from tests.faults.conftest import Service, token

    svc = Service(database_url, tmp_path / "service.log")
    svc.start()
    try:
        gemeente = token("municipality")
        with httpx.Client(base_url=svc.url, timeout=30) as c:
            r = c.post(
                "/v1/clients",
                headers=gemeente,
                json={"client_ref": "zou-7", "bsn": BSN, "name": NAME, "birth_date": "1970-01-01"},
            )
            assert r.status_code == 201
            assert c.get("/v1/clients/zou-7", headers=gemeente).json()["bsn"] == BSN
            c.post(
                "/v1/clients",
                headers=gemeente,
                json={
                    "client_ref": "zou-8",
                    "bsn": "111222334",
                    "name": NAME,
                    "birth_date": "1970-01-01",
                },
            )
    finally:
        svc.stop()
    log = (tmp_path / "service.log").read_text()
    assert '"path":"/v1/clients"' in log  # requests are logged
    assert BSN not in log
    assert NAME not in log
    assert gemeente["Authorization"].split()[1] not in log


def test_retention_report_lists_cases_past_their_term(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--database-url", database_url, "demo", "--cases", "40"]) == 0
    capsys.readouterr()
    assert main(["--database-url", database_url, "retention", "report", "--on", "2030-01-01"]) == 0
    early = capsys.readouterr().out.strip().splitlines()
    # demo cases ended in 2016-2023: 15 years not yet passed; only referrals without a
    # provision (5 years, R-33), also those that never ended, are due by 2030
    assert all('"provision_granted":false' in r for r in early)
    assert main(["--database-url", database_url, "retention", "report", "--on", "2045-01-01"]) == 0
    rows = capsys.readouterr().out.strip().splitlines()
    assert any('"provision_granted":true' in r for r in rows)
