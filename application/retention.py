"""Destruction of a case after its retention term (R-33): the case's own events go too.

A Wmo support file is kept 15 years, 5 where no provision was granted (municipal selection
list 2020, result 3.1.5); after that it must really be destroyed, event log included. The
client's identity already sits apart and is crypto-shredded (``application.registry``); the
case's own events hold health data too (ZRM scores, goals, free-text reports), so
:func:`destroy_case` deletes the case's stored events and snapshots and every read-model
row of the case, once, and only when :func:`application.registry.retention_report` lists the
case as past its term on the day of destruction (never earlier: refused with R-33).

This is the one place where rows leave the append-only log, by law; the log's other cases
and notification order are untouched (readers skip the gap). A running service may still
hold the case in its in-memory time-travel cache: restart it after a destruction run.
Backups taken before a destruction still hold the events: their own retention must follow
(docs/operations.md).

Run it with ``caselog retention report`` and ``caselog retention destroy`` (docs/operations.md).
"""

from __future__ import annotations

from datetime import date
from uuid import UUID

import msgspec
import structlog

from application.application import CaseLog
from application.registry import RetentionRow, retention_report
from domain.errors import RuleViolation
from projections.kpi_cells import KpiCellProjection
from storage.views import ViewStore

log = structlog.get_logger("application.retention")


class Destroyed(msgspec.Struct, kw_only=True):
    case_id: str
    tenant: str
    retain_until: date
    events: int
    snapshots: int
    view_rows: int
    by: str


def _case_tables(views: ViewStore) -> list[str]:
    """Every read-model table with a ``case_id`` column (the projections of other modules
    included, so a new projection cannot keep a destroyed case's rows by accident)."""
    if views.is_postgres:
        rows = views.query(
            "SELECT table_name FROM information_schema.columns "
            "WHERE column_name = 'case_id' AND table_schema = current_schema()"
        )
        return sorted({r[0] for r in rows})
    tables = [r[0] for r in views.query("SELECT name FROM sqlite_master WHERE type = 'table'")]
    return sorted(
        t
        for t in tables
        if any(col[1] == "case_id" for col in views.query(f'PRAGMA table_info("{t}")'))
    )


def destroy_case(
    app: CaseLog, views: ViewStore, case_id: UUID, by: str, today: date | None = None
) -> Destroyed:
    """R-33: destroy a case past its retention term: its stored events, its snapshots and
    its read-model rows. Refused (R-33) when the retention report does not list it."""
    today = today or date.today()
    due: RetentionRow | None = next(
        (r for r in retention_report(views, today) if r.case_id == str(case_id)), None
    )
    if due is None:
        raise RuleViolation("R-33", f"case {case_id} is not past its retention term on {today}")
    events, snapshots = app.delete_case(case_id)
    rows = 0
    with views.transaction() as cur:
        if not views.is_postgres:
            cur.execute("PRAGMA secure_delete = ON")
        # the summed KPI cells hold no case id: take the case's share out first
        KpiCellProjection().forget(cur, views, str(case_id))
        for table in _case_tables(views):
            cur.execute(views.sql(f'DELETE FROM "{table}" WHERE case_id = ?'), (str(case_id),))  # noqa: S608
            rows += max(cur.rowcount, 0)
    if not views.is_postgres:
        views.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    done = Destroyed(
        case_id=str(case_id),
        tenant=due.tenant,
        retain_until=due.retain_until,
        events=events,
        snapshots=snapshots,
        view_rows=rows,
        by=by,
    )
    log.info("case destroyed after its retention term", **msgspec.structs.asdict(done))
    return done
