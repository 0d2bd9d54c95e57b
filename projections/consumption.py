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

import bisect
import copy
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from operator import attrgetter

import msgspec

from domain import facts as f
from domain.catalogue import Caps, Catalogue, Price, Product
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


_MONTH_KEYS: dict[date, str] = {}


def month_key(day: date) -> str:
    """``YYYY-MM`` of ``day``; kept per day (a rebuild asks it for every fact several times,
    and formatting cost 3% of a rebuild)."""
    try:
        return _MONTH_KEYS[day]
    except KeyError:
        key = f"{day.year:04d}-{day.month:02d}"
        if type(day) is date:  # a day, not an instant: a few thousand at most
            _MONTH_KEYS[day] = key
        return key


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


def _decision(entry: Entry, rule: str, declarable: int, counted: int | None, why: str) -> Decision:
    return Decision(
        event_version=entry.version,
        occurred_on=entry.occurred_on,
        rule=rule,
        declarable_minutes=declarable,
        explanation=why,
        counted_minutes=counted,
    )


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
        m.decisions.append(_decision(entry, rule, declarable, counted, why))
        if counted is not None:
            m.declarable_minutes += declarable
            m.non_declarable_minutes += counted - declarable


# --- the fold, month by month ------------------------------------------------------------
#
# Consumption is a chronological fold with state carried across months: the R-13 no-shows
# per allocation period, the R-16 running digital total, the R-11 indirect time declared and
# the client-bound time it is measured against, and the R-17 volume used. Each month is
# folded from the state carried into it, and the state at each month boundary is kept, so a
# contact or no-show dated in month M leaves the months before M as they were and refolds
# from M on (later months only while the state carried into them changes).


@dataclass(frozen=True, slots=True)
class Carry:
    """The state a month's fold starts from (and the next month's, after it)."""

    #: R-13: no-shows per (assignment number, source version, allocation period)
    no_shows: dict[tuple[str, int, int], int] = field(default_factory=dict)
    #: R-16: digital direct minutes declared per (assignment number, source version)
    digital: dict[tuple[str, int], int] = field(default_factory=dict)
    #: R-11: indirect minutes declared over the trajectory so far
    indirect: int = 0
    #: R-11: hourly client-bound (direct, group, digital) minutes of the months so far
    client_bound: int = 0
    #: R-17: declarable minutes used per (assignment number, source version)
    volume: dict[tuple[str, int], int] = field(default_factory=dict)

    def copy(self) -> Carry:
        return Carry(
            no_shows=dict(self.no_shows),
            digital=dict(self.digital),
            indirect=self.indirect,
            client_bound=self.client_bound,
            volume=dict(self.volume),
        )


