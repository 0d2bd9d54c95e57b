"""Consumption per case per month, with one declaration decision per event (R-10..R-17).

A pure function of the case's effective facts (corrections applied, retractions left out)
and the catalogue entries in force on each fact's business date. Every contact and no-show
gets exactly one :class:`Decision` that names the rule deciding its declarable minutes, so a
figure on an invoice can be traced to the events and rules behind it.

Hourly products (ZOU):
- R-10 direct and group time is client-bound and declarable; R-12 a group contact counts
  ``minutes x professionals / participants`` for this client (rounded half up to a minute).
- R-16 digital direct time is declarable up to ``digital_max_share`` of the indicated direct
  time (indicated time minus the indirect share), per calendar month, pro rata to the days
  the assignment is valid in that month. The worked example: 4 h/week gives 3.2 h direct and
  at most 0.64 h digital per week.
- R-11 indirect time is declarable while the trajectory's declared indirect time stays within
  ``indirect_max_share`` of all client-bound time, cumulatively over the whole trajectory
  through the end of the contact's month (declarations are monthly, R-17).
- R-13 a no-show cancelled 24 h or more ahead is a cancellation; a no-show is declarable by
  the product's rule (02A03 never, 02A04 always, 02A05 at most 6 per allocation period),
  for its ``planned_minutes``.
- R-20 time outside every assignment's validity is not declarable.

Result-financed products (SDD): time is recorded but not declared (R-26); the amount due is
the period price (R-02, R-03, surcharge R-01): 4-week periods from the start of care under
the 2016 rules, billed in the month a period starts; from 2021 a weekly tariff settled per
calendar month, pro rata to the days in care. Months are billed through the end of care or,
while care runs, through the month of the last recorded fact (later months are not settled).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

import msgspec

from domain import facts as f
from domain.catalogue import Catalogue, Product
from domain.state import Assignment, CaseState, Entry, is_timely_cancellation
from projections.pricing import price_on

CENT = Decimal("0.01")


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    event_version: int
    occurred_on: date
    rule: str
    declarable_minutes: int
    explanation: str


class Minutes(msgspec.Struct, kw_only=True):
    direct: int = 0
    indirect: int = 0
    group: int = 0
    digital: int = 0


class NoShows(msgspec.Struct, kw_only=True):
    count: int = 0
    declarable: int = 0
    cancelled_in_time: int = 0


class MonthConsumption(msgspec.Struct, kw_only=True):
    month: str
    financing: str
    minutes: Minutes = msgspec.field(default_factory=Minutes)
    no_shows: NoShows = msgspec.field(default_factory=NoShows)
    declarable_minutes: int = 0
    non_declarable_minutes: int = 0
    decisions: list[Decision] = []
    amount_due: str | None = None
    price_source: str = "none"
    periods_billed: str | None = None  # result financing: weeks or 4-week periods


def month_key(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def month_bounds(key: str) -> tuple[date, date]:
    year, month = int(key[:4]), int(key[5:7])
    first = date(year, month, 1)
    nxt = date(year + (month == 12), month % 12 + 1, 1)
    return first, nxt - timedelta(days=1)


def round_minutes(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def weekly_minutes(a: Assignment) -> Decimal:
    """The assignment's volume as minutes per week (iWmo unit x frequency)."""
    v = a.volume
    per_unit = {"hour": Decimal(60), "minute": Decimal(1), "day_part": Decimal(240)}.get(v.unit)
    if per_unit is None:
        return Decimal(0)
    amount = v.amount * per_unit
    days = Decimal((a.ends_on - a.starts_on).days + 1)
    return {
        "week": amount,
        "day": amount * 7,
        "month": amount * 12 / Decimal(52),
        "four_weeks": amount / 4,
        "total": amount * 7 / days if days else Decimal(0),
    }[v.frequency]


