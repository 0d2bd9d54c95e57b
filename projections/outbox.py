"""The iWmo outbox: which recorded fact the other party must hear of, in log order.

A municipality's decision is news for the provider (WMO301 with all current assignments,
WMO319 for a refused change request); a provider's fact is news for the municipality
(WMO305 start, WMO307 stop, WMO315 request for an assignment, WMO317 change request).
Whether the fact came in through the JSON API or an iWmo message makes no difference.

Why a log follower and not a per-case projection of ``projections.runner``: a feed needs a
stable order and cursor, and the one order that never changes is the event log's
notification id. So this projection reads the notification log itself, keeps one row per
fact that implies a message (``position`` = the fact's notification id: exactly once per
fact, ordered, cursor-paged), and moves its tracking position in the same transaction as
its rows (a crash re-reads the batch; a second reader's update loses and rolls back). The
rows are a function of the log: ``rebuild`` empties and replays them to the same rows, and
``recorded_at`` answers "what was in the feed at instant T". The message itself is built
when it is read (``iwmo.outbox``), from the case as recorded at that fact's version.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import msgspec

from domain import facts as f
from domain.clock import instant_text
from projections.ports import CaseSource
from storage.views import ViewStore

NAME = "iwmo_outbox"

#: Municipal decisions: the provider gets the client's current assignments (WMO301).
ASSIGNING = {
    "IndicationGranted",
    "ScaleChanged",
    "IndicationExtended",
    "AwbzIndicationConverted",
}
#: Provider facts and the message the municipality gets for them.
PROVIDER_MESSAGES = {
    "CareStarted": "WMO305",
    "CaseEnded": "WMO307",
    "ChangeRequested": "WMO317",
    "CaseOpened": "WMO315",
}
RELEVANT = (
    ASSIGNING | set(PROVIDER_MESSAGES) | {"ChangeDecided", "EventRetracted", "EventCorrected"}
)


class OutboxRow(msgspec.Struct, frozen=True, kw_only=True):
    position: int
    tenant: str
    party_role: str  # who receives it: "provider" or "municipality"
    party: str  # the provider id or the municipality name
    case_id: str
    version: int
    code: str
    recorded_at: str


def message_for(
    event_type: str, role: str, fact: Any, target_type: str | None = None
) -> tuple[str, str] | None:
    """(message code, receiving role) for a fact recorded by ``role``; None: no message.

    A retraction or correction is news when what it changes was: a corrected or retracted
    decision gives a new WMO301 (RedenWijziging 14 / 13), a corrected or retracted start or
    stop a WMO305 / WMO307 (StatusAanlevering 3 withdraws the earlier one)."""
    if event_type in ("EventRetracted", "EventCorrected") and target_type is not None:
        if target_type in ASSIGNING and role == "municipality":
            return "WMO301", "provider"
        if target_type in ("CareStarted", "CaseEnded") and role == "provider":
            return PROVIDER_MESSAGES[target_type], "municipality"
        return None
    if role == "municipality":
        if event_type in ASSIGNING or event_type == "CaseEnded":
            return "WMO301", "provider"
        if event_type == "ChangeDecided" and isinstance(fact, f.ChangeDecision):
            return None if fact.granted else ("WMO319", "provider")
        return None
    if role == "provider" and event_type in PROVIDER_MESSAGES:
        return PROVIDER_MESSAGES[event_type], "municipality"
    return None


def _event_type(topic: str) -> str:
    return topic.rpartition(".")[2]


class OutboxProjection:
    """Follows the notification log into ``iwmo_outbox`` (see the module docstring)."""

    name = NAME

    def __init__(self, app: CaseSource, views: ViewStore, batch_size: int = 1000) -> None:
        self.app, self.views, self.batch_size = app, views, batch_size

    def position(self) -> int:
        rows = self.views.query(
            "SELECT position FROM projection_tracking WHERE name = ?", (self.name,)
        )
        return int(rows[0][0]) if rows else 0

    def catch_up(self) -> int:
        """Apply the log up to its head; the notifications read."""
        done = 0
        while True:
            start = self.position()
            notifications = list(self.app.select_notifications(start + 1, self.batch_size))
            if not notifications:
                return done
            rows = [row for n in notifications for row in self._rows(n)]
            if self._write(rows, start, notifications[-1].id):
                done += len(notifications)

    def rebuild(self) -> int:
        with self.views.transaction() as cur:
            cur.execute("DELETE FROM iwmo_outbox")
            cur.execute(
                self.views.sql("DELETE FROM projection_tracking WHERE name = ?"), (self.name,)
            )
        return self.catch_up()

    def _rows(self, n: Any) -> Iterable[OutboxRow]:
        if _event_type(n.topic) not in RELEVANT:
            return
        event = self.app.to_domain_event(n)
        case = self._case(n.originator_id, n.originator_version)
        target_type = None
        fact = event.fact
        if isinstance(fact, f.Retraction | f.Correction):
            target_type = next(
                (e.event_type for e in case.entries if e.version == fact.event_version), None
            )
        found = message_for(type(event).__name__, event.actor.role, fact, target_type)
        if found is None:
            return
        code, party_role = found
        s = case.state
        yield OutboxRow(
            position=n.id,
            tenant=s.tenant,
            party_role=party_role,
            party=s.provider if party_role == "provider" else s.municipality,
            case_id=str(n.originator_id),
            version=n.originator_version,
            code=code,
            recorded_at=instant_text(event.timestamp),
        )

    def _case(self, case_id: Any, version: int) -> Any:
        return self.app.load_case(case_id, version)

    def _write(self, rows: list[OutboxRow], start: int, end: int) -> bool:
        """Rows and position in one transaction; False when another reader moved first."""
        now = datetime.now(UTC).isoformat()
        with self.views.transaction() as cur:
            if start == 0:
                cur.execute(
                    self.views.sql(
                        "INSERT INTO projection_tracking (name, position, updated_at) "
                        "VALUES (?, 0, ?) ON CONFLICT (name) DO NOTHING"
                    ),
                    (self.name, now),
                )
            cur.execute(
                self.views.sql(
                    "UPDATE projection_tracking SET position = ?, updated_at = ? "
                    "WHERE name = ? AND position = ?"
                ),
                (end, now, self.name, start),
            )
            if cur.rowcount != 1:
                raise _Moved
            if rows:
                cur.executemany(
                    self.views.sql(
                        "INSERT INTO iwmo_outbox (position, tenant, party_role, party, case_id, "
                        "version, code, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                    ),
                    [
                        (
                            r.position,
                            r.tenant,
                            r.party_role,
                            r.party,
                            r.case_id,
                            r.version,
                            r.code,
                            r.recorded_at,
                        )
                        for r in rows
                    ],
                )
        return True


class _Moved(Exception):
    """Another reader committed this batch first."""


def catch_up(app: CaseSource, views: ViewStore) -> None:
    """Bring the outbox to the head of the log (read-your-writes for the feed)."""
    projection = OutboxProjection(app, views)
    for _ in range(20):
        try:
            projection.catch_up()
            return
        except _Moved:
            continue
    raise RuntimeError("the outbox could not catch up: other readers kept moving it")


def feed(
    views: Any,
    tenant: str,
    party_role: str,
    party: str | None,
    *,
    after: int = 0,
    limit: int = 100,
    as_of: datetime | None = None,
) -> list[OutboxRow]:
    """The party's rows after the cursor, oldest first; ``party`` None: every party of that
    role in the tenant (a municipality role speaks for the region's municipalities)."""
    where = ["tenant = ?", "party_role = ?", "position > ?"]
    params: list[Any] = [tenant, party_role, after]
    if party is not None:
        where.append("party = ?")
        params.append(party)
    if as_of is not None:
        where.append("recorded_at <= ?")
        params.append(instant_text(as_of))
    rows = views.query(
        "SELECT position, tenant, party_role, party, case_id, version, code, recorded_at "  # noqa: S608 - fixed fragments
        f"FROM iwmo_outbox WHERE {' AND '.join(where)} ORDER BY position LIMIT ?",
        [*params, limit],
    )
    return [
        OutboxRow(
            position=int(r[0]),
            tenant=r[1],
            party_role=r[2],
            party=r[3],
            case_id=r[4],
            version=int(r[5]),
            code=r[6],
            recorded_at=r[7],
        )
        for r in rows
    ]
