"""The read-model database: the same SQL on SQLite and PostgreSQL, numbered migrations.

Read models live in the event store's own database (same file / same PostgreSQL database),
in their own tables. Statements are written with ``?`` placeholders and translated to
``%s`` for psycopg; all values are parameters, never formatted into SQL.

Migrations are the files ``migrations/NNNN_slug.sql``, applied in order, each once, inside
a transaction, recorded in ``schema_migrations``; on PostgreSQL an advisory lock keeps two
starting processes from applying the same file at once. (A migration tool such as alembic
or yoyo would add a dependency for a few CREATE TABLE files that must run on both engines
with no ORM; this is 40 lines we can read.)
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from storage.config import StoreConfig

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
_PG_LOCK_ID = 7_231_604_225  # advisory lock id for migrations


class ViewStore:
    """One connection per thread to the read-model tables."""

    def __init__(self, store: StoreConfig) -> None:
        self.config = store
        self.is_postgres = store.kind == "postgres"
        self._local = threading.local()
        self.migrate()

    # --- connections -------------------------------------------------------------------

    def _connect(self) -> Any:
        if self.is_postgres:
            import psycopg

            pg = psycopg.connect(self.config.libpq_url, autocommit=True, connect_timeout=3)
            session(pg)
            return pg
        conn = sqlite3.connect(
            self.config.sqlite_path, timeout=30, isolation_level=None, check_same_thread=False
        )
        conn.execute("PRAGMA busy_timeout = 30000")
        return conn

    @property
    def conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None or (self.is_postgres and conn.closed):
            conn = self._local.conn = self._connect()
        return conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def sql(self, statement: str) -> str:
        return statement.replace("?", "%s") if self.is_postgres else statement

    def _drop_broken(self) -> bool:
        """After a lost connection (e.g. the server restarted) reconnect on the next use;
        True when the thread's connection was dropped."""
        conn = getattr(self._local, "conn", None)
        if conn is not None and self.is_postgres and (conn.closed or conn.broken):
            self._local.conn = None
            return True
        return False

    def _begin(self) -> tuple[Any, Any]:
        """A PostgreSQL connection with a transaction begun. A thread's connection may have
        been idle through a server restart, and nothing tells it until it is used; the
        ``BEGIN`` is that use and does nothing the caller could miss, so when it fails on
        a connection that broke, it is made again on a new one. (A restart that is not over
        yet fails the second time too: the caller gets the error, the API a 503.)"""
        import psycopg

        for attempt in (1, 2):
            conn = self.conn
            tx = conn.transaction()
            try:
                tx.__enter__()
            except psycopg.OperationalError:
                if self._drop_broken() and attempt == 1:
                    continue
                raise
            return conn, tx
        raise AssertionError("unreachable")

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """A transaction; on SQLite ``BEGIN IMMEDIATE`` so writers queue instead of failing."""
        if self.is_postgres:
            conn, tx = self._begin()
            try:
                try:
                    yield conn.cursor()
                except BaseException as e:
                    if not tx.__exit__(type(e), e, e.__traceback__):
                        raise
                else:
                    tx.__exit__(None, None, None)
            finally:
                self._drop_broken()
            return
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn.cursor()
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def query(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of a statement. A ``SELECT`` that failed because the thread's connection
        broke (idle through a server restart) is run once more on a new connection: it
        changes nothing, so running it again is safe."""
        again = self.is_postgres and _read_only(statement)
        for attempt in (1, 2):
            try:
                cur = self.conn.cursor()
                try:
                    cur.execute(self.sql(statement), params)
                    return list(cur.fetchall())
                finally:
                    cur.close()
            except Exception:
                if self._drop_broken() and again and attempt == 1:
                    continue
                raise
        raise AssertionError("unreachable")

    def ping(self) -> None:
        self.query("SELECT 1")

    # --- migrations ---------------------------------------------------------------------

    def migrate(self) -> list[str]:
        applied: list[str] = []
        files = sorted(MIGRATIONS.glob("[0-9][0-9][0-9][0-9]_*.sql"))
        with self.transaction() as cur:
            if self.is_postgres:
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (_PG_LOCK_ID,))
            cur.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
            )
            cur.execute("SELECT version FROM schema_migrations")
            done = {r[0] for r in cur.fetchall()}
            for path in files:
                version = path.stem
                if version in done or not applies(path, self.is_postgres):
                    continue
                for statement in _statements(path.read_text()):
                    cur.execute(statement)
                cur.execute(
                    self.sql("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)"),
                    (version, datetime.now(UTC).isoformat()),
                )
                applied.append(version)
        return applied


def applies(path: Path, postgres: bool) -> bool:
    """Whether a migration file runs on this kind of store: ``*.postgres.sql`` on
    PostgreSQL only (what SQLite has no syntax for, e.g. ``INCLUDE`` columns of an index),
    every other file on both."""
    return postgres or not path.name.endswith(".postgres.sql")


def _read_only(statement: str) -> bool:
    """A ``SELECT``, or a ``WITH`` whose parts only read: safe to run again."""
    words = statement.split(None, 1)
    first = words[0].upper() if words else ""
    if first == "SELECT":
        return True
    upper = statement.upper()
    return first == "WITH" and not any(w in upper for w in ("INSERT ", "UPDATE ", "DELETE "))


def _statements(text: str) -> list[str]:
    lines = [line.split("--", 1)[0] for line in text.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def session(conn: Any) -> None:
    """How PostgreSQL plans this connection's read-model statements (the large benchmark's
    KPI queries, docs/performance.md):

    - JIT compilation off: the queries are short aggregates whose cost estimates pass
      ``jit_above_cost`` at 100,000 cases, and compiling them took longer than running
      them (326 of 932 ms for the R-31 outflow query, EXPLAIN ANALYZE);
    - a plan for each execution's own values (``force_custom_plan``): psycopg prepares a
      statement run five times, and after five more PostgreSQL may keep a generic plan
      made without the values; for the KPI queries that plan took 1.2-10 s where the
      custom one takes 35-75 ms (the same queries over HTTP, from the 21st request on).
      Planning each time costs well under a millisecond."""
    conn.execute("SET jit = off")
    conn.execute("SET plan_cache_mode = force_custom_plan")
