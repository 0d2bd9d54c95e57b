"""The message ledger: Afzender + Identificatie -> the first answer (table ``iwmo_message``).

A message is looked up before it is applied: seen with the same content, its first answer
is returned and nothing is applied; seen with other content, it is refused with 9056. The
answer is recorded after applying, in one write. A crash between applying and recording
loses only the answer: the resend runs again and applies nothing, because the events it
wrote carry the unit's request key (``iwmo.inbound``). Two deliveries racing each other are
settled the same way; only two *different* messages with one Identificatie arriving at the
very same moment could both be applied (the second then answered with 9056): senders number
their messages one by one, so this is accepted rather than paying a claim row per message.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from datetime import UTC, date, datetime

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from domain.values import Actor
from iwmo import messages as m
from iwmo import retour as r
from iwmo import writes
from iwmo.inbound import Inbound, encode_answer, refusal
from storage.views import ViewStore


def _digest(message: m.Bericht, body: bytes) -> str:
    return hashlib.sha256(f"IWMO {message.KIND}\n".encode() + body).hexdigest()


_SEALED = "sealed-v1:"


def _key(body: bytes) -> bytes:
    """The key an answer is sealed under: derived from the message itself, which only the
    sender (and a resend of the very same message) holds. The answer repeats the client's
    BSN, name and birth date when a part is refused; sealed, the ledger keeps no identity
    that outlives an erasure (R-33) and needs no key of its own."""
    return hmac.new(b"caselog-iwmo-ledger", body, hashlib.sha256).digest()


def _seal(body: bytes, answer: bytes) -> str:
    nonce = os.urandom(12)
    sealed = nonce + AESGCM(_key(body)).encrypt(nonce, answer, None)
    return _SEALED + base64.b64encode(sealed).decode()


def _open(body: bytes, stored: bytes) -> bytes:
    text = stored.decode()
    if not text.startswith(_SEALED):
        return stored
    sealed = base64.b64decode(text[len(_SEALED) :])
    return AESGCM(_key(body)).decrypt(sealed[:12], sealed[12:], None)


def _first(views: ViewStore, tenant: str, sender: str, ident: str) -> tuple[str, bytes] | None:
    rows = views.query(
        "SELECT digest, answer FROM iwmo_message "
        "WHERE tenant = ? AND afzender = ? AND identificatie = ?",
        (tenant, sender, ident),
    )
    if not rows:
        return None
    digest, answer = rows[0]
    return str(digest), answer.encode() if isinstance(answer, str) else bytes(answer)


def receive_once(
    inbound: Inbound, views: ViewStore, actor: Actor, message: m.Bericht, body: bytes, today: date
) -> tuple[bytes, bool]:
    """Apply a message at most once and answer it: ``(answer, replayed)``."""
    header = message.header  # type: ignore[attr-defined]
    sender = header.afzender
    ident = header.bericht_identificatie.identificatie
    digest = _digest(message, body)
    seen = _first(views, actor.tenant, sender, ident)
    if seen is not None:
        if seen[0] != digest:
            return encode_answer(refusal(message, r.IDENTIFICATIE_NOT_UNIQUE, today)), False
        return _open(body, seen[1]), True
    data = encode_answer(inbound.receive(actor, message, today))
    inserted = (
        writes.write(
            views,
            [
                (
                    "INSERT INTO iwmo_message (tenant, afzender, identificatie, kind, digest, "
                    "answer, received_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (tenant, afzender, identificatie) DO NOTHING",
                    (
                        actor.tenant,
                        sender,
                        ident,
                        message.KIND,
                        digest,
                        _seal(body, data),
                        datetime.now(UTC).isoformat(),
                    ),
                )
            ],
        )
        == 1
    )
    if not inserted:  # a racing delivery recorded first: answer as it was answered
        seen = _first(views, actor.tenant, sender, ident)
        if seen is not None and seen[0] != digest:
            return encode_answer(refusal(message, r.IDENTIFICATIE_NOT_UNIQUE, today)), False
    return data, False
