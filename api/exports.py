"""Exports: KPIs as CSV and XLSX tables for contract managers, a case's history as a
dispute file (JSON or CSV) for AVG access requests and disputes.

``GET /v1/kpis`` answers JSON by default; ``Accept: text/csv`` or ``Accept:
application/vnd.openxmlformats-officedocument.spreadsheetml.sheet`` (or any ``group_by=``)
gives the same figures as a table, one row per group (``projections.kpi_groups``), each row
the JSON answer for that group's filter. XLSX is written with openpyxl: a maintained,
pure-Python library that both writes (write-only mode, streaming rows) and reads (the
tests read the workbook back), so one dependency covers both.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import anyio
import msgspec
from litestar import Request, Response, get

from api.context import aware, parse_case_id, require, services
from api.problems import FieldError, problem
from domain.values import Actor
from projections.case_view import CaseOut, case_document
from projections.history import HistoryEvent, history
from projections.kpi_groups import UnknownGroup, grouped, parse_group_by, table
from projections.queries import case_summaries

JSON = "application/json"
CSV = "text/csv"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_json = msgspec.json.Encoder()
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def negotiated(request: Request[Any, Any, Any], *offered: str) -> str:
    """The best of ``offered`` for the request's Accept header (JSON when it has no say)."""
    return str(request.accept.best_match([JSON, *offered], default=JSON))


