"""``caselog serve`` warns when PostgreSQL runs without autovacuum (docs/operations.md)."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from structlog.testing import capture_logs

from api.server import warn_without_autovacuum
from storage.config import store_config


@pytest.mark.postgres
def test_serve_warns_exactly_when_the_server_runs_without_autovacuum(pg_url: str) -> None:
    # given the server's own setting (these machines' CI configuration turns it off)
    with psycopg.connect(pg_url) as conn:
        row = conn.execute("SHOW autovacuum").fetchone()
    assert row is not None
    off = row[0] == "off"
    # when serve checks it
    with capture_logs() as logs:
        warned = warn_without_autovacuum(store_config(pg_url))
    # then it warned, with what to do, exactly when autovacuum is off
    assert warned is off
    events = [e for e in logs if e["event"] == "autovacuum_off"]
    assert len(events) == (1 if off else 0)
    if off:
        assert events[0]["log_level"] == "warning"
        assert "VACUUM (ANALYZE)" in events[0]["hint"]


def test_serve_does_not_warn_on_sqlite_or_an_unreachable_server(tmp_path: Path) -> None:
    with capture_logs() as logs:
        assert warn_without_autovacuum(store_config(f"sqlite:///{tmp_path / 'c.db'}")) is False
        # a port nothing listens on: the store's own checks report it, not this warning
        unreachable = store_config("postgresql://postgres@127.0.0.1:1/none")
        assert warn_without_autovacuum(unreachable) is False
    assert logs == []
