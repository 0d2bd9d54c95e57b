"""The ASGI application for servers started by import path (granian, uvicorn --factory):
``granian --interface asgi api.asgi:app``. Configuration comes from the environment or a
``.env`` file (``application.settings``); a bad value stops the import with one clear line."""

from __future__ import annotations

from api.app import configure_logging, create_app
from application.settings import load_settings
from storage.config import ConfigError, store_config

try:
    settings = load_settings()
except ConfigError as e:  # one line for the operator, not an import traceback
    raise SystemExit(f"caselog: configuration: {e}") from None
configure_logging(level=settings.log_level, fmt=settings.log_format)
app = create_app(
    store_config(settings.database_url),
    run_projections=settings.projections == "inline",
    settings=settings,
)