@dataclass(slots=True)
class MonthFold:
    """One month folded: its contacts and no-shows, the state carried in and out, the month
    as the hour accounting decides it (before any result-financing period price), and the
    hourly amount behind ``amount_due``."""

    key: str
    entries: list[Entry]  # (occurred_on, version) order
    start: Carry
    end: Carry
    month: MonthConsumption
    total: Decimal
    sources: set[str]
    unknown: bool
    #: declarable and beyond-volume minutes per assignment (``entitlement``), on first use
    usage: dict[tuple[str, int], tuple[int, int]] | None = None
    #: ``month`` as JSON (the ``consumption_month`` row's ``doc``), on first use
    doc: str | None = None
    #: whether R-11 judged indirect time here (it reads the client-bound time carried in)
    indirect: bool = False
    #: R-17: per assignment, (minutes granted, declarable minutes of this month before the
    #: volume rule); and whether the rule cut any
    need: dict[tuple[str, int], tuple[int, int]] = field(default_factory=dict)
    cut: bool = False
    #: what other read models computed from this month's decisions alone (the R-18 use per
    #: assignment in ``signals``, the declaration lines in ``declarations``), each under a
    #: key naming what else it read; shared by every version that keeps these decisions
    memo: dict[object, object] = field(default_factory=dict)
    #: declarable minutes x hourly price, summed exactly (``total`` is this / 60)
    priced: Decimal = Decimal(0)

    def shifted(self, start: Carry) -> MonthFold | None:
        """This month folded from another state carried in, when that state decides every
        fact of the month alike (only totals the month does not read differ): the same month
        with the state carried out moved by as much; else None (fold it again)."""
        old = self.start
        if start.no_shows != old.no_shows or start.digital != old.digital:
            return None
        if self.indirect and (start.indirect, start.client_bound) != (
            old.indirect,
            old.client_bound,
        ):
            return None
        # per assignment, every minute of the month within the volume from both states,
        # or none (the volume used up before the month from both): decided alike
        volume = dict(start.volume)
        for k, (g, n) in self.need.items():
            was, now = old.volume.get(k, 0), start.volume.get(k, 0)
            if was + n <= g and now + n <= g:
                volume[k] = now + n
            elif not (was >= g and now >= g):
                return None
        end = Carry(
            no_shows=self.end.no_shows,
            digital=self.end.digital,
            indirect=start.indirect + self.end.indirect - old.indirect,
            client_bound=start.client_bound + self.end.client_bound - old.client_bound,
            volume=volume,
        )
        return MonthFold(
            self.key,
            self.entries,
            start,
            end,
            self.month,
            self.total,
            self.sources,
            self.unknown,
            self.usage,
            self.doc,
            self.indirect,
            self.need,
            self.cut,
            self.memo,
            self.priced,
        )


class _Context:
    """What a fold reads besides the facts: the state's assignments, the catalogue, and the
    allocation periods moved by extensions (lookups cached per fold)."""

    def __init__(self, state: CaseState, entries: Iterable[Entry], cat: Catalogue) -> None:
        self.state = state
        self.cat = cat
        self.extended = _extended_ends(entries)
        self._products: dict[str, Product | None] = {}
        self._assignments: dict[date, Assignment | None] = {}
        self._granted: dict[int, int | None] = {}
        self._digital_caps: dict[tuple[tuple[str, int], Caps], int] = {}
        #: how each contact counts where its place in the fold does not matter, by version
        self.decided: dict[int, _Contacted] = {}
        self._volumes: dict[date, tuple[tuple[str, int], int] | None] = {}
        self._prices: dict[date, tuple[Price | None, str] | None] = {}
        #: result-financing period prices by (start of care, end, last month of activity)
        self.billed: dict[tuple[date, date | None, str | None], _Billed] = {}

    def with_state(self, state: CaseState) -> _Context:
        """This context for a later version of the case with the same assignments (the
        lookups stay valid and are shared)."""
        if state is self.state:
            return self
        other = copy.copy(self)
        other.state = state
        return other

    def assignment_on(self, day: date) -> Assignment | None:
        if day not in self._assignments:
            self._assignments[day] = self.state.assignment_on(day)
        return self._assignments[day]

    def volume_on(self, day: date) -> tuple[tuple[str, int], int] | None:
        """R-17: the hourly assignment valid on ``day`` (number, source version) with its
        minutes granted; None without one."""
        try:
            return self._volumes[day]
        except KeyError:
            a = self.assignment_on(day)
            granted = self.granted(a) if a is not None else None
            volume = None
            if a is not None and granted is not None:
                volume = ((a.assignment_number, a.source_version), granted)
            self._volumes[day] = volume
            return volume

    def price_of(self, day: date) -> tuple[Price | None, str] | None:
        """The price on ``day`` of the product of the assignment valid then (``price_on``);
        None without an assignment."""
        try:
            return self._prices[day]
        except KeyError:
            a = self.assignment_on(day)
            priced = price_on(self.cat, a.product, day) if a is not None else None
            self._prices[day] = priced
            return priced

    def product(self, code: str) -> Product | None:
        if code not in self._products:
            self._products[code] = self.cat.product_any(code)
        return self._products[code]

    def granted(self, a: Assignment) -> int | None:
        """R-17: whole minutes granted (rounded down) to an hourly assignment, else None."""
        if a.source_version not in self._granted:
            product = self.product(a.product)
            hourly = product is not None and product.financing == "hourly"
            self._granted[a.source_version] = int(granted_minutes(a)) if hourly else None
        return self._granted[a.source_version]

    def digital_cap(self, a: Assignment, caps: Caps) -> int:
        key = ((a.assignment_number, a.source_version), caps)
        if key not in self._digital_caps:
            self._digital_caps[key] = round_minutes(
                caps.digital_max_share * (1 - caps.indirect_max_share) * granted_minutes(a)
            )
        return self._digital_caps[key]


