"""The settings object: environment and .env, converted and checked once."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from application.settings import load_settings
from storage.config import ConfigError


def test_defaults_without_any_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    s = load_settings({})
    assert (s.database_url, s.pool_size, s.projections, s.log_level) == (
        "sqlite:///./caselog.db", 5, "inline", "info")  # fmt: skip
    assert s.jwks_url is None
    assert s.metrics_token is None


def test_values_are_converted_and_the_environment_wins_over_dotenv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(
        "# comment\nCASELOG_POOL_SIZE=7\nCASELOG_EXAMPLE_TARIFFS=yes\nCASELOG_PORT=9000\n"
    )
    s = load_settings({"CASELOG_PORT": "9100"}, export=False)
    assert (s.pool_size, s.example_tariffs, s.port) == (7, True, 9100)
    # options (the command line) win over both
    assert load_settings({"CASELOG_PORT": "9100"}, export=False, port=9200).port == 9200


def test_a_named_env_file_is_read_and_a_missing_one_is_an_error(tmp_path: Path) -> None:
    f = tmp_path / "caselog.env"
    f.write_text("CASELOG_LOG_LEVEL=debug\n")
    assert load_settings({"CASELOG_ENV_FILE": str(f)}).log_level == "debug"
    with pytest.raises(ConfigError, match="CASELOG_ENV_FILE: no file"):
        load_settings({"CASELOG_ENV_FILE": str(tmp_path / "nope.env")})


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"CASELOG_POOL_SIZE": "many"}, "CASELOG_POOL_SIZE: Expected `int`"),
        ({"CASELOG_POOL_SIZE": "0"}, "CASELOG_POOL_SIZE: Expected `int` >= 1"),
        ({"CASELOG_PORT": "70000"}, "CASELOG_PORT"),
        ({"CASELOG_JWT_SECRET": "short"}, "CASELOG_JWT_SECRET: .* at least 32"),
        ({"CASELOG_METRICS_TOKEN": "short"}, "CASELOG_METRICS_TOKEN"),
        ({"CASELOG_LOG_LEVEL": "loud"}, "CASELOG_LOG_LEVEL: .*debug, info"),
        ({"CASELOG_PROJECTIONS": "sometimes"}, "CASELOG_PROJECTIONS: .*inline or off"),
        ({"CASELOG_DATABASE_URL": "mysql://db/x"}, "sqlite:/// or postgresql://"),
        (
            {
                "CASELOG_JWKS_URL": "ftp://idp/keys",
                "CASELOG_JWT_AUDIENCE": "a",
                "CASELOG_JWT_ISSUER": "i",
            },
            "CASELOG_JWKS_URL: .*https://",
        ),
        (
            {"CASELOG_JWKS_URL": "https://idp/keys", "CASELOG_PSEUDONYM_KEY": "k" * 32},
            "needs CASELOG_JWT_AUDIENCE and CASELOG_JWT_ISSUER",
        ),
        (
            {
                "CASELOG_JWKS_URL": "https://idp/keys",
                "CASELOG_JWT_AUDIENCE": "a",
                "CASELOG_JWT_ISSUER": "i",
            },
            "needs CASELOG_PSEUDONYM_KEY",
        ),
    ],
    ids=lambda v: next(iter(v)) if isinstance(v, dict) else "",
)
def test_a_bad_value_is_one_line_naming_the_variable(
    env: dict[str, str], says: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=says) as caught:
        load_settings(env)
    assert "\n" not in str(caught.value)


def test_the_application_reads_the_catalogue_folder_and_example_tariffs_once(
    tmp_path: Path,
) -> None:
    # given a folder with one tenant's catalogue, and the example tariffs switched on
    from application.settings import configured_catalogues
    from domain.catalogue import CATALOGUE_DIR
    from projections.pricing import price_on

    (tmp_path / "zou.toml").write_text((CATALOGUE_DIR / "zou.toml").read_text())
    env = {"CASELOG_CATALOGUE_DIR": str(tmp_path), "CASELOG_EXAMPLE_TARIFFS": "yes"}
    # when the catalogues are loaded from those settings
    cats = configured_catalogues(env)
    # then they hold that folder's tenant, carrying the demo tariffs the pricing falls back to
    assert cats.tenants == ["zou"]
    _, source = price_on(cats.for_tenant("zou"), "02A05", date(2024, 2, 1))
    assert source == "example"
    # and without the switch the same product has no price (ZOU's catalogue names no rates)
    plain = configured_catalogues({"CASELOG_CATALOGUE_DIR": str(tmp_path)})
    assert price_on(plain.for_tenant("zou"), "02A05", date(2024, 2, 1)) == (None, "none")


def test_a_catalogue_file_cannot_carry_example_prices(tmp_path: Path) -> None:
    from domain.catalogue import CATALOGUE_DIR, CatalogueError, Catalogues

    text = (CATALOGUE_DIR / "zou.toml").read_text()
    price = '[[example_prices.02A05]]\nvalid_from = 2015-01-01\namount = "1.00"\n'
    (tmp_path / "zou.toml").write_text(text + "\n" + price + 'per = "hour"\nsource = "x"\n')
    with pytest.raises(CatalogueError, match="example_prices"):
        Catalogues.load(tmp_path)
