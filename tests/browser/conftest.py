"""Headless Chromium (Debian's ``chromium``) driven by Playwright, against a real server
holding demo data, on each store.

Playwright never downloads a browser here: it launches the system Chromium by path. Every
request the page makes to anything but the local server is aborted and recorded, and so is
every console error; each test fails if there was one. Without Chromium (or Playwright) the
tests skip with the reason, except under ``CI=true``, where they fail: CI must run them
(``.ci/run`` installs ``chromium`` when it is missing).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import uvicorn

from api.app import create_app
from api.auth import issue_token
from application.application import CaseLog
from application.demo import generate
from projections.runner import ProjectionRunner
from storage.config import store_config
from tests.conftest import IN_CI, _drop_pg_database, _pg_database
from tests.e2e.conftest import KEY, _free_port

CHROMIUM = os.environ.get("CASELOG_CHROMIUM", "/usr/bin/chromium")
DEMO_CASES = 120

pytestmark = pytest.mark.browser


def _browser_reason() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"no Chromium at {CHROMIUM} (apt-get install -y chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install -e '.[test]')"
    return None


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """Chromium for the browser tests of this package. Playwright's sync API keeps an event
    loop running in the test process while it is open: package scope closes it after the
    browser tests, so a later test in the same process can run ``asyncio.run``."""
    reason = _browser_reason()
    if reason:
        if IN_CI:
            pytest.fail(f"CI=true requires the browser tests: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class Demo:
    """A running service with demo data, and tokens for it."""

    url: str

    def token(self, role: str, tenant: str = "zou", provider: str | None = None) -> str:
        return issue_token(role=role, tenant=tenant, provider=provider, sub="browser", key=KEY)

    def kpis(self, token: str, **params: str) -> dict[str, Any]:
        """The API's own answer, to compare the page with."""
        answer = httpx.get(
            f"{self.url}/v1/kpis",
            params={k: v for k, v in params.items() if v},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        answer.raise_for_status()
        return answer.json()  # type: ignore[no-any-return]


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def demo(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Demo]:
    dropped: list[tuple[str, str]] = []
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('browser') / 'caselog.db'}"
    else:
        admin = request.getfixturevalue("pg_server")
        name, url = _pg_database(admin)
        dropped.append((admin, name))
    app = CaseLog(store=store_config(url))
    app.import_cases(generate(DEMO_CASES, seed=2022))
    catch_up = ProjectionRunner(app)
    catch_up.run_until_current()
    catch_up.views.close()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(app=app, jwt_key=KEY),
            host="127.0.0.1",
            port=_free_port(),
            log_level="warning",
            access_log=False,
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("server did not start")
        time.sleep(0.02)
    try:
        yield Demo(url=f"http://127.0.0.1:{server.config.port}")
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        app.close()
        for admin, name in dropped:
            _drop_pg_database(admin, name)


@dataclass
class Watched:
    """A page whose console errors and outside requests are collected."""

    page: Any
    errors: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)


@pytest.fixture
def watched(browser: Any, demo: Demo) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    w = Watched(page=page)
    local = urlsplit(demo.url).netloc

    def route(r: Any) -> None:
        if urlsplit(r.request.url).netloc == local:
            r.continue_()
        else:  # nothing may be fetched from elsewhere: there is no internet at a municipality
            w.outside.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    page.on("console", lambda m: m.type == "error" and w.errors.append(m.text))
    page.on("pageerror", lambda e: w.errors.append(str(e)))
    page.set_default_timeout(30_000)
    try:
        yield w
    finally:
        context.close()
    assert w.outside == [], f"the page fetched from outside the service: {w.outside}"
    assert w.errors == [], f"console errors: {w.errors}"
