"""What every request gets: a request id, an access log line, metrics, HEAD for GET.

- ``X-Request-ID``: an incoming id is kept when it is 1-128 characters of ``A-Z a-z 0-9
  . _ : -`` (a gateway's or client's correlation id), else one is made; it is bound to
  every log line of the request, returned in the response header and put in every
  problem body.
- The access log names method, path, query string (time-travel parameters matter in a
  dispute), status and duration; never bodies or tokens.
- HEAD is answered for every GET route (load balancers probe ``HEAD /health``): the GET
  runs and its body is dropped.
"""

from __future__ import annotations

import itertools
import logging
import re
import secrets
import sys
import time
from contextvars import ContextVar
from typing import Any

import msgspec
import structlog
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from api.metrics import Metrics

_PREFIX = secrets.token_hex(4)  # per process; ids are prefix-counter (uuid4 cost ~7% CPU)
_COUNTER = itertools.count(1)
_VALID_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
MAX_QUERY_LOGGED = 1000
REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
log = structlog.get_logger("caselog.api")


def configure_logging(json: bool | None = None, *, level: str = "info", fmt: str = "auto") -> None:
    """structlog once: JSON lines on stdout (msgspec-encoded bytes) for machines, readable
    lines on a terminal (``fmt="auto"`` decides by whether stdout is one)."""
    if json is None:
        json = fmt == "json" or (fmt == "auto" and not sys.stdout.isatty())
    encoder = msgspec.json.Encoder(enc_hook=str)
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if json:
        processors += [
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(serializer=lambda d, **_: encoder.encode(d)),
        ]
    else:
        processors.append(structlog.dev.ConsoleRenderer(colors=sys.stdout.isatty()))
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.BytesLoggerFactory(sys.stdout.buffer)
        if json
        else structlog.PrintLoggerFactory(sys.stdout),
        cache_logger_on_first_use=True,
    )


def request_id_from(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            text = value.decode("latin-1")
            if _VALID_ID.fullmatch(text):
                return text
            break
    return f"{_PREFIX}-{next(_COUNTER):x}"


def conventions(metrics: Metrics) -> Any:
    """The middleware factory for one application (its own metrics)."""

    def middleware(app: ASGIApp) -> ASGIApp:
        async def handle(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            request_id = request_id_from(scope)
            scope.setdefault("state", {})["request_id"] = request_id
            token = REQUEST_ID.set(request_id)
            structlog.contextvars.clear_contextvars()
            structlog.contextvars.bind_contextvars(request_id=request_id)
            method = scope["method"]
            head = method == "HEAD"
            if head:
                scope["method"] = "GET"
            started = time.perf_counter()
            status = 500

            async def send_wrapper(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                    message["headers"] = [
                        *message.get("headers", []),
                        (b"x-request-id", request_id.encode()),
                    ]
                elif head and message["type"] == "http.response.body":
                    message = {**message, "body": b""}
                await send(message)

            try:
                await app(scope, receive, send_wrapper)
            finally:
                seconds = time.perf_counter() - started
                route = scope.get("path_template") or "unmatched"
                metrics.observe(method, route, status, seconds)
                query = scope.get("query_string", b"")
                log.info(
                    "request",
                    method=method,
                    path=scope["path"],
                    **({"query": query[:MAX_QUERY_LOGGED].decode("latin-1")} if query else {}),
                    status=status,
                    duration_ms=round(seconds * 1000, 2),
                )
                REQUEST_ID.reset(token)

        return handle

    return middleware
