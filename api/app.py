"""The litestar application: routes, auth dependency, problem+json, logs, OpenAPI."""

from __future__ import annotations

from typing import Any

import structlog
from litestar import Litestar
from litestar.config.app import AppConfig
from litestar.di import Provide

from api import problems
from api.auth import DEV_SECRET, Claims, TokenVerifier
from api.caseload import CASELOAD
from api.cases import WRITES
from api.clients import CLIENTS
from api.context import Services, provide_actor
from api.conventions import configure_logging, conventions
from api.dashboard import ASSETS, DASHBOARD
from api.exports import EXPORTS
from api.idempotency import IdempotencyStore
from api.iwmo import IWMO_INBOUND
from api.iwmo_out import IWMO_OUTBOUND
from api.metrics import METRICS, Metrics
from api.monitoring import MONITORING
from api.openapi import document, openapi_config
from api.reads import READS
from application.application import CaseLog
from application.settings import Settings, load_settings
from projections.runner import ProjectionRunner
from storage.config import StoreConfig, store_config
from storage.views import ViewStore

MAX_BODY = 64 * 1024
log = structlog.get_logger("caselog.api")
__all__ = ["configure_logging", "create_app"]  # configure_logging: kept for importers


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


def verifier_for(settings: Settings, jwt_key: str | None = None) -> TokenVerifier:
    """HS256 with the configured secret; plus the identity provider's keys when a JWKS URL
    is set (then without a secret HS256 is off: no development secret in production)."""
    hs_key = jwt_key or settings.jwt_secret
    if not hs_key and not settings.jwks_url:
        log.warning("jwt_secret_not_set", using="the development secret")
        hs_key = DEV_SECRET
    return TokenVerifier(
        hs_key,
        jwks_url=settings.jwks_url,
        audience=settings.jwt_audience,
        issuer=settings.jwt_issuer,
        claims=Claims(
            role=settings.jwt_role_claim,
            tenant=settings.jwt_tenant_claim,
            provider=settings.jwt_provider_claim,
        ),
        jwks_cooldown=settings.jwks_cooldown_seconds,
    )


def create_app(
    store: StoreConfig | None = None,
    *,
    app: CaseLog | None = None,
    jwt_key: str | None = None,
    run_projections: bool = True,
    settings: Settings | None = None,
) -> Litestar:
    settings = settings or load_settings()
    caselog = app or CaseLog(store=store or store_config(settings.database_url))
    views = ViewStore(caselog.store)
    runner = ProjectionRunner(caselog, views)
    runner.external = not run_projections
    services = Services(
        app=caselog,
        views=views,
        runner=runner,
        idempotency=IdempotencyStore(views),
        verifier=verifier_for(settings, jwt_key),
        metrics=Metrics(lambda: services),
        metrics_token=settings.metrics_token,
    )

    def on_startup(application: Litestar) -> None:
        application.state.services = services
        released = services.idempotency.release_dead_claims()
        if released:
            log.info("idempotency_claims_released", count=released)
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

    application = Litestar(
        route_handlers=[
            *document(
                _document_errors(
                    [
                        *WRITES,
                        *READS,
                        *MONITORING,
                        *CLIENTS,
                        *CASELOAD,
                        *EXPORTS,
                        *IWMO_INBOUND,
                        *IWMO_OUTBOUND,
                        *DASHBOARD,
                    ]
                )
            ),
            *ASSETS,
            *METRICS,
        ],
        dependencies={"actor": Provide(provide_actor)},
        exception_handlers={Exception: problems.handle},
        on_startup=[on_startup],
        on_shutdown=[on_shutdown],
        on_app_init=[attach],
        request_max_body_size=MAX_BODY,
        openapi_config=openapi_config(),
        debug=False,
    )
    # Outermost, around litestar's router and its exception handling, so routing failures
    # (404 for an unknown path, 405) get a request id, a log line and a metric too.
    application.asgi_handler = conventions(services.metrics)(application.asgi_handler)
    return application
