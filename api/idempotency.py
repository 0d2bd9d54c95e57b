"""Idempotency-Key: a write is applied at most once; a retry gets the first response.

The key is claimed before the command runs (a ``pending`` row, unique per tenant, actor and
key), so two concurrent requests with one key cannot both apply: the second is told to
retry (409). When the command answers, its status, body and headers are stored with the
request's hash; a retry with the same key and body gets that answer again, even after a
restart; the same key with another body is refused (422). A claim whose command crashed
(no answer after ``STALE_SECONDS``) may be taken over: running the command again is safe,
because the key also travels in the event's actor and the case refuses to apply a request
it has seen (``Case.check_new_request``), answering with the version it produced then.

After a crash (kill -9, power loss) the dead process's claims stay ``pending``. Each claim
carries the incarnation id of the process that made it, ``SERVICE:PID``: the service's start
(one id for all workers of ``caselog serve --workers N``, handed down by the supervisor in
``CASELOG_SERVICE_INCARNATION``; a process of its own otherwise) and the serving process.
A process releases the unfinished claims of older services when it starts
(``release_dead_claims``) and treats any it still meets as free, so a client's retry right
after the restart gets the first answer instead of 409 "in progress"; the live claims of its
sibling workers are the same service's and stay. When one worker dies while the service
lives on, the supervisor releases that worker's claims (``release_claims_of``) before it
starts a replacement.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import queue
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from storage.batches import drain
from storage.views import ViewStore

PENDING = 0
STALE_SECONDS = 5
#: ``ID@INSTANT``: the service incarnation the workers of one ``caselog serve`` share
SERVICE_ENV = "CASELOG_SERVICE_INCARNATION"


def new_service() -> str:
    """A fresh service incarnation, as the supervisor hands it to its workers."""
    return f"{secrets.token_hex(8)}@{_stamp(datetime.now(UTC))}"


def worker_incarnation(service: str, pid: int) -> str:
    """What the claims of the worker ``pid`` of ``service`` carry."""
    return f"{service.partition('@')[0]}:{pid}"


@dataclass(frozen=True)
class Stored:
    status: int
    body: bytes
    headers: dict[str, str]
    request_hash: str


def _stamp(moment: datetime) -> str:
    """A fixed-width UTC instant: compared as text in SQL, so it must sort as time does."""
    return moment.isoformat(timespec="microseconds")


def request_hash(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).hexdigest()


class IdempotencyStore:
    def __init__(
        self, views: ViewStore, service: str | None = None, pid: int | None = None
    ) -> None:
        """``service``: the service incarnation (``new_service``) this process serves in;
        by default ``CASELOG_SERVICE_INCARNATION``, else a new one (a service of one).
        ``pid``: the serving process (this one by default)."""
        self.views = views
        service = service or os.environ.get(SERVICE_ENV) or new_service()
        service_id, _, started = service.partition("@")
        #: claims of this service's processes start with this
        self.service_prefix = service_id + ":"
        #: this process's incarnation: the service's, and this process
        self.incarnation = worker_incarnation(service, pid or os.getpid())
        #: the service's start: claims of other services made before it are dead
        self.started_at = datetime.fromisoformat(started) if started else datetime.now(UTC)
        self._group = _Group(views)

    def release_dead_claims(self) -> int:
        """At start-up: free the pending claims older services left behind (not those of
        this service's other workers, which are alive)."""
        with self.views.transaction() as cur:
            cur.execute(
                self.views.sql(
                    # the prefix is hex digits and a colon: no LIKE wildcards in it
                    "DELETE FROM idempotency WHERE status = ? AND created_at < ? "
                    "AND incarnation NOT LIKE ?"
                ),
                (PENDING, _stamp(self.started_at), self.service_prefix + "%"),
            )
            return int(cur.rowcount or 0)

    def release_claims_of(self, incarnation: str) -> int:
        """A worker died while the service lives on: its unfinished claims are free."""
        with self.views.transaction() as cur:
            cur.execute(
                self.views.sql("DELETE FROM idempotency WHERE status = ? AND incarnation = ?"),
                (PENDING, incarnation),
            )
            return int(cur.rowcount or 0)

    def claim(self, tenant: str, actor: str, key: str, digest: str) -> Stored | None:
        """Claim the key; ``None`` when claimed now, else what is stored (maybe pending)."""
        with self.views.transaction() as cur:
            return self._claim(cur, tenant, actor, key, digest)

    def complete(
        self, tenant: str, actor: str, key: str, status: int, body: bytes, headers: dict[str, str]
    ) -> None:
        """Store the answer a retry with this key gets."""
        with self.views.transaction() as cur:
            self._complete(cur, tenant, actor, key, status, body, headers)

    async def claim_grouped(self, tenant: str, actor: str, key: str, digest: str) -> Stored | None:
        """``claim``, in one transaction with the other claims and answers waiting."""
        return await self._group.run(self._claim, tenant, actor, key, digest)  # type: ignore[no-any-return]

    async def complete_grouped(
        self, tenant: str, actor: str, key: str, status: int, body: bytes, headers: dict[str, str]
    ) -> None:
        """``complete``, in one transaction with the other claims and answers waiting; it
        returns once the answer is committed (a retry after the response finds it)."""
        await self._group.run(self._complete, tenant, actor, key, status, body, headers)

    def close(self) -> None:
        self._group.close()

    def _claim(self, cur: Any, tenant: str, actor: str, key: str, digest: str) -> Stored | None:
        now = datetime.now(UTC)
        cur.execute(
            self.views.sql(
                "INSERT INTO idempotency (tenant, actor, key, request_hash, status, body, "
                "headers, created_at, incarnation) VALUES (?, ?, ?, ?, ?, '', '{}', ?, ?) "
                "ON CONFLICT (tenant, actor, key) DO NOTHING"
            ),
            (tenant, actor, key, digest, PENDING, _stamp(now), self.incarnation),
        )
        if cur.rowcount == 1:
            return None
        cur.execute(
            self.views.sql(
                "SELECT status, body, headers, request_hash, created_at, incarnation "
                "FROM idempotency WHERE tenant = ? AND actor = ? AND key = ?"
            ),
            (tenant, actor, key),
        )
        status, body, headers, stored_hash, created, owner = cur.fetchone()
        if status == PENDING and stored_hash == digest and self._free(created, owner, now):
            cur.execute(
                self.views.sql(
                    "UPDATE idempotency SET created_at = ?, incarnation = ? "
                    "WHERE tenant = ? AND actor = ? AND key = ?"
                ),
                (_stamp(now), self.incarnation, tenant, actor, key),
            )
            return None
        return Stored(
            status=status,
            body=body.encode() if isinstance(body, str) else body,
            headers=msgspec.json.decode(headers),
            request_hash=stored_hash,
        )

    def _free(self, created: str, owner: str, now: datetime) -> bool:
        """A pending claim may be taken over when it is stale, or when an older service
        (a process that has since died or been replaced) made it before this one started."""
        claimed = datetime.fromisoformat(created)
        if claimed < now - timedelta(seconds=STALE_SECONDS):
            return True
        return not owner.startswith(self.service_prefix) and claimed < self.started_at

    def _complete(
        self,
        cur: Any,
        tenant: str,
        actor: str,
        key: str,
        status: int,
        body: bytes,
        headers: dict[str, str],
    ) -> None:
        cur.execute(
            self.views.sql(
                "UPDATE idempotency SET status = ?, body = ?, headers = ? "
                "WHERE tenant = ? AND actor = ? AND key = ?"
            ),
            (status, body.decode(), msgspec.json.encode(headers).decode(), tenant, actor, key),
        )

    def release(self, tenant: str, actor: str, key: str) -> None:
        """The command failed unexpectedly: let a retry run it."""
        with self.views.transaction() as cur:
            cur.execute(
                self.views.sql(
                    "DELETE FROM idempotency WHERE tenant = ? AND actor = ? AND key = ? "
                    "AND status = ?"
                ),
                (tenant, actor, key, PENDING),
            )


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class _Group:
    """Claims and answers from many requests in one transaction, on one thread with its
    own connection: per keyed write one statement each instead of a transaction each, and
    no hop through the request thread pool (whose every thread held a connection). When
    the shared transaction fails, each operation runs again in a transaction of its own, so
    one failing statement fails only its own request."""

    MAX_BATCH = 256

    def __init__(self, views: ViewStore) -> None:
        self.views = views
        self._queue: queue.SimpleQueue[tuple[Any, ...] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    async def run(self, op: Callable[..., Any], *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._loop, name="idempotency", daemon=True
                    )
                    self._thread.start()
        self._queue.put((op, args, loop, future))
        return await future

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=10)
            self._thread = None

    def _loop(self) -> None:
        try:
            drain(self._queue, self.MAX_BATCH, self._run)
        finally:
            self.views.close()  # this thread's connection

    def _run(self, batch: list[tuple[Any, ...]]) -> None:
        results: list[Any]
        try:
            with self.views.transaction() as cur:
                if self.views.is_postgres:
                    # The rows are a cache of answers over the log's own guard (the key in
                    # the event's actor): a commit PostgreSQL loses in its own crash costs a
                    # retry a recomputation, never a second application. So the commit does
                    # not wait for the disk; the event's commit does.
                    cur.execute("SET LOCAL synchronous_commit = off")
                results = [op(cur, *args) for op, args, _, _ in batch]
        except Exception:
            results = []
            for op, args, _, _ in batch:
                try:
                    with self.views.transaction() as cur:
                        results.append(op(cur, *args))
                except Exception as e:
                    results.append(_Failed(e))
        for (_, _, loop, future), result in zip(batch, results, strict=True):
            loop.call_soon_threadsafe(_settle, future, result)


def _settle(future: asyncio.Future[Any], result: Any) -> None:
    if future.cancelled():
        return
    if isinstance(result, _Failed):
        future.set_exception(result.error)
    else:
        future.set_result(result)
