"""Every connection survives the server dropping it: after PostgreSQL terminated all the
database's sessions (what a restart does to them, without stopping the server that other
tests share), the read-model store and the event store's pool reconnect transparently, and
once /health answers 200 no request is answered 503. Start-up schema creation is idempotent
and leaves no error in the server's log (the race on ``CREATE TYPE stored_event_uuid``)."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg
import pytest

from caselog.application import CaseLog
from caselog.config import store_config
from projections.store import ViewStore
from tests.conftest import PG_ADMIN_URL
from tests.faults.conftest import Service
from tests.faults.test_crash_and_restart import PROVIDER, active_case
from tests.pgcluster import PrivateCluster

pytestmark = [pytest.mark.fault, pytest.mark.postgres]


def terminate_sessions(url: str) -> int:
    """End every session on the test's database, as a server restart would."""
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        ).fetchall()
    return len(rows)


def test_view_store_connections_reconnect_after_the_server_dropped_them(pg_url: str) -> None:
    views = ViewStore(store_config(pg_url))
    try:
        with views.transaction() as cur:
            cur.execute("CREATE TABLE probe (n INT)")
        assert views.query("SELECT 1") == [(1,)]
        assert terminate_sessions(pg_url) >= 1
        # a read on the dropped connection is run again on a new one
        assert views.query("SELECT count(*) FROM probe") == [(0,)]
        assert terminate_sessions(pg_url) >= 1
        # a transaction begins on a new connection; its work is done once
        with views.transaction() as cur:
            cur.execute("INSERT INTO probe VALUES (1)")
        assert views.query("SELECT count(*) FROM probe") == [(1,)]
    finally:
        views.close()


def test_a_write_that_broke_mid_transaction_is_not_repeated(pg_url: str) -> None:
    """Only the BEGIN is retried: a statement whose connection broke fails to the caller
    (an API client then retries with its Idempotency-Key)."""
    views = ViewStore(store_config(pg_url))
    try:
        with views.transaction() as cur:
            cur.execute("CREATE TABLE probe (n INT)")

        def insert_across_a_drop() -> None:
            with views.transaction() as cur:
                terminate_sessions(pg_url)
                cur.execute("INSERT INTO probe VALUES (1)")

        with pytest.raises(psycopg.OperationalError):
            insert_across_a_drop()
        assert views.query("SELECT count(*) FROM probe") == [(0,)]
    finally:
        views.close()


def test_no_503_once_health_answers_after_every_session_was_dropped(
    pg_url: str, tmp_path: Path
) -> None:
    svc = Service(pg_url, tmp_path / "service.log")
    svc.start()
    try:
        cases = [active_case(svc.url, n) for n in range(4)]

        def traffic(i: int) -> int | str:
            cid = cases[i % len(cases)]
            with httpx.Client(base_url=svc.url, timeout=15) as c:
                if i % 2:
                    r = c.get(f"/v1/cases/{cid}/consumption?month=2024-02", headers=PROVIDER)
                else:
                    r = c.post(f"/v1/cases/{cid}/contacts",
                               headers=PROVIDER | {"Idempotency-Key": f"s-{i}-{threading.get_ident()}"},
                               json={"occurred_on": "2024-02-05", "minutes": 15, "kind": "direct"})  # fmt: skip
                return 200 if r.status_code == 200 else f"{r.status_code} {r.text}"

        with ThreadPoolExecutor(16) as pool:  # many worker threads hold connections
            assert set(pool.map(traffic, range(64))) == {200}
        assert terminate_sessions(pg_url) >= 2
        assert httpx.get(svc.url + "/health", timeout=15).status_code == 200
        with ThreadPoolExecutor(16) as pool:
            statuses = Counter(pool.map(traffic, range(64, 64 + 128)))
        assert statuses == Counter({200: 128}), statuses
    finally:
        svc.stop()


def test_schema_creation_is_idempotent_and_logs_no_error(
    private_pg: PrivateCluster, private_pg_url: str
) -> None:
    """On the tests' own server, whose log holds only the tests' statements."""
    pg_url = private_pg_url
    name = pg_url.rsplit("/", 1)[1]
    errors: list[BaseException] = []

    def start() -> None:
        try:
            CaseLog(store=store_config(pg_url), group_commit=False).close()
        except BaseException as e:
            errors.append(e)

    starters = [threading.Thread(target=start) for _ in range(4)]  # processes starting at once
    for t in starters:
        t.start()
    for t in starters:
        t.join()
    start()  # and a later start on the existing schema
    assert errors == []
    logged = [
        line
        for line in private_pg.log.read_text(errors="replace").splitlines()
        if f"@{name} " in line
    ]
    assert [line for line in logged if "ERROR" in line] == []
