"""Whole iWmo messages from a few arguments: for tests, the bench and the docs' examples.

Defaults are the ZOU demo region: Houten (gemeentecode 0321) and provider ``aanbieder-a``
(example AGB 98000001), product 02A05, BSN 999990019 (a test BSN passing the eleven-check).
"""

from __future__ import annotations

from datetime import date, time

from iwmo import messages as m

GEMEENTE = "0321"
AGB = "98000001"
BSN = "999990019"


def header(
    kind: str, ident: str, day: date, *, gemeente: str = GEMEENTE, agb: str = AGB
) -> m.Header:
    municipality_sends = m.KINDS[kind][1] == "municipality"
    return m.Header.new(
        kind,
        afzender=gemeente if municipality_sends else agb,
        ontvanger=agb if municipality_sends else gemeente,
        identificatie=ident,
        dagtekening=day,
    )


def product(code: str = "02A05") -> m.Product:
    return m.Product(categorie=code[:2], code=code)


def hours_per_week(n: int) -> m.Omvang:
    return m.Omvang(volume=n, eenheid="04", frequentie="2")


def assignment(
    number: str,
    starts: date,
    ends: date | None = None,
    *,
    code: str = "02A05",
    hours: int = 4,
    decided: date | None = None,
    at: time = time(9, 0),
    reason: str | None = None,
    referentie: str | None = None,
) -> m.ToegewezenProduct:
    return m.ToegewezenProduct(
        toewijzing_nummer=number,
        referentie_aanbieder=referentie,
        product=product(code),
        toewijzingsdatum=decided or starts,
        toewijzingstijd=at,
        ingangsdatum=starts,
        einddatum=ends,
        reden_wijziging=reason,
        omvang=hours_per_week(hours),
    )


def wmo301(ident: str, day: date, *products: m.ToegewezenProduct, bsn: str = BSN) -> m.Wmo301:
    return m.Wmo301(
        header=header("wmo301", ident, day),
        client=m.Client301(
            bsn=bsn,
            geboortedatum=m.Geboortedatum(datum=date(1980, 5, 17)),
            geslacht="2",
            naam=m.VolledigeNaam(
                geslachtsnaam=m.Naam(achternaam="Vries", voorvoegsel="de"), voorletters="A"
            ),
            contactgegevens=[m.Contact(soort="01")],
            toegewezen_producten=list(products),
        ),
    )


def wmo305(
    ident: str,
    day: date,
    number: str,
    assignment_start: date,
    started: date,
    *,
    status: str = "1",
    bsn: str = BSN,
    code: str = "02A05",
) -> m.Wmo305:
    return m.Wmo305(
        header=header("wmo305", ident, day),
        client=m.Client305(
            bsn=bsn,
            geboortedatum=m.Geboortedatum(datum=date(1980, 5, 17)),
            geslacht="2",
            naam=m.VerkorteNaam(achternaam="Vries", voorvoegsel="de"),
            start_producten=[
                m.StartProduct(
                    toewijzing_nummer=number,
                    product=product(code),
                    toewijzing_ingangsdatum=assignment_start,
                    begindatum=started,
                    status_aanlevering=status,
                )
            ],
        ),
    )


def wmo307(
    ident: str,
    day: date,
    number: str,
    assignment_start: date,
    started: date,
    ended: date,
    *,
    reason: str = "19",
    status: str = "1",
    bsn: str = BSN,
    code: str = "02A05",
) -> m.Wmo307:
    return m.Wmo307(
        header=header("wmo307", ident, day),
        client=m.Client307(
            bsn=bsn,
            geboortedatum=m.Geboortedatum(datum=date(1980, 5, 17)),
            geslacht="2",
            naam=m.VerkorteNaam(achternaam="Vries", voorvoegsel="de"),
            stop_producten=[
                m.StopProduct(
                    toewijzing_nummer=number,
                    product=product(code),
                    toewijzing_ingangsdatum=assignment_start,
                    begindatum=started,
                    reden_beeindiging=reason,
                    einddatum=ended,
                    status_aanlevering=status,
                )
            ],
        ),
    )


def wmo315(
    ident: str, day: date, referentie: str, starts: date, *, bsn: str = BSN, hours: int = 4
) -> m.Wmo315:
    return m.Wmo315(
        header=header("wmo315", ident, day),
        client=m.Client315(
            bsn=bsn,
            geboortedatum=m.Geboortedatum(datum=date(1980, 5, 17)),
            geslacht="2",
            naam=m.VerkorteNaam(achternaam="Vries", voorvoegsel="de"),
            aangevraagde_producten=[
                m.AangevraagdProduct(
                    referentie_aanbieder=referentie,
                    product=product(),
                    toewijzing_ingangsdatum=starts,
                    omvang=hours_per_week(hours),
                    verwijzer=m.Verwijzer(type="01"),
                )
            ],
        ),
    )


def wmo317(
    ident: str,
    day: date,
    referentie: str,
    number: str,
    effective: date,
    *,
    hours: int | None = None,
    ends: date | None = None,
    bsn: str = BSN,
) -> m.Wmo317:
    return m.Wmo317(
        header=header("wmo317", ident, day),
        client=m.Client317(
            bsn=bsn,
            verzoek=m.Verzoek(
                referentie_aanbieder=referentie,
                reden_verzoek="01",
                te_wijzigen_producten=[
                    m.TeWijzigenProduct(
                        toewijzing_nummer=number,
                        gewenste_ingangsdatum=effective,
                        einddatum=ends,
                        omvang=hours_per_week(hours) if hours else None,
                    )
                ],
            ),
        ),
    )


def wmo319(
    ident: str, day: date, referentie: str, answer: str = "1", reason: str | None = "01"
) -> m.Wmo319:
    return m.Wmo319(
        header=header("wmo319", ident, day),
        antwoord=m.Antwoord(
            referentie_aanbieder=referentie,
            verzoek_antwoord=answer,
            reden_afwijzing_verzoek=reason if answer == "1" else None,
        ),
    )
