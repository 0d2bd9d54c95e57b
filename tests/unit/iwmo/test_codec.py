"""The iWmo 3.2 codec: round trips of every message kind, the schema walk's element paths,
hardened parsing and the BSN eleven-check."""

from __future__ import annotations

import contextlib
from datetime import date, time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.values import bsn_is_valid
from iwmo import codec, xml
from iwmo import examples as ex
from iwmo import messages as m
from iwmo import retour as r

DAY = date(2026, 2, 2)


def wmo301_full() -> m.Wmo301:
    """A 301 using every optional part the model knows (relations, address, phones)."""
    base = ex.wmo301("G1", DAY, ex.assignment("T1", DAY, date(2026, 12, 31), reason="01"))
    contact = m.Contact(
        soort="01",
        adres=m.Adres(
            huis=m.Huis(huisnummer=10, huisletter="A", huisnummer_toevoeging="BIS"),
            postcode="3991AB",
            straatnaam="Lange Schoolstraat",
            plaatsnaam="Houten",
            land_code="NL",
        ),
        telefoon=m.Telefoonnummers(telefoon01=m.Telefoon(telefoonnummer="0301234567")),
        emailadres="a@example.org",
        periode=m.OpenPeriode(begindatum=DAY),
    )
    relatie = m.Relatie(
        nummer="1",
        volgorde=1,
        soort="03",
        naam=m.VolledigeNaam(geslachtsnaam=m.Naam(achternaam="Jansen"), naam_gebruik="1"),
        contact=m.Contact(soort="02"),
    )
    client = m.Client301(
        **{
            **{f: getattr(base.client, f) for f in base.client.__struct_fields__},
            "communicatie": m.Communicatie(vorm="1", taal="Deens"),
            "commentaar": "tolk nodig",
            "relaties": [relatie],
            "contactgegevens": [contact],
        }
    )
    return m.Wmo301(header=base.header, client=client)


def wmo323() -> m.Wmo323:
    line = m.Prestatie(
        product_referentie=m.ProductReferentie(referentie_nummer="RN1"),
        toewijzing_nummer="T1",
        product_categorie="02",
        product_code="02A05",
        product_periode=m.GeslotenPeriode(begindatum=date(2026, 1, 1), einddatum=date(2026, 1, 31)),
        geleverd_volume=4,
        eenheid="04",
        product_tarief=6500,
        ingediend_bedrag=m.BedragMetDC(bedrag=26000, debet_credit="D"),
    )
    return m.Wmo323(
        header=ex.header("wmo323", "D1", DAY),
        declaratie=m.Declaratie(
            declaratie_nummer="DN1",
            declaratie_periode=m.GeslotenPeriode(
                begindatum=date(2026, 1, 1), einddatum=date(2026, 1, 31)
            ),
            declaratie_dagtekening=DAY,
            totaal_ingediend_bedrag=m.TotaalBedragMetDC(totaal_bedrag=26000, debet_credit="D"),
            clienten=[m.Client323(bsn=ex.BSN, prestaties=[line])],
        ),
    )


MESSAGES = {
    "wmo301": wmo301_full,
    "wmo305": lambda: ex.wmo305("S1", DAY, "T1", DAY, DAY),
    "wmo307": lambda: ex.wmo307("E1", DAY, "T1", DAY, DAY, DAY, reason="20"),
    "wmo315": lambda: ex.wmo315("V1", DAY, "REF1", DAY),
    "wmo317": lambda: ex.wmo317("W1", DAY, "REF2", "T1", DAY, hours=6),
    "wmo319": lambda: ex.wmo319("A1", DAY, "REF2"),
    "wmo323": wmo323,
}


@pytest.mark.parametrize("kind", sorted(MESSAGES))
def test_every_message_kind_round_trips(kind: str) -> None:
    message = MESSAGES[kind]()
    data = codec.encode(message)
    assert f"http://www.istandaarden.nl/iwmo/3_2/{kind}/schema".encode() in data
    assert codec.decode(data) == message


def test_the_declaration_answer_wmo325_round_trips() -> None:
    from iwmo.inbound import declaration_answer

    path = "/Bericht/Declaratie/Clienten/Client[1]/Prestaties/Prestatie[1]"
    answer = declaration_answer(wmo323(), ("0200",), {path: ("9346",)}, 0, DAY)
    data = codec.encode(answer)
    assert codec.decode(data) == answer
    assert answer.declaratie_antwoord is not None
    assert answer.declaratie_antwoord.clienten[0].prestaties[0].retour_codes == ["9346"]


