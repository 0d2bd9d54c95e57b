"""Consumption per case per month, with one declaration decision per event (R-10..R-17).

A pure function of the case's effective facts (corrections applied, retractions left out)
and the catalogue entries in force on each fact's business date. Every contact and no-show
gets exactly one :class:`Decision` that names the rule deciding its declarable minutes, so a
figure on an invoice can be traced to the events and rules behind it.

Hourly products (ZOU):
- R-10 direct and group time is client-bound and declarable; R-12 a group contact counts
  ``minutes x professionals / participants`` for this client (rounded half up to a minute).
- R-16 digital direct time is declarable up to ``digital_max_share`` of the indicated direct
  time (indicated time minus the indirect share) over the assignment's whole validity, as a
  running total: front-loaded digital time is declarable while the total stays within the
  cap (the seed: it "can be spread over the duration of the indication"). The worked
  example: 4 h/week gives 3.2 h direct and at most 0.64 h digital per week of validity.
- R-11 indirect time is declarable while the trajectory's declared indirect time stays within
  ``indirect_max_share`` of all client-bound time, cumulatively over the whole trajectory
  through the end of the contact's month (declarations are monthly, R-17).
- R-13 a no-show cancelled 24 h or more ahead is a cancellation; a no-show is declarable by
  the product's rule (02A03 never, 02A04 always, 02A05 at most 6 per allocation period),
  for its ``planned_minutes``. The allocation period is the assignment's own validity; an
  extension of a ``new_period`` product (02A05) opens the next period the day after the end
  it extends.
- R-17 declarable time of an assignment stops at its total volume (volume x the validity,
  or the total): minutes beyond it are not declarable (decided in date order, after the
  rules above).
- R-20 time outside every assignment's validity is not declarable.

Result-financed products (SDD): time is recorded but not declared (R-26); the amount due is
the period price (R-02, R-03, surcharge R-01). The settlement rule in force on each period's
business date decides: under the 2016 rules 4-week periods anchored on the start of care in
the assignment, billed whole in the month a period starts (also a partial last one); from
2021-01-01 a weekly tariff settled per calendar month, pro rata to the days in care. A
four-week period running across the switch is cut on 2020-12-31 and billed pro rata (days
/ 28). A product with its own ``period`` (IB MO: ``month``, 002) is settled per calendar
month, pro rata to the days in care in a partial month. Months are billed through the end
of care or, while care runs, through the month of the last recorded fact (later months are
not settled).
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
    #: The client minutes this decision splits into declarable and not (None: outside hour
    #: accounting, e.g. result financing or a timely cancellation).
    counted_minutes: int | None = None
    #: R-17: minutes that would be declarable but lie beyond the total volume granted.
    beyond_volume_minutes: int = 0


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


def _extended_ends(entries: Iterable[Entry]) -> dict[str, list[date]]:
    """Per assignment number, the end dates that an extension moved (in the order granted):
    each one closes an allocation period of a ``new_period`` product (R-13, C-05)."""
    ends: dict[str, date] = {}
    moved: dict[str, list[date]] = defaultdict(list)
    for e in sorted((e for e in entries if not e.retracted), key=lambda e: e.version):
        fact = e.fact
        if isinstance(fact, f.Indication | f.AwbzConversion):
            ends[fact.assignment_number] = fact.ends_on
        elif isinstance(fact, f.Extension) and fact.assignment_number in ends:
            moved[fact.assignment_number].append(ends[fact.assignment_number])
            ends[fact.assignment_number] = fact.ends_on
    return moved


def _total_volume(ledger: _Ledger, state: CaseState, cat: Catalogue) -> None:
    """R-17: what an hourly assignment declares stops at its total granted volume; the rest
    is not declarable (decided in date order, after the other rules)."""
    used: dict[tuple[str, int], int] = defaultdict(int)
    totals: dict[int, int | None] = {}  # per assignment (source version): whole minutes
    ordered = sorted(
        (
            (m, i, d)
            for m in ledger.months.values()
            for i, d in enumerate(m.decisions)
            if d.declarable_minutes and d.counted_minutes is not None
        ),
        key=lambda t: (t[2].occurred_on, t[2].event_version),
    )
    for m, i, d in ordered:
        a = state.assignment_on(d.occurred_on)
        if a is None:
            continue
        if a.source_version not in totals:
            product = cat.product_any(a.product)
            hourly = product is not None and product.financing == "hourly"
            # whole minutes, rounded down
            totals[a.source_version] = int(granted_minutes(a)) if hourly else None
        granted = totals[a.source_version]
        if granted is None:
            continue
        key = (a.assignment_number, a.source_version)
        allowed = max(0, min(d.declarable_minutes, granted - used[key]))
        used[key] += allowed
        if allowed == d.declarable_minutes:
            continue
        cut = d.declarable_minutes - allowed
        m.decisions[i] = msgspec.structs.replace(
            d,
            rule="R-17",
            declarable_minutes=allowed,
            beyond_volume_minutes=cut,
            explanation=f"{d.explanation}; beyond the total volume of {granted} min granted "
            f"over the validity: {cut} min not declarable",
        )
        m.declarable_minutes -= cut
        m.non_declarable_minutes += cut


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
                counted_minutes=counted,
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
    allocation_no_shows: dict[tuple[str, int, int], int] = defaultdict(int)
    digital_used: dict[tuple[str, int], int] = defaultdict(int)
    digital_caps: dict[tuple[tuple[str, int], object], int] = {}
    extended = _extended_ends(entries)

    for e in effective:
        a = state.assignment_on(e.occurred_on)
        product = cat.product_any(a.product) if a else None
        financing = product.financing if product else "unknown"
        m = ledger.month(e.occurred_on, financing)
        if isinstance(e.fact, f.NoShow):
            _no_show(ledger, m, e, e.fact, a, product, cat, allocation_no_shows, extended)
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
                key = (a.assignment_number, a.source_version)
                if (key, caps) not in digital_caps:
                    digital_caps[key, caps] = round_minutes(
                        caps.digital_max_share * (1 - caps.indirect_max_share) * granted_minutes(a)
                    )
                cap = digital_caps[key, caps]
                allowed = max(0, min(client, cap - digital_used[key]))
                digital_used[key] += allowed
                if allowed < client:
                    ledger.decide(
                        m,
                        e,
                        "R-16",
                        allowed,
                        client,
                        f"digital direct time above {caps.digital_max_share:%} of the indicated "
                        f"direct time over the indication ({cap} min, "
                        f"{digital_used[key] - allowed} used before): "
                        f"{client - allowed} min not declarable",
                    )
                    hourly_direct.append((e, a, product, allowed))
                    continue
                ledger.decide(
                    m,
                    e,
                    "R-16",
                    client,
                    client,
                    f"digital, within the indication's cap of {cap} min ({digital_used[key]} used)",
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
    _total_volume(ledger, state, cat)
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
    per_allocation: dict[tuple[str, int, int], int],
    extended: dict[str, list[date]],
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
        # the allocation period is the assignment's own validity; an extension of a
        # new_period product opens the next one the day after the end it extended
        ends = extended.get(a.assignment_number, []) if product.extension == "new_period" else []
        period = sum(1 for end in ends if end < e.occurred_on)
        key = (a.assignment_number, a.source_version, period)
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
    """R-02: bill ``start..end`` period by period under the settlement rule in force on each
    period's business date (a product's own ``settlement_period`` wins, IB MO)."""
    product = cat.product_any(a.product)
    day = start
    while day <= end:
        settlement = cat.settlement_on(day)
        if product is not None and product.settlement_period == "month":
            day = _bill_month(ledger, a, day, end, cat, totals, sources, unknown)
        elif settlement is not None and settlement.period == "four_weeks":
            day = _bill_four_weeks(ledger, a, day, end, cat, totals, sources, unknown)
        else:
            day = _bill_weeks(ledger, a, day, end, cat, totals, sources, unknown)


def _charge(
    ledger: _Ledger,
    a: Assignment,
    day: date,
    cat: Catalogue,
    periods: Decimal,
    per: str,
    totals: dict[str, Decimal],
    sources: dict[str, set[str]],
    unknown: set[str],
) -> None:
    """Bill ``periods`` periods of length ``per`` in the month of ``day`` at the price in
    force on ``day``; a price counted per another period is converted by length in days."""
    m = ledger.month(day, "result")
    key = m.month
    price, source = price_on(cat, a.product, day)
    sources[key].add(source)
    billed = Decimal(m.periods_billed or 0) + periods
    m.periods_billed = str(billed if billed == billed.to_integral() else billed.quantize(CENT))
    if m.periods_billed.endswith(".00"):
        m.periods_billed = m.periods_billed[:-3]
    if price is None:
        unknown.add(key)
        return
    amount = price.amount + ((price.surcharge_amount or 0) if a.surcharge else 0)
    if price.per != per:
        if "month" in (price.per, per):
            unknown.add(key)  # a monthly price has no fixed length in days
            return
        amount = amount * _DAYS[per] / _DAYS[price.per]
    totals[key] += amount * periods


_DAYS = {"week": Decimal(7), "four_weeks": Decimal(28)}


def _switch_after(cat: Catalogue, day: date, until: date) -> date:
    """The last day on or after ``day`` (at most ``until``) under the same settlement rule."""
    rule = cat.settlement_on(day)
    for s in cat.settlements:
        if s is not rule and day < s.valid_from <= until:
            until = s.valid_from - timedelta(days=1)
    return until


def _bill_four_weeks(
    ledger: _Ledger,
    a: Assignment,
    day: date,
    end: date,
    cat: Catalogue,
    totals: dict[str, Decimal],
    sources: dict[str, set[str]],
    unknown: set[str],
) -> date:
    """2016 rules: a whole 4-week period billed in the month it starts, also a partial last
    one; a period running across a change of rule is cut there and billed pro rata."""
    period_end = day + timedelta(days=27)
    cut = _switch_after(cat, day, period_end)
    share = Decimal(1) if cut == period_end else Decimal((cut - day).days + 1) / 28
    _charge(ledger, a, day, cat, share, "four_weeks", totals, sources, unknown)
    return min(period_end, cut) + timedelta(days=1)


def _bill_weeks(
    ledger: _Ledger,
    a: Assignment,
    day: date,
    end: date,
    cat: Catalogue,
    totals: dict[str, Decimal],
    sources: dict[str, set[str]],
    unknown: set[str],
) -> date:
    """2021 rules: a weekly tariff settled per calendar month, pro rata to the days."""
    stop = _switch_after(cat, day, min(month_bounds(month_key(day))[1], end))
    weeks = Decimal((stop - day).days + 1) / 7
    _charge(ledger, a, day, cat, weeks, "week", totals, sources, unknown)
    return stop + timedelta(days=1)


def _bill_month(
    ledger: _Ledger,
    a: Assignment,
    day: date,
    end: date,
    cat: Catalogue,
    totals: dict[str, Decimal],
    sources: dict[str, set[str]],
    unknown: set[str],
) -> date:
    """IB MO (002): a tariff per calendar month; a partial month pro rata to its days."""
    first, last = month_bounds(month_key(day))
    stop = min(last, end)
    share = Decimal((stop - day).days + 1) / ((last - first).days + 1)
    _charge(ledger, a, day, cat, share, "month", totals, sources, unknown)
    return stop + timedelta(days=1)
