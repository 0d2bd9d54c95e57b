"""Value types shared by events, the catalogue and the wire.

All are frozen msgspec Structs so that the same type validates API input, travels inside an
event payload and decodes from the event store without a second schema.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

import msgspec

Role = Literal["municipality", "provider", "contract_manager", "auditor", "system"]

#: iWmo 3.2 Omvang.Eenheid (WMO757), by name; the iWmo code is in UNIT_CODES.
Unit = Literal["minute", "hour", "day_part", "piece_output", "euro", "piece_effort"]
UNIT_CODES: dict[str, str] = {
    "minute": "01",
    "hour": "04",
    "day_part": "16",
    "piece_output": "82",
    "euro": "83",
    "piece_effort": "84",
}
#: iWmo 3.2 Omvang.Frequentie (WMO756).
Frequency = Literal["day", "week", "month", "total", "four_weeks"]
FREQUENCY_CODES: dict[str, str] = {"day": "1", "week": "2", "month": "4", "total": "6"}

ContactKind = Literal["direct", "indirect", "group"]
Channel = Literal["in_person", "digital"]
EvaluationKind = Literal["periodic", "interim", "final"]
ChangeKind = Literal["scale_up", "scale_down", "extension"]
Destination = Literal[
    "none",
    "general_provision",
    "lighter_product",
    "heavier_care",
    "other_provider",
    "other_domain",
]
#: iWmo RedenBeeindiging (WMO588) codes accepted on an end of care.
EndReason = Literal["02", "19", "20", "21", "22", "23", "31", "36", "37", "38", "39"]
END_REASONS: dict[str, str] = {
    "02": "overlijden",
    "19": "volgens plan beëindigd",
    "20": "tijdelijk beëindigd",
    "21": "eenzijdig door cliënt",
    "22": "eenzijdig door aanbieder",
    "23": "in overeenstemming voortijdig",
    "31": "verhuizing",
    "36": "geïnitieerd door gemeente",
    "37": "i.v.m. wijzigingsverzoek",
    "38": "andere aanbieder",
    "39": "uitstroom ander domein",
}

#: R-24: the ZRM (Zelfredzaamheidsmatrix) domains, as API keys.
ZRM_DOMAINS: tuple[str, ...] = (
    "financien",
    "werk_en_opleiding",
    "tijdsbesteding",
    "huisvesting",
    "huiselijke_relaties",
    "geestelijke_gezondheid",
    "lichamelijke_gezondheid",
    "middelengebruik",
    "basale_adl",
    "instrumentele_adl",
    "sociaal_netwerk",
    "maatschappelijke_participatie",
    "justitie",
)

# Shared constraints. The aggregate checks the same limits again (with rule ids) so the
# domain is safe when used without the HTTP edge.
Ref = Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._:\-/]+$")]
Text = Annotated[str, msgspec.Meta(max_length=4000)]
ShortText = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class Actor(msgspec.Struct, frozen=True, kw_only=True):
    """Who did it: the token's subject and role, the tenant (region) and, for providers,
    the provider. ``note`` is the optional X-Audit-Toelichting given with the request;
    ``request_key`` the client's Idempotency-Key (scoped by ``sub``), kept with the event so
    the case itself refuses to apply one request twice, even across a crash."""

    sub: str
    role: Role
    tenant: str
    provider: str | None = None
    note: str | None = None
    request_key: str | None = None


class Volume(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """iWmo Omvang: amount + unit + frequency (e.g. 4 hour per week)."""

    amount: Decimal  # > 0, checked by domain.rules.check_product (C-06)
    unit: Unit
    frequency: Frequency


class Goal(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A result to reach on one ZRM life domain (R-22)."""

    domain: str
    result: Text


def bsn_is_valid(bsn: str) -> bool:
    """The BSN eleven-check (elfproef): 9 digits, sum of d_i * (9 - i) for the first eight
    minus the last digit divisible by 11, and not all zeros. The one check used by the
    client registry and the iWmo messages."""
    if len(bsn) != 9 or not bsn.isdigit() or bsn == "000000000":
        return False
    digits = [int(c) for c in bsn]
    total = sum(d * (9 - i) for i, d in enumerate(digits[:8])) - digits[8]
    return total % 11 == 0
