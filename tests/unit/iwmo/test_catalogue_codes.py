"""iWmo mapping codes are catalogue data, checked on load (issue 10 item 6)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from domain.catalogue import CATALOGUE_DIR, CatalogueError, default_catalogues, load_file


def test_every_municipality_and_provider_has_its_code() -> None:
    for tenant in default_catalogues().tenants:
        cat = default_catalogues().for_tenant(tenant)
        assert set(cat.gemeentecodes) == set(cat.municipalities)
        assert cat.providers
        assert all(p.iwmo is not None for p in cat.products)


def test_codes_map_both_ways() -> None:
    cats = default_catalogues()
    found = cats.by_gemeentecode("0505")
    assert found is not None
    assert (found[0].tenant, found[1]) == ("drechtsteden", "Dordrecht")
    assert cats.by_gemeentecode("9999") is None
    zou = cats.for_tenant("zou")
    assert zou.agb("aanbieder-a") == "98000001"
    assert zou.provider_for_agb("98000001") == "aanbieder-a"
    product = zou.product_for_iwmo("02", "02A05", date(2024, 1, 1))
    assert product is not None
    assert product.code == "02A05"


def test_zou_codes_are_the_standards_and_sdd_codes_are_marked_examples() -> None:
    zou, sdd = (default_catalogues().for_tenant(t) for t in ("zou", "drechtsteden"))
    assert {(p.code, p.iwmo.code, p.iwmo.example) for p in zou.products if p.iwmo} == {
        ("02A03", "02A03", False),
        ("02A04", "02A04", False),
        ("02A05", "02A05", False),
    }
    assert all(p.iwmo and p.iwmo.example for p in sdd.products)


def _with(tmp_path: Path, old: str, new: str) -> Path:
    text = (CATALOGUE_DIR / "zou.toml").read_text()
    assert old in text
    path = tmp_path / "zou.toml"
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ('"Zeist" = "0355"', '"Zeist" = "355"', "$.gemeentecodes.Zeist"),
        ('"Zeist" = "0355"', '"Zeist" = "0312"', "$.gemeentecodes"),
        ('"Zeist" = "0355"', '"Zeisr" = "0355"', "$.gemeentecodes.Zeisr"),
        ('agb = "98000001"', 'agb = "9800001"', "$.providers[0].agb"),
        # the product that reuses a code taken by another is named
        ('code = "02A04" }', 'code = "02A05" }', "$.products[code=02A05].iwmo"),
        ('code = "02A04" }', 'code = "2A04" }', "$.products[code=02A04].iwmo.code"),
    ],
)
def test_a_bad_code_stops_loading_naming_the_field(
    tmp_path: Path, old: str, new: str, field: str
) -> None:
    with pytest.raises(CatalogueError) as bad:
        load_file(_with(tmp_path, old, new))
    assert bad.value.field == field
