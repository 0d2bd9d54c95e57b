"""Sign-in with the municipality's identity provider: RS256/ES256 tokens verified against a
JWKS that the test itself serves on 127.0.0.1 (accepted, forged, wrong audience or issuer,
rotated key), beside caselog's own HS256 tokens."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from api.auth import Claims, TokenVerifier, Unauthorized
from tests.e2e.conftest import Live

ISSUER = "https://idp.test/realms/zou"
AUDIENCE = "caselog"
COOLDOWN = 0.5


class IdentityProvider:
    """Keys by kid, published as a JWKS; ``rotate`` replaces them, as providers do."""

    def __init__(self) -> None:
        self.keys: dict[str, tuple[str, Any]] = {}
        self.fetches = 0
        self.rotate()

    def rotate(self) -> None:
        n = len(self.keys) + 1
        self.keys = {
            f"rsa-{n}": ("RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048)),
            f"ec-{n}": ("ES256", ec.generate_private_key(ec.SECP256R1())),
        }

    def jwks(self) -> bytes:
        out = []
        for kid, (alg, key) in self.keys.items():
            codec = RSAAlgorithm if alg == "RS256" else ECAlgorithm
            jwk = codec.to_jwk(key.public_key(), as_dict=True)
            out.append(jwk | {"kid": kid, "alg": alg, "use": "sig"})
        return json.dumps({"keys": out}).encode()

    def token(self, kid: str | None = None, key: Any = None, **claims: Any) -> dict[str, str]:
        kid = kid or next(iter(self.keys))
        alg, own = self.keys[kid]
        now = int(time.time())
        body = {"sub": "idp-user-1", "iss": ISSUER, "aud": AUDIENCE, "iat": now,
                "exp": now + 300, "role": "municipality", "tenant": "zou"} | claims  # fmt: skip
        signed = jwt.encode(body, key or own, algorithm=alg, headers={"kid": kid})
        return {"Authorization": f"Bearer {signed}"}


@pytest.fixture
def idp() -> Iterator[tuple[IdentityProvider, str]]:
    provider = IdentityProvider()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            provider.fetches += 1
            body = provider.jwks()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield provider, f"http://127.0.0.1:{server.server_address[1]}/certs"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def _jwks_settings(idp: tuple[IdentityProvider, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The server (built after autouse fixtures) reads these from the environment."""
    monkeypatch.setenv("CASELOG_JWKS_URL", idp[1])
    monkeypatch.setenv("CASELOG_JWT_AUDIENCE", AUDIENCE)
    monkeypatch.setenv("CASELOG_JWT_ISSUER", ISSUER)
    monkeypatch.setenv("CASELOG_JWKS_COOLDOWN_SECONDS", str(COOLDOWN))
    monkeypatch.setenv("CASELOG_PSEUDONYM_KEY", "jwks-test-pseudonym-key-" + "p" * 16)


# token checks do not depend on the store: the server runs on SQLite only
on_sqlite = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def signals(client: httpx.Client, headers: dict[str, str]) -> int:
    return client.get("/v1/signals", headers=headers).status_code


@on_sqlite
def test_rs256_and_es256_tokens_from_the_identity_provider_are_accepted(
    idp: tuple[IdentityProvider, str], client: httpx.Client, live: Live
) -> None:
    provider, _ = idp
    rsa_kid, ec_kid = list(provider.keys)
    assert signals(client, provider.token(rsa_kid)) == 200
    assert signals(client, provider.token(ec_kid)) == 200
    # the provider scope is mapped as from caselog's own tokens
    assert signals(client, provider.token(rsa_kid, role="provider", provider="aanbieder-a")) == 200
    # and caselog's own HS256 tokens still work beside them
    assert signals(client, live.token("municipality")) == 200
    assert provider.fetches == 1, "keys are cached, not fetched per request"


@pytest.mark.parametrize(
    "claims",
    [{"aud": "another-app"}, {"iss": "https://evil.test"}, {"exp": int(time.time()) - 60},
     {"role": "superuser"}, {"tenant": None}, {"role": "provider"}],
    ids=["wrong-audience", "wrong-issuer", "expired", "unknown-role", "no-tenant", "provider-without-code"],
)  # fmt: skip
@on_sqlite
def test_a_token_with_the_wrong_claims_is_401(
    idp: tuple[IdentityProvider, str], client: httpx.Client, claims: dict[str, Any]
) -> None:
    provider, _ = idp
    assert signals(client, provider.token(**claims)) == 401


