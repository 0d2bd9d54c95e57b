"""Prices in force on a date: the contract catalogue first; the invented example tariffs
only when explicitly enabled for demo data (``CASELOG_EXAMPLE_TARIFFS=1``), and then every
amount computed from them says so (``price_source = "example"``)."""

from __future__ import annotations

import os
from datetime import date
from functools import cache

from domain.catalogue import Catalogue, Price, load_example_tariffs


def examples_enabled() -> bool:
    return os.environ.get("CASELOG_EXAMPLE_TARIFFS", "").lower() in ("1", "true", "yes")


@cache
def _examples() -> dict[tuple[str, str], list[Price]]:
    return load_example_tariffs()


def price_on(cat: Catalogue, product: str, day: date) -> tuple[Price | None, str]:
    """The price of ``product`` on ``day`` and where it came from (``catalogue`` /
    ``example`` / ``none``)."""
    p = cat.product_any(product)
    if p is not None:
        for version in cat.products:
            if version.code == product and version.valid_on(day):
                found = version.price_on(day)
                if found is not None:
                    return found, "catalogue"
    if examples_enabled():
        for price in _examples().get((cat.tenant, product), []):
            if price.valid_on(day):
                return price, "example"
    return None, "none"
