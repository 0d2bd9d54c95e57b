"""caselog's models of the iWmo 3.2 messages, written from the standard's public schemas.

Every complex type is a frozen msgspec Struct whose fields are the standard's elements in
the standard's order: the field ``toewijzing_nummer`` is the element ``ToewijzingNummer``
(``rename="pascal"``). Simple types carry the standard's limits as ``msgspec.Meta``
(patterns, lengths, code lists as patterns, ranges); a list field is a wrapper element with
repeated items, the item's element name in ``Meta(extra={"item": ...})``. ``Base`` types
live in the base schema namespace, ``Part`` types in the message's own namespace; a retour
message answers every ``Part`` with its RetourCodes. ``iwmo.codec`` walks these models to
read and write XML, so the models are the schema: nothing else describes element order.

Building an outgoing message (what ``iwmo.outbox`` and ``iwmo.declaration`` do)::

    from iwmo import codec
    from iwmo.messages import Header, Wmo305, Client305, VerkorteNaam, StartProduct, Product

    message = Wmo305(
        header=Header.new("wmo305", afzender="12345678", ontvanger="0505",
                          identificatie="C0000000001", dagtekening=date(2026, 3, 2)),
        client=Client305(
            bsn="999990019", geboortedatum=Geboortedatum(datum=date(1980, 1, 1)),
            geslacht="0", naam=VerkorteNaam(achternaam="Jansen"),
            start_producten=[StartProduct(toewijzing_nummer="A1", product=Product(
                categorie="02", code="02A05"), toewijzing_ingangsdatum=date(2026, 3, 1),
                begindatum=date(2026, 3, 2), status_aanlevering="1")],
        ),
    )
    xml_bytes = codec.encode(message)        # raises codec.SchemaError if it breaks a rule
    same = codec.decode(xml_bytes)           # the model again (round trip)

Amounts are whole eurocents (``int``), dates ``datetime.date``, times ``datetime.time``,
codes strings exactly as the code lists spell them (``"02"``, not ``2``).
"""

from datetime import date, time
from typing import Annotated, Any, ClassVar

import msgspec
from msgspec import Meta

from domain.values import bsn_is_valid


def items(name: str) -> Meta:
    """A repeated element inside a wrapper: at least one ``name`` item."""
    return Meta(min_length=1, extra={"item": name})


def code(*values: str) -> Meta:
    """A value from a code list."""
    return Meta(pattern="^(" + "|".join(values) + ")$")


