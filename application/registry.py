"""Client registry: who a pseudonymous ``client_ref`` is, kept apart and erasable.

Events and projections carry only ``client_ref``. The identifying data a municipality
needs (BSN, name, birth date) is stored here, encrypted with AES-256-GCM under a key of the
client's own (``cryptography``). ``erase`` destroys that key and the ciphertext
(crypto-shredding, R-33): afterwards nothing identifying can be read anywhere, while the
case histories and KPIs, which never held it, stay intact. On SQLite the deletes run with
``secure_delete`` and the write-ahead log is checkpointed and truncated so the key's bytes
do not survive in free pages; on PostgreSQL the tables are vacuumed. Backups taken before
an erasure still hold the key: their retention must follow the same term (docs/operations.md).
"""

from __future__ import annotations

import base64
import os
from datetime import UTC, date, datetime

import msgspec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from domain.errors import DomainError, InvalidValue
from domain.values import bsn_is_valid
from storage.views import ViewStore


class ClientNotFound(DomainError):
    pass


class ClientErased(DomainError):
    """The client's data was destroyed (410 Gone)."""


class ClientExists(DomainError):
    pass


class Identity(msgspec.Struct, frozen=True, kw_only=True):
    bsn: str
    name: str
    birth_date: date


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _now() -> str:
    return datetime.now(UTC).isoformat()


class ClientRegistry:
    def __init__(self, views: ViewStore) -> None:
        self.views = views

    def register(self, tenant: str, client_ref: str, identity: Identity) -> None:
        if not bsn_is_valid(identity.bsn):
            raise InvalidValue("C-06", "bsn fails the eleven-check")
        if self._erased(tenant, client_ref):
            raise ClientErased(f"client {client_ref} was erased")
        key = AESGCM.generate_key(bit_length=256)
        nonce = os.urandom(12)
        aad = f"{tenant}/{client_ref}".encode()
        ciphertext = AESGCM(key).encrypt(nonce, msgspec.json.encode(identity), aad)
        with self.views.transaction() as cur:
            cur.execute(
                self.views.sql(
                    "INSERT INTO client_key (tenant, client_ref, key_b64, created_at) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (tenant, client_ref) DO NOTHING"
                ),
                (tenant, client_ref, _b64(key), _now()),
            )
            if cur.rowcount != 1:
                raise ClientExists(f"client {client_ref} is already registered")
            cur.execute(
                self.views.sql(
                    "INSERT INTO client_record (tenant, client_ref, nonce_b64, ciphertext_b64, "
                    "updated_at) VALUES (?, ?, ?, ?, ?)"
                ),
                (tenant, client_ref, _b64(nonce), _b64(ciphertext), _now()),
            )

    def read(self, tenant: str, client_ref: str) -> Identity:
        rows = self.views.query(
            "SELECT k.key_b64, r.nonce_b64, r.ciphertext_b64 FROM client_key k "
            "JOIN client_record r ON r.tenant = k.tenant AND r.client_ref = k.client_ref "
            "WHERE k.tenant = ? AND k.client_ref = ?",
            (tenant, client_ref),
        )
        if not rows:
            if self._erased(tenant, client_ref):
                raise ClientErased(f"client {client_ref} was erased")
            raise ClientNotFound(f"client {client_ref} not found")
        key, nonce, ciphertext = (base64.b64decode(x) for x in rows[0])
        aad = f"{tenant}/{client_ref}".encode()
        return msgspec.json.decode(AESGCM(key).decrypt(nonce, ciphertext, aad), type=Identity)

    def erase(self, tenant: str, client_ref: str, by: str) -> bool:
        """Destroy the client's key and data; True when there was something to erase."""
        with self.views.transaction() as cur:
            if not self.views.is_postgres:
                cur.execute("PRAGMA secure_delete = ON")
            cur.execute(
                self.views.sql("DELETE FROM client_key WHERE tenant = ? AND client_ref = ?"),
                (tenant, client_ref),
            )
            existed: bool = cur.rowcount > 0
            cur.execute(
                self.views.sql("DELETE FROM client_record WHERE tenant = ? AND client_ref = ?"),
                (tenant, client_ref),
            )
            # the iWmo inbound link from a BSN digest to this client goes with the key
            cur.execute(
                self.views.sql("DELETE FROM iwmo_client WHERE tenant = ? AND client_ref = ?"),
                (tenant, client_ref),
            )
            cur.execute(
                self.views.sql(
                    "INSERT INTO client_erasure (tenant, client_ref, erased_at, erased_by) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (tenant, client_ref) DO NOTHING"
                ),
                (tenant, client_ref, _now(), by),
            )
        self._scrub()
        return existed

    def _scrub(self) -> None:
        conn = self.views.conn
        if self.views.is_postgres:
            conn.execute("VACUUM client_key")
            conn.execute("VACUUM client_record")
        else:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def _erased(self, tenant: str, client_ref: str) -> bool:
        return bool(
            self.views.query(
                "SELECT 1 FROM client_erasure WHERE tenant = ? AND client_ref = ?",
                (tenant, client_ref),
            )
        )


class RetentionRow(msgspec.Struct, kw_only=True):
    case_id: str
    tenant: str
    client_ref: str
    ended_on: date | None
    provision_granted: bool
    retain_until: date
    #: The day the term runs from: the end of care, or for a case that never ended the last
    #: day of its last assignment (or its referral when nothing was granted).
    term_from: date | None = None


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def retention_report(
    views: ViewStore, on: date, years_granted: int = 15, years_other: int = 5
) -> list[RetentionRow]:
    """Cases past their retention term on ``on`` (R-33: 15 years after the end, 5 years when
    no provision was granted), oldest first. A referral that never ended is listed too: its
    term runs from the last day of its last assignment, or from the referral when no
    provision was granted (docs/operations.md)."""
    rows = views.query(
        "SELECT s.case_id, s.tenant, s.client_ref, s.ended_on, s.referred_on, "
        "(SELECT COUNT(*) FROM case_product p WHERE p.case_id = s.case_id), "
        "(SELECT MAX(e.valid_until) FROM entitlement e WHERE e.case_id = s.case_id) "
        "FROM case_summary s"
    )
    out = []
    for case_id, tenant, client_ref, ended, referred, products, last_valid in rows:
        ended_on = date.fromisoformat(ended) if ended else None
        term_from = ended_on or date.fromisoformat(last_valid or referred)
        until = _add_years(term_from, years_granted if products else years_other)
        if until < on:
            out.append(
                RetentionRow(
                    case_id=case_id,
                    tenant=tenant,
                    client_ref=client_ref,
                    ended_on=ended_on,
                    provision_granted=bool(products),
                    retain_until=until,
                    term_from=term_from,
                )
            )
    out.sort(key=lambda r: (r.term_from or r.retain_until, r.case_id))
    return out
