"""Prices in force on a date: the contract catalogue first; the invented example tariffs
only when the catalogue carries them (the application attaches them for demo data when
``CASELOG_EXAMPLE_TARIFFS=1``), and then every amount computed from them says so
(``price_source = "example"``)."""

from __future__ import annotations

from datetime import date

from domain.catalogue import Catalogue, Price


def price_on(cat: Catalogue, product: str, day: date) -> tuple[Price | None, str]:
    """The price of ``product`` on ``day`` and where it came from (``catalogue`` /
    ``example`` / ``none``); remembered by the catalogue."""
    known = cat.known_prices.get((product, day))
    if known is None:
        known = cat.known_prices[(product, day)] = _price_on(cat, product, day)
    return known


def _price_on(cat: Catalogue, product: str, day: date) -> tuple[Price | None, str]:
    p = cat.product_any(product)
    if p is not None:
        for version in cat.products:
            if version.code == product and version.valid_on(day):
                found = version.price_on(day)
                if found is not None:
                    return found, "catalogue"
    for price in cat.example_prices.get(product, []):
        if price.valid_on(day):
            return price, "example"
    return None, "none"