# --- simple types (LDT_*) -----------------------------------------------------------------
Gemeente = Annotated[str, Meta(pattern=r"^[0-9]{4}$")]
AgbCode = Annotated[str, Meta(pattern=r"^[0-9]{8}$")]
#: Afzender / Ontvanger: a 4-digit CBS gemeentecode or an 8-digit AGB code; which one a
#: message needs follows from its direction (checked by the codec).
Partij = Annotated[str, Meta(pattern=r"^([0-9]{4}|[0-9]{8})$")]
BerichtCode = Annotated[str, Meta(pattern=r"^[0-9]{3}$")]
Versie = Annotated[str, Meta(pattern=r"^[0-9]{1,2}\.[0-9]{1,2}\.[0-9]{1,2}$")]
IdentificatieBericht = Annotated[str, Meta(min_length=1, max_length=12, pattern=r"^\S+$")]
IdentificatieDeclaratie = Annotated[
    str, Meta(min_length=1, max_length=12, pattern=r"^[a-zA-Z0-9]+$")
]
#: BSN: nine digits passing the eleven-check (``check`` runs ``domain.values.bsn_is_valid``).
Bsn = Annotated[str, Meta(pattern=r"^[0-9]{9}$", extra={"check": "elfproef"})]
Nummer = Annotated[str, Meta(min_length=1, max_length=20, pattern=r"^\S+$")]
Referentie = Annotated[str, Meta(min_length=1, max_length=20, pattern=r"^\S+$")]
Commentaar = Annotated[str, Meta(min_length=1, max_length=4000)]
Achternaam = Annotated[str, Meta(min_length=1, max_length=200)]
Voorvoegsel = Annotated[str, Meta(min_length=1, max_length=10)]
Voornamen = Annotated[str, Meta(min_length=1, max_length=200)]
Voorletters = Annotated[str, Meta(min_length=1, max_length=6)]
Geslacht = Annotated[str, code("0", "1", "2")]  # COD046
DatumGebruik = Annotated[str, code("1", "2", "3")]  # COD170
NaamGebruik = Annotated[str, code("1", "2", "3", "4", "5")]  # COD700
ProductCategorie = Annotated[str, Meta(pattern=r"^[0-9]{2}$")]  # WMO020
ProductCode = Annotated[str, Meta(pattern=r"^[0-9A-Z]{5}$")]
Eenheid = Annotated[str, code("01", "04", "14", "16", "82", "83", "84")]  # WJ756
Frequentie = Annotated[str, code("1", "2", "4", "6")]  # WMO757
RedenWijziging = Annotated[str, Meta(pattern=r"^(0[1-9]|1[0-4])$")]  # WMO002
RedenBeeindiging = Annotated[
    str, code("02", "19", "20", "21", "22", "23", "31", "36", "37", "38", "39")
]  # WMO588
#: COD467; the standard's rules forbid 2 (modify) in 305/307, so caselog's schema does too.
StatusAanlevering = Annotated[str, code("1", "3")]
RedenVerzoek = Annotated[str, code("01", "02")]  # WJ759
VerzoekAntwoord = Annotated[str, code("1", "2")]  # WJ760
RedenAfwijzingVerzoek = Annotated[str, Meta(pattern=r"^[0-9]{2}$")]  # WJ761
VerwijzerType = Annotated[str, Meta(pattern=r"^0[1-9]$")]  # COD327
JaNee = Annotated[str, code("1", "2")]  # COD260
DebetCredit = Annotated[str, code("D", "C")]  # COD043
RetourCode = Annotated[str, Meta(pattern=r"^[0-9A-Z]{4}$")]  # WJ001
TweeCijfers = Annotated[str, Meta(pattern=r"^[0-9]{2}$")]
Volume = Annotated[int, Meta(ge=1, le=99_999_999)]
GeleverdVolume = Annotated[int, Meta(ge=0, le=99_999_999)]
Bedrag = Annotated[int, Meta(ge=0, le=99_999_999)]  # eurocents
TotaalBedrag = Annotated[int, Meta(ge=0, le=9_999_999_999)]  # eurocents
Budget = Annotated[int, Meta(ge=0, le=99_999_999)]  # eurocents
Tekst35 = Annotated[str, Meta(min_length=1, max_length=35)]
Tekst80 = Annotated[str, Meta(min_length=1, max_length=80)]
Postcode = Annotated[str, Meta(pattern=r"^[1-9][0-9]{3}[A-Z]{2}$")]
Huisnummer = Annotated[int, Meta(ge=1, le=99999)]
Telefoonnummer = Annotated[str, Meta(min_length=1, max_length=15, pattern=r"^[0-9]+$")]
Emailadres = Annotated[str, Meta(min_length=3, max_length=80, pattern=r"^\S+@\S+$")]
LandCode = Annotated[str, Meta(pattern=r"^[A-Z]{2}$")]


CHECKS: dict[str, Any] = {"elfproef": (bsn_is_valid, "fails the BSN eleven-check")}


class Base(msgspec.Struct, rename="pascal", kw_only=True, frozen=True):
    """A complex type of the base schema (CDT_*): its elements are in the base namespace."""

    NAMESPACE: ClassVar[str] = "base"


class Part(msgspec.Struct, rename="pascal", kw_only=True, frozen=True):
    """A complex type of a message: its elements are in the message's own namespace."""

    NAMESPACE: ClassVar[str] = "message"


# --- base schema complex types (CDT_*) ----------------------------------------------------
class BerichtIdentificatie(Base, kw_only=True):
    identificatie: IdentificatieBericht
    dagtekening: date


