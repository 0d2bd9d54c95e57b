"""The OpenAPI document and its pages, served without internet.

Swagger UI 5 (it reads OpenAPI 3.1) comes from the installed ``swagger-ui-bundle-v2``
package; its script, style and icon are served at ``/schema/assets`` by the service itself,
so ``/schema`` renders offline (no CDN: many municipalities' networks reach none). The
document's version is the installed package's, operations are tagged by area, and the
operations that need no token (``/health``) are documented without the lock.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path
from typing import Any

from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, Operation, SecurityScheme, Tag
from litestar.static_files import create_static_files_router
from swagger_ui_bundle import swagger_ui_path

ASSETS = "/schema/assets"

#: (path prefix, tag) in order: the first prefix a path starts with names its area
AREAS: list[tuple[str, str]] = [
    ("/v1/cases", "cases"),
    ("/v1/clients", "clients"),
    ("/v1/signals", "signals"),
    ("/v1/kpis", "kpis"),
    ("/v1/declarations", "declarations"),
    ("/v1/iwmo", "iwmo"),
    ("/v1/catalogue", "catalogue"),
    ("/dashboard", "dashboard"),
    ("/", "service"),
]
TAGS = [
    Tag(name="cases", description="Commands on a case and its reads (state, history, time travel)"),
    Tag(name="clients", description="Client registry: pseudonyms and erasure (R-33)"),
    Tag(name="signals", description="Signals for case handlers (R-14, R-15, R-18, R-29)"),
    Tag(name="kpis", description="Contract-management KPIs (R-27, R-28, R-31)"),
    Tag(name="declarations", description="Monthly declarations across cases"),
    Tag(name="iwmo", description="iWmo 3.2 messages"),
    Tag(name="catalogue", description="The contract catalogue"),
    Tag(name="dashboard", description="The contract-management dashboard (a web page)"),
    Tag(name="service", description="Health and operations"),
]


def package_version() -> str:
    try:
        return metadata.version("wmo-caselog")
    except metadata.PackageNotFoundError:  # running from a source tree that is not installed
        return "0.0.0+source"


class PublicOperation(Operation):
    """An operation anyone may call: ``security: []`` overrides the document's bearer lock."""

    def to_schema(self) -> dict[str, Any]:
        return super().to_schema() | {"security": []}


def document(handlers: list[Any]) -> list[Any]:
    """Tag each handler by its area (unless it names its own tags) and unlock the public
    ones (``exclude_from_auth``)."""
    for handler in handlers:
        path = next(iter(handler.paths))
        if not handler.tags:
            handler.tags = [next(tag for prefix, tag in AREAS if path.startswith(prefix))]
        if handler.opt.get("exclude_from_auth"):
            handler.operation_class = PublicOperation
    return handlers


def openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="caselog",
        version=package_version(),
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
        tags=TAGS,
        path="/schema",
        render_plugins=[
            SwaggerRenderPlugin(
                js_url=f"{ASSETS}/swagger-ui-bundle.js",
                css_url=f"{ASSETS}/swagger-ui.css",
                standalone_preset_js_url=f"{ASSETS}/swagger-ui-standalone-preset.js",
                favicon=f'<link rel="icon" type="image/png" href="{ASSETS}/favicon-32x32.png">',
                path=["/", "/swagger"],  # /schema and the former /schema/swagger
            )
        ],
    )


SWAGGER_ASSETS = create_static_files_router(
    path=ASSETS,
    directories=[Path(str(swagger_ui_path))],
    name="swagger-ui-assets",
    include_in_schema=False,
    opt={"exclude_from_auth": True},
)