def granted_minutes(a: Assignment) -> Decimal:
    """Total minutes granted over the assignment's validity (as far as it ran)."""
    days = Decimal((a.until - a.starts_on).days + 1)
    if a.volume.frequency == "total" and a.withdrawn_on is None:
        return weekly_minutes(a) * Decimal((a.ends_on - a.starts_on).days + 1) / 7
    return weekly_minutes(a) * days / 7


def _days_valid_in(a: Assignment, first: date, last: date) -> int:
    lo, hi = max(a.starts_on, first), min(a.until, last)
    return max(0, (hi - lo).days + 1)


class _Ledger:
    """Accumulates decisions into months."""

    def __init__(self) -> None:
        self.months: dict[str, MonthConsumption] = {}

    def month(self, day: date, financing: str) -> MonthConsumption:
        key = month_key(day)
        m = self.months.get(key)
        if m is None:
            m = self.months[key] = MonthConsumption(month=key, financing=financing)
        return m

    def decide(
        self,
        m: MonthConsumption,
        entry: Entry,
        rule: str,
        declarable: int,
        counted: int | None,
        why: str,
    ) -> None:
        """``counted``: the client minutes this decision splits into declarable and not;
        ``None`` for facts outside hour accounting (result financing, cancellations)."""
        m.decisions.append(
            Decision(
                event_version=entry.version,
                occurred_on=entry.occurred_on,
                rule=rule,
                declarable_minutes=declarable,
                explanation=why,
            )
        )
        if counted is not None:
            m.declarable_minutes += declarable
            m.non_declarable_minutes += counted - declarable


def consumption(
    state: CaseState, entries: Iterable[Entry], cat: Catalogue
) -> dict[str, MonthConsumption]:
    """Every month with activity or billing, keyed ``YYYY-MM``."""
    effective = sorted(
        (e for e in entries if not e.retracted and isinstance(e.fact, f.Contact | f.NoShow)),
        key=lambda e: (e.occurred_on, e.version),
    )
    ledger = _Ledger()
    hourly_direct: list[tuple[Entry, Assignment, Product, int]] = []
    indirect: list[tuple[Entry, Assignment, Product, int]] = []
    allocation_no_shows: dict[tuple[str, int], int] = defaultdict(int)
    digital_used: dict[str, int] = defaultdict(int)

    for e in effective:
        a = state.assignment_on(e.occurred_on)
        product = cat.product_any(a.product) if a else None
        financing = product.financing if product else "unknown"
        m = ledger.month(e.occurred_on, financing)
        if isinstance(e.fact, f.NoShow):
            _no_show(ledger, m, e, e.fact, a, product, cat, allocation_no_shows)
            continue
        c = e.fact
        client = (
            round_minutes(Decimal(c.minutes) * c.professionals / c.participants)
            if c.kind == "group"
            else c.minutes
        )
        setattr(m.minutes, c.kind, getattr(m.minutes, c.kind) + client)
        if c.channel == "digital":
            m.minutes.digital += client
        if a is None or product is None:
            ledger.decide(m, e, "R-20", 0, client, "outside the validity of every assignment")
            continue
        if product.financing == "result":
            ledger.decide(
                m,
                e,
                "R-26",
                0,
                None,
                "result financing: time is recorded, not declared; the period price is due (R-02)",
            )
            continue
        if c.kind == "indirect":
            indirect.append((e, a, product, client))
            continue
        if c.kind == "direct" and c.channel == "digital":
            caps = cat.caps_on(e.occurred_on)
            if caps is not None:
                first, last = month_bounds(m.month)
                days = _days_valid_in(a, first, last)
                cap = round_minutes(
                    caps.digital_max_share
                    * (1 - caps.indirect_max_share)
                    * weekly_minutes(a)
                    * days
                    / 7
                )
                allowed = max(0, min(client, cap - digital_used[m.month]))
                digital_used[m.month] += allowed
                if allowed < client:
                    ledger.decide(
                        m,
                        e,
                        "R-16",
                        allowed,
                        client,
                        f"digital direct time this month above {caps.digital_max_share:%} "
                        f"of the indicated direct time ({cap} min): "
                        f"{client - allowed} min not declarable",
                    )
                    hourly_direct.append((e, a, product, allowed))
                    continue
                ledger.decide(
                    m, e, "R-16", client, client, f"digital, within the month's cap of {cap} min"
                )
                hourly_direct.append((e, a, product, client))
                continue
        if c.kind == "group":
            why = (
                f"group: {c.minutes} min x {c.professionals} professionals"
                f" / {c.participants} clients"
            )
            ledger.decide(m, e, "R-12", client, client, why)
        else:
            ledger.decide(m, e, "R-10", client, client, "direct client-bound time")
        hourly_direct.append((e, a, product, client))

    _indirect(ledger, hourly_direct, indirect, cat)
    _amounts(ledger, state, effective, cat)
    for m in ledger.months.values():
        m.decisions.sort(key=lambda d: (d.occurred_on, d.event_version))
    return dict(sorted(ledger.months.items()))


