"""The demo data set and the command line, on a real store."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from application.demo import generate
from caselog.cli import main


def test_demo_data_is_deterministic_and_covers_every_product() -> None:
    first = [(c.id, c.version) for c in generate(120, seed=7)]
    again = [(c.id, c.version) for c in generate(120, seed=7)]
    assert first == again
    products = Counter(a.product for c in generate(300) for a in c.state.assignments)
    assert {"02A03", "02A04", "02A05", "IB0", "IB1", "IB2", "IB3", "IB4"} <= set(products)
    assert any(p.endswith("-MO") for p in products)


def test_demo_loads_once_and_history_prints_the_case(
    database_url: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["--database-url", database_url, "demo", "--cases", "20"]) == 0
    out = capsys.readouterr().out
    assert "loaded 20 demo cases" in out
    case_id = out.split("caselog history ")[1].split()[0]
    # a second load is refused: one line naming the problem and the fix, exit 1
    assert main(["--database-url", database_url, "demo", "--cases", "20"]) == 1
    err = capsys.readouterr().err
    assert "already holds events" in err
    assert "--force" in err
    assert main(["--database-url", database_url, "history", case_id]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert lines[0]["type"] == "CaseOpened"
    assert lines[0]["version"] == 1
    assert [x["version"] for x in lines] == list(range(1, len(lines) + 1))
    assert "bsn" not in json.dumps(lines).lower()


def test_demo_clients_get_fictional_identities_so_iwmo_messages_can_be_built(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from application.registry import ClientRegistry, bsn_is_valid
    from storage.config import store_config
    from storage.views import ViewStore

    assert main(["--database-url", database_url, "demo", "--cases", "20"]) == 0
    assert "fictional client identities registered" in capsys.readouterr().out
    views = ViewStore(store_config(database_url))
    try:
        clients = views.query("SELECT DISTINCT tenant, client_ref FROM case_summary", ())
        registry = ClientRegistry(views)
        bsns = {registry.read(str(t), str(c)).bsn for t, c in clients}
    finally:
        views.close()
    assert len(bsns) == len(clients) > 0
    assert all(bsn_is_valid(b) for b in bsns)
