"""``caselog serve``: the API on uvicorn (uvloop + httptools) with the projection runner
in the same process (a background thread that follows the log)."""

from __future__ import annotations

import gc
import os
import socket
import sys
from typing import Any

import uvicorn

from application.settings import Settings, load_settings
from storage.config import ConfigError, store_config


def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    database_url: str | None = None,
    projections: str = "inline",
    settings: Settings | None = None,
) -> int:
    """``projections="inline"`` (the default: one command does everything) starts the
    projection runner beside this process, as a child that ends with it
    (``application.follower.RunnerProcess``: its work grows with the length of the cases it
    recomputes and must not hold this process's interpreter lock); ``"off"`` leaves it to
    ``caselog projections follow`` (the production layout: the runner gets its own core)."""
    from api.app import configure_logging, create_app

    settings = settings or load_settings(database_url=database_url)
    configure_logging(level=settings.log_level, fmt=settings.log_format)
    if database_url:
        os.environ["CASELOG_DATABASE_URL"] = database_url
    _check_port_free(host, port)
    from application.follower import RunnerProcess

    store = store_config(database_url or settings.database_url)
    app = create_app(store, run_projections=False, settings=settings)
    runner = (
        RunnerProcess(database_url or settings.database_url) if projections == "inline" else None
    )
    # Long-lived objects (catalogues, caches, the app) leave the GC's young generations, and
    # collections run less often: full collections over cached aggregates were the p99.
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        access_log=False,  # our own structured access log (api.conventions)
        log_level="warning",
        limit_concurrency=1000,
        timeout_keep_alive=10,
    )
    banner = (
        f"caselog listening on http://{host}:{port} "
        f"({store.redacted_url}, projections {projections}); Ctrl+C stops"
    )
    if runner is not None:
        runner.start()
    try:
        _Server(config, banner).run()
    finally:
        if runner is not None:
            runner.stop()
    return 0


class _Server(uvicorn.Server):
    """uvicorn's server, saying where it listens once it does."""

    def __init__(self, config: Any, banner: str) -> None:
        super().__init__(config)
        self.banner = banner

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets)
        if self.started:
            print(self.banner, file=sys.stderr, flush=True)


def _check_port_free(host: str, port: int) -> None:
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, port))
    except OSError as e:
        raise ConfigError(
            f"cannot listen on {host}:{port} ({e.strerror}); choose another --port or --host"
        ) from None
