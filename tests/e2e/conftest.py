"""A real server on a free local port (uvicorn in a thread), per store, and token helpers."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest
import uvicorn

from api.app import create_app
from api.auth import issue_token
from application.application import CaseLog
from storage.config import store_config

KEY = "e2e-secret-" + "x" * 40


@dataclass
class Live:
    url: str
    app: CaseLog

    def token(
        self, role: str, tenant: str = "zou", provider: str | None = None, sub: str = "t"
    ) -> dict[str, str]:
        if role == "provider" and provider is None:
            provider = "aanbieder-a"
        return {
            "Authorization": "Bearer "
            + issue_token(role=role, tenant=tenant, provider=provider, sub=sub, key=KEY)
        }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def example_tariffs(monkeypatch: pytest.MonkeyPatch) -> None:
    """``CASELOG_EXAMPLE_TARIFFS=1`` for the application ``live`` starts (it reads its
    settings once, at start, so ``live`` sets this up first when a test asks for it)."""
    monkeypatch.setenv("CASELOG_EXAMPLE_TARIFFS", "1")


@pytest.fixture
def live(request: pytest.FixtureRequest, database_url: str) -> Iterator[Live]:
    if "example_tariffs" in request.fixturenames:
        request.getfixturevalue("example_tariffs")
    app = CaseLog(store=store_config(database_url))
    asgi = create_app(app=app, jwt_key=KEY)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(asgi, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("server did not start")
        time.sleep(0.02)
    try:
        yield Live(url=f"http://127.0.0.1:{port}", app=app)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        app.close()


@pytest.fixture
def client(live: Live) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live.url, timeout=30) as c:
        yield c


Tokens = Callable[..., dict[str, str]]