def _fold_month(ctx: _Context, key: str, entries: list[Entry], start: Carry) -> MonthFold:
    """Decide every contact and no-show of one month from the state carried into it."""
    cat = ctx.cat
    carry = start.copy()
    ledger = _Ledger()
    client_bound = 0
    indirect: list[tuple[Entry, int]] = []
    m: MonthConsumption | None = None
    decided = ctx.decided
    for e in entries:
        fact = e.fact
        if isinstance(fact, f.NoShow):
            a = ctx.assignment_on(e.occurred_on)
            product = ctx.product(a.product) if a else None
            if m is None:
                m = ledger.month(e.occurred_on, product.financing if product else "unknown")
            _no_show(ledger, m, e, fact, a, product, cat, carry.no_shows, ctx.extended)
            continue
        hit = decided.get(e.version)
        if hit is None or hit.entry is not e:
            hit = decided[e.version] = _contact(ctx, e)
        if m is None:
            m = ledger.month(e.occurred_on, hit.financing)
        minutes = m.minutes
        client = hit.client
        setattr(minutes, hit.kind, getattr(minutes, hit.kind) + client)
        if hit.digital:
            minutes.digital += client
        decision = hit.decision
        if decision is None:
            if hit.caps is None:  # judged at the month's end
                indirect.append((e, client))
                continue
            assert hit.assignment is not None
            client_bound += _digital_direct(
                ctx, ledger, m, e, client, hit.assignment, hit.caps, carry.digital
            )
            continue
        m.decisions.append(decision)
        counted = decision.counted_minutes
        if counted is not None:
            m.declarable_minutes += decision.declarable_minutes
            m.non_declarable_minutes += counted - decision.declarable_minutes
        client_bound += hit.bound
    assert m is not None  # every month folded has a fact
    carry = _indirect(ledger, m, indirect, cat, carry, client_bound)
    need, cut = _total_volume(ctx, m, carry.volume)
    priced, sources, unknown = _hourly_amount(ctx, m)
    total = _hours_amount(priced)
    m.price_source = "mixed" if len(sources) > 1 else next(iter(sources), "none")
    m.amount_due = _amount_due(m, total, sources, unknown)
    m.decisions.sort(key=_decision_order)
    return MonthFold(
        key,
        entries,
        start,
        carry,
        m,
        total,
        sources,
        unknown,
        indirect=bool(indirect),
        need=need,
        cut=cut,
        priced=priced,
    )


