"""Bearer tokens: HS256 JWTs (PyJWT) with the claims of shared/API.md.

``sub`` (actor id), ``role``, ``tenant`` and, for providers, ``provider``. Tokens without
an ``exp`` are refused, as are expired ones, other algorithms (``alg: none`` included),
bad signatures and missing claims: all 401 without saying which (no oracle for forgers).
"""

from __future__ import annotations

import os
import time
import warnings
from typing import Any

import jwt

from domain.values import Actor

ROLES = ("municipality", "provider", "contract_manager", "auditor")
DEV_SECRET = "caselog-development-secret-change-me-0123456789"  # noqa: S105 - documented dev default
ALGORITHM = "HS256"


class Unauthorized(Exception):
    """No, or no valid, bearer token."""


def secret() -> str:
    value = os.environ.get("CASELOG_JWT_SECRET")
    if not value:
        warnings.warn("CASELOG_JWT_SECRET is not set: using the development secret", stacklevel=2)
        return DEV_SECRET
    return value


def issue_token(
    *,
    role: str,
    tenant: str,
    provider: str | None = None,
    sub: str = "cli-user",
    ttl_seconds: int = 3600,
    key: str | None = None,
) -> str:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if role == "provider" and not provider:
        raise ValueError("a provider token needs --provider")
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": sub,
        "role": role,
        "tenant": tenant,
        "iat": now,
        "exp": now + ttl_seconds,
    }
    if provider:
        claims["provider"] = provider
    return jwt.encode(claims, key or secret(), algorithm=ALGORITHM)


def actor_from_header(header: str | None, key: str, note: str | None = None) -> Actor:
    if not header or not header.startswith("Bearer "):
        raise Unauthorized("a bearer token is required")
    token = header[len("Bearer ") :].strip()
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            options={"require": ["exp", "sub", "role", "tenant"]},
        )
    except jwt.PyJWTError:
        raise Unauthorized("the token is invalid or expired") from None
    role, tenant, sub = claims.get("role"), claims.get("tenant"), claims.get("sub")
    provider = claims.get("provider")
    if (
        role not in ROLES
        or not isinstance(tenant, str)
        or not tenant
        or not isinstance(sub, str)
        or not sub
        or (role == "provider" and not (isinstance(provider, str) and provider))
    ):
        raise Unauthorized("the token is invalid or expired")
    return Actor(
        sub=sub,
        role=role,
        tenant=tenant,
        provider=provider if role == "provider" else None,
        note=note[:500] if note else None,
    )
