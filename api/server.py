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
    """``projections="inline"`` (the default: one command does everything) starts the
    projection runner beside this process, as a child that ends with it
    (``projections.runner.RunnerProcess``: its work grows with the length of the cases it
    recomputes and must not hold this process's interpreter lock); ``"off"`` leaves it to
    ``caselog projections follow`` (the production layout: the runner gets its own core)."""
    import uvicorn

    from api.app import configure_logging, create_app

    configure_logging()
    if database_url:
        os.environ["CASELOG_DATABASE_URL"] = database_url
    from projections.runner import RunnerProcess

    app = create_app(store_config(database_url), run_projections=False)
    runner = RunnerProcess(database_url) if projections == "inline" else None
    # Long-lived objects (catalogues, caches, the app) leave the GC's young generations, and
    # collections run less often: full collections over cached aggregates were the p99.
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
    if runner is not None:
        runner.start()
    try:
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
    finally:
        if runner is not None:
            runner.stop()
    return 0
