"""Caseload: one row per case, so a consultant or provider can list and filter its cases.

The runner keeps table ``caseload`` (migrations/0002_caseload.sql): the case summary of the
case read (``projections.case_view``: same status, current product and dates), with the
indexes the filters of ``GET /v1/cases`` need. Open signals are not stored here: whether a
signal is open depends on the day it is asked (a signal may be raised on a future date,
R-15), so a page reads them from the signals projection's ``case_signal`` rows for "today".

Paging is by keyset on ``(referred_on, case_id)``, newest referral first. Both never change
for a case (the referral is not correctable), so a case written to during paging keeps its
place: it is neither skipped nor repeated, and a case referred later lands before the
cursor, on no page of the walk already under way. The cursor is opaque to clients
(base64url of the last row's key) and validated on the way back in.
"""

from __future__ import annotations

import base64
import binascii
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date
from typing import Any
from uuid import UUID

import msgspec

from projections.case_view import case_document
from storage.views import ViewStore

STATUSES = ("referred", "indicated", "active", "ended")
#: Up to this many cases with the asked signal open, the page looks them up by id.
FEW_FLAGGED = 500
_CURSOR_VERSION = "1"


class CaseloadLine(msgspec.Struct, kw_only=True):
    """One line of the caseload (shared/API.md "Case" fields plus the open signals)."""

    case_id: str
    status: str
    client_ref: str
    municipality: str
    provider: str
    product: str | None
    surcharge: bool | None
    referred_on: date
    starts_on: date | None
    ends_on: date | None
    open_signals: list[str]
    version: int


class CaseloadProjection:
    """The caseload row of each case (registered with the runner, ``projections.runner``)."""

    name = "caseload"
    tables = ("caseload",)

    def rows(
        self, case_id: str, case: Any, cat: Any, months: Any
    ) -> dict[str, list[dict[str, Any]]]:
        doc = case_document(case)
        assert doc is not None  # the current state of a stored case always exists
        return {
            "caseload": [
                {
                    "case_id": case_id,
                    "tenant": doc.tenant,
                    "provider": doc.provider,
                    "municipality": doc.municipality,
                    "client_ref": doc.client_ref,
                    "status": doc.status,
                    "product": doc.product,
                    "surcharge": doc.surcharge,
                    "referred_on": doc.referred_on.isoformat(),
                    "starts_on": _iso(doc.starts_on),
                    "ends_on": _iso(doc.ends_on),
                    "version": doc.version,
                    "recorded_at": doc.recorded_at.astimezone(UTC).strftime(
                        "%Y-%m-%dT%H:%M:%S.%fZ"
                    ),
                }
            ]
        }


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


# --- cursor --------------------------------------------------------------------------------


class BadCursor(ValueError):
    """The cursor was not issued by this service (or was altered)."""


def encode_cursor(referred_on: str, case_id: str) -> str:
    raw = f"{_CURSOR_VERSION}|{referred_on}|{case_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        version, referred_on, case_id = raw.split("|")
        if version != _CURSOR_VERSION:
            raise BadCursor(cursor)
        date.fromisoformat(referred_on)
        return referred_on, str(UUID(case_id))
    except (ValueError, binascii.Error, UnicodeDecodeError) as e:
        raise BadCursor(cursor) from e


# --- query ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    """Every field optional; ``provider`` is forced to a provider's own by the API."""

    status: str | None = None
    provider: str | None = None
    municipality: str | None = None
    product: str | None = None
    signal: str | None = None
    referred_from: date | None = None
    referred_to: date | None = None


@dataclass(frozen=True)
class Page:
    cases: list[CaseloadLine]
    next_cursor: str | None


_OPEN = "s.raised_on <= ? AND (s.closed_on IS NULL OR s.closed_on > ?)"
_HAS_OPEN_SIGNAL = (
    "EXISTS (SELECT 1 FROM case_signal s WHERE s.case_id = c.case_id AND s.rule = ? "
    "AND s.raised_on <= ? AND (s.closed_on IS NULL OR s.closed_on > ?))"
)
_COLUMNS = (
    "case_id, status, client_ref, municipality, provider, product, surcharge, referred_on, "
    "starts_on, ends_on, version"
)


