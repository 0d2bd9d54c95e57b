"""One ``store`` fixture switches SQLite and PostgreSQL so the same tests run on both.

PostgreSQL tests use a throwaway database on 127.0.0.1:5432, created per test session and
dropped afterwards. Without a reachable server they skip with the reason, except under
``CI=true``, where they fail instead: CI must exercise PostgreSQL.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from application.application import CaseLog
from storage.config import store_config
from tests import pgcluster
from tests.pgcluster import PrivateCluster

PG_ADMIN_URL = os.environ.get("CASELOG_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _pg_reason() -> str | None:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return None
    except Exception as e:
        return f"PostgreSQL not reachable at {PG_ADMIN_URL}: {e}"


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """Admin URL of a reachable PostgreSQL server (skips, or fails under CI)."""
    reason = _pg_reason()
    if reason:
        if IN_CI:
            pytest.fail(f"CI=true requires PostgreSQL: {reason}")
        pytest.skip(reason)
    return PG_ADMIN_URL


def _pg_database(admin_url: str) -> tuple[str, str]:
    import psycopg

    name = f"caselog_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = admin_url.rsplit("/", 1)[0]
    return name, f"{base}/{name}"


def _drop_pg_database(admin_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def fresh_store(kind: str, admin_url: str | None) -> Iterator[CaseLog]:
    """A fresh, empty store of ``kind`` outside the fixtures, for a hypothesis property that
    needs one per example (``sqlite``, or ``postgres`` on ``admin_url``)."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            app = CaseLog(store=store_config(f"sqlite:///{Path(tmp) / 'fresh.db'}"))
            try:
                yield app
            finally:
                app.close()
        return
    assert admin_url is not None
    name, url = _pg_database(admin_url)
    try:
        app = CaseLog(store=store_config(url))
        try:
            yield app
        finally:
            app.close()
    finally:
        _drop_pg_database(admin_url, name)


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test."""
    name, url = _pg_database(pg_server)
    try:
        yield url
    finally:
        _drop_pg_database(pg_server, name)


@pytest.fixture(scope="session")
def private_pg() -> Iterator[PrivateCluster]:
    """A PostgreSQL server of the tests' own (tests/pgcluster.py), for tests that stop and
    start their database without disturbing the shared server other tests use."""
    reason = pgcluster.unavailable()
    if reason:
        if IN_CI:
            pytest.fail(f"CI=true requires a private PostgreSQL cluster: {reason}")
        pytest.skip(reason)
    cluster = PrivateCluster().init()
    try:
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def private_pg_url(private_pg: PrivateCluster) -> str:
    """A fresh database on the private server (running: a test that stopped it starts it)."""
    if not private_pg.ready():
        private_pg.start()
    return private_pg.database(f"caselog_test_{uuid.uuid4().hex[:12]}")


@pytest.fixture(autouse=True)
def _no_example_tariffs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test starts with contract prices only: an application reads
    ``CASELOG_EXAMPLE_TARIFFS`` once, when it is built, so a value left in the environment
    (``caselog serve --demo`` sets it) must not reach the next test's application."""
    monkeypatch.delenv("CASELOG_EXAMPLE_TARIFFS", raising=False)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'caselog.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def store(database_url: str) -> Iterator[CaseLog]:
    """The application on an empty store of each kind."""
    app = CaseLog(store=store_config(database_url))
    try:
        yield app
    finally:
        app.close()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[CaseLog]:
    app = CaseLog(store=store_config(f"sqlite:///{tmp_path / 'caselog.db'}"))
    try:
        yield app
    finally:
        app.close()
