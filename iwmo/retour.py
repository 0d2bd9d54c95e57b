"""Retour messages: caselog's answer to an inbound message, with the WJ001 retour codes.

A message whose every part was accepted is answered by the retour header alone with
``0200`` (IV028). Otherwise the whole message comes back with codes on every part: the
code of the rule that refused a part, ``0200`` for accepted parts and ``0233`` for parts
inside a refused one (not judged).
"""

from __future__ import annotations

import hashlib
from datetime import date

from iwmo.messages import KINDS, Bericht, BerichtIdentificatie, Retour, RetourHeader

ACCEPTED = "0200"
NOT_JUDGED = "0233"
TECHNICAL = "0001"
DAGTEKENING_IN_FUTURE = "8848"
IDENTIFICATIE_NOT_UNIQUE = "9056"
UNKNOWN_GEMEENTE = "S300"
UNKNOWN_PRODUCT = "S329"
TOEWIJZING_NOT_UNIQUE = "9332"
REFERENTIE_UNKNOWN = "9379"
NOT_LINKED = "9019"
RECEIVED_BEFORE = "9074"
NOT_STOPPED = "9326"
NO_CURRENT_START = "9069"
START_ALREADY_ENDED = "9071"
NOT_CURRENT_ASSIGNMENT = "9351"

#: What each code caselog sets means (docs/iwmo.md lists them with the reason).
MEANING: dict[str, str] = {
    ACCEPTED: "no remark: accepted",
    NOT_JUDGED: "not judged: an enclosing part was refused",
    TECHNICAL: "refused: a caselog lifecycle rule refused it (the log names the rule)",
    DAGTEKENING_IN_FUTURE: "Dagtekening lies after today",
    IDENTIFICATIE_NOT_UNIQUE: "Identificatie was used before for another message",
    UNKNOWN_GEMEENTE: "gemeentecode unknown in this region",
    UNKNOWN_PRODUCT: "product code unknown in the catalogue",
    TOEWIJZING_NOT_UNIQUE: "ToewijzingNummer belongs to another client's case",
    REFERENTIE_UNKNOWN: "ReferentieAanbieder names no request",
    NOT_LINKED: "cannot be linked to an assignment",
    RECEIVED_BEFORE: "the same key was received before",
    NOT_STOPPED: "the current delivery was not stopped yet",
    NO_CURRENT_START: "no current start with the same key",
    START_ALREADY_ENDED: "the start cannot be withdrawn: care has ended",
    NOT_CURRENT_ASSIGNMENT: "the product to change is not a current assignment",
}


def retour_id(message: Bericht) -> str:
    """The retour's own Identificatie: 12 characters derived from the message's sender and
    Identificatie, so the answer to a resend is the same message."""
    header = message.header  # type: ignore[attr-defined]
    seed = f"{message.KIND}:{header.afzender}:{header.bericht_identificatie.identificatie}"
    return "R" + hashlib.sha256(seed.encode()).hexdigest()[:11].upper()


def build(
    message: Bericht,
    *,
    today: date,
    header_codes: tuple[str, ...] = (ACCEPTED,),
    codes: dict[str, tuple[str, ...]] | None = None,
) -> Retour:
    """The retour of ``message``. ``codes`` maps a part's element path to its codes; with
    none other than ``0200`` (and an accepted header) the retour is the header alone."""
    header = message.header  # type: ignore[attr-defined]
    kind = KINDS[message.KIND][2]
    retour_header = RetourHeader(
        bericht_code=KINDS[message.KIND][3],
        afzender=header.afzender,
        ontvanger=header.ontvanger,
        bericht_identificatie=BerichtIdentificatie(
            identificatie=header.bericht_identificatie.identificatie,
            dagtekening=header.bericht_identificatie.dagtekening,
        ),
        xsd_versie=header.xsd_versie,
        identificatie_retour=retour_id(message),
        dagtekening_retour=today,
        retour_codes=list(header_codes),
    )
    codes = codes or {}
    refused = header_codes != (ACCEPTED,) or any(c != (ACCEPTED,) for c in codes.values())
    if header_codes != (ACCEPTED,) or not refused:
        return Retour(kind=kind, header=retour_header)
    body_name = "client" if hasattr(message, "client") else "antwoord"
    return Retour(kind=kind, header=retour_header, body=getattr(message, body_name), codes=codes)
