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

import hashlib
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import msgspec

from projections.store import ViewStore

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
        now = datetime.now(UTC)
        with self.views.transaction() as cur:
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

    def complete(
        self, tenant: str, actor: str, key: str, status: int, body: bytes, headers: dict[str, str]
    ) -> None:
        with self.views.transaction() as cur:
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