class XsdVersie(Base, kw_only=True):
    basisschema_xsd_versie: Versie = "1.0.0"
    bericht_xsd_versie: Versie = "1.0.0"


class Geboortedatum(Base, kw_only=True):
    datum: date
    datum_gebruik: DatumGebruik | None = None


class Naam(Base, kw_only=True):
    achternaam: Achternaam
    voorvoegsel: Voorvoegsel | None = None


class VolledigeNaam(Base, kw_only=True):
    geslachtsnaam: Naam
    partnernaam: Naam | None = None
    voornamen: Voornamen | None = None
    voorletters: Voorletters | None = None
    naam_gebruik: NaamGebruik | None = None


class VerkorteNaam(Base, kw_only=True):
    achternaam: Achternaam
    voorvoegsel: Voorvoegsel | None = None
    voorletters: Voorletters | None = None


class Communicatie(Base, kw_only=True):
    vorm: Annotated[str, Meta(pattern=r"^[0-9]{1,2}$")]  # COD747
    taal: Tekst35 | None = None


class Huis(Base, kw_only=True):
    huisnummer: Huisnummer
    huisletter: Annotated[str, Meta(pattern=r"^[A-Za-z]$")] | None = None
    huisnummer_toevoeging: Annotated[str, Meta(min_length=1, max_length=4)] | None = None
    aanduiding_woonadres: Annotated[str, code("AB", "TO", "BY")] | None = None  # NUM061


class Adres(Base, kw_only=True):
    huis: Huis | None = None
    postcode: Postcode | None = None
    straatnaam: Annotated[str, Meta(min_length=1, max_length=24)] | None = None
    plaatsnaam: Tekst80 | None = None
    land_code: LandCode | None = None


class Telefoon(Base, kw_only=True):
    telefoonnummer: Telefoonnummer
    landnummer: Annotated[str, Meta(pattern=r"^[0-9]{4}$")] | None = None


class Telefoonnummers(Base, kw_only=True):
    telefoon01: Telefoon
    telefoon02: Telefoon | None = None


class OpenPeriode(Base, kw_only=True):
    begindatum: date | None = None
    einddatum: date | None = None


class GeslotenPeriode(Base, kw_only=True):
    begindatum: date
    einddatum: date


class Product(Base, kw_only=True):
    categorie: ProductCategorie
    code: ProductCode | None = None


class Omvang(Base, kw_only=True):
    volume: Volume
    eenheid: Eenheid
    frequentie: Frequentie


class Verwijzer(Base, kw_only=True):
    type: VerwijzerType
    naam: Tekst35 | None = None
    zorgverlener_code: AgbCode | None = None


class ProductReferentie(Base, kw_only=True):
    referentie_nummer: Referentie
    vorig_referentie_nummer: Referentie | None = None


class BedragMetDC(Base, kw_only=True):
    bedrag: Bedrag
    debet_credit: DebetCredit


class TotaalBedragMetDC(Base, kw_only=True):
    totaal_bedrag: TotaalBedrag
    debet_credit: DebetCredit


# --- header -------------------------------------------------------------------------------
#: message kind -> (BerichtCode, sender role, retour kind, retour BerichtCode)
KINDS: dict[str, tuple[str, str, str, str]] = {
    "wmo301": ("414", "municipality", "wmo302", "415"),
    "wmo305": ("418", "provider", "wmo306", "419"),
    "wmo307": ("420", "provider", "wmo308", "421"),
    "wmo315": ("444", "provider", "wmo316", "445"),
    "wmo317": ("480", "provider", "wmo318", "481"),
    "wmo319": ("482", "municipality", "wmo320", "483"),
    "wmo323": ("484", "provider", "wmo325", "485"),
    "wmo325": ("485", "municipality", "", ""),
}
RETOUR_OF: dict[str, str] = {v[2]: k for k, v in KINDS.items() if v[2] and k != "wmo323"}


