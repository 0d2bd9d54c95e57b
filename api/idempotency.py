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
carries the incarnation id of the process that made it; a process releases the unfinished
claims of incarnations older than itself when it starts (``release_dead_claims``) and treats
any it still meets as free, so a client's retry right after the restart gets the first
answer instead of 409 "in progress".
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import msgspec

from storage.views import ViewStore

PENDING = 0
STALE_SECONDS = 5


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
    def __init__(self, views: ViewStore, incarnation: str | None = None) -> None:
        self.views = views
        #: this process's incarnation: a new one per start
        self.incarnation = incarnation or secrets.token_hex(8)
        self.started_at = datetime.now(UTC)

    def release_dead_claims(self) -> int:
        """At start-up: free the pending claims older incarnations left behind."""
        with self.views.transaction() as cur:
            cur.execute(
                self.views.sql(
                    "DELETE FROM idempotency WHERE status = ? AND incarnation <> ? "
                    "AND created_at < ?"
                ),
                (PENDING, self.incarnation, _stamp(self.started_at)),
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
        """A pending claim may be taken over when it is stale, or when an older incarnation
        (a process that has since died or been replaced) made it."""
        claimed = datetime.fromisoformat(created)
        if claimed < now - timedelta(seconds=STALE_SECONDS):
            return True
        return owner != self.incarnation and claimed < self.started_at

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