@on_sqlite
def test_a_forged_token_is_401(idp: tuple[IdentityProvider, str], client: httpx.Client) -> None:
    provider, _ = idp
    rsa_kid, ec_kid = list(provider.keys)
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert signals(client, provider.token(rsa_kid, key=forger)) == 401
    forger_ec = ec.generate_private_key(ec.SECP256R1())
    assert signals(client, provider.token(ec_kid, key=forger_ec)) == 401
    # an unknown key id, and the HS256-with-the-public-key confusion
    now = int(time.time())
    claims = {"sub": "x", "iss": ISSUER, "aud": AUDIENCE, "exp": now + 60, "role": "auditor",
              "tenant": "zou"}  # fmt: skip
    unknown = jwt.encode(claims, forger, algorithm="RS256", headers={"kid": "nobody"})
    assert signals(client, {"Authorization": f"Bearer {unknown}"}) == 401
    none_alg = jwt.encode(claims, None, algorithm="none", headers={"kid": rsa_kid})
    assert signals(client, {"Authorization": f"Bearer {none_alg}"}) == 401


@on_sqlite
def test_a_rotated_key_is_accepted_at_once(
    idp: tuple[IdentityProvider, str], client: httpx.Client
) -> None:
    provider, _ = idp
    old = provider.token()
    assert signals(client, old) == 200  # the first keys are now cached
    provider.rotate()
    time.sleep(COOLDOWN)  # a refetch for an unknown key id waits this long after a fetch
    new_kid = next(iter(provider.keys))
    assert signals(client, provider.token(new_kid)) == 200
    assert provider.fetches == 2, "an unknown kid made the client fetch the JWKS again"
    # within the cooldown, more unknown key ids do not make caselog fetch again
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode({"sub": "x"}, stranger, algorithm="RS256", headers={"kid": "random-1"})
    assert signals(client, {"Authorization": f"Bearer {forged}"}) == 401
    assert provider.fetches == 2


def test_keycloak_realm_roles_map_through_a_claim_path(
    idp: tuple[IdentityProvider, str],
) -> None:
    provider, url = idp
    claims = Claims(role="realm_access.roles", tenant="tenant")
    verifier = TokenVerifier(None, jwks_url=url, audience=AUDIENCE, issuer=ISSUER, claims=claims)
    header = provider.token(role=None, realm_access={"roles": ["offline_access", "auditor"]})
    actor = verifier.actor(header["Authorization"])
    assert (actor.role, actor.tenant, actor.sub) == ("auditor", "zou", "idp-user-1")


def test_entra_style_flat_claim_names_with_dots_and_role_lists(
    idp: tuple[IdentityProvider, str],
) -> None:
    provider, url = idp
    claims = Claims(role="roles", tenant="extn.tenant", provider="extn.provider")
    verifier = TokenVerifier(None, jwks_url=url, audience=AUDIENCE, issuer=ISSUER, claims=claims)
    header = provider.token(role=None, tenant=None, roles=["provider"],
                            **{"extn.tenant": "zou", "extn.provider": "aanbieder-a"})  # fmt: skip
    actor = verifier.actor(header["Authorization"])
    assert (actor.role, actor.tenant, actor.provider) == ("provider", "zou", "aanbieder-a")


def test_without_a_secret_hs256_is_off_when_a_jwks_is_configured(
    idp: tuple[IdentityProvider, str],
) -> None:
    from api.app import verifier_for
    from application.settings import load_settings

    verifier = verifier_for(load_settings())  # JWKS set, no CASELOG_JWT_SECRET
    assert verifier.hs_key is None
    dev = jwt.encode({"sub": "x", "role": "auditor", "tenant": "zou",
                      "exp": int(time.time()) + 60},
                     "caselog-development-secret-change-me-0123456789")  # fmt: skip
    with pytest.raises(Unauthorized):
        verifier.actor(f"Bearer {dev}")
