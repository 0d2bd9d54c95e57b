"""The dashboard page, its dimensions read and the OpenAPI pages over HTTP: everything a page
needs is served by caselog itself (no CDN), the dimensions are scoped like the KPIs, and the
OpenAPI document carries the package version, tags per area and /health without a lock."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

import httpx
from swagger_ui_bundle import swagger_ui_path

from tests.e2e.conftest import Live

STATIC = Path(__file__).parents[2] / "api" / "static"
OUTSIDE = re.compile(r"(cdn\.jsdelivr|unpkg\.com|cdnjs|googleapis\.com|redoc\.ly|fonts\.)")
REFERENCE = re.compile(r"""(?:src|href)=["']([^"']+)["']""")


def referenced(html: str) -> list[str]:
    return [u for u in REFERENCE.findall(html) if not u.startswith("#")]


def test_dashboard_page_and_every_asset_it_names_are_served_by_caselog(
    live: Live, client: httpx.Client
) -> None:
    page = client.get("/dashboard")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy  # the browser itself refuses anything else
    assert "script-src 'self'" in policy
    assets = referenced(page.text)
    assert any(a.endswith(".js") for a in assets)
    assert any(a.endswith(".css") for a in assets)
    for asset in assets:
        if asset.startswith("/schema"):
            continue
        assert asset.startswith("/"), f"{asset} is not served by caselog"
        answer = client.get(asset)
        assert answer.status_code == 200, asset
        assert not OUTSIDE.search(answer.text), asset


def test_dashboard_assets_fetch_nothing_from_outside() -> None:
    for path in STATIC.glob("*.*"):
        text = path.read_text(encoding="utf-8").replace('xmlns="http://www.w3.org/2000/svg"', "")
        assert not OUTSIDE.search(text), path
        assert "http://" not in text, path
        assert "https://" not in text, path


def test_r28_dimensions_list_the_tenants_codes_for_contract_managers_only(
    live: Live, client: httpx.Client
) -> None:
    for provider, municipality in [("aanbieder-a", "Houten"), ("aanbieder-b", "Zeist")]:
        opened = client.post(
            "/v1/cases",
            headers=live.token("municipality"),
            json={
                "client_ref": f"dim-{provider}",
                "municipality": municipality,
                "provider": provider,
                "referred_on": "2024-02-01",
            },
        )
        assert opened.status_code == 201, opened.text
    own = client.get("/v1/kpis/dimensions", headers=live.token("contract_manager"))
    assert own.status_code == 200
    assert own.json()["providers"] == ["aanbieder-a", "aanbieder-b"]
    assert own.json()["municipalities"] == ["Houten", "Zeist"]
    assert own.json()["referral_years"] == {"2024": 2}
    assert "dim-aanbieder-a" not in own.text  # codes only, never a client
    assert client.get("/v1/kpis/dimensions", headers=live.token("municipality")).status_code == 200
    other = client.get(
        "/v1/kpis/dimensions", headers=live.token("contract_manager", tenant="drechtsteden")
    )
    assert other.json()["providers"] == []
    for role in ("provider", "auditor"):
        refused = client.get("/v1/kpis/dimensions", headers=live.token(role))
        assert refused.status_code == 403
    assert client.get("/v1/kpis/dimensions").status_code == 401


def test_openapi_document_version_tags_and_unlocked_health(client: httpx.Client) -> None:
    document = client.get("/schema/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    assert document["info"]["version"] == metadata.version("wmo-caselog")
    declared = {t["name"] for t in document["tags"]}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert operation["tags"], f"{method} {path} has no area"
            assert set(operation["tags"]) <= declared
    assert document["paths"]["/health"]["get"]["security"] == []
    assert document["paths"]["/dashboard"]["get"]["security"] == []
    assert "security" not in document["paths"]["/v1/kpis"]["get"]  # the bearer lock applies
    assert document["security"] == [{"bearer": []}]


def test_openapi_page_loads_swagger_ui_from_caselog_itself(client: httpx.Client) -> None:
    page = client.get("/schema")
    assert page.status_code == 200
    assert not OUTSIDE.search(page.text)
    assets = referenced(page.text)
    assert {a.rsplit("/", 1)[-1] for a in assets} >= {
        "swagger-ui-bundle.js",
        "swagger-ui.css",
        "swagger-ui-standalone-preset.js",
    }
    for asset in assets:
        assert asset.startswith("/schema/assets/"), asset
        answer = client.get(asset)
        assert answer.status_code == 200, asset
    assert swagger_ui_path.name.startswith("swagger-ui-5.")  # 5.x reads OpenAPI 3.1
