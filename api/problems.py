"""Errors map once: every failure leaves as application/problem+json (RFC 9457).

Domain refusals are expected and logged at info; anything unexpected is logged with its
traceback server-side and answered with a bare 500 that names only the request id.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
import structlog
from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    NotFoundException,
    ValidationException,
)
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from api.auth import Unauthorized
from api.conventions import REQUEST_ID
from application.application import ConcurrencyExhausted
from application.registry import ClientErased, ClientExists, ClientNotFound
from domain.errors import CaseNotFound, InvalidValue, RuleViolation, VersionMismatch

log = structlog.get_logger("caselog.api")
PROBLEM = "application/problem+json"
BASE = "https://caselog.example/problems/"


class FieldError(msgspec.Struct):
    field: str
    message: str


class Problem(msgspec.Struct, omit_defaults=True):
    type: str
    title: str
    status: int
    detail: str
    errors: list[FieldError] = []
    rule: str | None = None
    request_id: str | None = None


class Forbidden(Exception):
    """The actor's role may not do this."""


class StoreUnavailable(Exception):
    """The event store cannot be reached right now."""


def problem(status: int, slug: str, title: str, detail: str, **extra: Any) -> Response[Problem]:
    """A problem+json answer; ``request_id`` is the current request's unless given."""
    if extra.get("request_id") is None:
        extra["request_id"] = REQUEST_ID.get()
    body = Problem(type=BASE + slug, title=title, status=status, detail=detail, **extra)
    return Response(body, status_code=status, media_type=PROBLEM)


_FIELD = re.compile(r"`([^`]+)`")


def _field_errors(exc: ValidationException) -> tuple[list[FieldError], bool]:
    """Field errors, and whether any came from the body (422) rather than the query (400)."""
    errors: list[FieldError] = []
    body = False
    for item in exc.extra or []:
        if not isinstance(item, dict):
            continue
        message = str(item.get("message", "invalid"))
        key = str(item.get("key", ""))
        if key in ("data", "") and (m := _FIELD.search(message.split(" - at ")[-1])):
            key = m.group(1)
        if " - at `$." in message:
            message, _, where = message.partition(" - at `$.")
            key = where.rstrip("`")
        errors.append(FieldError(field=key or "body", message=message))
        body = body or item.get("source") == "body"
    return errors, body


def handle(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    rid = request.scope.get("state", {}).get("request_id")
    if isinstance(exc, RuleViolation):
        status = 422 if isinstance(exc, InvalidValue) else 409
        log.info("refused", rule=exc.rule, status=status)
        title = "Invalid value" if status == 422 else "Refused by a lifecycle rule"
        fields = getattr(exc, "field", None)
        errors = [FieldError(field=fields, message=exc.detail)] if fields else []
        return problem(
            status,
            f"rule/{exc.rule}",
            title,
            str(exc),
            rule=exc.rule,
            errors=errors,
            request_id=rid,
        )
    if isinstance(exc, CaseNotFound | ClientNotFound):
        return problem(404, "not-found", "Not found", str(exc), request_id=rid)
    if isinstance(exc, ClientErased):
        return problem(410, "erased", "Gone", str(exc), request_id=rid)
    if isinstance(exc, ClientExists):
        return problem(409, "exists", "Conflict", str(exc), request_id=rid)
    if isinstance(exc, VersionMismatch):
        return problem(412, "version-mismatch", "Precondition failed", str(exc), request_id=rid)
    if isinstance(exc, ConcurrencyExhausted):
        return problem(409, "busy", "Conflict", str(exc), request_id=rid)
    if isinstance(exc, Unauthorized):
        resp = problem(401, "unauthorized", "Unauthorized", str(exc), request_id=rid)
        resp.headers["WWW-Authenticate"] = 'Bearer realm="caselog"'
        return resp
    if isinstance(exc, Forbidden):
        return problem(403, "forbidden", "Forbidden", str(exc), request_id=rid)
    if isinstance(exc, StoreUnavailable):
        resp = problem(503, "unavailable", "Store unavailable", str(exc), request_id=rid)
        resp.headers["Retry-After"] = "2"
        return resp
    if isinstance(exc, ValidationException):
        errors, from_body = _field_errors(exc)
        if not errors:  # malformed JSON or an unreadable body
            return problem(400, "malformed", "Malformed request", str(exc.detail), request_id=rid)
        status = 422 if from_body else 400
        return problem(
            status,
            "invalid" if status == 422 else "malformed",
            "Invalid values" if status == 422 else "Malformed request",
            "; ".join(f"{e.field}: {e.message}" for e in errors),
            errors=errors,
            request_id=rid,
        )
    if isinstance(exc, NotFoundException):
        return problem(404, "not-found", "Not found", str(exc.detail), request_id=rid)
    if isinstance(exc, HTTPException):
        status = exc.status_code
        slug, title = {
            400: ("malformed", "Malformed request"),
            413: ("too-large", "Request body too large"),
            405: ("method-not-allowed", "Method not allowed"),
            415: ("unsupported-media-type", "Unsupported media type"),
        }.get(status, ("http", "HTTP error"))
        resp = problem(status, slug, title, str(exc.detail), request_id=rid)
        for name, value in (exc.headers or {}).items():  # e.g. Allow on 405
            resp.headers[name] = value
        return resp
    if _is_store_down(exc):
        log.warning("store_unavailable", error=type(exc).__name__)
        svc = getattr(request.app.state, "services", None)
        if svc is not None:
            svc.mark_store_down()
        resp = problem(
            503,
            "unavailable",
            "Store unavailable",
            "the store cannot be reached; retry",
            request_id=rid,
        )
        resp.headers["Retry-After"] = "2"
        return resp
    log.exception("unexpected_error", exc_info=exc)
    return problem(
        HTTP_500_INTERNAL_SERVER_ERROR,
        "internal",
        "Internal error",
        "an unexpected error happened; it has been logged",
        request_id=rid,
    )


def _store_errors() -> tuple[type[BaseException], ...]:
    import sqlite3

    import eventsourcing.persistence as es
    import psycopg
    import psycopg_pool

    return (
        psycopg.OperationalError,  # includes AdminShutdown, connection failures
        psycopg.InterfaceError,
        psycopg_pool.PoolTimeout,
        sqlite3.OperationalError,  # e.g. database is locked
        es.OperationalError,
        es.InterfaceError,
    )


_STORE_ERRORS = _store_errors()


def _is_store_down(exc: BaseException) -> bool:
    return any(isinstance(e, _STORE_ERRORS) for e in _chain(exc))


def _chain(exc: BaseException | None) -> list[BaseException]:
    out = []
    while exc is not None and len(out) < 10:
        out.append(exc)
        exc = exc.__cause__ or exc.__context__
    return out
