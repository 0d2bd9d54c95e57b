"""GET /dashboard: the contract-management dashboard, a page the service serves itself.

The page (``api/static/``) asks for a token, keeps it in the tab's sessionStorage and draws
its charts in the browser from the public API: ``GET /v1/kpis`` once for the period, once
per month and once per provider, ``GET /v1/signals`` per provider, and the exports of
``GET /v1/kpis`` with an ``Accept`` header. Its only library, Chart.js, is a file in
``api/static/vendor/`` (MIT); no script, style or font is fetched from elsewhere, and the
Content-Security-Policy header makes the browser refuse anything that is not the
service's own. ``GET /v1/kpis/dimensions`` tells the page what it can filter by.
docs/dashboard.md says why this stack.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import anyio
import msgspec
from litestar import MediaType, Request, Response, get
from litestar.datastructures import CacheControlHeader
from litestar.static_files import create_static_files_router

from api.context import require, services
from api.openapi import SWAGGER_ASSETS
from domain.values import Actor
from projections.queries import case_summaries

STATIC = Path(__file__).parent / "static"
PAGE = (STATIC / "dashboard.html").read_bytes()
#: the browser loads and connects to nothing but this service (no CDN, no web font)
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


@get(
    "/dashboard",
    summary="The contract-management dashboard (a web page; it asks for a token)",
    exclude_from_auth=True,
    media_type=MediaType.HTML,
)
async def dashboard() -> Response[bytes]:
    return Response(
        PAGE,
        media_type=MediaType.HTML,
        headers={
            "Content-Security-Policy": CSP,
            "Cache-Control": "no-cache",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        },
    )


class Dimensions(msgspec.Struct, kw_only=True):
    providers: list[str]
    products: list[str]
    municipalities: list[str]
    referral_years: dict[str, int]  # year -> cases referred that year


@get(
    "/v1/kpis/dimensions",
    summary="What the KPIs can be broken down by: providers, products, municipalities, years",
)
async def get_dimensions(request: Request[Any, Any, Any], actor: Actor) -> Dimensions:
    """The values present in the tenant's cases (codes only: no case ids, no clients)."""
    require(actor, "contract_manager", "municipality")
    svc = services(request)

    def read() -> Dimensions:
        services(request).caught_up()
        summaries = case_summaries(svc.views, svc.app, actor.tenant)
        years = Counter(str(s.referred_on.year) for s in summaries)
        return Dimensions(
            providers=sorted({s.provider for s in summaries}),
            products=sorted({p for s in summaries for p in s.products}),
            municipalities=sorted({s.municipality for s in summaries}),
            referral_years=dict(sorted(years.items())),
        )

    return await anyio.to_thread.run_sync(read)


DASHBOARD = [dashboard, get_dimensions]
ASSETS = [
    SWAGGER_ASSETS,
    create_static_files_router(
        path="/dashboard/assets",
        directories=[STATIC],
        include_in_schema=False,
        name="dashboard-assets",
        opt={"exclude_from_auth": True},
        cache_control=CacheControlHeader(no_cache=True),
    ),
]