class Header(Part, kw_only=True):
    bericht_code: BerichtCode
    bericht_versie: Annotated[str, code("3")] = "3"
    bericht_subversie: Annotated[str, code("2")] = "2"
    afzender: Partij
    ontvanger: Partij
    bericht_identificatie: BerichtIdentificatie
    xsd_versie: XsdVersie = XsdVersie()

    @classmethod
    def new(
        cls, kind: str, *, afzender: str, ontvanger: str, identificatie: str, dagtekening: date
    ) -> "Header":
        """The header of a new ``kind`` message (``"wmo301"`` ...)."""
        return cls(
            bericht_code=KINDS[kind][0],
            afzender=afzender,
            ontvanger=ontvanger,
            bericht_identificatie=BerichtIdentificatie(
                identificatie=identificatie, dagtekening=dagtekening
            ),
        )


class RetourHeader(Part, kw_only=True):
    """The header of a retour message: the heen header plus the retour's own identity."""

    bericht_code: BerichtCode
    bericht_versie: Annotated[str, code("3")] = "3"
    bericht_subversie: Annotated[str, code("2")] = "2"
    afzender: Partij
    ontvanger: Partij
    bericht_identificatie: BerichtIdentificatie
    xsd_versie: XsdVersie = XsdVersie()
    identificatie_retour: IdentificatieBericht
    dagtekening_retour: date
    xslt_versie: Versie | None = None
    xsd_versie_retour: XsdVersie = XsdVersie()
    retour_codes: Annotated[list[RetourCode], items("RetourCode")] | None = None


# --- shared message parts -----------------------------------------------------------------
class Contact(Part, kw_only=True):
    soort: TweeCijfers  # COD757
    adres: Adres | None = None
    organisatie: Tekst35 | None = None
    telefoon: Telefoonnummers | None = None
    emailadres: Emailadres | None = None
    periode: OpenPeriode | None = None


class Relatie(Part, kw_only=True):
    nummer: Annotated[str, Meta(min_length=1, max_length=20)]
    volgorde: Annotated[int, Meta(ge=1, le=99)] | None = None
    soort: TweeCijfers  # COD472
    geboortedatum: Geboortedatum | None = None
    geslacht: Geslacht | None = None
    naam: VolledigeNaam
    contact: Contact


# --- WMO301 Toewijzing --------------------------------------------------------------------
class ToegewezenProduct(Part, kw_only=True):
    toewijzing_nummer: Nummer
    referentie_aanbieder: Referentie | None = None
    product: Product | None = None
    toewijzingsdatum: date
    toewijzingstijd: time
    ingangsdatum: date
    einddatum: date | None = None
    reden_wijziging: RedenWijziging | None = None
    omvang: Omvang | None = None
    budget: Budget | None = None
    commentaar: Commentaar | None = None


class Client301(Part, kw_only=True):
    bsn: Bsn
    geboortedatum: Geboortedatum
    geslacht: Geslacht
    naam: VolledigeNaam
    communicatie: Communicatie | None = None
    juridische_status: TweeCijfers | None = None
    wettelijke_vertegenwoordiging: TweeCijfers | None = None
    commentaar: Commentaar | None = None
    relaties: Annotated[list[Relatie], items("Relatie")] | None = None
    contactgegevens: Annotated[list[Contact], items("Contact")]
    toegewezen_producten: Annotated[list[ToegewezenProduct], items("ToegewezenProduct")]


# --- WMO305 Start zorg / WMO307 Stop zorg ---------------------------------------------------
class StartProduct(Part, kw_only=True):
    toewijzing_nummer: Nummer | None = None
    product: Product | None = None
    toewijzing_ingangsdatum: date | None = None
    begindatum: date
    status_aanlevering: StatusAanlevering


class StopProduct(Part, kw_only=True):
    toewijzing_nummer: Nummer | None = None
    product: Product | None = None
    toewijzing_ingangsdatum: date | None = None
    begindatum: date
    reden_beeindiging: RedenBeeindiging
    einddatum: date
    status_aanlevering: StatusAanlevering


