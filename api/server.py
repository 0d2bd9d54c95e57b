"""``caselog serve``: the API on uvicorn (uvloop + httptools) with the projection runner
in the same process (a background thread that follows the log)."""

from __future__ import annotations

import gc
import os

from caselog.config import store_config


def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    database_url: str | None = None,
    projections: str = "inline",
) -> int:
    """``projections="inline"`` runs the projection runner in this process (the default:
    one command does everything); ``"off"`` leaves it to ``caselog projections follow``
    beside the service (the production layout: the runner gets its own core)."""
    import uvicorn

    from api.app import configure_logging, create_app

    configure_logging()
    if database_url:
        os.environ["CASELOG_DATABASE_URL"] = database_url
    app = create_app(store_config(database_url), run_projections=projections == "inline")
    # Long-lived objects (catalogues, caches, the app) leave the GC's young generations, and
    # collections run less often: full collections over cached aggregates were the p99.
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
    uvicorn.run(
        app,
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        access_log=False,  # our own structured access log (api.app.access_log)
        log_level="warning",
        limit_concurrency=1000,
        timeout_keep_alive=10,
    )
    return 0
