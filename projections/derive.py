"""Everything one case version implies, derived once: the one place the read models and the
live reads (a case ``as_of`` an instant, a dispute replay, KPIs replayed) get a case
version's consumption, summary, KPI items, entitlements and signals from.

:func:`derive` is a pure function of the case version (its state, its effective facts and
the tenant's catalogue). Given the :class:`Derived` of the version before, it costs what the
new fact can change, not the whole history:

- a contact or no-show keeps the consumption of the months before its month and refolds
  from that month on, starting from the state the fold carried into it (R-11, R-13, R-16,
  R-17 carry across months: ``projections.consumption.Fold``); its month's counts are added
  to the summary's, and the summary and KPI items are the version before's with only the
  months the fold made anew set again (the state and evaluations are the same);
- any other new fact that leaves the assignments as they were keeps every month's decisions
  and only bills the result-financed period prices anew (R-02: they follow the start and
  end of care);
- a new, changed, extended or withdrawn assignment, a correction, a retraction or another
  catalogue derives the version in full (corrections of old facts may cost more; an
  ordinary contact may not).

Entitlements and signals are derived on first use (the projections need them for a case's
last version in a batch only); the entitlement's hours used are summed once per month and
kept with the month. The incremental derivation equals the full one (a hypothesis property,
tests/unit/projections/test_derive.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import msgspec

from domain import facts as f
from domain.catalogue import Catalogue
from domain.state import CaseState, Entry
from projections.consumption import Fold, MonthConsumption, month_key
from projections.declarations import DeclarationLine, declaration_lines
from projections.entitlement import AssignmentView, entitlements
from projections.kpi_cells import Items, items_after
from projections.kpi_cells import items as kpi_items
from projections.kpis import CaseSummary, FactCounts, count_fact, count_facts, summary
from projections.signals import Signal, signals

_encode = msgspec.json.Encoder().encode


class Derived:
    """What one case version implies (see the module). Treat it as read-only: the next
    version's derivation shares its unchanged months."""

    __slots__ = (
        "_changed",
        "_declaration_lines",
        "_entitlements",
        "_items",
        "_items_before",
        "_signals",
        "case_id",
        "cat",
        "counts",
        "entries",
        "fold",
        "from_previous",
        "length",
        "others",
        "state",
        "summary",
        "version",
    )

    def __init__(
        self,
        case_id: str,
        state: CaseState,
        entries: Sequence[Entry],
        cat: Catalogue,
        version: int,
        fold: Fold,
        counts: FactCounts,
        others: list[Entry],
        from_previous: bool = False,
        items_before: tuple[CaseSummary, Items] | None = None,
        previous: Derived | None = None,
    ) -> None:
        self.case_id = case_id
        self.state = state
        #: the case's entries; only the first ``length`` belong to this version (a later
        #: version of the same case may append to the same list)
        self.entries = entries
        self.length = len(entries)
        self.cat = cat
        self.version = version
        self.fold = fold
        self.counts = counts
        #: the effective facts other than contacts and no-shows (those are in the months)
        self.others = others
        #: derived from the version before (else in full)
        self.from_previous = from_previous
        #: the months whose counts or amount may differ from ``previous``'s (None: any)
        self._changed: list[str] | None = None
        if previous is not None and _same_frame(previous, state, counts):
            self.summary: CaseSummary = self._summary_after(previous, entries[-1])
        else:
            self.summary = summary(case_id, state, cat, version, fold.months, counts)
        self._items: Items | None = None
        #: the summary and KPI items of the version before, when known (dropped once used)
        self._items_before = items_before
        self._entitlements: list[AssignmentView] | None = None
        self._signals: list[Signal] | None = None
        self._declaration_lines: list[DeclarationLine] | None = None

    def _summary_after(self, previous: Derived, entry: Entry) -> CaseSummary:
        """``summary(...)`` of this version from the version before's, whose state and
        evaluations it shares: only the monthly counts and amounts can differ, and only in
        the months the fold made anew (and the new fact's month)."""
        months, before = self.fold.months, previous.fold.months
        before_summary = previous.summary
        cost = before_summary.cost
        changed = [k for k, m in months.items() if before.get(k) is not m]
        if len(months) != len(before) or any(k not in cost for k in changed):
            # a month came or went: made in the months' order, as ``summary`` does
            cost = {k: m.amount_due for k, m in months.items()}
            changed.extend(k for k in before if k not in months)
        elif changed:
            cost = dict(cost)
            for k in changed:
                cost[k] = months[k].amount_due
        if isinstance(entry.fact, f.Contact | f.NoShow):
            changed.append(month_key(entry.occurred_on))
        self._changed = changed
        return msgspec.structs.replace(
            before_summary,
            contacts=dict(self.counts.contacts),
            no_shows=dict(self.counts.no_shows),
            cost=cost,
            version=self.version,
        )

    @property
    def months(self) -> dict[str, MonthConsumption]:
        """Consumption per month (``projections.consumption``), keyed ``YYYY-MM``."""
        return self.fold.months

    def month_docs(self) -> list[tuple[MonthConsumption, str]]:
        """Each month with its JSON document; a month kept from an earlier version keeps
        its document too."""
        out = []
        for key, month in self.months.items():
            fold = self.fold.folds.get(key)
            if fold is None or fold.month is not month:  # with a period price: this version's
                out.append((month, _encode(month).decode()))
                continue
            if fold.doc is None:
                fold.doc = _encode(month).decode()
            out.append((month, fold.doc))
        return out

    @property
    def items(self) -> Items:
        """What this version contributes to the KPI cells (``projections.kpi_cells``)."""
        if self._items is None:
            if self._items_before is not None:
                self._items = items_after(*self._items_before, self.summary, self._changed)
                self._items_before = None
            else:
                self._items = kpi_items(self.summary)
        return self._items

    def _own_entries(self) -> Sequence[Entry]:
        return self.entries[: self.length]

    @property
    def entitlements(self) -> list[AssignmentView]:
        """Every assignment with its hours granted, used and left (``projections.entitlement``)."""
        if self._entitlements is None:
            self._entitlements = entitlements(
                self.state,
                self._own_entries(),
                self.cat,
                months=self.months,
                usage=[self.fold.usage(m) for m in self.fold.folds.values()],
            )
        return self._entitlements

    def entitlements_on(self, day: date) -> list[AssignmentView]:
        """The entitlements counting only the facts dated up to ``day``."""
        return entitlements(self.state, self._own_entries(), self.cat, day, months=self.months)

    @property
    def signals(self) -> list[Signal]:
        """The case's signals (``projections.signals``)."""
        if self._signals is None:
            self._signals = signals(self.state, self.others, self.cat, self.months, self.fold.folds)
        return self._signals

    @property
    def declaration_lines(self) -> list[DeclarationLine]:
        """The case's declaration lines (``projections.declarations``)."""
        if self._declaration_lines is None:
            self._declaration_lines = declaration_lines(
                self.case_id, self.state, self._own_entries(), self.cat, self.months,
                self.fold.folds,
            )  # fmt: skip
        return self._declaration_lines


