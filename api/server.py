"""``caselog serve``: the API on uvicorn (uvloop + httptools) with the projection runner
in the same process (a background thread that follows the log)."""

from __future__ import annotations

import os

from caselog.config import store_config


def serve(
    host: str = "127.0.0.1", port: int = 8000, workers: int = 1, database_url: str | None = None
) -> int:
    import uvicorn

    from api.app import configure_logging, create_app

    configure_logging()
    if database_url:
        os.environ["CASELOG_DATABASE_URL"] = database_url
    app = create_app(store_config(database_url))
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
