"""Configuration from the environment: one URL chooses the store.

``CASELOG_DATABASE_URL``: ``sqlite:///path`` (default ``sqlite:///./caselog.db``) or
``postgresql://user[:password]@host[:port]/dbname``. Both go through the same application
code; only the eventsourcing persistence module differs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

DEFAULT_DATABASE_URL = "sqlite:///./caselog.db"


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class StoreConfig:
    url: str
    kind: str  # "sqlite" | "postgres"
    env: dict[str, str]

    @property
    def sqlite_path(self) -> str:
        return self.env["SQLITE_DBNAME"]

    @property
    def libpq_url(self) -> str:
        """The URL as psycopg takes it."""
        return self.url.replace("postgresql+psycopg://", "postgresql://", 1)

    @property
    def redacted_url(self) -> str:
        parts = urlsplit(self.url)
        if parts.password:
            return self.url.replace(f":{parts.password}@", ":***@")
        return self.url


def store_config(url: str | None = None) -> StoreConfig:
    """Translate a database URL into the eventsourcing environment."""
    url = url or os.environ.get("CASELOG_DATABASE_URL") or DEFAULT_DATABASE_URL
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        path = unquote(url[len("sqlite:///") :]) if url.startswith("sqlite:///") else ""
        if not path:
            raise ConfigError(f"sqlite URL needs a path: sqlite:///caselog.db, not {url!r}")
        return StoreConfig(
            url=url,
            kind="sqlite",
            env={
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": path,
                "SQLITE_LOCK_TIMEOUT": "10",
            },
        )
    if parts.scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        dbname = parts.path.lstrip("/")
        if not dbname:
            raise ConfigError(f"postgresql URL needs a database name: {url!r}")
        return StoreConfig(
            url=url,
            kind="postgres",
            env={
                "PERSISTENCE_MODULE": "eventsourcing.postgres",
                "POSTGRES_DBNAME": unquote(dbname),
                "POSTGRES_HOST": parts.hostname or "127.0.0.1",
                "POSTGRES_PORT": str(parts.port or 5432),
                "POSTGRES_USER": unquote(parts.username or "postgres"),
                "POSTGRES_PASSWORD": unquote(parts.password or ""),
                "POSTGRES_POOL_SIZE": os.environ.get("CASELOG_POOL_SIZE", "5"),
                "POSTGRES_MAX_OVERFLOW": "10",
                "POSTGRES_CONNECT_TIMEOUT": "5",
                "POSTGRES_LOCK_TIMEOUT": "5",
                # after a server restart, pooled connections are checked before use
                "POSTGRES_PRE_PING": "y",
            },
        )
    raise ConfigError(f"CASELOG_DATABASE_URL must be sqlite:/// or postgresql://, not {url!r}")