def page(
    views: ViewStore,
    tenant: str,
    filters: Filters,
    *,
    on: date,
    after: tuple[str, str] | None = None,
    limit: int = 50,
) -> Page:
    """One page of the tenant's caseload, newest referral first; signals open on ``on``."""
    where = ["c.tenant = ?"]
    params: list[Any] = [tenant]
    for column in ("status", "provider", "municipality", "product"):
        value = getattr(filters, column)
        if value is not None:
            where.append(f"c.{column} = ?")
            params.append(value)
    if filters.referred_from is not None:
        where.append("c.referred_on >= ?")
        params.append(filters.referred_from.isoformat())
    if filters.referred_to is not None:
        where.append("c.referred_on <= ?")
        params.append(filters.referred_to.isoformat())
    if filters.signal is not None:
        flagged = [
            r[0]
            for r in views.query(
                "SELECT DISTINCT case_id FROM case_signal s WHERE s.tenant = ? AND s.rule = ? "  # noqa: S608 - fixed fragments
                f"AND {_OPEN}",
                [tenant, filters.signal, on.isoformat(), on.isoformat()],
            )
        ]
        if not flagged:
            return Page(cases=[], next_cursor=None)
        if len(flagged) <= FEW_FLAGGED and views.is_postgres:  # few: look them up, then order
            where.append("c.case_id = ANY(?)")  # one array parameter
            params.append(flagged)
        elif len(flagged) <= FEW_FLAGGED:
            where.append(f"c.case_id IN ({', '.join('?' * len(flagged))})")
            params += flagged
        else:  # many: walk the order, keeping cases with the signal open (dense matches)
            where.append(_HAS_OPEN_SIGNAL)
            params += [filters.signal, on.isoformat(), on.isoformat()]
    if after is not None:
        where.append("(c.referred_on, c.case_id) < (?, ?)")
        params += list(after)
    rows = views.query(
        f"SELECT {_COLUMNS} FROM caseload c WHERE {' AND '.join(where)} "  # noqa: S608 - fixed fragments, values are parameters
        "ORDER BY c.referred_on DESC, c.case_id DESC LIMIT ?",
        [*params, limit + 1],
    )
    more = len(rows) > limit
    rows = rows[:limit]
    signals = open_signal_rules(views, [r[0] for r in rows], on)
    cases = [
        CaseloadLine(
            case_id=r[0],
            status=r[1],
            client_ref=r[2],
            municipality=r[3],
            provider=r[4],
            product=r[5],
            surcharge=None if r[6] is None else bool(r[6]),
            referred_on=date.fromisoformat(r[7]),
            starts_on=date.fromisoformat(r[8]) if r[8] else None,
            ends_on=date.fromisoformat(r[9]) if r[9] else None,
            open_signals=signals.get(r[0], []),
            version=r[10],
        )
        for r in rows
    ]
    last = rows[-1] if rows else None
    cursor = encode_cursor(last[7], last[0]) if more and last else None
    return Page(cases=cases, next_cursor=cursor)


def open_signal_rules(views: ViewStore, case_ids: Sequence[str], on: date) -> dict[str, list[str]]:
    """The rule ids of the signals open on ``on``, per case, sorted and distinct."""
    if not case_ids:
        return {}
    marks = ", ".join("?" * len(case_ids))
    rows = views.query(
        f"SELECT DISTINCT s.case_id, s.rule FROM case_signal s WHERE s.case_id IN ({marks}) "  # noqa: S608 - placeholders only
        f"AND {_OPEN}",
        [*case_ids, on.isoformat(), on.isoformat()],
    )
    found: dict[str, list[str]] = defaultdict(list)
    for case_id, rule in rows:
        found[case_id].append(rule)
    return {k: sorted(v) for k, v in found.items()}
