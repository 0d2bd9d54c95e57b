"""Who a message's parties are in caselog's terms: CBS gemeentecode <-> municipality, AGB
code <-> provider id. The codes are catalogue data per tenant (``gemeentecodes``,
``providers``); a region configures its own (docs/iwmo.md)."""

from __future__ import annotations

from domain.catalogue import Catalogue
from domain.values import Actor
from iwmo.messages import KINDS, Bericht


class WrongSender(Exception):
    """The caller may not send this message as this Afzender (HTTP 403)."""


def municipality(cat: Catalogue, gemeentecode: str) -> str | None:
    """The municipality of the tenant with this gemeentecode (None: not this tenant's)."""
    return cat.municipality_for_code(gemeentecode)


def provider(cat: Catalogue, agb: str) -> str | None:
    """The provider id of the tenant with this AGB code (None: unknown)."""
    return cat.provider_for_agb(agb)


def agb(cat: Catalogue, provider_id: str) -> str | None:
    return cat.agb(provider_id)


def check_sender(actor: Actor, cat: Catalogue, message: Bericht) -> None:
    """The message's role matches the caller's, and ``Afzender`` is the caller's own code:
    a municipality of the caller's tenant, or the caller's own provider's AGB code."""
    role = KINDS[message.KIND][1]
    if actor.role != role:
        raise WrongSender(f"{message.KIND.upper()} is sent by a {role}, not a {actor.role}")
    sender = message.header.afzender  # type: ignore[attr-defined]
    if role == "municipality":
        if municipality(cat, sender) is None:
            raise WrongSender(f"Afzender {sender} is not a gemeentecode of {actor.tenant}")
    elif actor.provider is None or agb(cat, actor.provider) != sender:
        raise WrongSender(f"Afzender {sender} is not the AGB code of provider {actor.provider}")
