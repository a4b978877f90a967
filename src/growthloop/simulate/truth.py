"""The ground truth of a simulated world (truth.json): every generating parameter, the
expected values derived from them, and the counterfactuals and draws no table shows.

Sections follow the stages of the simulation. Figures that are only a function of the
written tables (KPI values such as revenue by month or active users) are not repeated
here: tests compute them from the tables themselves, independently of the simulator.

Planted changes appear only in a world that has them: ``shocks`` (channel, market, date,
factor; each shocked pair's ``media[...]["shock"]`` and ``media_definitions["shock"]``)
and ``risks`` (kind, market, channel or null, date, effective_start, size, kpis and a
few realised counts of each; ``risk_definitions`` says what each kind does and what its
fields mean). A cac risk's pair also has a ``shock`` section (effectiveness 1 / size).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from growthloop.core.config import Config
from growthloop.core.schema import DEVICES, ORDER_STATUSES, REFERRAL_MECHANISMS
from growthloop.simulate.acquisition import Acquisition, Signups, SignupValue
from growthloop.simulate.calendar import (
    FESTIVAL_PEAKS,
    WEEKDAY_MULTIPLIERS,
    Calendar,
)
from growthloop.simulate.customers import bgnbd_prob_no_repeat
from growthloop.simulate.experiments import Assignment, Experiment
from growthloop.simulate.fx import MEAN_REVERSION, FxRates
from growthloop.simulate.journeys import Journeys
from growthloop.simulate.orders import NPS_SCORE_GIVEN_CATEGORY, Orders, expected_nps
from growthloop.simulate.params import (
    ANONYMOUS_SESSIONS_PER_VISITOR,
    BROWSE_LEAD_DAYS,
    LIVE_EXTRA_INTERACTIONS_MEAN,
    LIVE_INTERACTION,
    N_PRODUCTS,
    NPS_RESPONSE_RATE,
    NPS_SLOW_FACTOR,
    PAGE_VIEWS_EXTRA_MEAN,
    PRODUCT_VIEWS_EXTRA_MEAN,
    REFERRAL_DELAY_MEAN_DAYS,
    RETURN_DELAY_MEAN_DAYS,
    SESSION_CAP_DAYS,
    SESSION_GAP_SECONDS,
    SHORT_VIDEO_COMPLETION,
    SHORT_VIDEO_EXTRA_VIEWS_MEAN,
    TOUCH_GAP_MEAN_DAYS,
    VALUE_WINDOW_DAYS,
    WorldParams,
)
from growthloop.simulate.risks import (
    HIGH_VALUE_SHARE,
    MAX_RETURN_PROBABILITY,
    RISK_KPIS,
    RiskOutcome,
    risk_shocks,
)
from growthloop.simulate.sessions import Sessions
from growthloop.simulate.shocks import Shock
from growthloop.simulate.traffic import BrowsePool

__all__ = ["VERSION", "Traffic", "realised_traffic", "truth_document"]

VERSION = 1
Experiments = tuple[tuple[Experiment, Assignment], ...]


# ---- traffic ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Traffic:
    """Sessions and events in all."""

    sessions: int
    events: int


def realised_traffic(sessions: Sessions) -> Traffic:
    """How many sessions and events were generated."""
    return Traffic(sessions=len(sessions), events=int(sessions.event_counts().sum()))


# ---- helpers -------------------------------------------------------------------------------

def _by_market(params: WorldParams, values: np.ndarray) -> dict[str, object]:
    return {m: values[i] for i, m in enumerate(params.markets)}


def _by_market_channel(params: WorldParams, values: np.ndarray,
                       channels: tuple[int, ...] | None = None) -> dict[str, dict[str, object]]:
    cols = range(params.n_channels) if channels is None else channels
    return {m: {params.channels[c]: values[i, c] for c in cols}
            for i, m in enumerate(params.markets)}


def _rows_by_market(params: WorldParams, names: tuple[str, ...],
                    values: np.ndarray) -> dict[str, dict[str, object]]:
    """``values[i]`` (one per name) of each market ``i`` as a mapping."""
    return {m: dict(zip(names, values[i], strict=True)) for i, m in enumerate(params.markets)}


def _kept(orders: Orders) -> np.ndarray:
    """Orders neither cancelled nor returned."""
    status = orders.fulfilment.status
    return (status != ORDER_STATUSES.index("cancelled")) & (
        status != ORDER_STATUSES.index("returned"))


# ---- sections ------------------------------------------------------------------------------

def _meta(cfg: Config, params: WorldParams, cal: Calendar, seed: int, n_users: int,
          n: int) -> dict[str, object]:
    return {
        "generator": "growthloop.simulate", "version": VERSION, "seed": seed,
        "n_users_requested": n_users, "n_users": n, "days": cal.days,
        "start": cal.start.isoformat(),
        "horizon_end": (cal.start + dt.timedelta(days=cal.days)).isoformat(),
        "reporting_currency": cfg.reporting_currency, "time_unit": "days",
        "markets": {m.code: {"region": params.regions[i], "currency": m.currency,
                             "countries": list(m.countries),
                             "utc_offset_hours": params.utc_offset[i]}
                    for i, m in enumerate(cfg.markets)},
        "channels": {c.name: c.kind for c in cfg.channels},
        "money": "amounts are generated in the reporting currency and written in the "
                 "market's currency divided by that day's fx rate (UTC date)",
    }


def _calendar(cal: Calendar) -> dict[str, object]:
    return {
        "weekday_multipliers_mon_to_sun": list(WEEKDAY_MULTIPLIERS),
        "festival_peaks_by_region": FESTIVAL_PEAKS,
        "festivals_in_horizon": [[name, d.isoformat()] for name, d in cal.festivals],
        "signup_seasonality": "weekday * festival",
        "browse_seasonality": "weekday * festival (anonymous visitors)",
        "spend_seasonality": "always-on campaigns weekday^0.6 * festival^0.8; flights "
                             "weekday^0.6 * festival^0.5; festival pushes (festival - 1)",
    }


def _fx(fx: FxRates) -> dict[str, object]:
    return {"base_rates": fx.base, "daily_log_volatility": fx.volatility,
            "mean_reversion": MEAN_REVERSION,
            "definition": "rate = reporting-currency units per one unit of currency; "
                          "log(rate/base) is a mean-reverting random walk"}


def _shock_period(acq: Acquisition, pair: int, days: slice, day_counts: np.ndarray,
                  value: float) -> dict[str, object]:
    """Spend, planned, expected and realised sign-ups and ROI of a pair over ``days``."""
    plan = acq.plan
    spend = plan.spend[pair, days].sum()
    expected = plan.true_expected[pair, days].sum()
    realised = day_counts[days].sum()
    return {"days": len(range(*days.indices(plan.spend.shape[1]))), "spend": spend,
            "signups_planned": plan.expected[pair, days].sum(),
            "signups_expected": expected, "signups_incremental": realised,
            "roi_expected": expected * value / spend if spend > 0 else None,
            "roi": realised * value / spend if spend > 0 else None}


def _shock(acq: Acquisition, cal: Calendar, shocks: tuple[Shock, ...], pair: int,
           day_counts: np.ndarray, value: float) -> dict[str, object]:
    """Before and after the pair's first shock, and its effectiveness from each date on
    (the product of the factors of its shocks dated on or before)."""
    dates = sorted({s.date for s in shocks})
    first = (dates[0] - cal.start).days
    return {"date": dates[0].isoformat(),
            "effectiveness_from": [[d.isoformat(), float(np.prod(
                [s.factor for s in shocks if s.date <= d]))] for d in dates],
            "signups_planned": acq.plan.expected[pair].sum(),
            "before": _shock_period(acq, pair, slice(0, first), day_counts, value),
            "after": _shock_period(acq, pair, slice(first, None), day_counts, value)}


def _media(params: WorldParams, acq: Acquisition, signups: Signups, orders: Orders,
           cal: Calendar, shocks: tuple[Shock, ...] = ()) -> dict[str, object]:
    """Per (market, channel) pair: the response, spend, targets and the realised return."""
    plan, pairs, shapes = acq.plan, acq.plan.pairs, acq.plan.campaigns
    value_net, value_gross = acq.value.net, acq.value.gross
    paid_user = signups.paid
    user_pair = np.where(paid_user, acq.pair_of[signups.market, np.maximum(signups.channel, 0)],
                         -1)
    pair_users = np.bincount(user_pair[paid_user], minlength=len(pairs))
    o_pair = user_pair[orders.user]
    pair_revenue = np.bincount(o_pair[o_pair >= 0],
                               weights=(orders.value * _kept(orders))[o_pair >= 0],
                               minlength=len(pairs))
    spend_total = plan.spend.sum(axis=1)
    out = {}
    for i, (m, c) in enumerate(pairs):
        sel = shapes.pair == i
        out[f"{params.markets[m]}|{params.channels[c]}"] = {
            "market": params.markets[m], "channel": params.channels[c],
            "adstock_alpha": plan.alpha[i], "hill_half_saturation": plan.k_half[i],
            "hill_shape": plan.shape[i], "beta": plan.beta[i],
            "spend_total": spend_total[i], "signups_expected": plan.true_expected[i].sum(),
            "signups_incremental": pair_users[i],
            "value_per_signup": value_net[m, c], "value_per_signup_gross": value_gross[m, c],
            "roi_target": params.roi_target[m, c],
            "roi": pair_users[i] * value_net[m, c] / spend_total[i],
            "revenue_in_horizon": pair_revenue[i],
            "roas_in_horizon": pair_revenue[i] / spend_total[i],
            "cpm": params.cpm[m, c], "ctr": params.ctr[c],
            "campaigns": {plan.campaign_names[k]: {"kind": shapes.kind[k],
                                                   "spend_total": plan.campaign_spend[k].sum()}
                          for k in np.flatnonzero(sel)},
        }
    for key, mine in _shocks_by_pair(params, shocks).items():
        i = acq.pair_of[params.markets.index(mine[0].market),
                        params.channels.index(mine[0].channel)]
        m, c = pairs[i]
        day_counts = np.bincount(np.floor(signups.t[user_pair == i]).astype(np.int64),
                                 minlength=cal.days)
        out[key]["shock"] = _shock(acq, cal, mine, i, day_counts, value_net[m, c])
    return out


def _shocks_by_pair(params: WorldParams,
                    shocks: tuple[Shock, ...]) -> dict[str, tuple[Shock, ...]]:
    """The shocks of each shocked pair, by its ``MARKET|channel`` key."""
    out: dict[str, list[Shock]] = {}
    for s in shocks:
        out.setdefault(f"{s.market}|{s.channel}", []).append(s)
    return {k: tuple(v) for k, v in out.items()}


MEDIA_DEFINITIONS = {
    "adstock": "a_t = (1 - alpha) * sum_l alpha^l spend_{t-l} (geometric, normalised, "
               "starts at 0 on day 0; Jin et al. 2017)",
    "hill": "hill(a) = a^S / (a^S + K^S) with K in reporting currency per day",
    "signups": "paid sign-ups per day ~ Poisson(beta * hill(adstock(spend)))",
    "value_per_signup": "expected net revenue (reporting currency) of a sign-up in "
                        f"its first {VALUE_WINDOW_DAYS:g} days: P(first purchase | "
                        "sign-up channel) * E[order value] * (1 + E[X(365)]) * "
                        "(1 - cancel) * (1 - return); untruncated journeys, "
                        "experiments ignored",
    "roi_target": "the return the plan was built for: spend_total = signups_expected * "
                  "value_per_signup / roi_target (so signups_expected * value_per_signup / "
                  "spend_total is roi_target by construction, and is not given)",
    "roi": "signups_incremental * value_per_signup / spend_total: realised sign-ups "
           "times the expected (not realised) value of a sign-up",
    "roas_in_horizon": "net revenue of the pair's paid sign-ups realised inside the "
                       "horizon / spend_total",
}
SHOCK_DEFINITION = (
    "a planted shock (truth shocks: channel, market, date, factor) multiplies the "
    "pair's beta by factor on every day from date (UTC, inclusive) to the horizon end; "
    "shocks on one pair compound (effectiveness_from: the multiplier from each date on). "
    "Spend and beta are as planned (the advertiser does not know), so for a shocked pair "
    "signups_expected = sum_t effectiveness_t * beta * hill(adstock(spend))_t, and "
    "roi_target is the return planned without the shock. shock.before covers the days "
    "before the pair's first shock date, shock.after the days from it: spend and "
    "sign-ups of those days (signups_planned without the shock, signups_expected with "
    "it, signups_incremental realised), roi_expected = signups_expected * "
    "value_per_signup / spend and roi = signups_incremental * value_per_signup / spend "
    "(null without spend). Sign-ups after the date include the carry-over of earlier "
    "spend, at the shocked effectiveness")


RISK_DEFINITIONS = {
    "fields": "kind, market, channel (cac only, else null), date (UTC, inclusive), "
              "effective_start (the first day the risk changes anything: the date, or for "
              "a promotion the first day from it with a festival lift), size, kpis (the "
              "catalog KPIs it is expected to move in its market); risks of one kind in "
              "one market compound",
    "cac": "the channel's acquisition cost in the market is size times from the date: its "
           "media effectiveness is 1 / size (a shock: media[pair].shock), spend unchanged; "
           "media_pair and effectiveness name it",
    "fulfilment": "orders placed in the market from the date take size more days to "
                  "deliver; the NPS slow threshold stays 1.5 x the region's usual mean "
                  "(fulfilment.delivery_days_gamma), so NPS falls; orders_affected counts "
                  "the orders placed there from the date",
    "returns": "the return probability of orders placed in the market from the date is "
               f"size times (at most {MAX_RETURN_PROBABILITY:g}); orders_affected as above",
    "order_value": "the value (reporting and local amount) of orders placed in the market "
                   "from the date is size times; orders_affected as above",
    "churn": "a share size of the market's high-value buyers (the top "
             f"{HIGH_VALUE_SHARE:.0%} of the buyers with a first purchase before the date, "
             "by lam * p / nu: BG/NBD rate times Gamma-Gamma mean value) make no purchase "
             "from the date: their orders (and what hangs on them: sessions, surveys, "
             "free-shipping units without another order in the window) are removed; "
             "high_value_user_ids and churned_user_ids (raw ids), their counts, "
             "high_value_orders_after (orders from the date of all high-value buyers in the "
             "world without the risk) and orders_removed. With the win-back coupon a "
             "churned customer can still be brought back by it; truth_uplift counts those "
             "gone by the window start as buying nothing on their own (p0 = 0)",
    "promotion": "a share size of the market's festival lift stops working from the date: "
                 "where the festival multiplier f > 1 (festival_days), demand sees "
                 "1 + (1 - size) (f - 1): organic and owned sign-ups and anonymous visits are "
                 "thinned by the ratio, paid sign-ups are what the planned spend would bring "
                 "had it been planned for the weaker lift (always-on f^0.8, flights f^0.5, "
                 "festival pushes f - 1); spend is as planned (media signups_expected "
                 "includes the loss); fewer sign-ups bring fewer touches, first orders and "
                 "browsing. funnel.noncompleting_sessions_target counts the anonymous visits "
                 "before the thinning",
    "kpis": RISK_KPIS,
}


def _acquisition(params: WorldParams, acq: Acquisition, signups: Signups) -> dict[str, object]:
    nm, nc = params.n_markets, params.n_channels
    users_by_m_c = np.bincount(signups.market * nc + signups.channel,
                               minlength=nm * nc).reshape(nm, nc)
    return {
        "seed_signups_target": _by_market(params, acq.seeds_target),
        "paid_share_of_seed_signups": _by_market(params, params.paid_share),
        "paid_mix": _by_market_channel(params, params.paid_mix, params.media_channels),
        "baseline_mix": _by_market_channel(params, params.baseline_mix,
                                           params.baseline_channels),
        "market_weight": _by_market(params, acq.market_share),
        "users": _by_market(params, np.bincount(signups.market, minlength=nm)),
        "users_by_channel": _by_market_channel(params, users_by_m_c),
        "paid_signups": int(signups.paid.sum()),
    }


def _referrals(params: WorldParams, signups: Signups) -> dict[str, object]:
    return {
        "viral_k": _by_market(params, params.viral_k),
        "delay_mean_days": REFERRAL_DELAY_MEAN_DAYS,
        "mechanism_probabilities": _rows_by_market(params, REFERRAL_MECHANISMS,
                                                   params.mechanism_mix),
        "definition": "each user invites Poisson(viral_k) successful invitees, each "
                      "signing up Exp(delay_mean_days) after the inviter; invitees after "
                      "the horizon end are not observed",
        "referred_users": signups.referred,
        "max_generation": int(signups.generation.max()) if len(signups) else 0,
    }


def _users(params: WorldParams) -> dict[str, object]:
    return {
        "consent_rates": _rows_by_market(params, ("analytics", "marketing", "personalisation"),
                                         params.consent),
        "cross_border_share": _by_market(params, params.cross_border),
        "device_mix": _rows_by_market(params, DEVICES, params.device_mix),
    }


def _attribution(params: WorldParams, value: SignupValue, signups: Signups,
                 journeys: Journeys) -> dict[str, object]:
    conv_rate = journeys.conversions / np.maximum(
        np.bincount(signups.market, minlength=params.n_markets), 1)
    return {
        "model": "noisy-OR: p = 1 - (1 - base) * prod over touches (1 - effect[channel]); "
                 "converts if U < p; the first purchase is in the last touch session",
        "base": _by_market(params, params.base_conversion),
        "effect": _by_market_channel(params, params.effect),
        "later_touches_mean": _by_market(params, params.later_touches_mean),
        "touch_gap_mean_days": TOUCH_GAP_MEAN_DAYS,
        "touch_mix": _by_market_channel(params, params.touch_mix),
        "expected_conversion_given_signup_channel": _by_market_channel(
            params, value.conversion),
        "conversions": _by_market(params, journeys.conversions),
        "conversion_rate": _by_market(params, conv_rate),
        "lost_conversions_without_channel": _by_market_channel(params, journeys.lost),
        "lost_definition": "users with U < p but U >= p without the channel's touches "
                           "(same U; experiment multiplier applied to both)",
    }


def _repeat_purchases(params: WorldParams, value: SignupValue,
                      orders: Orders) -> dict[str, object]:
    r, al, a, b = params.bgnbd.T
    customers = int(orders.first.sum())
    return {
        "model": "BG/NBD (Fader, Hardie & Lee 2005): lambda ~ Gamma(r, rate alpha), "
                 "p ~ Beta(a, b), drop-out only right after a repeat purchase; repeats "
                 "are purchase occasions on distinct whole days (one order each), the "
                 "clock starting at the end of the first purchase day and running to the "
                 "horizon end",
        "time_unit": "days",
        "params": _rows_by_market(params, ("r", "alpha", "a", "b"), params.bgnbd),
        "repeat_within_365_days": _by_market(
            params, 1.0 - bgnbd_prob_no_repeat(365.0, r, al)),
        "expected_repeats_365_days": _by_market(params, value.repeats),
        "lifetime_years_heuristic": _by_market(
            params, (a + b - 1.0) / (a - 1.0) / (r / al) / 365.0),
        "customers": customers, "repeat_orders": len(orders) - customers,
    }


def _order_values(params: WorldParams, value: SignupValue, orders: Orders) -> dict[str, object]:
    nm, om = params.n_markets, orders.market
    return {
        "model": "Gamma-Gamma (Fader, Hardie & Lee 2005): nu ~ Gamma(q, rate gamma), "
                 "order value ~ Gamma(p, rate nu), reporting currency",
        "params": _rows_by_market(params, ("p", "q", "gamma"), params.gg),
        "mean_order_value": _by_market(params, value.order_value),
        "value_reporting_total": _by_market(params, np.bincount(om, orders.value,
                                                                minlength=nm)),
        "orders": _by_market(params, np.bincount(om, minlength=nm)),
    }


def _fulfilment(params: WorldParams) -> dict[str, object]:
    return {
        "cancel_probability": _by_market(params, params.cancel_probability),
        "return_probability": _by_market(params, params.return_probability),
        "return_delay_mean_days": RETURN_DELAY_MEAN_DAYS,
        "delivery_days_gamma": {m: {"shape": params.delivery_gamma[i, 0],
                                    "scale": params.delivery_gamma[i, 1],
                                    "mean": params.delivery_gamma[i].prod()}
                                for i, m in enumerate(params.markets)},
        "status_rule": "cancelled with cancel_probability; returned with "
                       "return_probability among the rest when the return (delivery + "
                       "Exp(return_delay_mean_days)) is before the horizon end; else "
                       "delivered if delivered by then, shipped, or paid when placed in "
                       "the last 6 hours",
    }


def _funnel(params: WorldParams, pool: BrowsePool) -> dict[str, object]:
    steps = ("product_view_given_session", "add_to_cart_given_product_view",
             "checkout_given_add_to_cart", "purchase_given_checkout")
    return {
        "step_rates": _rows_by_market(params, steps, params.funnel),
        "definition": "share of sessions (session_start events) reaching a step among "
                      "those reaching the previous one",
        "completion_probability": _by_market(params, pool.completion),
        "purchases": _by_market(params, pool.purchases),
        "noncompleting_sessions_target": _by_market(params, pool.target),
        "noncompleting_shortfall": _by_market(params,
                                              np.maximum(pool.existing - pool.target, 0)),
        "session_gap_seconds": SESSION_GAP_SECONDS,
        "anonymous_browse_share": pool.anonymous_share,
    }


def _sessions(traffic: Traffic) -> dict[str, object]:
    return {
        "page_views": f"1 + Poisson({PAGE_VIEWS_EXTRA_MEAN:g}) per session",
        "product_views": f"1 + Poisson({PRODUCT_VIEWS_EXTRA_MEAN:g}) when reached",
        "short_video_views": f"1 + Poisson({SHORT_VIDEO_EXTRA_VIEWS_MEAN:g}) per "
                             "short_video session, each completed independently",
        "live_interactions": f"1 + Poisson({LIVE_EXTRA_INTERACTIONS_MEAN:g}) when "
                             "interacting",
        "duration": f"Gamma(events - 1, {SESSION_GAP_SECONDS:g} s), at most "
                    f"{SESSION_CAP_DAYS * 24:g} h; events spread as uniform order "
                    "statistics, the purchase last",
        "signup_session": "starts U(0, 0.5) x duration before the sign-up; events "
                          "before the sign-up are anonymous",
        "browsing": "non-completing sessions beyond the touches and shares: a share "
                    "anonymous_browse_share (funnel) by visitors who never sign up, the "
                    "rest by users, each joining a shopping episode drawn uniformly among "
                    "the market's (one ending in each order, one ending the last touch of "
                    "each user who never buys) and starting Exp(browse_lead_days) before "
                    "its end; anonymous (the user's visitor id) before the sign-up; no "
                    "effect on conversion",
        "browse_lead_days": BROWSE_LEAD_DAYS,
        "anonymous_sessions_per_visitor": ANONYMOUS_SESSIONS_PER_VISITOR,
        "products": f"{N_PRODUCTS} products, popularity (rank + 10)^-1.1",
        "later_touch_email_rule": "email_crm touches only with marketing consent, "
                                  "organic otherwise",
        "sessions": traffic.sessions, "events": traffic.events,
    }


CONTENT = {"short_video_completion_rate": SHORT_VIDEO_COMPLETION,
           "live_interaction_rate": LIVE_INTERACTION,
           "definition": "completion = content_complete / content_view in short_video "
                         "sessions; interaction = share of live views (live_commerce "
                         "sessions) with at least one live_interaction"}


def _nps(params: WorldParams) -> dict[str, object]:
    categories = ("promoter", "passive", "detractor")
    return {"expected_nps": _by_market(params, expected_nps(params)),
            "category_probabilities_normal": _rows_by_market(params, categories,
                                                             params.nps_normal),
            "category_probabilities_slow": _rows_by_market(params, categories,
                                                           params.nps_slow),
            "score_given_category": NPS_SCORE_GIVEN_CATEGORY,
            "slow_delivery": f"delivery longer than {NPS_SLOW_FACTOR:g} x the mean",
            "response_rate": NPS_RESPONSE_RATE}


def _experiments(experiments: Experiments) -> dict[str, object]:
    return {exp.name: {**exp.truth(), "units": len(asg.unit), "treated": int(asg.treated.sum())}
            for exp, asg in experiments}


def truth_document(cfg: Config, seed: int, n_users: int, params: WorldParams, cal: Calendar,
                   fx: FxRates, acq: Acquisition, signups: Signups, journeys: Journeys,
                   orders: Orders, pool: BrowsePool, traffic: Traffic,
                   experiments: Experiments, rows: dict[str, int],
                   shocks: tuple[Shock, ...] = (),
                   risks: tuple[RiskOutcome, ...] = ()) -> dict[str, object]:
    """The whole truth.json document (numpy values; ``output.jsonable`` converts them).

    ``shocks`` and the shock definition appear only in a world with shocks (or a cac
    risk, whose shock is in its pair's media section), ``risks`` and their definitions
    only in a world with risks.
    """
    media_shocks = shocks + risk_shocks(o.risk for o in risks)
    doc: dict[str, object] = {
        "meta": _meta(cfg, params, cal, seed, n_users, len(signups)),
        "calendar": _calendar(cal),
        "fx": _fx(fx),
        "media": _media(params, acq, signups, orders, cal, media_shocks),
        "media_definitions": MEDIA_DEFINITIONS,
        "acquisition": _acquisition(params, acq, signups),
        "referrals": _referrals(params, signups),
        "users": _users(params),
        "attribution": _attribution(params, acq.value, signups, journeys),
        "repeat_purchases": _repeat_purchases(params, acq.value, orders),
        "order_values": _order_values(params, acq.value, orders),
        "fulfilment": _fulfilment(params),
        "funnel": _funnel(params, pool),
        "sessions": _sessions(traffic),
        "content": CONTENT,
        "nps": _nps(params),
        "experiments": _experiments(experiments),
        "tables": rows,
    }
    if shocks:
        doc["shocks"] = [s.as_dict() for s in shocks]
    if media_shocks:
        doc["media_definitions"] = {**MEDIA_DEFINITIONS, "shock": SHOCK_DEFINITION}
    if risks:
        doc["risks"] = [o.as_dict() for o in risks]
        doc["risk_definitions"] = RISK_DEFINITIONS
    return doc
