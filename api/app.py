"""The litestar application: routes, auth dependency, problem+json, logs, OpenAPI."""

from __future__ import annotations

import itertools
import logging
import secrets
import sys
import time
from typing import Any

import msgspec
import structlog
from litestar import Litestar
from litestar.config.app import AppConfig
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from api import problems
from api.auth import secret
from api.cases import WRITES
from api.clients import CLIENTS
from api.context import Services, provide_actor
from api.idempotency import IdempotencyStore
from api.iwmo import IWMO_INBOUND
from api.iwmo_out import IWMO_OUTBOUND
from api.monitoring import MONITORING
from api.reads import READS
from caselog.application import CaseLog
from caselog.config import StoreConfig, store_config
from projections.runner import ProjectionRunner
from projections.store import ViewStore

MAX_BODY = 64 * 1024
_PREFIX = secrets.token_hex(4)  # per process; ids are prefix-counter (uuid4 cost ~7% CPU)
_COUNTER = itertools.count(1)
log = structlog.get_logger("caselog.api")


def configure_logging(json: bool = True) -> None:
    """structlog once: JSON lines on stdout (msgspec-encoded bytes), context bound per
    request."""
    encoder = msgspec.json.Encoder(enc_hook=str)
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        structlog.processors.JSONRenderer(serializer=lambda d, **_: encoder.encode(d))
        if json
        else structlog.dev.ConsoleRenderer(),
    ]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        logger_factory=structlog.BytesLoggerFactory(sys.stdout.buffer)
        if json
        else structlog.PrintLoggerFactory(sys.stdout),
        cache_logger_on_first_use=True,
    )


def access_log(app: ASGIApp) -> ASGIApp:
    """Request id, actor, tenant, case id, status and duration; never bodies or tokens."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        request_id = f"{_PREFIX}-{next(_COUNTER):x}"
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await app(scope, receive, send_wrapper)
        finally:
            log.info(
                "request",
                method=scope["method"],
                path=scope["path"],
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
            )

    return middleware


def _document_errors(handlers: list[Any]) -> list[Any]:
    """Every handler may answer problem+json; say so in the OpenAPI document."""
    from litestar.openapi.datastructures import ResponseSpec

    texts = {
        400: "Malformed request", 401: "No or invalid token", 403: "Not allowed for this role",
        404: "Unknown case, or outside your scope", 409: "Refused by a lifecycle rule",
        410: "Erased", 412: "If-Match version mismatch", 413: "Body too large",
        422: "Invalid values", 503: "Store unavailable",
    }  # fmt: skip
    for handler in handlers:
        handler.responses = {
            code: ResponseSpec(
                data_container=problems.Problem, description=text, media_type=problems.PROBLEM
            )
            for code, text in texts.items()
        } | (handler.responses or {})
    return handlers


def create_app(
    store: StoreConfig | None = None,
    *,
    app: CaseLog | None = None,
    jwt_key: str | None = None,
    run_projections: bool = True,
) -> Litestar:
    caselog = app or CaseLog(store=store or store_config())
    views = ViewStore(caselog.store)
    runner = ProjectionRunner(caselog, views)
    runner.external = not run_projections
    services = Services(
        app=caselog,
        views=views,
        runner=runner,
        idempotency=IdempotencyStore(views),
        jwt_key=jwt_key or secret(),
    )

    def on_startup(application: Litestar) -> None:
        application.state.services = services
        if run_projections:
            runner.start()

    def on_shutdown(application: Litestar) -> None:
        runner.stop()
        views.close()
        if app is None:
            caselog.close()

    def attach(config: AppConfig) -> AppConfig:
        config.state["services"] = services
        return config

    return Litestar(
        route_handlers=_document_errors(
            [*WRITES, *READS, *MONITORING, *CLIENTS, *IWMO_INBOUND, *IWMO_OUTBOUND]
        ),
        dependencies={"actor": Provide(provide_actor)},
        exception_handlers={Exception: problems.handle},
        middleware=[access_log],
        on_startup=[on_startup],
        on_shutdown=[on_shutdown],
        on_app_init=[attach],
        request_max_body_size=MAX_BODY,
        openapi_config=OpenAPIConfig(
            title="caselog",
            version="1.0.0",
            description=(
                "Event-sourced case log for Wmo individual guidance. Contract: shared/API.md; "
                "guide with curl examples: docs/api.md. Errors are application/problem+json."
            ),
            components=Components(
                security_schemes={
                    "bearer": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT")
                }
            ),
            security=[{"bearer": []}],
            path="/schema",
        ),
        debug=False,
    )