def _fold_in(ctx: _Context, old: MonthFold, e: Entry, start: Carry) -> MonthFold | None:
    """Month ``old`` with one more contact ``e`` (not yet in it), folded from the same
    state carried in, without deciding its other facts again: when ``e`` is decided on its
    own (not R-11 indirect or R-16 digital direct time, which are decided in their place),
    the month judged no indirect time (R-11 reads the month's client-bound time, which
    ``e`` changes), and R-17 decides the month's time of ``e``'s assignment without regard
    to order: all of it within the volume, with ``e`` too, or none of it (the volume used
    up before the month). Every other decision of the month is then as it was: R-13 counts
    no-shows and R-16 digital time alone, R-17 cuts each assignment's time on its own, and
    no contact's decision reads another's. Else None: fold the month again."""
    if old.indirect or not isinstance(e.fact, f.Contact) or start != old.start:
        return None
    hit = ctx.decided.get(e.version)
    if hit is None or hit.entry is not e:
        hit = ctx.decided[e.version] = _contact(ctx, e)
    d = hit.decision
    was = old.month
    if d is None:
        return None  # decided in its place in the month
    if hit.financing != was.financing and _fact_order(e) < _fact_order(old.entries[0]):
        return None  # the month's first fact, of another financing: the month's financing
    need, volume, cut = old.need, old.end.volume, old.cut
    counted = d.counted_minutes
    if d.declarable_minutes and counted is not None:
        granted = ctx.volume_on(d.occurred_on)
        if granted is not None:
            k, g = granted
            held = need.get(k)
            n = (held[1] if held is not None else 0) + d.declarable_minutes
            used = start.volume.get(k, 0)
            if used >= g:  # the volume used up before the month, none of it declarable
                d = _beyond(d, g, 0)
                cut = True
                volume = volume if k in volume else {**volume, k: used}
            elif used + n > g:
                return None  # R-17 would cut some of it, in date order: fold the month again
            else:
                volume = {**volume, k: volume.get(k, 0) + d.declarable_minutes}
            need = {**need, k: (g, n)}
    priced, sources, unknown = old.priced, old.sources, old.unknown
    if d.declarable_minutes:
        price_of = ctx.price_of(d.occurred_on)
        if price_of is not None:
            price, source = price_of
            sources = sources | {source}
            if price is None or price.per != "hour":
                unknown = True
            else:
                priced += price.amount * d.declarable_minutes
    minutes = msgspec.structs.replace(was.minutes)
    setattr(minutes, hit.kind, getattr(minutes, hit.kind) + hit.client)
    if hit.digital:
        minutes.digital += hit.client
    decisions = list(was.decisions)
    bisect.insort(decisions, d, key=_decision_order)
    m = msgspec.structs.replace(was, minutes=minutes, decisions=decisions)
    if counted is not None:
        m.declarable_minutes += d.declarable_minutes
        m.non_declarable_minutes += counted - d.declarable_minutes
    total = _hours_amount(priced)
    m.price_source = "mixed" if len(sources) > 1 else next(iter(sources), "none")
    m.amount_due = _amount_due(m, total, sources, unknown)
    entries = list(old.entries)
    bisect.insort(entries, e, key=_fact_order)
    ended = old.end
    end = Carry(
        no_shows=ended.no_shows,
        digital=ended.digital,
        indirect=ended.indirect,
        client_bound=ended.client_bound + hit.bound,
        volume=volume,
    )
    return MonthFold(
        old.key,
        entries,
        start,
        end,
        m,
        total,
        sources,
        unknown,
        need=need,
        cut=cut,
        priced=priced,
    )


@dataclass(frozen=True, slots=True)
class _Contacted:
    """How a contact counts, where that does not depend on the facts before it in the month
    (kept per case while its assignments stay the same: ``_Context.decided``): its client
    minutes and kind, and its decision, or none when R-11 (indirect time, ``caps`` None) or
    R-16 (digital direct time, a running total) decides it in its place in the fold."""

    entry: Entry
    financing: str
    kind: str
    client: int
    digital: bool
    decision: Decision | None
    #: the client-bound minutes it adds (R-11 measures indirect time against them)
    bound: int = 0
    assignment: Assignment | None = None
    caps: Caps | None = None


def _contact(ctx: _Context, e: Entry) -> _Contacted:
    c = e.fact
    assert isinstance(c, f.Contact)
    a = ctx.assignment_on(e.occurred_on)
    product = ctx.product(a.product) if a else None
    financing = product.financing if product else "unknown"
    client = (
        round_minutes(Decimal(c.minutes) * c.professionals / c.participants)
        if c.kind == "group"
        else c.minutes
    )
    digital = c.channel == "digital"

    def contacted(decision: Decision | None, bound: int = 0) -> _Contacted:
        return _Contacted(e, financing, c.kind, client, digital, decision, bound)

    if a is None or product is None:
        why = "outside the validity of every assignment"
        return contacted(_decision(e, "R-20", 0, client, why))
    if product.financing == "result":
        return contacted(
            _decision(
                e,
                "R-26",
                0,
                None,
                "result financing: time is recorded, not declared; the period price is due (R-02)",
            )
        )
    if c.kind == "indirect":
        return contacted(None)
    if c.kind == "direct" and digital:
        caps = ctx.cat.caps_on(e.occurred_on)
        if caps is not None:
            return _Contacted(e, financing, c.kind, client, digital, None, 0, a, caps)
    if c.kind == "group":
        why = f"group: {c.minutes} min x {c.professionals} professionals / {c.participants} clients"
        return contacted(_decision(e, "R-12", client, client, why), client)
    return contacted(_decision(e, "R-10", client, client, "direct client-bound time"), client)


