"""A verified bearer token is remembered briefly (its signature is not checked on every
request), but never past its ``exp``, and a token that differs in any character is
checked in full."""

from __future__ import annotations

import time

import jwt
import pytest

from api import auth
from api.auth import TokenVerifier, Unauthorized, issue_token

KEY = "unit-secret-" + "k" * 40


def test_a_remembered_token_still_expires_at_its_exp() -> None:
    verifier = TokenVerifier(KEY)
    token = issue_token(role="auditor", tenant="zou", sub="a", ttl_seconds=1, key=KEY)
    assert verifier.actor(f"Bearer {token}").sub == "a"
    assert verifier.actor(f"Bearer {token}").sub == "a"  # remembered
    exp = jwt.decode(token, options={"verify_signature": False})["exp"]
    time.sleep(max(0.0, exp - time.time()) + 0.05)
    with pytest.raises(Unauthorized):
        verifier.actor(f"Bearer {token}")


def test_a_token_altered_after_a_good_one_is_refused() -> None:
    verifier = TokenVerifier(KEY)
    token = issue_token(role="provider", tenant="zou", provider="aanbieder-a", key=KEY)
    verifier.actor(f"Bearer {token}")
    header, _payload, signature = token.split(".")
    forged = issue_token(role="auditor", tenant="zou", key="another-" + "x" * 40)
    forged_payload = forged.split(".")[1]
    with pytest.raises(Unauthorized):
        verifier.actor(f"Bearer {header}.{forged_payload}.{signature}")
    with pytest.raises(Unauthorized):
        verifier.actor(f"Bearer {token[:-2]}")


def test_a_remembered_token_is_checked_again_after_verified_seconds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    verifier = TokenVerifier(KEY)
    token = issue_token(role="auditor", tenant="zou", key=KEY)
    verifier.actor(f"Bearer {token}")
    checked: list[str] = []
    real = verifier._check
    monkeypatch.setattr(verifier, "_check", lambda t: checked.append(t) or real(t))
    verifier.actor(f"Bearer {token}")
    assert checked == []  # within VERIFIED_SECONDS: not checked again
    monkeypatch.setattr(auth, "VERIFIED_SECONDS", 0.0)
    verifier._verified.clear()
    verifier.actor(f"Bearer {token}")
    verifier.actor(f"Bearer {token}")
    assert checked == [token, token]  # remembered for no time: checked each time