def _attachment(name: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{name}"'}


def _text(value: str) -> str:
    """Text that a spreadsheet would run as a formula (=, +, -, @ first: OWASP "CSV
    injection", e.g. a note or a reference typed by a user) is kept as text with a '."""
    return "'" + value if value[:1] in _FORMULA_START else value


def _cell(value: Any) -> str:
    """A CSV cell: figures as JSON writes them (0.5, 12, true), empty for none."""
    if value is None:
        return ""
    if isinstance(value, str):
        return _text(value)
    return _json.encode(value).decode()


def _xlsx_cell(column: str, value: Any) -> Any:
    if column == "cost" and value:
        return Decimal(value)  # money as a number a spreadsheet can sum
    return _text(value) if isinstance(value, str) else value


def csv_text(columns: list[str], rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)  # RFC 4180: CRLF line ends, quotes where needed
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return out.getvalue()


def xlsx_bytes(columns: list[str], rows: list[dict[str, Any]], title: str) -> bytes:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet(title)
    sheet.freeze_panes = "A2"
    sheet.append(columns)
    for row in rows:
        sheet.append([_xlsx_cell(c, row.get(c)) for c in columns])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# --- KPIs as a table -------------------------------------------------------------------------


class KpiTable(msgspec.Struct, kw_only=True):
    """The KPI table as JSON (``group_by`` without a CSV/XLSX ``Accept``): one object per
    row, keyed by ``columns``."""

    group_by: list[str]
    columns: list[str]
    rows: list[dict[str, Any]]


async def kpi_export(
    request: Request[Any, Any, Any],
    actor: Actor,
    start: date,
    end: date,
    *,
    provider: str | None,
    product: str | None,
    municipality: str | None,
    as_of: datetime | None,
    group_by: str | None,
) -> Response[Any] | None:
    """The KPI table in the negotiated format, or None when plain JSON KPIs were asked."""
    kind = negotiated(request, CSV, XLSX)
    if kind == JSON and group_by is None:
        return None
    try:
        groups = parse_group_by(group_by)
    except UnknownGroup as e:
        message = f"unknown {e}; choose from provider, product, municipality, month"
        return problem(422, "invalid", "Invalid values", f"group_by: {message}",
                       errors=[FieldError(field="group_by", message=message)])  # fmt: skip
    svc = services(request)

    def build() -> Response[Any]:
        svc.caught_up()
        everyone = case_summaries(svc.views, svc.app, actor.tenant, as_of=as_of)
        cat = svc.app.catalogues.for_tenant(actor.tenant)
        found = grouped(
            everyone,
            start,
            end,
            groups,
            lasting_months=cat.lasting_outflow_months,
            decision_within_days=cat.decision_within_days,
            provider=provider,
            municipality=municipality,
            product=product,
            as_of=as_of,
        )
        columns, rows = table(found, groups)
        name = f"kpis-{actor.tenant}-{start}-{end}"
        if kind == CSV:
            return Response(
                csv_text(columns, rows),
                media_type="text/csv; charset=utf-8",
                headers=_attachment(name + ".csv"),
            )
        if kind == XLSX:
            return Response(
                xlsx_bytes(columns, rows, "KPIs"),
                media_type=XLSX,
                headers=_attachment(name + ".xlsx"),
            )
        return Response(KpiTable(group_by=list(groups), columns=columns, rows=rows))

    return await anyio.to_thread.run_sync(build)


# --- the dispute file of one case ------------------------------------------------------------


class Exporter(msgspec.Struct, kw_only=True):
    sub: str
    role: str
    tenant: str
    provider: str | None


class DisputeFile(msgspec.Struct, kw_only=True):
    case_id: str
    exported_at: datetime
    exported_by: Exporter
    as_of: datetime | None
    case: CaseOut
    events: list[HistoryEvent]


def history_rows(events: list[HistoryEvent]) -> tuple[list[str], list[dict[str, Any]]]:
    """One row per event; the actor's fields as columns, the event's data as compact JSON."""
    rows = []
    for e in events:
        actor = {f"actor.{k}": v for k, v in msgspec.to_builtins(e.actor).items()}
        rows.append(
            {
                "version": e.version,
                "type": e.type,
                "recorded_at": e.recorded_at.isoformat(),
                "occurred_on": e.occurred_on.isoformat(),
                **actor,
                "corrects": e.corrects,
                "corrected_by": ";".join(str(v) for v in e.corrected_by),
                "data": _json.encode(e.data).decode(),
            }
        )
    actor_columns = [f"actor.{f.name}" for f in msgspec.structs.fields(Actor)]
    columns = ["version", "type", "recorded_at", "occurred_on", *actor_columns]
    return [*columns, "corrects", "corrected_by", "data"], rows


@get(
    "/v1/cases/{case_id:str}/dispute-file",
    summary="Dispute file: the case's whole history as a download (JSON or CSV)",
)
async def get_dispute_file(
    request: Request[Any, Any, Any], actor: Actor, case_id: str, as_of: datetime | None = None
) -> Response[DisputeFile]:
    """For an AVG access request or a dispute: every event of the case, oldest first, as
    ``GET /v1/cases/{id}/history`` shows them (``as_of``: as recorded by then), with the
    case's state, who exported it and when. ``Accept: text/csv`` gives one row per event.
    Always a download (``Content-Disposition: attachment``). Same roles as the history."""
    require(actor, "municipality", "provider", "auditor")
    cid = parse_case_id(case_id)
    aware(as_of, "as_of")
    kind = negotiated(request, CSV)
    app = services(request).app

    def build() -> Response[Any]:
        case = app.get_case(cid, actor, as_of=as_of)
        events = history(app.get_history(cid, actor, as_of=as_of))
        name = f"case-{cid}-history"
        if kind == CSV:
            columns, rows = history_rows(events)
            return Response(
                csv_text(columns, rows),
                media_type="text/csv; charset=utf-8",
                headers=_attachment(name + ".csv"),
            )
        state = case_document(case)
        assert state is not None
        exported = DisputeFile(
            case_id=str(cid),
            exported_at=datetime.now(UTC),
            exported_by=Exporter(
                sub=actor.sub, role=actor.role, tenant=actor.tenant, provider=actor.provider
            ),
            as_of=as_of,
            case=state,
            events=events,
        )
        return Response(exported, headers=_attachment(name + ".json"))

    return await anyio.to_thread.run_sync(build)


EXPORTS = [get_dispute_file]
