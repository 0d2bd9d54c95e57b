"""Case, entitlement and consumption reads from the stored rows, exact or not at all.

The runner stores, per case, the case document (``case_doc``), an entitlement row per
assignment (``entitlement``) and a consumption row per month (``consumption_month``), each
with the JSON the live computation returns. A read answers from them when they hold the
case at its current version, and only then:

- one statement reads the case's last event in the event store (version and notification
  id: an index lookup on the stored events' primary key), the positions of the projections
  the read needs, and the rows. It is one snapshot, so when every position has passed that
  notification the rows hold exactly that version (a case's rows are rewritten by the
  batch that brings its next event, in the same transaction that moves the position);
- otherwise the answer is :class:`Behind` (the caller waits for the runner, bounded, or
  computes live) or :data:`INEXACT` (the rows cannot answer the question exactly: an
  entitlement ``on`` a day before facts that are already recorded; the caller computes
  live). ``None``: the case has no events (never opened, or destroyed, R-33).

Entitlement ``on`` a day: the stored entitlement rows count every decision. They answer for
``on`` exactly when no decision is dated after ``on`` and no result-financed month after
``on``'s month is billed: then the live ``entitlements(..., on)`` counts the same. A decision
is filed in the month of its business date (``projections.consumption``), so that is one
look at the consumption rows from ``on``'s month on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Generic, TypeVar
from uuid import UUID

import msgspec

from projections.case_doc import decode_doc
from projections.case_view import CaseOut
from projections.consumption import MonthConsumption, month_key
from projections.entitlement import AssignmentView
from storage.views import ViewStore

T = TypeVar("T")

_month = msgspec.json.Decoder(MonthConsumption).decode
_view = msgspec.json.Decoder(AssignmentView).decode


class _Dated(msgspec.Struct):
    occurred_on: date


class _MonthDates(msgspec.Struct):
    decisions: list[_Dated] = []


_dates = msgspec.json.Decoder(_MonthDates).decode


@dataclass(frozen=True)
class Stored(Generic[T]):
    """An answer from the rows: the case at ``version`` and who may read it."""

    version: int
    tenant: str
    provider: str
    value: T


@dataclass(frozen=True)
class Behind:
    """The runner has not passed the case's last event (version ``version``, notification
    ``notification``); it is at ``position``."""

    version: int
    notification: int
    position: int

    @property
    def lag(self) -> int:
        return self.notification - self.position


class _Inexact:
    def __repr__(self) -> str:
        return "INEXACT"


INEXACT = _Inexact()

#: what each read needs the runner to have passed
CASE = ("case_doc",)
ENTITLEMENT = ("case_doc", "entitlement", "consumption")
CONSUMPTION = ("case_doc", "consumption")


class StoredReads:
    """The three reads over one read-model store beside the event store's table."""

    def __init__(self, views: ViewStore, events_table: str) -> None:
        """``events_table``: the event store's table, quoted (``CaseStore.events_table``)."""
        self.views = views
        self._events = events_table
        self._nid = "notification_id" if views.is_postgres else "rowid"

    def _key(self, case_id: UUID) -> Any:
        return case_id if self.views.is_postgres else case_id.hex

    def _select(
        self,
        case_id: UUID,
        needs: tuple[str, ...],
        extra: str = "",
        extra_params: tuple[Any, ...] = (),
        joins: str = "",
        join_params: tuple[Any, ...] = (),
    ) -> tuple[list[tuple[Any, ...]], Behind | None]:
        """Rows of: last event (v, n), positions (k, pos), case_doc (version, tenant,
        provider), then the ``extra`` columns; one row per row of ``joins``."""
        marks = ", ".join("?" * len(needs))
        statement = (
            f"WITH h AS (SELECT originator_version AS v, {self._nid} AS n FROM {self._events} "  # noqa: S608 - our table names
            "WHERE originator_id = ? ORDER BY originator_version DESC LIMIT 1), "
            "p AS (SELECT COUNT(*) AS k, MIN(position) AS pos FROM projection_tracking "
            f"WHERE name IN ({marks})) "
            f"SELECT h.v, h.n, p.k, p.pos, d.version, d.tenant, d.provider{extra} "
            f"FROM h CROSS JOIN p LEFT JOIN case_doc d ON d.case_id = ?{joins}"
        )
        params = (self._key(case_id), *needs, *extra_params, str(case_id), *join_params)
        rows = self.views.query(statement, params)
        if not rows:
            return rows, None
        v, n, k, pos, version = rows[0][:5]
        if k < len(needs) or pos is None or pos < n or version != v:
            return rows, Behind(int(v), int(n), int(pos or 0))
        return rows, None

    def case(self, case_id: UUID) -> Stored[CaseOut] | Behind | None:
        rows, behind = self._select(case_id, CASE, ", d.doc")
        if not rows:
            return None
        if behind is not None:
            return behind
        v, _, _, _, _, tenant, provider, doc = rows[0]
        return Stored(int(v), tenant, provider, decode_doc(doc))

    def consumption(
        self, case_id: UUID, month: str
    ) -> Stored[MonthConsumption | None] | Behind | None:
        """The month's consumption; ``value`` None when the case has none that month."""
        rows, behind = self._select(
            case_id,
            CONSUMPTION,
            ", m.doc",
            (),
            " LEFT JOIN consumption_month m ON m.case_id = ? AND m.month = ?",
            (str(case_id), month),
        )
        if not rows:
            return None
        if behind is not None:
            return behind
        v, tenant, provider, doc = rows[0][0], rows[0][5], rows[0][6], rows[0][7]
        return Stored(int(v), tenant, provider, _month(doc) if doc is not None else None)

    def entitlement(
        self, case_id: UUID, on: date
    ) -> Stored[list[AssignmentView]] | Behind | _Inexact | None:
        """Every assignment's entitlement, counted through ``on`` (see the module)."""
        key = month_key(on)
        rows, behind = self._select(
            case_id,
            ENTITLEMENT,
            ", (SELECT COUNT(*) FROM consumption_month c WHERE c.case_id = ? AND c.month > ?)"
            ", (SELECT c.doc FROM consumption_month c WHERE c.case_id = ? AND c.month = ?)"
            ", e.doc",
            (str(case_id), key, str(case_id), key),
            " LEFT JOIN entitlement e ON e.case_id = ? ORDER BY e.seq",
            (str(case_id),),
        )
        if not rows:
            return None
        if behind is not None:
            return behind
        first = rows[0]
        later, this_month = first[7], first[8]
        if later or (
            this_month is not None and any(d.occurred_on > on for d in _dates(this_month).decisions)
        ):
            return INEXACT
        views = [_view(r[9]) for r in rows if r[9] is not None]
        return Stored(int(first[0]), first[5], first[6], views)
