"""What the inbound handlers share: a message in caselog's terms, a unit of accepted parts
saved together, a refusal with its retour code, and the conversions of iWmo values."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from uuid import UUID

from domain import facts as f
from domain.case import Case
from domain.catalogue import Catalogue
from domain.values import FREQUENCY_CODES, UNIT_CODES, Actor, Volume
from iwmo import messages as m
from iwmo import retour as r

Step = Callable[[Case, Catalogue, Actor], None]
UNITS = {v: k for k, v in UNIT_CODES.items()}
FREQUENCIES = {v: k for k, v in FREQUENCY_CODES.items()}
#: RedenBeeindiging -> where the client goes (the JSON API's ``destination``).
DESTINATIONS = {"38": "other_provider", "39": "other_domain"}
#: Lifecycle rules whose refusal has a retour code of its own; any other rule: 0001.
RULE_CODES = {"R-20": r.NOT_LINKED}


class Refused(Exception):
    """A message part refused, with the WJ001 retour code that says why."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(detail or r.MEANING.get(code, code))
        self.code = code


@dataclass
class Message:
    """One inbound message in caselog's terms."""

    actor: Actor
    cat: Catalogue
    message: m.Bericht
    municipality: str
    provider: str
    today: date

    @property
    def key(self) -> str:
        header = self.message.header  # type: ignore[attr-defined]
        return f"iwmo:{header.afzender}:{header.bericht_identificatie.identificatie}"

    @property
    def dagtekening(self) -> date:
        return self.message.header.bericht_identificatie.dagtekening  # type: ignore[attr-defined]


@dataclass
class Unit:
    """The accepted parts of one client on one case, saved together."""

    case_id: UUID
    case: Case
    referral: f.Referral | None = None
    steps: list[Step] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    assignments: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    seen: bool = False  # the unit was applied before (a resend after a crash)


def volume_of(omvang: m.Omvang | None) -> Volume:
    if omvang is None:
        raise Refused(r.TECHNICAL, "a Budget (euros) is not supported; an Omvang is needed")
    unit = UNITS.get(omvang.eenheid)
    frequency = FREQUENCIES.get(omvang.frequentie)
    if unit is None or frequency is None:
        raise Refused(r.TECHNICAL, f"Eenheid {omvang.eenheid} has no caselog unit")
    return Volume(amount=Decimal(omvang.volume), unit=unit, frequency=frequency)


def latest_version(case: Case, event_type: str, attr: str, day: date) -> int | None:
    """The version of the last counting ``event_type`` whose fact has ``attr == day``."""
    for entry in reversed(case.entries):
        counts = entry.event_type == event_type and not entry.retracted
        if counts and getattr(entry.fact, attr) == day:
            return entry.version
    return None
