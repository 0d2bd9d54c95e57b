"""Entitlement per assignment: product, surcharge, volume, validity, and what is used of it.

Hourly products: hours granted over the validity (volume x the weeks it runs, or the total),
hours used (declarable minutes of contacts and no-shows on days the assignment was valid,
as decided by ``projections.consumption``), hours remaining (never below zero, R-17) and
the hours recorded beyond the total volume (``hours_beyond_volume``: the overrun, not
declarable). Result-financed products:
the periods billed (R-02). ``on`` limits what is counted to facts dated up to that day.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal

import msgspec

from domain.catalogue import Catalogue
from domain.state import Assignment, CaseState, Entry
from domain.values import Volume
from projections.consumption import CENT, MonthConsumption, consumption, granted_minutes


class AssignmentView(msgspec.Struct, kw_only=True):
    assignment_number: str
    product: str
    financing: str
    surcharge: bool
    volume: Volume
    valid_from: date
    valid_until: date
    withdrawn_on: date | None
    decision_ref: str
    hours_granted: str | None = None
    hours_used: str | None = None
    hours_remaining: str | None = None
    used_share: str | None = None
    hours_beyond_volume: str | None = None
    periods_billed: str | None = None


def _hours(minutes: Decimal) -> str:
    return str((minutes / 60).quantize(CENT))


def entitlements(
    state: CaseState,
    entries: Iterable[Entry],
    cat: Catalogue,
    on: date | None = None,
    months: dict[str, MonthConsumption] | None = None,
    usage: Iterable[dict[tuple[str, int], tuple[int, int]]] | None = None,
) -> list[AssignmentView]:
    """``usage``: the declarable and beyond-volume minutes per assignment (number, source
    version) of each month, summed once per month (``projections.derive``); without it (or
    with ``on``) the months' decisions are walked here."""
    if months is None:
        months = consumption(state, entries, cat)
    used: dict[str, Decimal] = {}
    beyond: dict[str, Decimal] = {}
    if usage is None or on is not None:
        usage = [_usage(state, m, on) for m in months.values()]
    for month in usage:
        for (number, source_version), (minutes, over) in month.items():
            key = number + str(source_version)
            used[key] = used.get(key, Decimal(0)) + minutes
            beyond[key] = beyond.get(key, Decimal(0)) + over
    views = []
    for a in state.assignments:
        product = cat.product_any(a.product)
        financing = product.financing if product else "unknown"
        view = AssignmentView(
            assignment_number=a.assignment_number,
            product=a.product,
            financing=financing,
            surcharge=a.surcharge,
            volume=a.volume,
            valid_from=a.starts_on,
            valid_until=a.until,
            withdrawn_on=a.withdrawn_on,
            decision_ref=a.decision_ref,
        )
        if financing == "hourly":
            granted = granted_minutes(a)
            spent = used.get(a.assignment_number + str(a.source_version), Decimal(0))
            view.hours_granted = _hours(granted)
            view.hours_used = _hours(spent)
            view.hours_remaining = _hours(max(Decimal(0), granted - spent))
            view.hours_beyond_volume = _hours(
                beyond.get(a.assignment_number + str(a.source_version), Decimal(0))
            )
            view.used_share = str((spent / granted).quantize(CENT)) if granted else None
        elif financing == "result":
            view.periods_billed = _periods(a, months, on)
        views.append(view)
    return views


def _usage(
    state: CaseState, m: MonthConsumption, on: date | None
) -> dict[tuple[str, int], tuple[int, int]]:
    out: dict[tuple[str, int], tuple[int, int]] = {}
    for d in m.decisions:
        if on is not None and d.occurred_on > on:
            continue
        a = state.assignment_on(d.occurred_on)
        if a is not None:
            k = (a.assignment_number, a.source_version)
            minutes, over = out.get(k, (0, 0))
            out[k] = (minutes + d.declarable_minutes, over + d.beyond_volume_minutes)
    return out


def _periods(a: Assignment, months: dict[str, MonthConsumption], on: date | None) -> str:
    total = Decimal(0)
    for key, m in months.items():
        if m.periods_billed is None:
            continue
        if on is not None and key > f"{on.year:04d}-{on.month:02d}":
            continue
        if key >= f"{a.starts_on.year:04d}-{a.starts_on.month:02d}" and key <= (
            f"{a.until.year:04d}-{a.until.month:02d}"
        ):
            total += Decimal(m.periods_billed)
    return str(total)
