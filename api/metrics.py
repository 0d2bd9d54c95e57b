"""Prometheus metrics (prometheus-client): ``GET /metrics`` in the text exposition format.

- ``caselog_http_requests_total{method, route, status}`` and
  ``caselog_http_request_duration_seconds{method, route}``: rates and latencies per route
  template (``/v1/cases/{case_id:str}``), never per case id.
- ``caselog_write_batches_total`` and ``caselog_write_batched_commands_total``: the group
  committer's batches; their rates' ratio is the mean batch size.
- ``caselog_projection_position{projection}``, ``caselog_projection_lag_events{projection}``
  and ``caselog_log_head``: read from the store when scraped.

Who may read it: the figures span every tenant (a municipality's traffic is visible in
them, no case, client or actor is), so neither providers nor municipalities read them; a
scraper presents the ``CASELOG_METRICS_TOKEN`` as a bearer token. Without that variable
/metrics answers 401 for everyone (docs/operations.md).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterator
from typing import Any

import anyio
from litestar import Request, Response, get
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from api.auth import Unauthorized

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class _StoreCollector(Collector):
    """Figures read at scrape time from the application and the projection runner."""

    def __init__(self, services: Callable[[], Any]) -> None:
        self.services = services

    def describe(self) -> list[Metric]:
        return []  # read nothing at registration: the application is not built yet

    def collect(self) -> Iterator[Metric]:
        svc = self.services()
        if svc is None:
            return
        committer = getattr(svc.app, "_committer", None)  # None without group commit
        batches = CounterMetricFamily(
            "caselog_write_batches", "Batches the group committer saved in one transaction"
        )
        commands = CounterMetricFamily(
            "caselog_write_batched_commands", "Commands the group committer ran in its batches"
        )
        batches.add_metric([], committer.batches if committer else 0)
        commands.add_metric([], committer.commands if committer else 0)
        yield batches
        yield commands
        try:
            head = svc.app.max_notification_id()
            positions = svc.runner.positions()
        except Exception:  # the store is down: the request metrics still count
            return
        yield GaugeMetricFamily("caselog_log_head", "Last notification id in the log", value=head)
        position = GaugeMetricFamily(
            "caselog_projection_position", "Last notification a projection has processed",
            labels=["projection"],
        )  # fmt: skip
        lag = GaugeMetricFamily(
            "caselog_projection_lag_events", "Notifications a projection is behind the log",
            labels=["projection"],
        )  # fmt: skip
        for name, at in sorted(positions.items()):
            position.add_metric([name], at)
            lag.add_metric([name], max(head - at, 0))
        yield position
        yield lag


class Metrics:
    """One application's metrics, in a registry of its own."""

    def __init__(self, services: Callable[[], Any] = lambda: None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "caselog_http_requests", "HTTP requests answered",
            ["method", "route", "status"], registry=self.registry,
        )  # fmt: skip
        self.latency = Histogram(
            "caselog_http_request_duration_seconds", "Time to answer an HTTP request",
            ["method", "route"], registry=self.registry, buckets=BUCKETS,
        )  # fmt: skip
        self.registry.register(_StoreCollector(services))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class MetricsRefused(Unauthorized):
    """No, or not the configured, scrape token."""


def check_scrape_token(header: str | None, configured: str | None) -> None:
    if not configured:
        raise MetricsRefused("metrics are off: set CASELOG_METRICS_TOKEN and scrape with it")
    presented = (header or "").removeprefix("Bearer ").strip()
    if not hmac.compare_digest(presented.encode(), configured.encode()):
        raise MetricsRefused("present CASELOG_METRICS_TOKEN as a bearer token")


@get("/metrics", summary="Prometheus metrics (scrape token)", include_in_schema=False)
async def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
    svc = request.app.state.services
    check_scrape_token(request.headers.get("authorization"), svc.metrics_token)
    body = await anyio.to_thread.run_sync(svc.metrics.exposition)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


METRICS = [metrics]