def _no_show(
    ledger: _Ledger,
    m: MonthConsumption,
    e: Entry,
    ns: f.NoShow,
    a: Assignment | None,
    product: Product | None,
    cat: Catalogue,
    per_allocation: dict[tuple[str, int], int],
) -> None:
    planned = ns.planned_minutes or 0
    if is_timely_cancellation(ns, cat.no_show_notice_hours):
        m.no_shows.cancelled_in_time += 1
        ledger.decide(
            m,
            e,
            "R-13",
            0,
            None,
            f"cancelled {cat.no_show_notice_hours} h or more ahead: not a no-show",
        )
        return
    m.no_shows.count += 1
    if a is None or product is None:
        ledger.decide(m, e, "R-20", 0, planned, "no-show outside the validity of every assignment")
        return
    if product.financing == "result" or product.no_show is None:
        ledger.decide(
            m, e, "R-13", 0, None, "no-show recorded; not declared under result financing"
        )
        return
    if product.no_show == "never":
        ledger.decide(
            m,
            e,
            "R-13",
            0,
            planned,
            f"{product.code}: no-shows are never declarable (in the tariff)",
        )
        return
    if product.no_show == "capped":
        months = (
            (e.occurred_on.year - a.starts_on.year) * 12 + e.occurred_on.month - a.starts_on.month
        )
        period = months // (product.max_months or 12)
        key = (a.assignment_number, period)
        per_allocation[key] += 1
        if per_allocation[key] > (product.no_show_cap or 0):
            ledger.decide(
                m,
                e,
                "R-13",
                0,
                planned,
                f"{product.code}: no-show {per_allocation[key]} in this allocation period, "
                f"above the cap of {product.no_show_cap}",
            )
            return
    m.no_shows.declarable += 1
    why = f"{product.code}: declarable no-show" + (
        "" if ns.planned_minutes else " (no planned minutes recorded)"
    )
    ledger.decide(m, e, "R-13", planned, planned, why)


def _indirect(
    ledger: _Ledger,
    direct: list[tuple[Entry, Assignment, Product, int]],
    indirect: list[tuple[Entry, Assignment, Product, int]],
    cat: Catalogue,
) -> None:
    """R-11: cumulative over the trajectory, through the end of each contact's month."""
    direct_by_month: dict[str, int] = defaultdict(int)
    for e, _, _, minutes in direct:
        direct_by_month[month_key(e.occurred_on)] += minutes
    declared = 0
    for e, _a, _p, client in indirect:
        key = month_key(e.occurred_on)
        m = ledger.months[key]
        caps = cat.caps_on(e.occurred_on)
        if caps is None:
            ledger.decide(
                m, e, "R-10", client, client, "indirect client-bound time (no cap in force)"
            )
            declared += client
            continue
        ratio = caps.indirect_max_share / (1 - caps.indirect_max_share)
        direct_through = sum(v for k, v in direct_by_month.items() if k <= key)
        allowance = int(ratio * direct_through)  # whole minutes, rounded down
        allowed = max(0, min(client, allowance - declared))
        declared += allowed
        why = (
            f"indirect within {caps.indirect_max_share:%} of client-bound time over the trajectory"
            if allowed == client
            else f"indirect above {caps.indirect_max_share:%} of client-bound time over the "
            f"trajectory (allowance {allowance} min through {key}): "
            f"{client - allowed} min not declarable"
        )
        ledger.decide(m, e, "R-11", allowed, client, why)


