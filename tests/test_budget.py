"""The budget optimiser: optima known in closed form, every constraint kept and the binding
ones named, plans by name whatever the order, conflicts named before solving, the
carry-over formula by hand, and a plan that beats the current one under the true curves
of a world the model was fitted on."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from growthloop.core.errors import InputError
from growthloop.decide import budget as budget_module
from growthloop.decide.budget import (
    BudgetConstraints,
    InfeasibleBudgetError,
    budget_from_model,
    carry_over_outcome,
    curves_from_model,
    make_curves,
    plan_budget,
)
from growthloop.models.mmm import MediaMixModel, mmm_data
from growthloop.simulate.media import geometric_adstock as np_adstock
from growthloop.simulate.media import hill as np_hill
from test_models_mmm import _panel


def _curves(rows: list[tuple], **kw) -> budget_module.ResponseCurves:
    cols = ["market", "channel", "ceiling", "half_spend", "shape", "current"]
    return make_curves(pd.DataFrame(rows, columns=cols), **kw)


def _by_name(plan: budget_module.BudgetPlan) -> pd.Series:
    return plan.table.set_index(["market", "channel"]).planned


# Two concave (S = 1) pairs: f_i = c_i s / (s + k_i), f_i' = c_i k_i / (s + k_i)^2. Equal
# marginals give s_i + k_i = w_i L with w_i = sqrt(c_i k_i), L = (B + k_1 + k_2) / (w_1 + w_2):
# c = (100, 900), k = (400, 100), B = 1500: w = (200, 300), L = 4, s = (400, 1100).
TWO = [("M", "a", 100.0, 400.0, 1.0, 750.0), ("M", "b", 900.0, 100.0, 1.0, 750.0)]


def test_two_concave_pairs_meet_the_equal_marginal_condition() -> None:
    plan = plan_budget(_curves(TWO), 1500.0)
    s = _by_name(plan)
    assert s["M", "a"] == pytest.approx(400.0, rel=1e-6)
    assert s["M", "b"] == pytest.approx(1100.0, rel=1e-6)
    t = plan.table.set_index("channel")
    # the marginal return at the plan is 1 / L^2 = 1/16 on both
    np.testing.assert_allclose(t.marginal, 1 / 16, rtol=1e-5)
    # outcomes by hand: 100 * 400/800 = 50, 900 * 1100/1200 = 825; current 750 each
    assert t.outcome_planned.tolist() == pytest.approx([50.0, 825.0], rel=1e-6)
    cur = 100 * 750 / 1150 + 900 * 750 / 850
    assert plan.totals.loc["current", "outcome"] == pytest.approx(cur)
    assert plan.totals.loc["change", "outcome"] == pytest.approx(875.0 - cur, rel=1e-6)
    assert plan.binding == ("budget",) and plan.unallocated == pytest.approx(0.0, abs=1e-6)


def test_a_bound_that_binds_is_met_exactly_and_named() -> None:
    plan = plan_budget(_curves(TWO), 1500.0, {"pair_max": {"M": {"b": 900.0}}})
    s = _by_name(plan)
    assert s["M", "b"] == pytest.approx(900.0, rel=1e-9)
    assert s["M", "a"] == pytest.approx(600.0, rel=1e-9)
    assert "pair_max M/b" in plan.binding
    assert plan.table.set_index("channel").binds.to_dict() == {"a": "", "b": "pair_max"}


def test_profit_spends_where_the_marginal_value_covers_the_cost() -> None:
    # v c k / (s + k)^2 = 1  ->  s = sqrt(v c k) - k = sqrt(4 * 100 * 100) - 100 = 100
    one = [("M", "a", 100.0, 100.0, 1.0, 50.0)]
    plan = plan_budget(_curves(one), 1000.0, objective="profit", value_per_outcome=4.0)
    assert _by_name(plan)["M", "a"] == pytest.approx(100.0, rel=1e-5)
    assert plan.unallocated == pytest.approx(900.0, rel=1e-5)
    assert plan.totals.loc["plan", "profit"] == pytest.approx(4 * 50.0 - 100.0, rel=1e-6)


def test_profit_over_a_horizon_pays_every_periods_spend() -> None:
    # no carry-over (alpha 0) and spend at its steady state: H periods are H times one,
    # so the profit optimum is the one-period optimum, s = 100, at any horizon
    one = [("M", "a", 100.0, 100.0, 1.0, 50.0)]
    plan = plan_budget(_curves(one), 1000.0, objective="profit", value_per_outcome=4.0,
                       horizon=13)
    assert _by_name(plan)["M", "a"] == pytest.approx(100.0, rel=1e-5)
    assert plan.totals.loc["plan", "profit"] == pytest.approx(13 * (4 * 50.0 - 100.0),
                                                              rel=1e-6)


def test_marginal_roi_floor_caps_each_pair_where_its_roi_reaches_the_floor() -> None:
    # v f'(s) - 1 >= 1 with S = 1: s <= sqrt(v c k / 2) - k
    plan = plan_budget(_curves(TWO), 1500.0, {"min_marginal_roi": 1.0},
                       value_per_outcome=4.0)
    caps = {"a": math.sqrt(4 * 100 * 400 / 2) - 400, "b": math.sqrt(4 * 900 * 100 / 2) - 100}
    t = plan.table.set_index("channel")
    assert caps["a"] < 0 < caps["b"]  # a never earns ROI 1 at the margin: no spend
    assert t.planned["a"] == pytest.approx(0.0, abs=1e-9)
    assert t.planned["b"] == pytest.approx(caps["b"], rel=1e-6)
    assert t.marginal_roi["b"] == pytest.approx(1.0, rel=1e-5)
    assert "roi_floor M/b" in plan.binding and t.binds["b"] == "roi_floor"
    assert plan.unallocated == pytest.approx(1500.0 - caps["b"], rel=1e-6)


def test_the_floor_gives_way_to_a_pairs_own_minimum() -> None:
    # the floor caps a at 0 and b at 324 (above), but the step keeps both at >= 600
    plan = plan_budget(_curves(TWO), 1500.0, {"min_marginal_roi": 1.0, "max_step": 0.2},
                       value_per_outcome=4.0)
    t = plan.table.set_index("channel")
    assert t.planned["a"] == pytest.approx(600.0, rel=1e-9)
    assert t.planned["b"] == pytest.approx(600.0, rel=1e-9)  # its step minimum, above 324
    assert t.binds.to_dict() == {"a": "step_down, roi_floor", "b": "step_down, roi_floor"}
    assert plan.unallocated == pytest.approx(300.0, rel=1e-9)


def test_an_s_shaped_curve_is_not_left_at_the_symmetric_stationary_point() -> None:
    # two equal S = 3 pairs: an even split is stationary but the optimum puts it all on one
    rows = [("M", c, 10.0, 1000.0, 3.0, 600.0) for c in ("a", "b")]
    plan = plan_budget(_curves(rows), 1200.0)
    grid = np.linspace(0, 1200, 12001)
    f = 10 * np_hill(grid, 1000.0, 3.0)
    best = (f + f[::-1]).max()
    assert plan.totals.loc["plan", "outcome"] == pytest.approx(best, rel=1e-6)
    assert plan.table.planned.max() == pytest.approx(1200.0, rel=1e-6)
    assert best > 1.7 * plan.totals.loc["current", "outcome"]


# A world of 2 markets x 3 channels with mixed shapes (S-shaped video).
WORLD = [
    ("US", "search", 3000.0, 3000.0, 1.0, 4000.0),
    ("US", "social", 1500.0, 2500.0, 1.4, 3000.0),
    ("US", "video", 1200.0, 2000.0, 2.0, 1000.0),
    ("ID", "search", 900.0, 600.0, 1.0, 1000.0),
    ("ID", "social", 700.0, 500.0, 1.2, 500.0),
    ("ID", "video", 300.0, 800.0, 1.8, 500.0),
]


def _totals(plan, key: str) -> pd.Series:
    return plan.table.groupby(key).planned.sum()


def _us_share(plan, group: list[str]) -> float:
    us = plan.table[plan.table.market == "US"]
    return float(us[us.channel.isin(group)].planned.sum() / us.planned.sum())


def _check_all(plan, cons: BudgetConstraints, budget: float) -> None:
    """Every constraint of ``cons`` holds on the plan, checked by name from its table."""
    tol = 1e-6 * budget
    t = plan.table.set_index(["market", "channel"])
    assert (t.planned >= -tol).all()
    assert t.planned.sum() <= budget * (1 - cons.exploration_share) + tol
    ch, mk = _totals(plan, "channel"), _totals(plan, "market")
    for c, v in cons.channel_max.items():
        assert ch[c] <= v + tol
    for c, v in cons.channel_min.items():
        assert ch[c] >= v - tol
    for m, v in cons.market_min.items():
        assert mk[m] >= v - tol
    for m, v in cons.market_max.items():
        assert mk[m] <= v + tol
    for rule in cons.mix:
        share = _us_share(plan, rule.channels)
        assert rule.min_share - 1e-6 <= share <= rule.max_share + 1e-6
    if cons.max_step is not None:
        lo, hi = t.current * (1 - cons.max_step), t.current * (1 + cons.max_step)
        assert ((t.planned >= lo - tol) & (t.planned <= hi + tol)).all()
    if cons.min_marginal_roi is not None:
        assert (t.marginal_roi[t.planned > tol] >= cons.min_marginal_roi - 1e-6).all()


@pytest.fixture(scope="module")
def free() -> budget_module.BudgetPlan:
    return plan_budget(_curves(WORLD), 10_000.0)


def test_the_free_plan_equalises_marginal_returns_where_spend_is_positive(free) -> None:
    t = free.table
    spent = t[t.planned > 1.0]
    assert len(spent) >= 4
    np.testing.assert_allclose(spent.marginal, spent.marginal.iloc[0], rtol=1e-4)
    assert free.totals.loc["plan", "outcome"] > free.totals.loc["current", "outcome"]


@pytest.mark.parametrize(("cons", "binds"), [
    ({"channel_max": {"search": 3000.0}}, "channel_max search"),
    ({"market_min": {"ID": 4000.0}}, "market_min ID"),
    ({"mix": [{"market": "US", "channels": ["social"], "min_share": 0.35}]},
     "mix_min US [social]"),
    ({"max_step": 0.2}, "step_"),
    ({"min_marginal_roi": 0.5}, "roi_floor"),
    ({"channel_max": {"search": 3000.0}, "market_min": {"ID": 2200.0}, "max_step": 0.5,
      "mix": [{"market": "US", "channels": ["social"], "min_share": 0.35}],
      "exploration_share": 0.05}, "channel_max search"),
], ids=["channel_max", "market_min", "mix", "step", "roi_floor", "all"])
def test_each_constraint_is_respected_and_reported_when_it_binds(free, cons, binds) -> None:
    c = BudgetConstraints.model_validate(cons)
    # each constraint is one the free plan breaks
    ft, mix = free.table.set_index(["market", "channel"]), ["social"]
    assert (_totals(free, "channel")["search"] > 3000 and _totals(free, "market")["ID"] < 4000
            and _us_share(free, mix) < 0.35
            and (ft.planned / ft.current - 1).abs().max() > 0.4
            and (4.0 * ft.marginal - 1).max() < 0.5)
    plan = plan_budget(_curves(WORLD), 10_000.0, c, value_per_outcome=4.0)
    _check_all(plan, c, 10_000.0)
    assert any(b.startswith(binds) for b in plan.binding), plan.binding
    # a binding constraint sits at its limit
    if "channel_max" in cons:
        assert _totals(plan, "channel")["search"] == pytest.approx(3000.0, rel=1e-6)
    if "market_min" in cons and "max_step" not in cons:
        assert _totals(plan, "market")["ID"] == pytest.approx(4000.0, rel=1e-6)
    if binds.startswith("mix"):
        assert _us_share(plan, mix) == pytest.approx(0.35, abs=1e-6)
    if binds == "step_":
        t = plan.table
        assert (t.change_share.abs() <= 0.2 + 1e-9).all()
        at_edge = t[t.binds.str.startswith("step_")]
        np.testing.assert_allclose(at_edge.change_share.abs(), 0.2, rtol=1e-6)
    if binds == "roi_floor":
        at_cap = plan.table[plan.table.binds == "roi_floor"]
        assert len(at_cap) and plan.unallocated > 0
        np.testing.assert_allclose(at_cap.marginal_roi[at_cap.planned > 0], 0.5, rtol=1e-5)
    if cons.get("exploration_share"):
        assert plan.exploration == pytest.approx(500.0)
        assert plan.table.planned.sum() == pytest.approx(9500.0, rel=1e-9)
    # named binding constraints are exactly the ones at their limits
    for name in plan.binding:
        assert name == "budget" or name.split()[0] in {
            "channel_max", "market_min", "mix_min", "step_up", "step_down", "roi_floor",
            "pair_min", "pair_max"}


def test_permuting_markets_and_channels_gives_the_same_plan_by_name() -> None:
    cons = {"channel_max": {"search": 3000.0}, "pair_min": {"ID": {"video": 700.0}},
            "mix": [{"market": "US", "channels": ["video", "social"], "min_share": 0.35}],
            "max_step": 0.5}
    a = plan_budget(_curves(WORLD), 10_000.0, cons)
    rng = np.random.default_rng(7)
    for _ in range(3):
        rows = [WORLD[i] for i in rng.permutation(len(WORLD))]
        b = plan_budget(_curves(rows), 10_000.0, cons)
        pd.testing.assert_series_equal(_by_name(b), _by_name(a), rtol=1e-9)
        assert b.binding == a.binding
    # the bounds hold on the pairs they name (ID video: 0 in the free plan)
    s = _by_name(a)
    assert 700.0 - 1e-6 <= s["ID", "video"] <= 750.0 + 1e-6
    assert s.xs("search", level="channel").sum() == pytest.approx(3000.0, rel=1e-9)


def _fails_before_solving(monkeypatch, curves, total, cons) -> InfeasibleBudgetError:
    def never(*a, **k):
        raise AssertionError("the solver ran on an infeasible problem")

    monkeypatch.setattr(budget_module, "_solve", never)
    with pytest.raises(InfeasibleBudgetError) as info:
        plan_budget(curves, total, cons)
    return info.value


@pytest.mark.parametrize(("cons", "message", "names"), [
    ({"market_min": {"ID": 7000.0, "US": 5000.0}},
     "market_min sum to 12,000 > budget 10,000: market_min ID 7,000, market_min US 5,000",
     ["budget", "market_min ID", "market_min US"]),
    ({"market_min": {"ID": 5000.0, "US": 5000.0}, "exploration_share": 0.05},
     "market_min sum to 10,000 > budget 9,500 (after a 500 exploration reserve)",
     ["budget", "market_min ID", "market_min US"]),
    ({"channel_max": {"search": 2000.0, "social": 2000.0, "video": 2000.0}},
     "channel_max sum to 6,000 < budget 10,000", ["budget", "channel_max search"]),
    ({"pair_min": {"US": {"video": 800.0}}, "pair_max": {"US": {"video": 500.0}}},
     "pair_min US/video 800 > pair_max US/video 500",
     ["pair_min US/video", "pair_max US/video"]),
    ({"max_step": 0.1, "pair_max": {"US": {"video": 500.0}}},
     "step_down US/video 900 (current 1,000 - 10%) > pair_max US/video 500",
     ["step_down US/video", "pair_max US/video"]),
    ({"mix": [{"market": "US", "channels": ["video"], "min_share": 0.5}],
      "pair_max": {"US": {"video": 1000.0}}, "pair_min": {"US": {"search": 1500.0}}},
     "mix US [video] >= 50%: at most 40.0% within the pairs' bounds",
     ["mix_min US [video]"]),
    ({"max_step": 0.2}, "step_down sum to 8,000 > budget 7,000", ["budget"]),
    ({"max_step": 0.2}, "step_up sum to 12,000 < budget 13,000", ["budget"]),
    ({"channel_min": {"video": 3000.0}, "pair_max": {"US": {"video": 1000.0}},
      "market_max": {"ID": 1500.0}},
     "these constraints conflict: pair_max US/video 1,000; channel_min video 3,000; "
     "market_max ID 1,500", ["channel_min video", "market_max ID", "pair_max US/video"]),
], ids=["market_min", "reserve", "channel_max", "pair", "step_vs_max", "mix", "step_down",
        "step_up", "lp"])
def test_infeasible_constraints_are_named_before_solving(monkeypatch, cons, message,
                                                         names) -> None:
    total = {"step_down": 7000.0, "step_up": 13_000.0}
    key = next((k for k, v in total.items() if message.startswith(k)), None)
    err = _fails_before_solving(monkeypatch, _curves(WORLD), total.get(key, 10_000.0), cons)
    assert message in str(err), str(err)
    assert set(names) <= set(err.conflicts), err.conflicts


@pytest.mark.parametrize(("cons", "message"), [
    ({"channel_max": {"tv": 1.0}}, "channel_max: no channel 'tv'; the curves have search, "
                                   "social, video"),
    ({"pair_min": {"US": {"tv": 1.0}}}, "pair_min: no channel 'tv' in market 'US'"),
    ({"market_min": {"BR": 1.0}}, "market_min: no market 'BR'; the curves have ID, US"),
    ({"max_step": -0.2}, "budget constraint max_step: Input should be greater than or equal"),
    ({"exploration_share": 0.6}, "budget constraint exploration_share"),
    ({"chanel_max": {}}, "budget constraint chanel_max: Extra inputs"),
])
def test_unknown_names_and_bad_values_are_refused(cons, message) -> None:
    with pytest.raises(InputError, match=message):
        plan_budget(_curves(WORLD), 10_000.0, cons)


def test_bad_curves_are_refused_naming_the_pair() -> None:
    base = pd.DataFrame(WORLD, columns=["market", "channel", "ceiling", "half_spend",
                                        "shape", "current"])
    with pytest.raises(InputError, match="curves: US/search appears more than once"):
        make_curves(pd.concat([base, base.iloc[[0]]]))
    with pytest.raises(InputError, match=r"curves: US/social: half_spend 0.0; expected a "
                                         r"finite number > 0"):
        make_curves(base.assign(half_spend=base.half_spend.where(base.index != 1, 0.0)))
    with pytest.raises(InputError, match=r"ID/video: alpha 1.0; expected a carry-over"):
        make_curves(base.assign(alpha=[0.1] * 5 + [1.0]))
    with pytest.raises(InputError, match="no column 'shape'"):
        make_curves(base.drop(columns="shape"))
    draws = pd.concat([base.assign(draw=d) for d in range(3)])
    curves = make_curves(base.sample(frac=1.0, random_state=1),
                         draws.sample(frac=1.0, random_state=2))
    # draws are matched by name: draw d of ID/video is ID/video's row
    assert curves.draws["ceiling"].shape == (3, 6)
    np.testing.assert_array_equal(curves.draws["ceiling"][0], curves.table.ceiling)
    with pytest.raises(InputError, match="curve draws: ID/video lacks ceiling in some draws"):
        make_curves(base, draws.iloc[:-1])
    with pytest.raises(InputError, match="curve draws: BR/search is not in the curves"):
        make_curves(base, pd.concat([draws, draws.iloc[[0]].assign(market="BR")]))


def test_carry_over_over_a_horizon_by_hand() -> None:
    # one pair, S = 1, c = k = 100, alpha = 0.5, adstock left by the past a_0 = 200, plan
    # s = 100: a_t = s + alpha^t (a_0 - s) = 150, 125, 112.5
    curves = make_curves(pd.DataFrame([{
        "market": "M", "channel": "a", "ceiling": 100.0, "half_spend": 100.0, "shape": 1.0,
        "current": 200.0, "alpha": 0.5, "carry": 200.0}]))
    by_hand = sum(100 * a / (a + 100) for a in (150.0, 125.0, 112.5))
    got = carry_over_outcome(curves, {("M", "a"): 100.0}, horizon=3)
    assert got["M", "a"] == pytest.approx(by_hand, rel=1e-12)
    plan = plan_budget(curves, 100.0, horizon=3)
    assert plan.totals.loc["plan", "outcome"] == pytest.approx(by_hand, rel=1e-9)
    # current spend 200 from a_0 = 200 stays at 200: 3 f(200)
    assert plan.totals.loc["current", "outcome"] == pytest.approx(3 * 200 / 3, rel=1e-12)
    assert plan.totals.loc["plan", "profit"] == pytest.approx(by_hand - 300.0)


def test_the_gradient_is_the_derivative_of_the_response() -> None:
    p = budget_module._point(_curves(WORLD))
    p = budget_module._Params(p.c, p.k, p.s, np.linspace(0.1, 0.7, 6),
                              np.linspace(200, 3000, 6))
    x = np.array([500.0, 2000.0, 100.0, 800.0, 1200.0, 300.0])
    for h in (None, 6):
        num = [(budget_module._response(x + e, p, h) - budget_module._response(x - e, p, h))
               [i] / 2e-3 for i, e in enumerate(np.eye(6) * 1e-3)]
        np.testing.assert_allclose(budget_module._gradient(x, p, h), num, rtol=1e-6)


# ------------------------------------------------------------------ a world with a truth

# the truth of tests/test_models_mmm.py's _panel (checked against its own output below)
K = np.array([1.0, 0.8, 1.2])
S = np.array([1.5, 2.0, 1.2])
BETA = np.array([[0.3, 0.2, 0.15]]) * np.array([[1.0], [0.8], [1.2]])
SCALE = np.array([1000.0, 300.0, 50.0])


@pytest.fixture(scope="module")
def world():
    df, true, alpha = _panel()
    data = mmm_data(df, date="week", target="y", spend=["c0", "c1", "c2"], market="market")
    xm = data.x.mean(axis=2)
    media = BETA[..., None] * np_hill(np_adstock(data.x / xm[..., None], alpha),
                                      K[None, :, None], S[None, :, None])
    np.testing.assert_allclose((media * SCALE[:, None, None]).sum(2) / data.x.sum(2), true)
    model = MediaMixModel(draws=100).fit(data)

    def truth(spend: pd.Series) -> float:
        """The true steady-state outcome per period of a spend by (market, channel)."""
        return float(sum(BETA[i, j] * SCALE[i] * np_hill(spend[m, c] / xm[i, j], K[j], S[j])
                         for i, m in enumerate(data.markets)
                         for j, c in enumerate(data.channels)))

    return df, data, model, truth, alpha


@pytest.mark.parametrize("cons", [None, {"max_step": 0.2}])
def test_the_plan_beats_the_current_one_under_the_true_curves(world, cons) -> None:
    _, data, model, truth, _ = world
    plan = budget_from_model(model, constraints=cons)
    t = plan.table.set_index(["market", "channel"])
    now = float(data.x[:, :, -4:].mean(axis=2).sum())
    assert plan.totals.loc["plan", "spend"] == pytest.approx(now, rel=1e-9)
    assert plan.totals.loc["current", "spend"] == pytest.approx(now, rel=1e-12)
    gain = truth(t.planned) / truth(t.current) - 1
    assert gain > (0.2 if cons is None else 0.05), gain
    # intervals over the draws bracket the point estimate; the model expects the gain
    tot = plan.totals
    for row in ("current", "plan", "change"):
        assert tot.outcome_low[row] <= tot.outcome[row] <= tot.outcome_high[row]
    assert tot.outcome_low["change"] > 0 and plan.probability_better > 0.95
    # the model's expected outcome of the plan is near the truth's
    assert tot.outcome["plan"] == pytest.approx(truth(t.planned), rel=0.15)


def test_curves_from_the_model_are_matched_by_name(world) -> None:
    df, data, model, _, _ = world
    curves = curves_from_model(model)
    t = curves.table
    i, j = data.markets.index("m1"), data.channels.index("c2")
    # current spend: the mean of the last 4 fitted periods; carry: the adstock after them
    assert t.current["m1", "c2"] == pytest.approx(data.x[i, j, -4:].mean())
    a = model.params_["alpha"][i, j]
    assert t.carry["m1", "c2"] == pytest.approx(np_adstock(data.x[i, j], a)[-1])
    assert t.half_spend["m1", "c2"] == pytest.approx(model.params_["half_saturation"][i, j]
                                                     * data.x[i, j].mean())
    assert curves.draws["ceiling"].shape == (100, 9)
    # a second fit with the channels in another order plans the same by name
    other = MediaMixModel(draws=100).fit(mmm_data(
        df, date="week", target="y", spend=["c2", "c0", "c1"], market="market"))
    cons = {"channel_max": {"c1": 150.0}, "max_step": 0.3}
    a_plan, b_plan = (budget_from_model(m, constraints=cons) for m in (model, other))
    pd.testing.assert_series_equal(_by_name(b_plan), _by_name(a_plan), rtol=1e-3)
    assert _totals(a_plan, "channel")["c1"] == pytest.approx(150.0, rel=1e-6)


def test_a_quarter_ahead_counts_the_carry_over_of_past_spend(world) -> None:
    curves = curves_from_model(world[2])
    plan = plan_budget(curves, float(curves.table.current.sum()), horizon=13)
    t = curves.table
    c, k, shape, alpha, carry = (t[n].to_numpy() for n in ("ceiling", "half_spend",
                                                            "shape", "alpha", "carry"))
    s = plan.table.planned.to_numpy()
    # by hand: a_t = s + alpha^t (a_0 - s), outcome sum_t c hill(a_t)
    by_hand = sum((c * np_hill(s + alpha ** t_ * (carry - s), k, shape)).sum()
                  for t_ in range(1, 14))
    assert plan.totals.loc["plan", "outcome"] == pytest.approx(by_hand, rel=1e-9)
    steady = 13 * (c * np_hill(s, k, shape)).sum()
    assert abs(by_hand / steady - 1) > 1e-3  # the carry-over of past spend matters
    # a plan for a quarter differs from the steady-state one (new spend on a slow channel
    # builds up over weeks), less than a plan for one week does, and beats the current one
    steady_plan = plan_budget(curves, float(t.current.sum())).table.planned.to_numpy()
    week = plan_budget(curves, float(t.current.sum()), horizon=1).table.planned.to_numpy()
    assert 0.5 < np.abs(s - steady_plan).max() < np.abs(week - steady_plan).max()
    assert plan.totals.loc["change", "outcome"] > 0
    assert plan.totals.loc["change", "outcome_low"] > 0
