"""The contract catalogue: products, financing, limits, caps and prices as versioned data.

Rules that change by contract or year live in one TOML file per tenant (region) beside this
module, never in code. Each entry carries its validity, so a replay of a 2016 event uses the
2016 entry. Files are decoded with msgspec against the Structs below; a bad file stops
start-up with a :class:`CatalogueError` naming the file, the field and the problem.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import date
from decimal import Decimal
from functools import cache, cached_property
from pathlib import Path
from typing import Literal, TypeVar

import msgspec

from domain.errors import RuleViolation
from domain.values import Unit

CATALOGUE_DIR = Path(__file__).parent

Financing = Literal["result", "hourly"]
Segment = Literal["ambulant", "mo"]
NoShowRule = Literal["never", "always", "capped"]
PricePer = Literal["four_weeks", "week", "month", "hour"]
Settlement = Literal["four_weeks", "month"]


class Entry(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Something valid from ``valid_from`` up to and including ``valid_until``."""

    valid_from: date
    valid_until: date | None = None

    def valid_on(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_until is None or day <= self.valid_until)


class Price(Entry, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A price per client per period (result financing) or per hour (hourly)."""

    amount: Decimal
    surcharge_amount: Decimal | None = None
    per: PricePer
    settled: Settlement | None = None
    source: str


class IwmoCode(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A product's iWmo 3.2 ``Categorie`` + ``Code`` (begeleiding is category ``02``).

    ``example``: no code is given by the contract (SDD's IB products); the value is an
    invented placeholder a region must replace with its own regional code (docs/iwmo.md)."""

    category: str
    code: str
    example: bool = False


class ProviderCode(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A provider (the ``provider`` id in tokens and cases) and its 8-digit AGB code."""

    id: str
    agb: str
    example: bool = False


class Product(Entry, frozen=True, kw_only=True, forbid_unknown_fields=True):
    code: str
    name: str
    financing: Financing
    segment: Segment = "ambulant"
    units: list[Unit]
    #: The rule a date outside the validity is refused under (e.g. R-04 for IB0).
    validity_rule: str = "C-03"
    #: Intensity within a financing family (IB0 < IB1 < IB2 < IB3): a move to a lower level
    #: is a scale-down (afschaling), to a higher one a scale-up (R-25).
    level: int | None = None
    min_months: int | None = None
    max_months: int | None = None
    #: How an extension relates to ``max_months``: ``within_max`` keeps the whole allocation
    #: within it (02A03, 02A04), ``new_period`` opens a new allocation period (02A05).
    extension: Literal["none", "within_max", "new_period"] = "new_period"
    no_show: NoShowRule | None = None
    no_show_cap: int | None = None
    surcharge_allowed: bool = False
    prices: list[Price] = []
    source: str
    # --- issue 13: settlement and duration behaviour as data --------------------------
    #: R-02: a product settled by its own period instead of the tenant's settlement rule
    #: (IB MO: a fixed tariff per person per calendar month, 002).
    settlement_period: Literal["month"] | None = None
    #: C-05 signal: warn this many months before ``max_months`` is reached (02A03).
    max_warning_months: int | None = None
    #: C-05 signal: an interim evaluation with the consultant is due after this many months,
    #: closed by an interim evaluation (02A04: 6 months).
    interim_evaluation_months: int | None = None
    #: C-05 signal: "in principle" at most this long; after it a risk analysis and follow-up
    #: plan are due (02A04: 12 months; a signal, not a refusal).
    review_after_months: int | None = None
    #: iWmo 3.2 product code (outgoing messages, declarations; inbound mapping).
    iwmo: IwmoCode | None = None

    def price_on(self, day: date) -> Price | None:
        return next((p for p in self.prices if p.valid_on(day)), None)


class Caps(Entry, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """R-11 indirect share of client-bound time and R-16 digital share of direct time."""

    indirect_max_share: Decimal
    digital_max_share: Decimal
    source: str


class SettlementRule(Entry, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """R-02: how result financing is counted (``period``) and settled (``settled``)."""

    period: Literal["four_weeks", "week"]
    settled: Settlement
    source: str


class Conversion(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """R-05: AWBZ class 1-2 to the low product, class 3+ to the high product."""

    effective_on: date
    low_classes_up_to: int
    low_product: str
    high_product: str
    surcharge_codes: list[str]
    source: str


class Targeting(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """R-23: the ZRM scores individual guidance works on. ``target_scores`` (2 and 3) in
    general; score 1 (acute) only in ``acute_domains``; a domain in ``linked_only`` only
    when one of the listed domains is scored as well (Justitie: linked to mental health or
    addiction)."""

    target_scores: list[int]
    acute_domains: list[str] = []
    linked_only: dict[str, list[str]] = {}
    source: str


class Catalogue(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, dict=True):
    """A tenant's contract catalogue (immutable). ``dict=True`` only to hold lookups computed
    on first use (``_by_code``, ``known_prices``, ``_settlements``, ``_caps``): they are not
    fields, so they are never encoded, compared or replaced with the catalogue."""

    tenant: str
    version: str
    municipalities: list[str]
    products: list[Product]
    caps: list[Caps] = []
    settlements: list[SettlementRule] = []
    conversion: Conversion | None = None
    intake_within_days: int = 14
    decision_within_days: int = 56
    lasting_outflow_months: int = 12
    no_show_notice_hours: int = 24
    #: Signals that come from the tenant's contract rather than the law: R-14 (no-show
    #: streak) and R-15 (intake within ``intake_within_days``) are ZOU rules (004).
    contract_signals: list[Literal["R-14", "R-15"]] = []
    #: R-23 targeting of the ZRM domains, a signal on evaluations where defined (SDD).
    targeting: Targeting | None = None
    #: iWmo mapping: municipality name -> 4-digit CBS gemeentecode.
    gemeentecodes: dict[str, str] = {}
    #: iWmo mapping: provider id -> AGB code.
    providers: list[ProviderCode] = []
    #: Invented hourly tariffs per product code, for demo data only: attached by
    #: ``Catalogues.load(example_tariffs=True)``, never written in a catalogue file.
    example_prices: dict[str, list[Price]] = {}

    def with_example_tariffs(self, path: Path | None = None) -> Catalogue:
        """This catalogue with the invented demo tariffs of its tenant attached (amounts
        computed from them say ``price_source = "example"``)."""
        tariffs = load_example_tariffs(path)
        mine = {product: prices for (t, product), prices in tariffs.items() if t == self.tenant}
        return msgspec.structs.replace(self, example_prices=mine)

    @cached_property
    def _by_code(self) -> dict[str, list[Product]]:
        out: dict[str, list[Product]] = {}
        for p in self.products:
            out.setdefault(p.code, []).append(p)
        return out

    @cached_property
    def known_prices(self) -> dict[tuple[str, date], tuple[Price | None, str]]:
        """``projections.pricing.price_on`` by (product, day), filled on first use (a fold
        asks it for every declarable fact)."""
        return {}

    def product(self, code: str, on: date) -> Product:
        """The product ``code`` in force on ``on``; refused when unknown or not valid then."""
        versions = self._by_code.get(code, [])
        if not versions:
            raise RuleViolation("C-03", f"product {code!r} is not in the {self.tenant} catalogue")
        for p in versions:
            if p.valid_on(on):
                return p
        rule = versions[0].validity_rule
        spans = ", ".join(f"{p.valid_from}..{p.valid_until or ''}" for p in versions)
        raise RuleViolation(rule, f"product {code} is not valid on {on} (valid {spans})")

    def product_any(self, code: str) -> Product | None:
        """The latest entry for ``code`` regardless of date (for classification only)."""
        versions = self._by_code.get(code)
        return versions[-1] if versions else None

    def gemeentecode(self, municipality: str) -> str | None:
        return self.gemeentecodes.get(municipality)

    def municipality_for_code(self, gemeentecode: str) -> str | None:
        return next((m for m, c in self.gemeentecodes.items() if c == gemeentecode), None)

    def agb(self, provider: str) -> str | None:
        return next((p.agb for p in self.providers if p.id == provider), None)

    def provider_for_agb(self, agb: str) -> str | None:
        return next((p.id for p in self.providers if p.agb == agb), None)

    def product_for_iwmo(self, category: str, code: str, on: date) -> Product | None:
        """The catalogue product carrying iWmo ``category`` + ``code`` in force on ``on``."""
        return next(
            (
                p
                for p in self.products
                if p.iwmo and (p.iwmo.category, p.iwmo.code) == (category, code) and p.valid_on(on)
            ),
            None,
        )

    def caps_on(self, day: date) -> Caps | None:
        """The R-11 / R-16 caps in force on ``day`` (remembered per day: the hour accounting
        asks it for every indirect and digital contact)."""
        return _in_force(self._caps, self.caps, day)

    @cached_property
    def _caps(self) -> dict[date, Caps | None]:
        return {}

    def settlement_on(self, day: date) -> SettlementRule | None:
        return _in_force(self._settlements, self.settlements, day)

    @cached_property
    def _settlements(self) -> dict[date, SettlementRule | None]:
        """``settlement_on`` by day, filled on first use (billing asks it for every period)."""
        return {}


_E = TypeVar("_E", bound=Entry)


def _in_force(known: dict[date, _E | None], entries: Sequence[_E], day: date) -> _E | None:
    """The first of ``entries`` valid on ``day``, remembered in ``known``."""
    if day not in known:
        known[day] = next((e for e in entries if e.valid_on(day)), None)
    return known[day]


class CatalogueError(Exception):
    """A catalogue file is unreadable or inconsistent; start-up stops."""

    def __init__(self, path: Path, field: str, problem: str) -> None:
        super().__init__(f"{path}: {field}: {problem}")
        self.path, self.field, self.problem = path, field, problem


def load_file(path: Path) -> Catalogue:
    """Decode and check one catalogue file."""
    try:
        cat = msgspec.toml.decode(path.read_bytes(), type=Catalogue)
    except msgspec.ValidationError as e:
        # msgspec says "Expected `int`, got `str` - at `$.products[0].max_months`".
        problem, _, where = str(e).partition(" - at ")
        raise CatalogueError(path, where.strip("`") or "$", problem) from None
    except (msgspec.DecodeError, OSError) as e:
        raise CatalogueError(path, "$", str(e)) from None
    _check_consistency(path, cat)
    return cat


def _check_consistency(path: Path, cat: Catalogue) -> None:
    def spans(entries: Iterable[Entry], where: str) -> None:
        ordered = sorted(entries, key=lambda e: e.valid_from)
        for i, e in enumerate(ordered):
            if e.valid_until is not None and e.valid_until < e.valid_from:
                raise CatalogueError(path, where, f"valid_until {e.valid_until} < valid_from")
            nxt = ordered[i + 1] if i + 1 < len(ordered) else None
            if nxt and (e.valid_until is None or e.valid_until >= nxt.valid_from):
                raise CatalogueError(path, where, f"validity overlaps at {nxt.valid_from}")

    for code in {p.code for p in cat.products}:
        versions = [p for p in cat.products if p.code == code]
        spans(versions, f"$.products[code={code}]")
        for p in versions:
            spans(p.prices, f"$.products[code={code}].prices")
            if p.no_show == "capped" and not p.no_show_cap:
                raise CatalogueError(path, f"$.products[code={code}].no_show_cap", "required")
            if p.financing == "hourly" and not set(p.units) <= {"hour", "minute"}:
                raise CatalogueError(path, f"$.products[code={code}].units", "hourly units")
    _check_iwmo_codes(path, cat)
    spans(cat.caps, "$.caps")
    spans(cat.settlements, "$.settlements")
    if cat.conversion:
        for code in (cat.conversion.low_product, cat.conversion.high_product):
            if code not in {p.code for p in cat.products}:
                raise CatalogueError(path, "$.conversion", f"unknown product {code}")


def _check_iwmo_codes(path: Path, cat: Catalogue) -> None:
    """iWmo mapping codes: well-formed, known names, one meaning per code."""
    for name, code in cat.gemeentecodes.items():
        if name not in cat.municipalities:
            raise CatalogueError(path, f"$.gemeentecodes.{name}", "not one of municipalities")
        if not re.fullmatch(r"\d{4}", code):
            raise CatalogueError(path, f"$.gemeentecodes.{name}", "a gemeentecode is 4 digits")
    if len(set(cat.gemeentecodes.values())) != len(cat.gemeentecodes):
        raise CatalogueError(path, "$.gemeentecodes", "a gemeentecode is used twice")
    for i, pc in enumerate(cat.providers):
        if not re.fullmatch(r"\d{8}", pc.agb):
            raise CatalogueError(path, f"$.providers[{i}].agb", "an AGB code is 8 digits")
    for attr in ("id", "agb"):
        values = [getattr(pc, attr) for pc in cat.providers]
        if len(set(values)) != len(values):
            raise CatalogueError(path, f"$.providers.{attr}", "used twice")
    owner: dict[tuple[str, str], str] = {}
    for p in cat.products:
        if p.iwmo is None:
            continue
        where = f"$.products[code={p.code}].iwmo"
        if not re.fullmatch(r"\d{2}", p.iwmo.category):
            raise CatalogueError(path, where + ".category", "2 digits (begeleiding: 02)")
        if not re.fullmatch(r"[0-9A-Z]{5}", p.iwmo.code):
            raise CatalogueError(path, where + ".code", "5 characters [0-9A-Z]")
        key = (p.iwmo.category, p.iwmo.code)
        if owner.setdefault(key, p.code) != p.code:
            raise CatalogueError(path, where, f"{p.iwmo.code} also maps {owner[key]}")


class Catalogues:
    """All tenants' catalogues, loaded once."""

    def __init__(self, catalogues: Iterable[Catalogue]) -> None:
        self._by_tenant = {c.tenant: c for c in catalogues}

    @property
    def tenants(self) -> list[str]:
        return sorted(self._by_tenant)

    def for_tenant(self, tenant: str) -> Catalogue:
        try:
            return self._by_tenant[tenant]
        except KeyError:
            raise RuleViolation("C-03", f"tenant {tenant!r} has no catalogue") from None

    def by_gemeentecode(self, gemeentecode: str) -> tuple[Catalogue, str] | None:
        """The tenant and municipality an iWmo gemeentecode belongs to (None: unknown)."""
        for cat in self._by_tenant.values():
            name = cat.municipality_for_code(gemeentecode)
            if name is not None:
                return cat, name
        return None

    @classmethod
    def load(cls, directory: Path | None = None, *, example_tariffs: bool = False) -> Catalogues:
        """The catalogue files of ``directory`` (the bundled ones by default); with
        ``example_tariffs``, each carries the invented demo tariffs of its tenant. The
        application decides both from its settings: the domain reads no environment."""
        directory = directory or CATALOGUE_DIR
        files = sorted(p for p in directory.glob("*.toml") if not p.name.startswith("example"))
        if not files:
            raise CatalogueError(directory, "$", "no catalogue files (*.toml)")
        cats = [load_file(p) for p in files]
        seen: dict[str, Path] = {}
        for path, c in zip(files, cats, strict=True):
            if c.tenant in seen:
                raise CatalogueError(path, "$.tenant", f"{c.tenant} also in {seen[c.tenant]}")
            if c.example_prices:
                raise CatalogueError(path, "$.example_prices", "not a catalogue file's field")
            seen[c.tenant] = path
        if example_tariffs:
            cats = [c.with_example_tariffs() for c in cats]
        return cls(cats)


@cache
def default_catalogues() -> Catalogues:
    return Catalogues.load()


class _Tariff(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    tenant: str
    product: str
    prices: list[Price]


class _TariffFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    note: str
    tariffs: list[_Tariff]


def load_example_tariffs(path: Path | None = None) -> dict[tuple[str, str], list[Price]]:
    """Example hourly tariffs for demo data only (the seeds name no such prices).

    Keyed by (tenant, product code)."""
    path = path or CATALOGUE_DIR / "example-tariffs.toml"
    data = msgspec.toml.decode(path.read_bytes(), type=_TariffFile)
    return {(t.tenant, t.product): t.prices for t in data.tariffs}