def _digital_direct(
    ctx: _Context,
    ledger: _Ledger,
    m: MonthConsumption,
    e: Entry,
    client: int,
    a: Assignment,
    caps: Caps,
    digital: dict[tuple[str, int], int],
) -> int:
    """R-16: digital direct time within the cap over the indication, as a running total;
    the client-bound minutes declared."""
    used_key = (a.assignment_number, a.source_version)
    cap = ctx.digital_cap(a, caps)
    used = digital.get(used_key, 0)
    allowed = max(0, min(client, cap - used))
    digital[used_key] = used + allowed
    if allowed < client:
        ledger.decide(
            m,
            e,
            "R-16",
            allowed,
            client,
            f"digital direct time above {caps.digital_max_share:%} of the indicated "
            f"direct time over the indication ({cap} min, "
            f"{used} used before): "
            f"{client - allowed} min not declarable",
        )
        return allowed
    ledger.decide(
        m,
        e,
        "R-16",
        client,
        client,
        f"digital, within the indication's cap of {cap} min ({used + allowed} used)",
    )
    return client


def _indirect(
    ledger: _Ledger,
    m: MonthConsumption,
    indirect: list[tuple[Entry, int]],
    cat: Catalogue,
    carry: Carry,
    client_bound: int,
) -> Carry:
    """R-11: cumulative over the trajectory, through the end of each contact's month."""
    direct_through = carry.client_bound + client_bound
    declared = carry.indirect
    for e, client in indirect:
        caps = cat.caps_on(e.occurred_on)
        if caps is None:
            ledger.decide(
                m, e, "R-10", client, client, "indirect client-bound time (no cap in force)"
            )
            declared += client
            continue
        ratio = caps.indirect_max_share / (1 - caps.indirect_max_share)
        allowance = int(ratio * direct_through)  # whole minutes, rounded down
        allowed = max(0, min(client, allowance - declared))
        declared += allowed
        why = (
            f"indirect within {caps.indirect_max_share:%} of client-bound time over the trajectory"
            if allowed == client
            else f"indirect above {caps.indirect_max_share:%} of client-bound time over the "
            f"trajectory (allowance {allowance} min through {m.month}): "
            f"{client - allowed} min not declarable"
        )
        ledger.decide(m, e, "R-11", allowed, client, why)
    return Carry(
        no_shows=carry.no_shows,
        digital=carry.digital,
        indirect=declared,
        client_bound=direct_through,
        volume=carry.volume,
    )


