"""Declaration lines: the ONE place that turns consumption into what a provider declares.

One line per case per assignment per calendar month, its period cut at the assignment's
start and end (and the care's start and end), read from the consumption projection
(``projections.consumption``), never recomputing its rules (R-10..R-17, R-02):

- hourly products (ZOU): the declarable minutes of the month's decisions, attributed to the
  assignment in force on each fact's date (the same ``assignment_on`` the consumption uses);
  ``amount_due`` is minutes x the hourly price on each fact's date, so the lines of a month
  sum to the case's consumption. ``volume`` is what an iWmo declaration carries in the
  assignment's unit: hours rounded half up on the period total, at least 1 (IV079);
  minutes as they are; day parts of 4 hours like hours.
- result financing (SDD): the consumption of the case with only this assignment, so each
  assignment's period price is its own (R-02, R-03, surcharge R-01). Under the 2016 rules
  ``volume`` is the number of 4-week periods billed in the month at the period price; from
  2021 the month is one settlement period (``volume`` 1) at the pro-rated weekly tariff.

``declared_amount`` is ``volume x rate`` in eurocents as a WMO323 must carry it (rule 9346);
for hourly products it differs from ``amount_due`` by the hour rounding. A line whose price
is unknown has ``rate`` and amounts ``None``: it cannot be declared (docs/iwmo-outbound.md).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any
from uuid import UUID

import msgspec

from domain.catalogue import Catalogue
from domain.clock import instant_text
from domain.state import Assignment, CaseState, Entry
from domain.values import Actor
from projections.consumption import MonthConsumption, MonthFold, consumption, month_bounds
from projections.ports import CaseReader
from projections.pricing import price_on
from storage.views import ViewStore

if TYPE_CHECKING:
    from projections.derive import Derived

CENT = Decimal("0.01")
_MINUTES_PER_UNIT = {"hour": 60, "minute": 1, "day_part": 240}
_encode = msgspec.json.Encoder().encode


class DeclarationLine(msgspec.Struct, kw_only=True):
    case_id: str
    month: str
    municipality: str
    provider: str
    client_ref: str
    assignment_number: str
    product: str
    iwmo_category: str | None
    iwmo_code: str | None
    financing: str
    period_start: date
    period_end: date
    declarable_minutes: int
    volume: int
    unit: str
    rate: str | None
    amount_due: str | None
    declared_amount: str | None
    price_source: str


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def declared_volume(minutes: int, unit: str) -> int:
    """Minutes as whole units of ``unit``, rounded half up on the period total, at least 1
    when anything was delivered (iWmo IV079)."""
    per = _MINUTES_PER_UNIT.get(unit, 60)
    if minutes <= 0:
        return 0
    return max(1, int((Decimal(minutes) / per).quantize(Decimal(1), rounding=ROUND_HALF_UP)))


def _period(state: CaseState, a: Assignment, month: str, result: bool) -> tuple[date, date]:
    first, last = month_bounds(month)
    start = max(first, a.starts_on)
    if result and state.started_on is not None:
        start = max(start, state.started_on)
    end = min(last, a.until)
    if state.ended_on is not None:
        end = min(end, max(state.ended_on, start))
    return start, end


def _line(
    case_id: str, state: CaseState, a: Assignment, cat: Catalogue, month: str, **values: Any
) -> DeclarationLine:
    product = cat.product_any(a.product)
    iwmo = product.iwmo if product else None
    start, end = _period(state, a, month, values["financing"] == "result")
    return DeclarationLine(
        case_id=case_id,
        month=month,
        municipality=state.municipality,
        provider=state.provider,
        client_ref=state.client_ref,
        assignment_number=a.assignment_number,
        product=a.product,
        iwmo_category=iwmo.category if iwmo else None,
        iwmo_code=iwmo.code if iwmo else None,
        period_start=start,
        period_end=end,
        unit=a.volume.unit,
        **values,
    )


def declaration_lines(
    case_id: str,
    state: CaseState,
    entries: Iterable[Entry],
    cat: Catalogue,
    months: dict[str, MonthConsumption] | None = None,
    folds: Mapping[str, MonthFold] | None = None,
) -> list[DeclarationLine]:
    """Every declarable line of the case, by month then assignment. With ``folds`` (the
    consumption's folded months, ``projections.derive``) an hourly month's lines are kept
    with the month while its decisions and what else they read stay the same."""
    entries = list(entries)
    months = months if months is not None else consumption(state, entries, cat)
    lines: list[DeclarationLine] = []
    stamp = (case_id, state.assignments, state.municipality, state.provider, state.client_ref,
             state.ended_on)  # fmt: skip
    for key, m in months.items():
        if m.financing == "result":
            continue
        fold = folds.get(key) if folds is not None else None
        if fold is None or fold.month is not m:
            lines.extend(_hourly_lines(case_id, state, cat, key, m))
            continue
        kept = fold.memo.get("declaration_lines")
        if not (isinstance(kept, tuple) and kept[0] is cat and kept[1] == stamp):
            kept = fold.memo["declaration_lines"] = (
                cat,
                stamp,
                _hourly_lines(case_id, state, cat, key, m),
            )
        lines.extend(kept[2])
    lines.extend(_result_lines(case_id, state, entries, cat, months))
    lines.sort(key=lambda x: (x.month, x.period_start, x.assignment_number))
    return lines


def _hourly_lines(
    case_id: str, state: CaseState, cat: Catalogue, key: str, m: MonthConsumption
) -> list[DeclarationLine]:
    """The lines of one hourly month: per assignment in force on each decision's date."""
    lines: list[DeclarationLine] = []
    minutes: dict[str, int] = defaultdict(int)
    amounts: dict[str, Decimal] = defaultdict(Decimal)
    unknown: set[str] = set()
    sources: dict[str, set[str]] = defaultdict(set)
    chosen: dict[str, Assignment] = {}
    for d in m.decisions:
        a = state.assignment_on(d.occurred_on) if d.declarable_minutes else None
        if a is None:
            continue
        chosen[a.assignment_number] = a
        minutes[a.assignment_number] += d.declarable_minutes
        price, source = price_on(cat, a.product, d.occurred_on)
        sources[a.assignment_number].add(source)
        if price is None or price.per != "hour":
            unknown.add(a.assignment_number)
        else:
            amounts[a.assignment_number] += price.amount * d.declarable_minutes / 60
    for number, a in chosen.items():
        volume = declared_volume(minutes[number], a.volume.unit)
        price, source = price_on(cat, a.product, max(a.starts_on, month_bounds(key)[0]))
        per = _MINUTES_PER_UNIT.get(a.volume.unit, 60)
        rate = (
            _cents(price.amount * per / 60)
            if price and price.per == "hour" and number not in unknown
            else None
        )
        lines.append(
            _line(
                case_id,
                state,
                a,
                cat,
                key,
                financing="hourly",
                declarable_minutes=minutes[number],
                volume=volume,
                rate=str(rate) if rate is not None else None,
                amount_due=None if number in unknown else str(_cents(amounts[number])),
                declared_amount=str(_cents(rate * volume)) if rate is not None else None,
                price_source="mixed" if len(sources[number]) > 1 else source,
            )
        )
    return lines


def _result_lines(
    case_id: str,
    state: CaseState,
    entries: list[Entry],
    cat: Catalogue,
    months: dict[str, MonthConsumption],
) -> list[DeclarationLine]:
    """R-02 period prices per result-financed assignment, each billed on its own (with one
    assignment only, the case's own months are that assignment's)."""
    lines = []
    billed = [
        a
        for a in state.assignments
        if (p := cat.product_any(a.product)) is not None and p.financing == "result"
    ]
    for a in billed:
        if len(billed) == len(state.assignments) == 1:
            own = months
        else:
            own = consumption(msgspec.structs.replace(state, assignments=(a,)), entries, cat)
        for key, m in own.items():
            if not m.periods_billed or Decimal(m.periods_billed) == 0:
                continue
            settlement = cat.settlement_on(max(a.starts_on, month_bounds(key)[0]))
            four_weeks = settlement is not None and settlement.period == "four_weeks"
            amount = Decimal(m.amount_due) if m.amount_due is not None else None
            volume = int(Decimal(m.periods_billed)) if four_weeks else 1
            rate = _cents(amount / volume) if amount is not None and volume else None
            lines.append(
                _line(
                    case_id,
                    state,
                    a,
                    cat,
                    key,
                    financing="result",
                    declarable_minutes=0,
                    volume=volume,
                    rate=str(rate) if rate is not None else None,
                    amount_due=m.amount_due,
                    declared_amount=str(_cents(rate * volume)) if rate is not None else None,
                    price_source=m.price_source,
                )
            )
    return lines


class DeclarationProjection:
    """The declaration lines per case, kept by the projection runner (GET /v1/declarations)."""

    name = "declarations"
    tables = ("declaration_line",)

    def derived_rows(self, case_id: str, case: Any, d: Derived) -> dict[str, list[dict[str, Any]]]:
        s = case.state
        return {
            "declaration_line": [
                {
                    "case_id": case_id,
                    "seq": i,
                    "month": line.month,
                    "tenant": s.tenant,
                    "provider": s.provider,
                    "municipality": s.municipality,
                    "doc": _encode(line).decode(),
                }
                for i, line in enumerate(d.declaration_lines)
            ]
        }


_line_decoder = msgspec.json.Decoder(DeclarationLine)


def lines_for_month(
    views: ViewStore,
    app: CaseReader,
    tenant: str,
    month: str,
    *,
    provider: str | None = None,
    municipality: str | None = None,
    as_of: datetime | None = None,
) -> list[DeclarationLine]:
    """The month's lines from the ``declaration_line`` table; with ``as_of``, cases written
    after that instant are recomputed from their events as recorded then (as the KPIs do)."""
    where, params = ["d.tenant = ?", "d.month = ?"], [tenant, month]
    scope, scope_params = ["tenant = ?"], [tenant]
    for column, value in (("provider", provider), ("municipality", municipality)):
        if value:
            where.append(f"d.{column} = ?")
            params.append(value)
            scope.append(f"{column} = ?")
            scope_params.append(value)
    stale: list[str] = []
    if as_of is not None:
        cutoff = instant_text(as_of)
        where.append("s.last_recorded_at <= ?")
        params.append(cutoff)
        stale = [
            r[0]
            for r in views.query(
                f"SELECT case_id FROM case_summary WHERE {' AND '.join(scope)} "  # noqa: S608 - fixed fragments
                "AND first_recorded_at <= ? AND last_recorded_at > ?",
                [*scope_params, cutoff, cutoff],
            )
        ]
    rows = views.query(
        "SELECT d.doc FROM declaration_line d JOIN case_summary s ON s.case_id = d.case_id "  # noqa: S608 - fixed fragments, values are parameters
        f"WHERE {' AND '.join(where)} ORDER BY d.case_id, d.seq",
        params,
    )
    out = [_line_decoder.decode(r[0]) for r in rows]
    if stale:
        system = Actor(sub="declarations", role="system", tenant=tenant)
        cat = app.catalogue(tenant)
        for case_id in stale:
            case = app.get_case(UUID(case_id), system, as_of=as_of)
            out.extend(
                line
                for line in declaration_lines(case_id, case.state, case.entries, cat)
                if line.month == month
            )
    out.sort(key=lambda x: (x.case_id, x.period_start, x.assignment_number))
    return out
