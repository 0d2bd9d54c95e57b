"""The OpenAPI pages render offline in a real browser: every operation, grouped by area,
/health without the lock."""

from __future__ import annotations

import httpx
import pytest

from tests.browser.conftest import Demo, Watched

pytestmark = pytest.mark.browser


def test_openapi_page_renders_every_operation_offline(watched: Watched, demo: Demo) -> None:
    document = httpx.get(f"{demo.url}/schema/openapi.json").json()
    operations = [
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    ]
    page = watched.page
    page.goto(f"{demo.url}/schema")
    page.wait_for_selector(".opblock")
    shown = page.eval_on_selector_all(
        ".opblock",
        """blocks => blocks.map(b => [b.querySelector('.opblock-summary-method').textContent,
                                      b.querySelector('.opblock-summary-path').dataset.path])""",
    )
    assert sorted(map(tuple, shown)) == sorted(operations)
    tags = page.eval_on_selector_all(".opblock-tag", "ts => ts.map(t => t.dataset.tag)")
    assert {"cases", "kpis", "dashboard", "service"} <= set(tags)
    assert page.locator(".version").first.text_content().strip() == document["info"]["version"]
    health = page.locator("#operations-service-HealthHealth")
    assert health.count() == 1
    assert health.locator(".authorization__btn").count() == 0  # no lock: anyone may call it
    assert page.locator("#operations-kpis-V1KpisGetKpis .authorization__btn").count() == 1
