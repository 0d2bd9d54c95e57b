"""The contract catalogue is data: prices and limits with validity dates, checked on load."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from domain.catalogue import CatalogueError, Catalogues, load_file
from domain.errors import RuleViolation
from tests.builders import catalogue

SDD = catalogue("drechtsteden")


@pytest.mark.parametrize(
    ("code", "price", "surcharge"),
    [("IB1", "337.66", "110.45"), ("IB2", "732.16", "239.50"), ("IB3", "1124.99", "368.00")],
)
def test_2016_prices_per_four_weeks_R03(code: str, price: str, surcharge: str) -> None:
    p = SDD.product(code, date(2016, 6, 1)).price_on(date(2016, 6, 1))
    assert p is not None
    assert p.per == "four_weeks"
    assert (p.amount, p.surcharge_amount) == (Decimal(price), Decimal(surcharge))


def test_2016_price_is_not_used_after_2016_R03() -> None:
    assert SDD.product("IB2", date(2017, 3, 1)).price_on(date(2017, 3, 1)) is None


def test_settlement_changes_from_four_weeks_to_weeks_per_month_in_2021_R02() -> None:
    old, new = SDD.settlement_on(date(2016, 5, 1)), SDD.settlement_on(date(2021, 5, 1))
    assert old is not None
    assert (old.period, old.settled) == ("four_weeks", "four_weeks")
    assert new is not None
    assert (new.period, new.settled) == ("week", "month")


def test_ib0_valid_only_from_2022_R04() -> None:
    with pytest.raises(RuleViolation, match="^R-04"):
        SDD.product("IB0", date(2021, 12, 31))
    assert SDD.product("IB0", date(2022, 1, 1)).code == "IB0"


def test_catalogues_hold_both_tenants() -> None:
    assert Catalogues.load().tenants == ["drechtsteden", "zou"]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "broken.toml"
    path.write_text(text)
    return path


def test_a_wrongly_typed_field_names_file_field_and_problem(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'tenant = "x"\nversion = "1"\nmunicipalities = []\n'
        '[[products]]\ncode = "P"\nname = "n"\nfinancing = "hourly"\nunits = ["hour"]\n'
        'valid_from = 2020-01-01\nmax_months = "twelve"\nsource = "s"\n',
    )
    with pytest.raises(CatalogueError) as e:
        load_file(path)
    assert e.value.path == path
    assert e.value.field == "$.products[0].max_months"
    assert "int" in e.value.problem


def test_overlapping_validity_is_refused(tmp_path: Path) -> None:
    product = (
        '[[products]]\ncode = "P"\nname = "n"\nfinancing = "hourly"\nunits = ["hour"]\n'
        'valid_from = {start}\nsource = "s"\n'
    )
    path = write(
        tmp_path,
        'tenant = "x"\nversion = "1"\nmunicipalities = []\n'
        + product.format(start="2020-01-01")
        + product.format(start="2021-01-01"),
    )
    with pytest.raises(CatalogueError, match="overlaps"):
        load_file(path)