def derive(
    case_id: str,
    state: CaseState,
    entries: Sequence[Entry],
    cat: Catalogue,
    version: int,
    previous: Derived | None = None,
) -> Derived:
    """What case version ``version`` (``state`` and ``entries``, in version order) implies;
    from ``previous`` (the same case's version before) where the new fact allows it."""
    if previous is not None and _follows(previous, case_id, state, entries, cat, version):
        entry = entries[-1]
        counts = count_fact(previous.counts, entry, cat)
        if isinstance(entry.fact, f.Contact | f.NoShow):
            fold = previous.fold.add(state, entry)
            others = previous.others
        else:
            fold = previous.fold.rebill(state)
            others = [*previous.others, entry]
        before = (previous.summary, previous._items) if previous._items is not None else None
        return Derived(
            case_id,
            state,
            entries,
            cat,
            version,
            fold,
            counts,
            others,
            from_previous=True,
            items_before=before,
            previous=previous,
        )
    effective = [e for e in entries if not e.retracted]
    return Derived(
        case_id,
        state,
        entries,
        cat,
        version,
        Fold.full(state, effective, cat),
        count_facts(effective, cat),
        [e for e in effective if not isinstance(e.fact, f.Contact | f.NoShow)],
    )


def _same_frame(previous: Derived, state: CaseState, counts: FactCounts) -> bool:
    """Whether a version's summary can differ from ``previous``'s only in its monthly
    counts and amounts: the same state (a contact or no-show leaves it as it was) and the
    same evaluations."""
    return state is previous.state and counts.evaluations is previous.counts.evaluations


#: facts that move the allocation periods of R-13 (``consumption._extended_ends``)
_PERIODS = (f.Indication, f.AwbzConversion, f.Extension)


def _follows(
    previous: Derived,
    case_id: str,
    state: CaseState,
    entries: Sequence[Entry],
    cat: Catalogue,
    version: int,
) -> bool:
    """Whether this version is ``previous`` plus one appended fact that leaves every
    assignment (and so every decision's rule) as it was."""
    if (
        previous.case_id != case_id
        or previous.version != version - 1
        or previous.cat is not cat
        or len(entries) != previous.length + 1
    ):
        return False
    entry = entries[-1]
    return (
        entry.version == version
        and not entry.retracted
        and not isinstance(entry.fact, _PERIODS)
        and state.assignments == previous.state.assignments
    )
