"""Bearer tokens (PyJWT) with the claims of shared/API.md: ``sub`` (actor id), ``role``,
``tenant`` and, for providers, ``provider``.

Two kinds of issuer are accepted:

- caselog's own HS256 tokens, signed with ``CASELOG_JWT_SECRET`` (``caselog token``);
- the municipality's identity provider (Keycloak, Entra ID, ...): RS256/ES256 tokens whose
  key is found by ``kid`` in the JWKS at ``CASELOG_JWKS_URL`` (PyJWKClient: the key set is
  cached for five minutes, so a key the provider withdrew stops working within five
  minutes; a token naming a key not yet seen makes it fetch the set again, at most once per
  ``CASELOG_JWKS_COOLDOWN_SECONDS``, so a rotated key works within seconds and forged key
  ids cannot make caselog hammer the provider), with ``aud`` and ``iss`` checked against
  ``CASELOG_JWT_AUDIENCE`` and
  ``CASELOG_JWT_ISSUER``. Where the provider keeps the role, tenant and provider code is
  configurable (``CASELOG_JWT_ROLE_CLAIM=realm_access.roles`` for Keycloak realm roles,
  ``roles`` for Entra ID app roles); a list claim gives the first value that is a role.

With a JWKS configured and no secret set, HS256 is off (the development secret must never
open a production service). Tokens without ``exp`` are refused, as are expired ones, other
algorithms (``alg: none`` included), bad signatures and missing claims: all 401 without
saying which (no oracle for forgers).

A token that verified is remembered for ``VERIFIED_SECONDS`` (never past its ``exp``): a
client sends the same token with every request, and checking its signature again was a
tenth of a write's time. A withdrawn identity-provider key therefore stops working within
five minutes and ``VERIFIED_SECONDS``; a forged or altered token is another string and is
checked in full.
"""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass
from typing import Any

import jwt
import structlog

from domain.values import Actor

ROLES = ("municipality", "provider", "contract_manager", "auditor")
DEV_SECRET = "caselog-development-secret-change-me-0123456789"  # noqa: S105 - documented dev default
ALGORITHM = "HS256"
ASYMMETRIC = ("RS256", "ES256")
JWKS_CACHE_SECONDS = 300
#: how long a verified token is taken as verified (bounded by its own ``exp``)
VERIFIED_SECONDS = 30.0
#: verified tokens remembered at most (the memory is emptied when full)
VERIFIED_TOKENS = 10_000
log = structlog.get_logger("caselog.auth")


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
    if ttl_seconds <= 0:
        raise ValueError("a token must live at least one second")
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


@dataclass(frozen=True)
class Claims:
    """Where the identity provider keeps caselog's claims (dotted paths into the token)."""

    role: str = "role"
    tenant: str = "tenant"
    provider: str = "provider"


def _claim(claims: dict[str, Any], path: str) -> Any:
    """A claim by name (``extn.tenant`` as Entra ID names it), else by a dotted path into
    nested claims (``realm_access.roles`` as Keycloak nests them)."""
    if path in claims:
        return claims[path]
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


class TokenVerifier:
    """Turns a bearer token into an actor; built once per application."""

    def __init__(
        self,
        hs_key: str | None,
        *,
        jwks_url: str | None = None,
        audience: str | None = None,
        issuer: str | None = None,
        claims: Claims | None = None,
        jwks_cooldown: float = 5.0,
    ) -> None:
        self.hs_key = hs_key
        self.audience = audience
        self.issuer = issuer
        self.claims = claims or Claims()
        # cache_keys stays off: its per-key cache never expires, so a withdrawn key would
        # be trusted until restart; the key-set cache (lifespan) does expire.
        self.jwks = (
            jwt.PyJWKClient(
                jwks_url,
                lifespan=JWKS_CACHE_SECONDS,
                timeout=5,
                cooldown_duration=jwks_cooldown,
            )
            if jwks_url
            else None
        )
        #: token -> (until, claims): tokens whose signature and claims were checked
        self._verified: dict[str, tuple[float, dict[str, Any]]] = {}

    def actor(self, header: str | None, note: str | None = None) -> Actor:
        if not header or not header.startswith("Bearer "):
            raise Unauthorized("a bearer token is required")
        claims = self._verify(header[len("Bearer ") :].strip())
        return self._actor(claims, note)

    def _verify(self, token: str) -> dict[str, Any]:
        known = self._verified.get(token)
        now = time.time()
        if known is not None and now < known[0]:
            return known[1]
        claims = self._check(token)
        if len(self._verified) >= VERIFIED_TOKENS:
            self._verified.clear()
        self._verified[token] = (min(float(claims["exp"]), now + VERIFIED_SECONDS), claims)
        return claims

    def _check(self, token: str) -> dict[str, Any]:
        try:
            alg = jwt.get_unverified_header(token).get("alg")
            if alg == ALGORITHM and self.hs_key:
                return jwt.decode(
                    token,
                    self.hs_key,
                    algorithms=[ALGORITHM],
                    options={"require": ["exp", "sub"], "verify_aud": False},
                )
            if alg in ASYMMETRIC and self.jwks is not None:
                key = self.jwks.get_signing_key_from_jwt(token)
                return jwt.decode(
                    token,
                    key.key,
                    algorithms=list(ASYMMETRIC),
                    audience=self.audience,
                    issuer=self.issuer,
                    options={"require": ["exp", "sub", "aud", "iss"]},
                )
        except jwt.PyJWKClientConnectionError as e:
            log.warning("jwks_unreachable", error=str(e))
        except jwt.PyJWTError:
            pass
        raise Unauthorized("the token is invalid or expired")

    def _actor(self, claims: dict[str, Any], note: str | None) -> Actor:
        role = _claim(claims, self.claims.role)
        if isinstance(role, list):
            role = next((r for r in role if r in ROLES), None)
        tenant = _claim(claims, self.claims.tenant)
        provider = _claim(claims, self.claims.provider)
        sub = claims.get("sub")
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


def actor_from_header(header: str | None, key: str, note: str | None = None) -> Actor:
    """An actor from a caselog HS256 token (kept for callers outside the service)."""
    return TokenVerifier(key).actor(header, note)
