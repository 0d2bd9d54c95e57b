"""What handlers share: the services, the actor, role checks and the write path."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any
from uuid import UUID

import anyio
import msgspec
import structlog
from litestar import Request, Response
from litestar.exceptions import ClientException, ValidationException

from api.auth import TokenVerifier
from api.idempotency import PENDING, IdempotencyStore, request_hash
from api.metrics import Metrics
from api.problems import PROBLEM, Forbidden, StoreUnavailable, handle, problem
from api.schemas import Written
from application.application import CaseLog
from domain.errors import CaseNotFound, DomainError
from domain.values import Actor
from projections.runner import ProjectionRunner
from projections.stored_reads import StoredReads
from storage.views import ViewStore

log = structlog.get_logger("caselog.api")
_json = msgspec.json.Encoder()


@dataclass
class Services:
    app: CaseLog
    views: ViewStore
    runner: ProjectionRunner
    idempotency: IdempotencyStore
    verifier: TokenVerifier
    metrics: Metrics
    #: the bearer token a Prometheus scraper presents at /metrics (None: /metrics is off)
    metrics_token: str | None = None
    #: monotonic time until which the store is taken to be down (a failure was seen)
    store_down_until: float = 0.0

    def caught_up(self, timeout: float = 2.0) -> None:
        """Read-your-writes: wait (bounded) until the projection runner has passed the head
        of the log, so a read after a write sees it."""
        self.runner.wait_for(self.app.max_notification_id(), timeout=timeout)

    def reached(self, position: int, timeout: float = 2.0) -> bool:
        """Read-your-writes for one case: wait (bounded) until the projection runner has
        passed ``position`` (the notification of the case's last event); False on timeout."""
        return self.runner.wait_for(position, timeout=timeout)

    @cached_property
    def stored(self) -> StoredReads:
        """Case, entitlement and consumption reads from the stored rows."""
        return StoredReads(self.views, self.app.events_table())

    def mark_store_down(self, seconds: float = 5.0) -> None:
        self.store_down_until = time.monotonic() + seconds

    def store_suspect(self) -> bool:
        return time.monotonic() < self.store_down_until

    def probe_store(self) -> bool:
        """A quick, direct connection check (refused at once when the server is down)."""
        try:
            self.views.ping()
        except Exception:
            self.mark_store_down()
            return False
        self.store_down_until = 0.0
        return True


def services(request: Request[Any, Any, Any]) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


async def provide_actor(request: Request[Any, Any, Any]) -> Actor:
    svc = services(request)
    if svc.store_suspect() and not await anyio.to_thread.run_sync(svc.probe_store):
        # fail fast with 503 instead of letting requests queue on a dead store
        raise StoreUnavailable("the store cannot be reached; retry")
    header = request.headers.get("authorization")
    note = request.headers.get("x-audit-toelichting")
    if svc.verifier.jwks is None:
        actor = svc.verifier.actor(header, note)
    else:  # a key not cached yet is fetched from the identity provider: not on the loop
        actor = await anyio.to_thread.run_sync(svc.verifier.actor, header, note)
    key = request.headers.get("idempotency-key")
    if key and request.method == "POST" and len(key) <= 200:
        actor = msgspec.structs.replace(actor, request_key=f"{actor.sub}:{key}")
    structlog.contextvars.bind_contextvars(
        actor=actor.sub, role=actor.role, tenant=actor.tenant, provider=actor.provider
    )
    return actor


def invalid(field: str, message: str, source: str = "query") -> ValidationException:
    """A validation error naming one field: 400 for query parameters, 422 for bodies."""
    return ValidationException(
        message, extra=[{"key": field, "message": message, "source": source}]
    )


def aware(value: datetime | None, name: str) -> datetime | None:
    """An instant parameter must carry its offset (RFC 3339): 400 naming it otherwise."""
    if value is not None and value.tzinfo is None:
        raise invalid(name, "an RFC 3339 instant with offset")
    return value


async def strict_body(request: Request[Any, Any, Any], data: msgspec.Struct) -> None:
    """Validate the raw body strictly (litestar's own conversion is lax: it turns "30" into
    30). A value of the wrong JSON type is a 422 naming the field."""
    try:
        msgspec.json.decode(await request.body(), type=type(data), strict=True)
    except msgspec.ValidationError as e:
        message, _, where = str(e).partition(" - at `$.")
        raise invalid(where.rstrip("`") or "body", message, source="body") from None


def require(actor: Actor, *roles: str) -> None:
    if actor.role not in roles:
        raise Forbidden(f"a {actor.role} may not do this (allowed: {', '.join(roles)})")


def parse_case_id(case_id: str) -> UUID:
    try:
        parsed = UUID(case_id)
    except ValueError:
        raise CaseNotFound(f"case {case_id} not found") from None
    structlog.contextvars.bind_contextvars(case_id=str(parsed))
    return parsed


def if_match(request: Request[Any, Any, Any]) -> int | None:
    value = request.headers.get("if-match")
    if value is None:
        return None
    raw = value.strip().removeprefix("W/").strip('"')
    if raw == "*":
        return None
    if not raw.isdigit():
        raise ClientException('If-Match must be a version as an entity tag, e.g. "7"')
    return int(raw)


def written(case_id: UUID, version: int, status: int = 200, **extra: Any) -> Response[Any]:
    body: Any = (
        Written(case_id=str(case_id), version=version)
        if not extra
        else {"case_id": str(case_id), "version": version, **extra}
    )
    headers = {"ETag": f'"{version}"'}
    if status == 201:  # a case opened, or a change request on it: where to read it
        headers["Location"] = f"/v1/cases/{case_id}"
    return Response(body, status_code=status, headers=headers)


async def run_write(
    request: Request[Any, Any, Any],
    actor: Actor,
    command: Callable[[int | None], Response[Any]],
) -> Response[Any]:
    """Run a write command in a worker thread, at most once per Idempotency-Key."""
    svc = services(request)
    expected = if_match(request)
    key = request.headers.get("idempotency-key")
    if not key:
        return await anyio.to_thread.run_sync(command, expected)
    if len(key) > 200:
        return problem(400, "malformed", "Malformed request", "Idempotency-Key is too long")
    digest = request_hash(request.method, request.url.path, await request.body())
    stored = await anyio.to_thread.run_sync(
        svc.idempotency.claim, actor.tenant, actor.sub, key, digest
    )
    if stored is not None:
        if stored.request_hash != digest:
            return problem(
                422,
                "idempotency-key-reused",
                "Invalid values",
                "this Idempotency-Key was used with another request",
            )
        if stored.status == PENDING:
            resp = problem(
                409, "in-progress", "Conflict", "the first request with this key is still running"
            )
            resp.headers["Retry-After"] = "1"
            return resp
        return Response(
            stored.body,
            status_code=stored.status,
            headers={**stored.headers, "Idempotent-Replayed": "true"},
            media_type=stored.headers.get("content-type", "application/json"),
        )
    try:
        response = await anyio.to_thread.run_sync(command, expected)
        content_type = "application/json"
    except DomainError as exc:  # a refusal is an answer too: a retry gets it again
        response = handle(request, exc)
        content_type = PROBLEM
    except BaseException:
        await anyio.to_thread.run_sync(svc.idempotency.release, actor.tenant, actor.sub, key)
        raise
    headers = {**dict(response.headers.items()), "content-type": content_type}
    await anyio.to_thread.run_sync(
        svc.idempotency.complete,
        actor.tenant,
        actor.sub,
        key,
        response.status_code,
        _json.encode(response.content),
        headers,
    )
    return response