@pytest.mark.parametrize("kind", sorted(set(MESSAGES) - {"wmo323"}))
def test_every_retour_kind_round_trips_with_codes_on_each_part(kind: str) -> None:
    message = MESSAGES[kind]()
    first = {
        "wmo301": "/Bericht/Client/ToegewezenProducten/ToegewezenProduct[1]",
        "wmo305": "/Bericht/Client/StartProducten/StartProduct[1]",
        "wmo307": "/Bericht/Client/StopProducten/StopProduct[1]",
        "wmo315": "/Bericht/Client/AangevraagdeProducten/AangevraagdProduct[1]",
        "wmo317": "/Bericht/Client/Verzoek",
        "wmo319": "/Bericht/Antwoord",
    }[kind]
    answer = r.build(message, today=DAY, codes={first: ("9019",)})
    assert answer.body is not None
    back = codec.decode(codec.encode_retour(answer))
    assert isinstance(back, m.Retour)
    assert back.kind == m.KINDS[kind][2]
    assert back.header == answer.header
    assert back.body == answer.body
    assert back.codes[first] == ("9019",)
    assert set(back.codes.values()) <= {("9019",), ("0200",)}


def test_a_fully_accepted_message_is_answered_by_the_header_alone_IV028() -> None:
    answer = r.build(MESSAGES["wmo305"](), today=DAY, codes={"/Bericht/Client": ("0200",)})
    data = codec.encode_retour(answer)
    assert b"wmo306:Client" not in data
    back = codec.decode(data)
    assert isinstance(back, m.Retour)
    assert back.header_codes == ("0200",)
    assert back.body is None


def test_a_retour_written_by_another_party_is_read() -> None:
    data = b"""<?xml version="1.0" encoding="UTF-8"?>
<r:Bericht xmlns:b="http://www.istandaarden.nl/iwmo/3_2/basisschema/schema"
           xmlns:r="http://www.istandaarden.nl/iwmo/3_2/wmo306/schema">
  <r:Header>
    <r:BerichtCode>419</r:BerichtCode><r:BerichtVersie>3</r:BerichtVersie>
    <r:BerichtSubversie>2</r:BerichtSubversie>
    <r:Afzender>98000001</r:Afzender><r:Ontvanger>0321</r:Ontvanger>
    <r:BerichtIdentificatie><b:Identificatie>S-7</b:Identificatie>
      <b:Dagtekening>2026-02-02</b:Dagtekening></r:BerichtIdentificatie>
    <r:XsdVersie><b:BasisschemaXsdVersie>1.0.0</b:BasisschemaXsdVersie>
      <b:BerichtXsdVersie>1.0.0</b:BerichtXsdVersie></r:XsdVersie>
    <r:IdentificatieRetour>x-1</r:IdentificatieRetour>
    <r:DagtekeningRetour>2026-02-03</r:DagtekeningRetour>
    <r:XsdVersieRetour><b:BasisschemaXsdVersie>1.0.0</b:BasisschemaXsdVersie>
      <b:BerichtXsdVersie>1.0.0</b:BerichtXsdVersie></r:XsdVersieRetour>
    <r:RetourCodes><r:RetourCode>8848</r:RetourCode></r:RetourCodes>
  </r:Header>
</r:Bericht>"""
    back = codec.decode(data)
    assert isinstance(back, m.Retour)
    assert back.header_codes == ("8848",)
    assert back.header.bericht_identificatie.identificatie == "S-7"


def errors_of(data: bytes) -> dict[str, str]:
    with pytest.raises(codec.SchemaError) as caught:
        codec.decode(data)
    return dict(caught.value.errors)


def test_every_schema_breach_is_reported_with_its_element_path() -> None:
    data = codec.encode(MESSAGES["wmo301"]())
    broken = (
        data.replace(b"999990019", b"999990018")
        .replace(b"<iwmo:Volume>4</iwmo:Volume>", b"<iwmo:Volume>vier</iwmo:Volume>")
        .replace(b"<wmo301:Geslacht>2", b"<wmo301:Geslacht>7")
        .replace(b"2026-12-31", b"2026-13-31")
    )
    errors = errors_of(broken)
    product = "/Bericht/Client/ToegewezenProducten/ToegewezenProduct[1]"
    assert set(errors) == {
        "/Bericht/Client/Bsn",
        "/Bericht/Client/Geslacht",
        f"{product}/Omvang/Volume",
        f"{product}/Einddatum",
    }
    assert "eleven-check" in errors["/Bericht/Client/Bsn"]


def test_missing_out_of_order_unexpected_and_foreign_elements_are_schema_breaches() -> None:
    data = codec.encode(MESSAGES["wmo305"]())
    item = "/Bericht/Client/StartProducten/StartProduct[1]"
    missing = data.replace(b"<wmo305:StatusAanlevering>1</wmo305:StatusAanlevering>", b"")
    assert errors_of(missing) == {f"{item}/StatusAanlevering": "required element missing"}
    swapped = data.replace(b"<wmo305:Geslacht>2</wmo305:Geslacht>", b"").replace(
        b"</wmo305:Naam>", b"</wmo305:Naam><wmo305:Geslacht>2</wmo305:Geslacht>"
    )
    assert "/Bericht/Client/Geslacht" in errors_of(swapped)
    extra = data.replace(b"</wmo305:Client>", b"<wmo305:Extra>1</wmo305:Extra></wmo305:Client>")
    assert errors_of(extra) == {"/Bericht/Client/Extra": "unexpected element"}
    foreign = data.replace(b"<wmo305:Bsn>", b"<iwmo:Bsn>").replace(b"</wmo305:Bsn>", b"</iwmo:Bsn>")
    assert "must be in namespace" in errors_of(foreign)["/Bericht/Client/Bsn"]