def _total_volume(
    ctx: _Context, m: MonthConsumption, used: dict[tuple[str, int], int]
) -> tuple[dict[tuple[str, int], tuple[int, int]], bool]:
    """R-17: what an hourly assignment declares stops at its total granted volume; the rest
    is not declarable (decided in date order, after the other rules). Returns per assignment
    the minutes granted and the month's declarable minutes before the rule, and whether it
    cut any."""
    need: dict[tuple[str, int], tuple[int, int]] = {}
    decisions = m.decisions
    volume_on = ctx.volume_on
    for d in decisions:
        if not d.declarable_minutes or d.counted_minutes is None:
            continue
        volume = volume_on(d.occurred_on)
        if volume is None:
            continue
        key, granted = volume
        held = need.get(key)
        need[key] = (granted, (held[1] if held is not None else 0) + d.declarable_minutes)
    if all(used.get(k, 0) + n <= g for k, (g, n) in need.items()):
        # every minute within every volume: nothing to cut, in whatever order
        for k, (_, n) in need.items():
            used[k] = used.get(k, 0) + n
        return need, False
    counted: list[tuple[date, int, int, tuple[str, int], int]] = []
    for i, d in enumerate(decisions):
        if not d.declarable_minutes or d.counted_minutes is None:
            continue
        volume = volume_on(d.occurred_on)
        if volume is not None:
            counted.append((d.occurred_on, d.event_version, i, *volume))
    cut_any = False
    for _, _, i, key, granted in sorted(counted):
        d = decisions[i]
        allowed = max(0, min(d.declarable_minutes, granted - used.get(key, 0)))
        used[key] = used.get(key, 0) + allowed
        if allowed == d.declarable_minutes:
            continue
        cut_any = True
        m.decisions[i] = _beyond(d, granted, allowed)
        cut = d.declarable_minutes - allowed
        m.declarable_minutes -= cut
        m.non_declarable_minutes += cut
    return need, cut_any


def _beyond(d: Decision, granted: int, allowed: int) -> Decision:
    """R-17: decision ``d`` with only ``allowed`` of its declarable minutes within the total
    volume ``granted``."""
    cut = d.declarable_minutes - allowed
    return msgspec.structs.replace(
        d,
        rule="R-17",
        declarable_minutes=allowed,
        beyond_volume_minutes=cut,
        explanation=f"{d.explanation}; beyond the total volume of {granted} min granted "
        f"over the validity: {cut} min not declarable",
    )


def _hourly_amount(ctx: _Context, m: MonthConsumption) -> tuple[Decimal, set[str], bool]:
    """Declarable minutes x the hourly price on the fact's date, summed exactly (a price
    has cents, minutes are whole: in whatever order the decisions come, the same sum),
    divided by 60 once: :func:`_hours_amount`."""
    total = Decimal(0)
    sources: set[str] = set()
    unknown = False
    price_of = ctx.price_of
    for d in m.decisions:
        if d.declarable_minutes == 0:
            continue
        priced = price_of(d.occurred_on)
        if priced is None:
            continue
        price, source = priced
        sources.add(source)
        if price is None or price.per != "hour":
            unknown = True
            continue
        total += price.amount * d.declarable_minutes
    return total, sources, unknown


def _hours_amount(priced: Decimal) -> Decimal:
    """The amount of ``priced`` (declarable minutes x hourly prices)."""
    return priced / 60


def _amount_due(m: MonthConsumption, total: Decimal, used: set[str], unknown: bool) -> str | None:
    if unknown or (not used and (m.declarable_minutes or m.periods_billed)):
        return None
    if used:
        return str(total.quantize(CENT, rounding=ROUND_HALF_UP))
    return "0.00"


_decision_order = attrgetter("occurred_on", "event_version")


def _fact_order(e: Entry) -> tuple[date, int]:
    return (e.occurred_on, e.version)


