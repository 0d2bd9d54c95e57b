"""GET /v1/catalogue: the tenant's contract catalogue in force on a date, with its iWmo codes.

A municipal case system or a provider's administration maps its own tables to caselog 1:1
from this answer: municipality names with their CBS gemeentecode, provider ids with their
AGB code, products with their iWmo Categorie + Code, unit, financing, validity and the prices
the contract names (none where the contract names none: amounts are then unknown).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import msgspec
from litestar import Request, get

from api.context import require, services
from domain.catalogue import Catalogue, IwmoCode
from domain.values import Actor

ROLES = ("municipality", "provider", "contract_manager", "auditor")


class MunicipalityOut(msgspec.Struct, kw_only=True):
    name: str
    gemeentecode: str | None


class ProviderOut(msgspec.Struct, kw_only=True):
    id: str
    agb: str
    example: bool


class PriceOut(msgspec.Struct, kw_only=True):
    amount: Decimal
    surcharge_amount: Decimal | None
    per: str
    valid_from: date
    valid_until: date | None
    source: str


class ProductOut(msgspec.Struct, kw_only=True):
    code: str
    name: str
    iwmo: IwmoCode | None
    unit: str
    units: list[str]
    financing: str
    segment: str
    valid_from: date
    valid_until: date | None
    prices: list[PriceOut]


class CatalogueOut(msgspec.Struct, kw_only=True):
    tenant: str
    version: str
    on: date
    municipalities: list[MunicipalityOut]
    providers: list[ProviderOut]
    products: list[ProductOut]


def catalogue_on(cat: Catalogue, on: date) -> CatalogueOut:
    """The catalogue entries in force on ``on``: products valid then and their price then."""
    products = []
    for p in cat.products:
        if not p.valid_on(on):
            continue
        price = p.price_on(on)
        products.append(
            ProductOut(
                code=p.code,
                name=p.name,
                iwmo=p.iwmo,
                unit=p.units[0],
                units=list(p.units),
                financing=p.financing,
                segment=p.segment,
                valid_from=p.valid_from,
                valid_until=p.valid_until,
                prices=[
                    PriceOut(
                        amount=price.amount,
                        surcharge_amount=price.surcharge_amount,
                        per=price.per,
                        valid_from=price.valid_from,
                        valid_until=price.valid_until,
                        source=price.source,
                    )
                ]
                if price
                else [],
            )
        )
    return CatalogueOut(
        tenant=cat.tenant,
        version=cat.version,
        on=on,
        municipalities=[
            MunicipalityOut(name=m, gemeentecode=cat.gemeentecode(m)) for m in cat.municipalities
        ],
        providers=[ProviderOut(id=p.id, agb=p.agb, example=p.example) for p in cat.providers],
        products=products,
    )


@get("/v1/catalogue", summary="The tenant's contract catalogue on a date, with iWmo codes")
async def get_catalogue(
    request: Request[Any, Any, Any], actor: Actor, on: date | None = None
) -> CatalogueOut:
    require(actor, *ROLES)
    cat = services(request).app.catalogues.for_tenant(actor.tenant)
    return catalogue_on(cat, on or date.today())


CATALOGUE = [get_catalogue]
