"""Where an event's recorded instant comes from.

Normally the instant an event is recorded is "now". A bulk import of history from another
case system (and the deterministic demo data) brings the instants the source system
recorded, so that time travel over imported history answers what was known when. That is
the only use of :func:`recorded_at`; commands through the API never set it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

_override: ContextVar[datetime | None] = ContextVar("recorded_at", default=None)


def now() -> datetime:
    """The recorded instant for an event created now (timezone-aware, UTC)."""
    return _override.get() or datetime.now(UTC)


@contextmanager
def recorded_at(instant: datetime) -> Iterator[None]:
    """Events created inside the block carry ``instant`` as their recorded time."""
    if instant.tzinfo is None:
        raise ValueError("recorded instants must carry a UTC offset")
    token = _override.set(instant.astimezone(UTC))
    try:
        yield
    finally:
        _override.reset(token)


def instant_text(value: datetime) -> str:
    """A recorded instant as sortable UTC text, ``YYYY-MM-DDTHH:MM:SS.ffffffZ``: how the
    read models store and compare recorded instants (the same on SQLite and PostgreSQL).
    ``isoformat``, not ``strftime``: a rebuild formats every case version's instant, and
    ``strftime`` took 6% of it."""
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