class Fold:
    """The consumption of one case version, month by month, with the state at each month
    boundary: :meth:`add` decides a new contact or no-show by inserting it into its month
    (:func:`_fold_in`) or refolding from its month."""

    def __init__(
        self,
        state: CaseState,
        cat: Catalogue,
        ctx: _Context,
        folds: dict[str, MonthFold],
        last_known: date | None,
    ) -> None:
        self.state = state
        self.cat = cat
        self._ctx = ctx
        self.folds = folds  # by month key, ascending
        self.last_known = last_known
        self.months = _bill(state, ctx, folds, last_known)

    @classmethod
    def full(cls, state: CaseState, entries: Iterable[Entry], cat: Catalogue) -> Fold:
        entries = list(entries)
        ctx = _Context(state, entries, cat)
        effective = sorted(
            (e for e in entries if not e.retracted and isinstance(e.fact, f.Contact | f.NoShow)),
            key=_fact_order,
        )
        by_month: dict[str, list[Entry]] = {}
        for e in effective:
            by_month.setdefault(month_key(e.occurred_on), []).append(e)
        folds: dict[str, MonthFold] = {}
        carry = Carry()
        for key in sorted(by_month):
            folds[key] = done = _fold_month(ctx, key, by_month[key], carry)
            carry = done.end
        last_known = effective[-1].occurred_on if effective else None
        return cls(state, cat, ctx, folds, last_known)

    def add(self, state: CaseState, entry: Entry) -> Fold:
        """This fold with one more contact or no-show (``entry``, not yet in it), for a case
        whose assignments are unchanged: the months before the entry's month are kept, the
        entry is inserted into its month where that decides no other fact anew
        (:func:`_fold_in`), else the month is refolded from the state carried into it, and
        later months are refolded only while the state carried into them differs from
        before."""
        ctx = self._ctx.with_state(state)
        key = month_key(entry.occurred_on)
        folds: dict[str, MonthFold] = {}
        carry = Carry()
        refold = False
        for k, old in self.folds.items():
            if not refold and k < key:
                folds[k] = old
                carry = old.end
                continue
            if not refold:
                refold = True
                if k > key:
                    folds[key] = done = _fold_month(ctx, key, [entry], carry)
                    carry = done.end
            if k == key:
                inserted = _fold_in(ctx, old, entry, carry)
                if inserted is None:
                    merged = list(old.entries)
                    bisect.insort(merged, entry, key=_fact_order)
                    inserted = _fold_month(ctx, k, merged, carry)
                folds[k] = done = inserted
            elif carry == old.start:
                folds[k] = done = old  # the same state carried in: the same month
            else:
                done = old.shifted(carry) or _fold_month(ctx, k, old.entries, carry)
                folds[k] = done
            carry = done.end
        if not refold:
            folds[key] = _fold_month(ctx, key, [entry], carry)
        last_known = (
            entry.occurred_on
            if self.last_known is None or entry.occurred_on > self.last_known
            else self.last_known
        )
        return Fold(state, self.cat, ctx, folds, last_known)

    def rebill(self, state: CaseState) -> Fold:
        """This fold for a later version of the case with the same facts decided (no new
        contact or no-show, the same assignments): only the period prices are billed anew
        (the start or end of care may have moved)."""
        if state is self.state:
            return self
        return Fold(state, self.cat, self._ctx.with_state(state), self.folds, self.last_known)

    def usage(self, fold: MonthFold) -> dict[tuple[str, int], tuple[int, int]]:
        """Declarable and beyond-volume minutes of one month per assignment (number,
        source version) valid on each decision's date, kept with the month."""
        if fold.usage is None:
            out: dict[tuple[str, int], tuple[int, int]] = {}
            for d in fold.month.decisions:
                a = self.state.assignment_on(d.occurred_on)
                if a is not None:
                    k = (a.assignment_number, a.source_version)
                    used, beyond = out.get(k, (0, 0))
                    out[k] = (used + d.declarable_minutes, beyond + d.beyond_volume_minutes)
            fold.usage = out
        return fold.usage


class _Seeded(dict[str, Decimal]):
    """Per month, the hourly amount the period prices are added to."""

    def __init__(self, folds: dict[str, MonthFold]) -> None:
        super().__init__()
        self.folds = folds

    def __missing__(self, key: str) -> Decimal:
        fold = self.folds.get(key)
        value = fold.total if fold is not None else Decimal(0)
        self[key] = value
        return value


class _SeededSources(dict[str, set[str]]):
    def __init__(self, folds: dict[str, MonthFold]) -> None:
        super().__init__()
        self.folds = folds

    def __missing__(self, key: str) -> set[str]:
        fold = self.folds.get(key)
        value = set(fold.sources) if fold is not None else set()
        self[key] = value
        return value