class Client305(Part, kw_only=True):
    bsn: Bsn
    geboortedatum: Geboortedatum
    geslacht: Geslacht
    naam: VerkorteNaam
    start_producten: Annotated[list[StartProduct], items("StartProduct")]


class Client307(Part, kw_only=True):
    bsn: Bsn
    geboortedatum: Geboortedatum
    geslacht: Geslacht
    naam: VerkorteNaam
    stop_producten: Annotated[list[StopProduct], items("StopProduct")]


# --- WMO315 Verzoek om toewijzing -----------------------------------------------------------
class AangevraagdProduct(Part, kw_only=True):
    referentie_aanbieder: Referentie
    beschikking_nummer: Nummer | None = None
    product: Product | None = None
    beschikking_ingangsdatum: date | None = None
    toewijzing_ingangsdatum: date
    toewijzing_einddatum: date | None = None
    omvang: Omvang | None = None
    budget: Budget | None = None
    verwijzer: Verwijzer
    raamcontract: JaNee | None = None
    commentaar: Commentaar | None = None


class Client315(Part, kw_only=True):
    bsn: Bsn
    geboortedatum: Geboortedatum
    geslacht: Geslacht
    naam: VerkorteNaam
    commentaar: Commentaar | None = None
    aangevraagde_producten: Annotated[list[AangevraagdProduct], items("AangevraagdProduct")]


# --- WMO317 Verzoek om wijziging ------------------------------------------------------------
class OngewijzigdProduct(Part, kw_only=True):
    toewijzing_nummer: Nummer


class TeWijzigenProduct(Part, kw_only=True):
    toewijzing_nummer: Nummer
    gewenste_ingangsdatum: date
    einddatum: date | None = None
    omvang: Omvang | None = None
    budget: Budget | None = None


class NieuwProduct(Part, kw_only=True):
    product: Product | None = None
    gewenste_ingangsdatum: date
    einddatum: date | None = None
    omvang: Omvang | None = None
    budget: Budget | None = None


class Verzoek(Part, kw_only=True):
    referentie_aanbieder: Referentie
    reden_verzoek: RedenVerzoek
    ongewijzigde_producten: (
        Annotated[list[OngewijzigdProduct], items("OngewijzigdProduct")] | None
    ) = None
    te_wijzigen_producten: Annotated[list[TeWijzigenProduct], items("TeWijzigenProduct")] | None = (
        None
    )
    nieuwe_producten: Annotated[list[NieuwProduct], items("NieuwProduct")] | None = None


class Client317(Part, kw_only=True):
    bsn: Bsn
    verzoek: Verzoek


# --- WMO319 Antwoordbericht ---------------------------------------------------------------
class Antwoord(Part, kw_only=True):
    referentie_aanbieder: Referentie
    verzoek_antwoord: VerzoekAntwoord
    reden_afwijzing_verzoek: RedenAfwijzingVerzoek | None = None


# --- WMO323 Declaratie / WMO325 Declaratie-antwoord ---------------------------------------
class Prestatie(Part, kw_only=True):
    product_referentie: ProductReferentie
    toewijzing_nummer: Nummer
    product_categorie: ProductCategorie
    product_code: ProductCode
    product_periode: GeslotenPeriode
    geleverd_volume: GeleverdVolume
    eenheid: Eenheid
    product_tarief: Bedrag | None = None
    ingediend_bedrag: BedragMetDC


class Client323(Part, kw_only=True):
    bsn: Bsn
    prestaties: Annotated[list[Prestatie], items("Prestatie")]


class Declaratie(Part, kw_only=True):
    declaratie_nummer: IdentificatieDeclaratie
    declaratie_periode: GeslotenPeriode
    declaratie_dagtekening: date
    totaal_ingediend_bedrag: TotaalBedragMetDC
    clienten: Annotated[list[Client323], items("Client")]


Codes = Annotated[list[RetourCode], items("RetourCode")]