def _amounts(ledger: _Ledger, state: CaseState, effective: list[Entry], cat: Catalogue) -> None:
    sources: dict[str, set[str]] = defaultdict(set)
    totals: dict[str, Decimal] = defaultdict(Decimal)
    unknown: set[str] = set()
    # hourly: declarable minutes x the hourly price on the fact's date
    by_version = {e.version: e for e in effective}
    for key, m in ledger.months.items():
        for d in m.decisions:
            if d.declarable_minutes == 0:
                continue
            e = by_version[d.event_version]
            a = state.assignment_on(e.occurred_on)
            if a is None:
                continue
            price, source = price_on(cat, a.product, e.occurred_on)
            sources[key].add(source)
            if price is None or price.per != "hour":
                unknown.add(key)
                continue
            totals[key] += price.amount * d.declarable_minutes / 60
    # result financing: period prices while in care
    if state.started_on is not None:
        for a in state.assignments:
            product = cat.product_any(a.product)
            if product is None or product.financing != "result":
                continue
            start = max(a.starts_on, state.started_on)
            end = min(a.until, state.ended_on) if state.ended_on else a.until
            # Months are billed through the month of the last recorded activity (or the
            # end): later months are not settled yet.
            last_known = max((e.occurred_on for e in effective), default=start)
            end = min(end, max(month_bounds(month_key(last_known))[1], state.ended_on or start))
            if end < start:
                continue
            _bill_result(ledger, a, start, end, cat, totals, sources, unknown)
    for key, m in ledger.months.items():
        used = sources.get(key, set())
        m.price_source = "mixed" if len(used) > 1 else next(iter(used), "none")
        if key in unknown or (not used and (m.declarable_minutes or m.periods_billed)):
            m.amount_due = None
        elif used:
            m.amount_due = str(totals[key].quantize(CENT, rounding=ROUND_HALF_UP))
        else:
            m.amount_due = "0.00"


def _bill_result(
    ledger: _Ledger,
    a: Assignment,
    start: date,
    end: date,
    cat: Catalogue,
    totals: dict[str, Decimal],
    sources: dict[str, set[str]],
    unknown: set[str],
) -> None:
    settlement = cat.settlement_on(start)
    if settlement is not None and settlement.period == "four_weeks":
        period_start = start
        while period_start <= end:
            m = ledger.month(period_start, "result")
            key = m.month
            price, source = price_on(cat, a.product, period_start)
            sources[key].add(source)
            m.periods_billed = str(Decimal(m.periods_billed or 0) + 1)
            if price is None:
                unknown.add(key)
            else:
                totals[key] += price.amount + ((price.surcharge_amount or 0) if a.surcharge else 0)
            period_start += timedelta(days=28)
        return
    day = start
    while day <= end:
        m = ledger.month(day, "result")
        key = m.month
        _, last = month_bounds(key)
        stop = min(last, end)
        days = (stop - day).days + 1
        price, source = price_on(cat, a.product, day)
        sources[key].add(source)
        weeks = Decimal(days) / 7
        m.periods_billed = str((Decimal(m.periods_billed or 0) + weeks).quantize(CENT))
        if price is None:
            unknown.add(key)
        else:
            per_week = price.amount + ((price.surcharge_amount or 0) if a.surcharge else 0)
            if price.per == "four_weeks":
                per_week = per_week / 4
            totals[key] += per_week * weeks
        day = stop + timedelta(days=1)
