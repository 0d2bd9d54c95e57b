"""The ASGI application for servers started by import path (granian, uvicorn --factory):
``granian --interface asgi api.asgi:app``. Configuration comes from the environment
(``CASELOG_DATABASE_URL``, ``CASELOG_JWT_SECRET``)."""

from __future__ import annotations

import os

from api.app import configure_logging, create_app
from caselog.config import store_config

configure_logging()
app = create_app(
    store_config(), run_projections=os.environ.get("CASELOG_PROJECTIONS", "inline") == "inline"
)