def test_direction_and_bericht_code_are_checked() -> None:
    data = codec.encode(MESSAGES["wmo305"]())
    wrong_code = data.replace(b"<wmo305:BerichtCode>418", b"<wmo305:BerichtCode>414")
    assert "/Bericht/Header/BerichtCode" in errors_of(wrong_code)
    swapped = (
        data.replace(b">98000001<", b">X<")
        .replace(b">0321<", b">98000001<")
        .replace(b">X<", b">0321<")
    )
    assert set(errors_of(swapped)) == {"/Bericht/Header/Afzender", "/Bericht/Header/Ontvanger"}


def test_encode_refuses_to_write_a_message_breaking_the_schema() -> None:
    message = ex.wmo305("S1", DAY, "T1", DAY, DAY, bsn="123456789")
    with pytest.raises(codec.SchemaError):
        codec.encode(message)


@pytest.mark.parametrize(
    "data",
    [
        b'<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>',
        b'<?xml version="1.0"?><!doctype x SYSTEM "http://example.org/x.dtd"><x/>',
        '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>'.encode(
            "utf-16"
        ),
        b"<x><y></x>",
        b"",
        b"   ",
    ],
)
def test_hardened_parsing_refuses_dtds_entities_and_broken_xml(data: bytes) -> None:
    with pytest.raises(xml.NotWellFormed):
        codec.decode(data)


def test_a_message_over_the_size_limit_is_refused_before_parsing() -> None:
    with pytest.raises(xml.NotWellFormed, match="larger than"):
        xml.parse(b"<x>" + b" " * 100 + b"</x>", max_bytes=50)


def test_xml_that_is_not_iwmo_is_not_iwmo() -> None:
    with pytest.raises(codec.NotIwmo):
        codec.decode(b'<Bericht xmlns="http://www.istandaarden.nl/ijw/3_2/jw301/schema"/>')
    with pytest.raises(codec.NotIwmo):
        codec.decode(b'<Bericht xmlns="http://www.istandaarden.nl/iwmo/3_2/wmo399/schema"/>')


@pytest.mark.parametrize(
    ("bsn", "valid"),
    [
        ("999990019", True),
        ("111222333", True),
        ("123456782", True),
        ("123456789", False),
        ("000000000", False),
        ("12345678", False),
    ],
)
def test_the_bsn_eleven_check(bsn: str, valid: bool) -> None:
    assert m.CHECKS["elfproef"][0](bsn) is valid


def _with_check_digit(n: int) -> str:
    head = f"{n:08d}"
    return head + str(sum(int(d) * w for d, w in zip(head, range(9, 1, -1), strict=True)) % 11)


bsns = st.integers(1_000_000, 99_999_999).map(_with_check_digit).filter(bsn_is_valid)
numbers = st.from_regex(r"\A[A-Za-z0-9]{1,20}\Z")
dates = st.dates(date(2015, 1, 1), date(2035, 12, 31))


@settings(max_examples=60, deadline=None)
@given(
    bsn=bsns,
    number=numbers,
    start=dates,
    begin=dates,
    ident=st.from_regex(r"\A[A-Z0-9]{1,12}\Z"),
    status=st.sampled_from(["1", "3"]),
    code=st.from_regex(r"\A02[A-Z][0-9]{2}\Z"),
)
def test_random_start_messages_round_trip(
    bsn: str, number: str, start: date, begin: date, ident: str, status: str, code: str
) -> None:
    message = ex.wmo305(ident, begin, number, start, begin, status=status, bsn=bsn, code=code)
    assert codec.decode(codec.encode(message)) == message


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_mangled_messages_never_raise_anything_but_the_codecs_own_errors(
    data: st.DataObject,
) -> None:
    raw = bytearray(codec.encode(MESSAGES[data.draw(st.sampled_from(sorted(MESSAGES)))]()))
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(raw) - 1))
        raw[at : at + data.draw(st.integers(0, 8))] = data.draw(st.binary(max_size=8))
    with contextlib.suppress(xml.NotWellFormed, codec.NotIwmo, codec.SchemaError):
        codec.decode(bytes(raw))


def test_times_and_dates_are_written_as_xs_time_and_xs_date() -> None:
    data = codec.encode(ex.wmo301("G1", DAY, ex.assignment("T1", DAY, at=time(7, 5, 3))))
    assert b"<wmo301:Toewijzingstijd>07:05:03</wmo301:Toewijzingstijd>" in data
    assert b"<wmo301:Toewijzingsdatum>2026-02-02</wmo301:Toewijzingsdatum>" in data
