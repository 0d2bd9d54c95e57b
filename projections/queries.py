"""Cross-case queries on the read models: KPIs (also as of a past instant) and signals.

``kpis`` answers from the pre-aggregated, bitemporal rows of ``projections.kpi_cells``.
The per-case summaries remain the definition (``kpis_replayed``, the KPI tables by group
of ``projections.kpi_groups``) and the property tests hold the two equal.

As-of technique for summaries: each case's summary row carries the recorded instants of the
case's first and last event. For an instant ``T``, a case first recorded after ``T`` is left
out; a case whose last event was recorded at or before ``T`` is taken from the table as it
is (nothing about it changed since); only cases written to after ``T`` are rebuilt from
their events recorded up to ``T`` (snapshots keep that about a millisecond per case). A
recent ``as_of`` touches few cases; an old one many (docs/projections.md gives figures).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

import msgspec

from domain.clock import instant_text
from domain.values import Actor
from projections import kpi_cells
from projections.derive import derive
from projections.kpis import CaseSummary, Kpis, aggregate
from projections.ports import CaseReader
from storage.views import ViewStore

_summary = msgspec.json.Decoder(CaseSummary)


def case_summaries(
    views: ViewStore, app: CaseReader, tenant: str, *, as_of: datetime | None = None
) -> list[CaseSummary]:
    """Every case summary of the tenant, as recorded at ``as_of`` when given."""
    where = "tenant = ?"
    params: list[Any] = [tenant]
    if as_of is not None:
        where += " AND first_recorded_at <= ?"
        params.append(instant_text(as_of))
    rows = views.query(
        f"SELECT case_id, doc, last_recorded_at FROM case_summary WHERE {where}",  # noqa: S608 - fixed fragments, values are parameters
        params,
    )
    out: list[CaseSummary] = []
    cutoff = instant_text(as_of) if as_of is not None else None
    system = Actor(sub="kpi", role="system", tenant=tenant)
    cat = app.catalogue(tenant)
    for case_id, doc, last in rows:
        if cutoff is None or last <= cutoff:
            out.append(_summary.decode(doc))
            continue
        assert as_of is not None
        case = app.get_case(UUID(case_id), system, as_of=as_of)
        out.append(derive(case_id, case.state, case.entries, cat, case.version).summary)
    return out


def kpis(
    views: ViewStore,
    app: CaseReader,
    tenant: str,
    start: date,
    end: date,
    *,
    provider: str | None = None,
    municipality: str | None = None,
    product: str | None = None,
    as_of: datetime | None = None,
) -> Kpis:
    """The KPIs from the pre-aggregated rows valid at ``as_of`` (now when absent):
    ``projections.kpi_cells``, one SQL aggregate, no case replayed; from the summaries
    only for an instant at which some case's rows are not exact (``kpi_gap``)."""
    cat = app.catalogue(tenant)
    stored = kpi_cells.kpis(
        views,
        tenant,
        start,
        end,
        lasting_months=cat.lasting_outflow_months,
        decision_within_days=cat.decision_within_days,
        provider=provider,
        municipality=municipality,
        product=product,
        as_of=as_of,
    )
    if stored is not None:
        return stored
    # an instant inside a gap of some case's rows (a long history imported in one batch)
    return kpis_replayed(
        views,
        app,
        tenant,
        start,
        end,
        provider=provider,
        municipality=municipality,
        product=product,
        as_of=as_of,
    )


def kpis_replayed(
    views: ViewStore,
    app: CaseReader,
    tenant: str,
    start: date,
    end: date,
    *,
    provider: str | None = None,
    municipality: str | None = None,
    product: str | None = None,
    as_of: datetime | None = None,
) -> Kpis:
    """The same KPIs from the per-case summaries (cases written after ``as_of`` rebuilt from
    their events): the definition the pre-aggregated rows are tested against. The
    tenant's summaries are read once: the filtered ones are aggregated, and all of them are
    where returning clients are looked up for lasting outflow (a client may return with
    another provider)."""
    everyone = case_summaries(views, app, tenant, as_of=as_of)
    cat = app.catalogue(tenant)
    return kpis_of(
        everyone,
        start,
        end,
        lasting_months=cat.lasting_outflow_months,
        decision_within_days=cat.decision_within_days,
        provider=provider,
        municipality=municipality,
        product=product,
        as_of=as_of,
    )


def kpis_of(
    everyone: list[CaseSummary],
    start: date,
    end: date,
    *,
    lasting_months: int,
    decision_within_days: int,
    provider: str | None = None,
    municipality: str | None = None,
    product: str | None = None,
    as_of: datetime | None = None,
    candidates: list[CaseSummary] | None = None,
) -> Kpis:
    """The KPIs of the summaries that match the filters, from summaries already read (so a
    breakdown per group, ``projections.kpi_groups``, reads the table once). ``everyone`` is
    also where returning clients are looked up (R-31). ``candidates``, to filter fewer: a
    part of ``everyone`` holding every match in scope of the period (the others change no
    figure)."""
    chosen = [
        s
        for s in (everyone if candidates is None else candidates)
        if (not provider or s.provider == provider)
        and (not municipality or s.municipality == municipality)
        and (not product or product in s.products)
    ]
    filters = {
        k: v
        for k, v in (("provider", provider), ("municipality", municipality), ("product", product))
        if v
    }
    return aggregate(
        chosen,
        start,
        end,
        lasting_months=lasting_months,
        decision_within_days=decision_within_days,
        every_case_of_tenant=everyone,
        as_of=as_of,
        filters=filters,
    )


class SignalRow(msgspec.Struct, kw_only=True):
    case_id: str
    rule: str
    raised_on: date
    detail: str
    open: bool
    closed_on: date | None
    provider: str


def open_signals(
    views: ViewStore,
    tenant: str,
    *,
    provider: str | None = None,
    on: date,
    only_open: bool = True,
    limit: int = 500,
    offset: int = 0,
) -> list[SignalRow]:
    """Signals raised by ``on``; with ``only_open``, those not closed by then."""
    where = ["tenant = ?", "raised_on <= ?"]
    params: list[Any] = [tenant, on.isoformat()]
    if provider:
        where.append("provider = ?")
        params.append(provider)
    if only_open:
        where.append("(closed_on IS NULL OR closed_on > ?)")
        params.append(on.isoformat())
    rows = views.query(
        "SELECT case_id, rule, raised_on, detail, closed_on, provider FROM case_signal "  # noqa: S608
        f"WHERE {' AND '.join(where)} ORDER BY raised_on, case_id, seq LIMIT ? OFFSET ?",
        [*params, limit, offset],
    )
    return [
        SignalRow(
            case_id=r[0],
            rule=r[1],
            raised_on=date.fromisoformat(r[2]),
            detail=r[3],
            closed_on=date.fromisoformat(r[4]) if r[4] else None,
            open=r[4] is None or date.fromisoformat(r[4]) > on,
            provider=r[5],
        )
        for r in rows
    ]
