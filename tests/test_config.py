from pathlib import Path

import pytest

from growthloop.core.config import (
    DEFAULT_TOML,
    default_config,
    default_toml,
    load_config,
    parse_config,
)
from growthloop.core.errors import ConfigError


def test_default_follows_the_plan():
    c = default_config()
    assert c.reporting_currency == "USD"
    assert {m.region for m in c.markets} == {
        "South-East Asia", "Europe", "Latin America", "North America"}
    assert c.channel_names == ["live_commerce", "social_ads", "search_ads", "short_video",
                               "referral", "email_crm", "organic"]
    assert {c.channel(n).kind for n in c.channel_names} == {"paid", "owned", "organic", "referral"}
    assert c.market("ID").currency == "IDR"
    assert c.privacy.pseudonymise is True
    assert c.warehouse == ".growthloop/warehouse.duckdb"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('currency = "IDR"', 'currency = "EURO"',
         "markets[0].currency = 'EURO': expected an ISO 4217 code"),
        ('kind = "paid"', 'kind = "payed"',
         "channels[0].kind = 'payed': expected 'paid', 'owned', 'organic' or 'referral'"),
        ("reporting_currency", "reportng_currency", "unknown key 'reportng_currency'"),
        ('code = "TH"', 'code = "ID"', "markets[1].code = 'ID' is a duplicate"),
        ('code = "TH"', 'code = "Thai"', "markets[1].code = 'Thai': expected a value matching"),
        ("min_group_size = 10", "min_group_size = 0",
         "privacy.min_group_size = 0: expected greater than or equal to 1"),
        ('region = "Europe"', 'region = "EU"', "markets[3].region = 'EU': expected"),
        ('reporting_currency = "USD"', 'reporting_currency = "usd"',
         "reporting_currency = 'usd': expected an ISO 4217 code"),
        ('name = "live_commerce"', 'name = "Live Commerce"',
         "channels[0].name = 'Live Commerce'"),
        ("pseudonymise = true", 'pseudonymise = "sometimes"', "privacy.pseudonymise = 'sometimes'"),
    ],
)
def test_bad_config_names_key_value_and_rule(old, new, message):
    assert old in DEFAULT_TOML
    with pytest.raises(ConfigError) as e:
        parse_config(DEFAULT_TOML.replace(old, new, 1), "shop.toml")
    assert str(e.value).startswith("shop.toml: ")
    assert message in str(e.value)


def test_missing_sections_and_bad_toml():
    with pytest.raises(ConfigError, match="markets is missing"):
        parse_config('reporting_currency = "USD"\n[[channels]]\nname="x"\nkind="paid"\n')
    with pytest.raises(ConfigError, match="not valid TOML"):
        parse_config("markets = [")


def test_load_config_missing_file(tmp_path: Path):
    with pytest.raises(ConfigError, match="run `growthloop init`"):
        load_config(tmp_path / "growthloop.toml")


def test_warehouse_path_is_relative_to_the_project(tmp_path: Path):
    assert default_config().warehouse_path(tmp_path) == tmp_path / ".growthloop/warehouse.duckdb"


def test_default_file_is_the_packaged_template_with_goals_filled_in():
    text = default_toml(2027)
    assert text.startswith(DEFAULT_TOML) and "$" not in text
    cfg = parse_config(text)
    assert cfg.model_copy(update={"goals": []}) == default_config()
    assert [g.name for g in cfg.goals][:2] == ["precise_traffic_share_2027", "roas_2027"]
    assert {g.period for g in cfg.goals} == {"2027"} and len(cfg.goals) == 8
    assert cfg.decomposition is None and '# name = "new_users_2027"' in text
    assert cfg.missing_fx == "error"
    skip = parse_config(DEFAULT_TOML.replace('# missing_fx = "skip"', 'missing_fx = "skip"'))
    assert skip.missing_fx == "skip"


def test_default_file_with_a_new_user_goal_and_its_decomposition():
    cfg = parse_config(default_toml(2026, (900, 1000, 1100.5)))
    goal = cfg.goals[-1]
    assert (goal.name, goal.kpi, goal.period) == ("new_users_2026", "new_users", "2026")
    assert (goal.base, goal.target, goal.challenge) == (900, 1000, 1100.5)
    d = cfg.decomposition
    assert d is not None and d.goal == "new_users_2026" and d.quarterly_growth == 0.08
    assert set(d.market_shares) == set(cfg.market_codes)
    assert set(d.channel_shares) == set(cfg.channel_names)