class Prestatie325(Part, kw_only=True):
    product_referentie: ProductReferentie
    toewijzing_nummer: Nummer
    product_categorie: ProductCategorie
    product_code: ProductCode
    product_periode: GeslotenPeriode
    geleverd_volume: GeleverdVolume
    eenheid: Eenheid
    product_tarief: Bedrag | None = None
    ingediend_bedrag: BedragMetDC
    retour_codes: Codes


class Client325(Part, kw_only=True):
    bsn: Bsn
    prestaties: Annotated[list[Prestatie325], items("Prestatie")]
    retour_codes: Codes


class DeclaratieAntwoord(Part, kw_only=True):
    declaratie_nummer: IdentificatieDeclaratie
    totaal_ingediend_bedrag: TotaalBedragMetDC
    totaal_toegekend_bedrag: TotaalBedragMetDC
    clienten: Annotated[list[Client325], items("Client")] | None = None
    retour_codes: Codes


class Header325(Part, kw_only=True):
    bericht_code: BerichtCode
    bericht_versie: Annotated[str, code("3")] = "3"
    bericht_subversie: Annotated[str, code("2")] = "2"
    afzender: Gemeente
    ontvanger: AgbCode
    bericht_identificatie: BerichtIdentificatie
    xsd_versie: XsdVersie = XsdVersie()
    declaratie_identificatie: BerichtIdentificatie
    xslt_versie: Versie | None = None
    xsd_versie_declaratie: XsdVersie = XsdVersie()
    retour_codes: Codes


# --- the messages (root element Bericht) --------------------------------------------------
class Bericht(Part, kw_only=True):
    """A whole message. ``KIND`` names it (``"wmo301"``); see ``KINDS``."""

    KIND: ClassVar[str] = ""

    @property
    def identificatie(self) -> str:
        return self.header.bericht_identificatie.identificatie  # type: ignore[attr-defined]


class Wmo301(Bericht, kw_only=True):
    KIND: ClassVar[str] = "wmo301"
    header: Header
    client: Client301


class Wmo305(Bericht, kw_only=True):
    KIND: ClassVar[str] = "wmo305"
    header: Header
    client: Client305


class Wmo307(Bericht, kw_only=True):
    KIND: ClassVar[str] = "wmo307"
    header: Header
    client: Client307


class Wmo315(Bericht, kw_only=True):
    KIND: ClassVar[str] = "wmo315"
    header: Header
    client: Client315


class Wmo317(Bericht, kw_only=True):
    KIND: ClassVar[str] = "wmo317"
    header: Header
    client: Client317


class Wmo319(Bericht, kw_only=True):
    KIND: ClassVar[str] = "wmo319"
    header: Header
    antwoord: Antwoord


class Wmo323(Bericht, kw_only=True):
    KIND: ClassVar[str] = "wmo323"
    header: Header
    declaratie: Declaratie


class Wmo325(Bericht, kw_only=True):
    KIND: ClassVar[str] = "wmo325"
    header: Header325
    declaratie_antwoord: DeclaratieAntwoord | None = None


MESSAGES: dict[str, type[Bericht]] = {
    cls.KIND: cls for cls in (Wmo301, Wmo305, Wmo307, Wmo315, Wmo317, Wmo319, Wmo323, Wmo325)
}


class Retour(msgspec.Struct, frozen=True, kw_only=True):
    """A retour message (WMO302 / 306 / 308 / 316 / 318 / 320): the heen message's parts,
    each answered with retour codes. ``codes`` maps a part's element path (as in
    ``/Bericht/Client/ToegewezenProducten/ToegewezenProduct[2]``) to its codes; ``body`` is
    None when the whole message was accepted and is answered by the header alone (IV028)."""

    kind: str
    header: RetourHeader
    body: Part | None = None
    codes: dict[str, tuple[str, ...]] = {}

    @property
    def header_codes(self) -> tuple[str, ...]:
        return tuple(self.header.retour_codes or ())

    def all_codes(self) -> set[str]:
        found = set(self.header_codes)
        for value in self.codes.values():
            found.update(value)
        return found