@dataclass(frozen=True, slots=True)
class _Billed:
    """The period prices billed for one start, end and last month of activity: per month
    the periods, the amount (added to the month's hourly amount it was seeded with), the
    price sources and whether a price was unknown."""

    periods: dict[str, str | None]
    totals: dict[str, Decimal]
    sources: dict[str, set[str]]
    unknown: set[str]
    #: the hourly amount and price sources of each month the billing added to
    seeds: dict[str, tuple[Decimal, frozenset[str]]]
    #: the folds those seeds were read from (a fold kept by a later version seeds alike)
    seeded: dict[str, MonthFold | None] = field(default_factory=dict)
    #: each billed month made from this billing and a fold: (the fold, the month), so a
    #: later version that keeps the fold keeps the month (the same object)
    made: dict[str, tuple[MonthFold | None, MonthConsumption]] = field(default_factory=dict)

    def holds(self, folds: dict[str, MonthFold]) -> bool:
        """Whether ``folds`` seed every billed month as the folds billed from did."""
        for k, v in self.seeds.items():
            fold = folds.get(k)
            if fold is not self.seeded.get(k) and _seed(fold) != v:
                return False
        return True


def _seed(fold: MonthFold | None) -> tuple[Decimal, frozenset[str]]:
    return (fold.total, frozenset(fold.sources)) if fold is not None else (Decimal(0), frozenset())


def _bill(
    state: CaseState, ctx: _Context, folds: dict[str, MonthFold], last_known: date | None
) -> dict[str, MonthConsumption]:
    """The months of the fold plus the result-financing period prices (R-02), which depend
    on the start and end of care and on the last recorded fact, not on each fact (kept per
    case while those stay the same)."""
    if state.started_on is None:
        return {k: fold.month for k, fold in folds.items()}
    key = (state.started_on, state.ended_on, month_key(last_known) if last_known else None)
    billed = ctx.billed.get(key)
    if billed is None or not billed.holds(folds):
        billed = ctx.billed[key] = _bill_periods(state, ctx, folds, last_known)
    months = {k: fold.month for k, fold in folds.items()}
    if not billed.periods:
        return months
    made = billed.made
    for k, periods in billed.periods.items():
        fold = folds.get(k)
        kept = made.get(k)
        if kept is not None and kept[0] is fold:
            months[k] = kept[1]
            continue
        base = fold.month if fold is not None else MonthConsumption(month=k, financing="result")
        month = msgspec.structs.replace(base, periods_billed=periods)
        used = billed.sources[k]
        month.price_source = "mixed" if len(used) > 1 else next(iter(used), "none")
        month.amount_due = _amount_due(
            month,
            billed.totals[k] if k in billed.totals else _seed(fold)[0],
            used,
            k in billed.unknown or (fold is not None and fold.unknown),
        )
        made[k] = (fold, month)
        months[k] = month
    return dict(sorted(months.items()))


def _bill_periods(
    state: CaseState, ctx: _Context, folds: dict[str, MonthFold], last_known: date | None
) -> _Billed:
    billing = _Ledger()
    totals = _Seeded(folds)
    sources = _SeededSources(folds)
    unknown: set[str] = set()
    assert state.started_on is not None
    for a in state.assignments:
        product = ctx.product(a.product)
        if product is None or product.financing != "result":
            continue
        start = max(a.starts_on, state.started_on)
        end = min(a.until, state.ended_on) if state.ended_on else a.until
        # Months are billed through the month of the last recorded activity (or the
        # end): later months are not settled yet.
        known = last_known or start
        end = min(end, max(month_bounds(month_key(known))[1], state.ended_on or start))
        if end < start:
            continue
        _bill_result(billing, a, start, end, ctx.cat, totals, sources, unknown)
    return _Billed(
        periods={k: m.periods_billed for k, m in billing.months.items()},
        totals=dict(totals),
        sources=dict(sources),
        unknown=unknown,
        seeds={k: _seed(folds.get(k)) for k in set(totals) | set(sources)},
        seeded={k: folds.get(k) for k in set(totals) | set(sources)},
    )


def consumption(
    state: CaseState, entries: Iterable[Entry], cat: Catalogue
) -> dict[str, MonthConsumption]:
    """Every month with activity or billing, keyed ``YYYY-MM``."""
    return Fold.full(state, entries, cat).months


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
        per_allocation[key] = per_allocation.get(key, 0) + 1
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
