"""Idempotency-Key: a write is applied at most once; a retry gets the first response.

The key is claimed before the command runs (a ``pending`` row, unique per tenant, actor and
key), so two concurrent requests with one key cannot both apply: the second is told to
retry (409). When the command answers, its status, body and headers are stored with the
request's hash; a retry with the same key and body gets that answer again, even after a
restart; the same key with another body is refused (422). A claim whose command crashed
(no answer after ``STALE_SECONDS``) may be taken over: running the command again is safe,
because the key also travels in the event's actor and the case refuses to apply a request
it has seen (``Case.check_new_request``), answering with the version it produced then.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import msgspec

from projections.store import ViewStore

PENDING = 0
STALE_SECONDS = 5


@dataclass(frozen=True)
class Stored:
    status: int
    body: bytes
    headers: dict[str, str]
    request_hash: str


def request_hash(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).hexdigest()


class IdempotencyStore:
    def __init__(self, views: ViewStore) -> None:
        self.views = views

    def claim(self, tenant: str, actor: str, key: str, digest: str) -> Stored | None:
        """Claim the key; ``None`` when claimed now, else what is stored (maybe pending)."""
        now = datetime.now(UTC)
        with self.views.transaction() as cur:
            cur.execute(
                self.views.sql(
                    "INSERT INTO idempotency (tenant, actor, key, request_hash, status, body, "
                    "headers, created_at) VALUES (?, ?, ?, ?, ?, '', '{}', ?) "
                    "ON CONFLICT (tenant, actor, key) DO NOTHING"
                ),
                (tenant, actor, key, digest, PENDING, now.isoformat()),
            )
            if cur.rowcount == 1:
                return None
            cur.execute(
                self.views.sql(
                    "SELECT status, body, headers, request_hash, created_at FROM idempotency "
                    "WHERE tenant = ? AND actor = ? AND key = ?"
                ),
                (tenant, actor, key),
            )
            status, body, headers, stored_hash, created = cur.fetchone()
            stale = datetime.fromisoformat(created) < now - timedelta(seconds=STALE_SECONDS)
            if status == PENDING and stale and stored_hash == digest:
                cur.execute(
                    self.views.sql(
                        "UPDATE idempotency SET created_at = ? "
                        "WHERE tenant = ? AND actor = ? AND key = ?"
                    ),
                    (now.isoformat(), tenant, actor, key),
                )
                return None
        return Stored(
            status=status,
            body=body.encode() if isinstance(body, str) else body,
            headers=msgspec.json.decode(headers),
            request_hash=stored_hash,
        )

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
