"""One validated settings object: the ``CASELOG_*`` environment, or a ``.env`` file.

The process environment wins over ``.env`` (read from the working directory, or the file
``CASELOG_ENV_FILE`` names). Values are converted and checked once, at start-up; a bad
value stops the service or command with one line naming the variable and what it takes.
``.env`` values are exported into the environment (without overriding), so an application
built later in the process (``configured_catalogues``) sees them too. The domain and the
projections read no environment: the application passes the catalogues down.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Annotated, Literal

import msgspec

from domain.catalogue import Catalogues
from storage.config import DEFAULT_DATABASE_URL, ConfigError, store_config

PREFIX = "CASELOG_"
LogLevel = Literal["debug", "info", "warning", "error"]


class Settings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=False):
    #: ``sqlite:///path`` or ``postgresql://user@host:port/db``
    database_url: str = DEFAULT_DATABASE_URL
    #: HS256 secret for tokens signed by caselog itself (``caselog token``)
    jwt_secret: Annotated[str, msgspec.Meta(min_length=32)] | None = None
    #: the identity provider's JWKS URL: RS256/ES256 tokens are verified against its keys
    jwks_url: Annotated[str, msgspec.Meta(pattern=r"^https?://")] | None = None
    #: ``aud`` a token from the identity provider must carry (required with a JWKS URL)
    jwt_audience: str | None = None
    #: ``iss`` a token from the identity provider must carry (required with a JWKS URL)
    jwt_issuer: str | None = None
    #: least seconds between two JWKS fetches caused by a token with an unknown key id
    jwks_cooldown_seconds: Annotated[float, msgspec.Meta(ge=0, le=300)] = 5.0
    #: claim names in the identity provider's tokens (defaults: caselog's own names)
    jwt_role_claim: str = "role"
    jwt_tenant_claim: str = "tenant"
    jwt_provider_claim: str = "provider"
    pool_size: Annotated[int, msgspec.Meta(ge=1, le=200)] = 5
    catalogue_dir: str | None = None
    example_tariffs: bool = False
    projections: Literal["inline", "off"] = "inline"
    host: str = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 8000
    log_level: LogLevel = "info"
    log_format: Literal["auto", "json", "console"] = "auto"
    #: bearer token a Prometheus scraper presents at /metrics (unset: auditors' tokens only)
    metrics_token: Annotated[str, msgspec.Meta(min_length=16)] | None = None
    #: key of the BSN digests that find an iWmo message's client again (iwmo.inbound);
    #: unset: derived from the JWT secret. Set it in production and never change it.
    pseudonym_key: Annotated[str, msgspec.Meta(min_length=32)] | None = None


_FIELDS = {f.name for f in msgspec.structs.fields(Settings)}
_BOOLS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False,
          "no": False, "off": False, "": False}  # fmt: skip


def env_file(environ: Mapping[str, str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    return Path(environ.get(PREFIX + "ENV_FILE") or ".env")


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=value`` lines of a ``.env`` file (python-dotenv's reading); {} when absent."""
    if not path.is_file():
        if path != Path(".env"):  # a named file that is missing is a mistake
            raise ConfigError(f"{PREFIX}ENV_FILE: no file {path}; fix the path or unset it")
        return {}
    from dotenv import dotenv_values

    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def load_settings(
    environ: Mapping[str, str] | None = None, *, export: bool = True, **overrides: object
) -> Settings:
    """Settings from ``.env`` and the environment (the environment wins), then
    ``overrides`` (command-line options; ``None`` means not given)."""
    environ = os.environ if environ is None else environ
    from_file = read_env_file(env_file(environ))
    if export and environ is os.environ:
        for key, value in from_file.items():
            os.environ.setdefault(key, value)
    merged = {**from_file, **environ}
    raw: dict[str, object] = {}
    for key, value in merged.items():
        name = key[len(PREFIX) :].lower() if key.startswith(PREFIX) else None
        if name == "example_tariffs":
            raw[name] = _BOOLS.get(value.strip().lower(), value)
        elif name in _FIELDS:
            raw[name] = value
    raw.update({k: v for k, v in overrides.items() if v is not None})
    try:
        settings = msgspec.convert(raw, Settings, strict=False)
    except msgspec.ValidationError as e:
        raise ConfigError(_explain(e)) from None
    store_config(settings.database_url)  # raises ConfigError naming the URL's problem
    if settings.jwks_url and not (settings.jwt_secret or settings.pseudonym_key):
        raise ConfigError(
            f"{PREFIX}JWKS_URL without {PREFIX}JWT_SECRET needs {PREFIX}PSEUDONYM_KEY: the "
            "iWmo BSN digests must not be keyed by the public development secret; set a "
            "random key of at least 32 characters and never change it"
        )
    if settings.jwks_url and not (settings.jwt_audience and settings.jwt_issuer):
        raise ConfigError(
            f"{PREFIX}JWKS_URL needs {PREFIX}JWT_AUDIENCE and {PREFIX}JWT_ISSUER: set both "
            "to the values your identity provider puts in aud and iss"
        )
    return settings


def _explain(e: msgspec.ValidationError) -> str:
    message, _, where = str(e).partition(" - at `$.")
    name = where.rstrip("`")
    if not name:
        return message
    hint = {
        "jwt_secret": "use a random secret of at least 32 characters",
        "metrics_token": "use a random token of at least 16 characters",
        "pseudonym_key": "use a random key of at least 32 characters, and never change it",
        "jwks_url": "an https:// URL such as https://idp.example/.well-known/jwks.json",
        "log_level": "one of debug, info, warning, error",
        "log_format": "one of auto, json, console",
        "projections": "inline or off",
        "example_tariffs": "1 or 0",
    }.get(name, "")
    return f"{PREFIX}{name.upper()}: {message}" + (f"; {hint}" if hint else "")


@cache
def catalogues_in(directory: str | None, *, example_tariffs: bool = False) -> Catalogues:
    """The contract catalogues of a folder (the bundled ones for None), loaded once; with
    ``example_tariffs``, carrying the invented demo tariffs (``projections.pricing``)."""
    return Catalogues.load(Path(directory) if directory else None, example_tariffs=example_tariffs)


def configured_catalogues(environ: Mapping[str, str] | None = None) -> Catalogues:
    """The catalogues the environment names: ``CASELOG_CATALOGUE_DIR`` (the bundled folder
    when unset) and ``CASELOG_EXAMPLE_TARIFFS`` (demo data). Read by the application when
    it starts, and passed down."""
    environ = os.environ if environ is None else environ
    directory = environ.get(PREFIX + "CATALOGUE_DIR") or None
    examples = _BOOLS.get(environ.get(PREFIX + "EXAMPLE_TARIFFS", "").strip().lower(), False)
    return catalogues_in(directory, example_tariffs=examples)
