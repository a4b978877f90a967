"""Orchestration: simulate the shop, write the canonical tables and the ground truth.

``simulate`` runs the steps in order, each drawing from its own random stream:
calendar and FX; the media plan meeting the sign-up targets (adstock + Hill); seed
sign-ups (paid and organic/owned) and the referral branching process; user profiles;
the checkout experiment, touch journeys and first purchases (noisy-OR) and the touch
sessions; orders (BG/NBD repeats, Gamma-Gamma values, the free-shipping experiment),
fulfilment and NPS surveys; the win-back coupon's units and extra orders with their
fates, surveys and sessions (``winback``, all from the ``uplift`` stream, so the other
streams draw what they drew before it existed); the other sessions (browsing, by buyers
and non-buyers alike: see ``traffic``); ids and the events (written in chunks); the
other tables; the truth document. Planted shocks (``shocks``) change the true media response
of a pair from a date on, planted risks (``risks``) a market's acquisition cost,
fulfilment, returns, order values, high-value customers or festival lift (their own
draws from the ``risks`` stream); without them the files are those of a world without
shocks or risks.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from growthloop.core.config import Config, default_config
from growthloop.simulate.acquisition import (
    Profiles,
    Signups,
    add_referrals,
    draw_profiles,
    plan_acquisition,
    seed_signups,
)
from growthloop.simulate.calendar import Calendar, build_calendar
from growthloop.simulate.experiments import (
    Assignment,
    Experiment,
    assign_buyers,
    assign_signups,
    default_experiments,
    winback_experiment,
)
from growthloop.simulate.fx import FxRates, simulate_fx, usd_per_unit
from growthloop.simulate.journeys import Journeys, simulate_journeys
from growthloop.simulate.orders import (
    Fulfilment,
    Orders,
    Surveys,
    fulfil,
    keep_orders,
    keep_surveys,
    merge_orders,
    merge_surveys,
    nps_surveys,
    order_values_and_rates,
    repeat_purchases,
)
from growthloop.simulate.output import jsonable, take, write_json, write_parquet
from growthloop.simulate.params import (
    ANONYMOUS_BROWSE_SHARE,
    N_PRODUCTS,
    WorldParams,
    build_params,
)
from growthloop.simulate.risks import (
    MAX_RETURN_PROBABILITY,
    Churn,
    Risk,
    RiskOutcome,
    check_risks,
    churn,
    effective_start,
    festival_demand,
    order_effects,
    risk_shocks,
)
from growthloop.simulate.sessions import product_draws
from growthloop.simulate.shocks import Shock, check_shocks
from growthloop.simulate.tables import Ids, Progress, make_ids, write_events, write_tables
from growthloop.simulate.traffic import (
    Touches,
    all_sessions,
    coupon_sessions,
    merge_sessions,
    renumber_orders,
    touch_sessions,
)
from growthloop.simulate.truth import realised_traffic, truth_document
from growthloop.simulate.winback import Winback, coupon_orders, winback_units

__all__ = ["TABLE_FILES", "simulate"]

TABLE_FILES: tuple[str, ...] = ("users", "events", "orders", "ad_spend", "referrals", "surveys",
                                "experiment_assignments", "fx_rates")
_STREAMS = ("fx", "media", "signups", "referrals", "users", "experiments", "journeys",
            "sessions", "orders", "values", "fulfilment", "surveys", "events", "ids",
            "shocks", "uplift", "risks")  # append only: a new stream must not move the others
Streams = Mapping[str, np.random.Generator]


def _silent(stage: str, fraction: float) -> None:
    """Progress callback that does nothing."""


@contextmanager
def _stage(report: Progress, name: str) -> Iterator[None]:
    """Report stage ``name`` at 0 before the block and at 1 when it completes."""
    report(name, 0.0)
    yield
    report(name, 1.0)


def _streams(seed: int) -> dict[str, np.random.Generator]:
    """One independent generator per step, so a step's draws do not shift another's."""
    return {name: np.random.default_rng(s) for name, s in
            zip(_STREAMS, np.random.SeedSequence(seed).spawn(len(_STREAMS)), strict=True)}


def _output_folder(out: Path) -> Path:
    """``out``, created; truth.json is removed (it marks a complete world, written last)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "truth.json").unlink(missing_ok=True)
    return out


def _journeys(rng: np.random.Generator, params: WorldParams, cal: Calendar, signups: Signups,
              profiles: Profiles, experiment: Experiment, assignment: Assignment) -> Journeys:
    """Touch journeys and first purchases; treated users convert (1 + lift) times as often."""
    lift = np.ones(len(signups))
    lift[assignment.unit[assignment.treated]] = 1.0 + experiment.lift
    return simulate_journeys(rng, params, signups.t, signups.market, signups.channel,
                             profiles.marketing, cal.last_session_start, lift)


@dataclass(frozen=True)
class Latents:
    """What the order draws knew and the tables do not: BG/NBD rate and drop-out
    probability per first purchase (``first_user``), Gamma-Gamma rate per user."""

    first_user: np.ndarray
    lam: np.ndarray
    drop: np.ndarray
    nu: np.ndarray


def _values_and_fates(rng: np.random.Generator, params: WorldParams, cal: Calendar,
                      fx: FxRates, t: np.ndarray, market: np.ndarray, value: np.ndarray,
                      risks: tuple[Risk, ...]) -> tuple[np.ndarray, np.ndarray, Fulfilment]:
    """Orders' values (scaled by the order-value risks), local amounts and fates (with the
    fulfilment and returns risks), the fates drawn from ``rng``."""
    effects = order_effects(risks, params.markets, t, market, cal.start)
    if effects is not None:
        value = value * effects.value
    amount = fx.to_local(value, fx.indices(params.currencies)[market], cal.day_of(t))
    if effects is None:
        return value, amount, fulfil(rng, t, market, params, cal.end)
    return value, amount, fulfil(rng, t, market, params, cal.end, effects.delivery_days,
                                 effects.returns, MAX_RETURN_PROBABILITY)


def _orders(rngs: Streams, params: WorldParams, cal: Calendar, fx: FxRates,
            experiment: Experiment, signups: Signups, journeys: Journeys,
            touches: Touches, risks: tuple[Risk, ...]) -> tuple[Orders, Assignment, Latents]:
    """First purchases (at the end of buying touch sessions), repeats, values and fates.

    Buyers in the experiment's window are assigned at their first order there; the
    treated ones' orders from then to the window end are worth (1 + lift) times more.
    The order risks scale values and change fates (``_values_and_fates``).
    """
    user_market = signups.market
    first_user = journeys.user[touches.buys]
    purchases = repeat_purchases(rngs["orders"], params, first_user, touches.purchase_t,
                                 user_market, cal.end)
    assignment, multiplier = assign_buyers(rngs["experiments"], experiment, purchases.user,
                                           purchases.t, len(signups))
    value, nu = order_values_and_rates(rngs["values"], params, user_market, purchases.user,
                                       multiplier)
    market = user_market[purchases.user]
    value, amount, fulfilment = _values_and_fates(rngs["fulfilment"], params, cal, fx,
                                                  purchases.t, market, value, risks)
    product = product_draws(rngs["sessions"], len(purchases.t), N_PRODUCTS)
    return Orders(user=purchases.user, t=purchases.t, first=purchases.first,
                  first_rank=purchases.first_rank, market=market, value=value, amount=amount,
                  product=product, fulfilment=fulfilment), assignment, Latents(
        first_user=first_user, lam=purchases.lam, drop=purchases.drop, nu=nu)


def _coupon(rng: np.random.Generator, params: WorldParams, cal: Calendar, fx: FxRates,
            signups: Signups, profiles: Profiles, orders: Orders, latents: Latents,
            risks: tuple[Risk, ...]) -> tuple[Winback, Orders]:
    """The win-back experiment's units and effects, and its extra (coupon) orders with
    their values (Gamma-Gamma, the customer's rate) and fates, all from ``rng``; the
    order risks act on them as on the other orders."""
    wb = winback_units(rng, params, cal.days, orders.user, orders.t, latents.first_user,
                       latents.lam, latents.drop, latents.nu, signups.market, signups.channel,
                       profiles.device, profiles.marketing)
    user, t = coupon_orders(rng, wb, orders.user, orders.t)
    market = signups.market[user]
    value = rng.gamma(params.gg[market, 0], 1.0 / latents.nu[user])
    value, amount, fulfilment = _values_and_fates(rng, params, cal, fx, t, market, value, risks)
    product = product_draws(rng, len(t), N_PRODUCTS)
    return wb, Orders(user=user, t=t, first=np.zeros(len(t), bool),
                      first_rank=np.zeros(0, np.int64), market=market, value=value,
                      amount=amount, product=product, fulfilment=fulfilment)


@dataclass(frozen=True)
class Churned:
    """The orders, answers and free-shipping units left once the churned customers left."""

    orders: Orders
    surveys: Surveys
    shipping: Assignment
    latents: Latents  # lam 0 for those gone by the win-back window's start
    churn: Churn | None


def _ordering_in_window(asg: Assignment, exp: Experiment, orders: Orders) -> Assignment:
    """The units of ``asg`` that still have an order in the experiment's window."""
    in_window = (orders.t >= exp.start_day) & (orders.t < exp.end_day)
    sel = np.isin(asg.unit, orders.user[in_window])
    return Assignment(unit=asg.unit[sel], treated=asg.treated[sel],
                      assigned_t=asg.assigned_t[sel])


def _churn(rng: np.random.Generator, risks: tuple[Risk, ...], params: WorldParams,
           cal: Calendar, signups: Signups, orders: Orders, surveys: Surveys,
           shipping: tuple[Experiment, Assignment], latents: Latents) -> Churned:
    """The churn risks' customers chosen (``risks.churn``) and their later orders removed,
    with the answers about them and the free-shipping units left without an order."""
    first_user = latents.first_user
    rate = latents.lam * params.gg[signups.market[first_user], 0] / latents.nu[first_user]
    ch = churn(rng, risks, params.markets, cal.start, len(signups), signups.market,
               first_user, orders.t[orders.first_rank], rate)
    if ch is None:
        return Churned(orders, surveys, shipping[1], latents, None)
    keep = orders.t < ch.cutoff[orders.user]
    kept, index = keep_orders(orders, keep)
    gone_early = ch.cutoff[first_user] <= winback_experiment(cal.days).start_day
    return Churned(orders=kept, surveys=keep_surveys(surveys, index),
                   shipping=_ordering_in_window(shipping[1], shipping[0], kept),
                   latents=Latents(first_user=first_user,
                                   lam=np.where(gone_early, 0.0, latents.lam),
                                   drop=latents.drop, nu=latents.nu),
                   churn=ch)


def _outcomes(risks: tuple[Risk, ...], params: WorldParams, cal: Calendar, orders: Orders,
              churned: Churned, before: Orders, ids: Ids) -> tuple[RiskOutcome, ...]:
    """What each risk did, for truth.json: its effective start and a few realised counts."""
    out, k = [], 0
    for r in risks:
        m = params.markets.index(r.market)
        start = effective_start(r, cal.festival[m], cal.start)
        assert start is not None  # checked
        day = (r.date - cal.start).days
        details: dict[str, object] = {}
        if r.kind == "cac":
            details = {"media_pair": f"{r.market}|{r.channel}", "effectiveness": 1.0 / r.size}
        elif r.kind == "promotion":
            details = {"festival_days": [str(d) for d in cal.dates[
                (cal.festival[m] > 1.0) & (np.arange(cal.days) >= day)]]}
        elif r.kind == "churn":
            assert churned.churn is not None
            top, gone = churned.churn.high_value[k], churned.churn.churned[k]
            k += 1
            after = (before.t >= day) & np.isin(before.user, top)
            details = {"high_value_buyers": len(top), "churned_buyers": len(gone),
                       "high_value_orders_after": int(after.sum()),
                       "orders_removed": int((after & np.isin(before.user, gone)).sum()),
                       "high_value_user_ids": ids.users.take(top).to_pylist(),
                       "churned_user_ids": ids.users.take(gone).to_pylist()}
        else:
            details = {"orders_affected": int(((orders.market == m) & (orders.t >= day)).sum())}
        out.append(RiskOutcome(r, start, details))
    return tuple(out)


def _truth_uplift(out: Path, wb: Winback, ids: Ids) -> int:
    """truth_uplift.parquet: each unit (its raw user id), variant, features at the window
    start, response and true effects."""
    asg = wb.assignment
    table = pa.table({
        "experiment_id": pa.array([wb.experiment.name] * len(asg.unit), pa.string()),
        "unit_id": take(ids.users, asg.unit),
        "variant": pa.array(np.where(asg.treated, "treatment", "control")),
        "recency_days": pa.array(wb.recency), "frequency": pa.array(wb.frequency),
        "response": pa.array(wb.response), "p0": pa.array(wb.p0),
        "effect_probability": pa.array(wb.effect_probability),
        "effect_revenue": pa.array(wb.effect_revenue)})
    return write_parquet(out / "truth_uplift.parquet", table)


def simulate(out: Path, *, config: Config | None = None, n_users: int = 50_000, days: int = 365,
             seed: int = 0, start: dt.date = dt.date(2025, 1, 1),
             progress: Progress | None = None, shocks: Iterable[Shock] = (),
             winback: bool = False, risks: Iterable[Risk] = ()) -> dict:
    """Simulate a cross-border shop into ``out``; return the ground truth written to truth.json.

    Writes the eight canonical tables (``TABLE_FILES``, Parquet, raw ids such as
    ``u0000042``), ``truth_uplift.parquet`` (each win-back unit's true effect, by raw id)
    and then ``truth.json``; each file appears atomically, and a
    ``truth.json`` left by an earlier run is removed first, so a folder with a
    ``truth.json`` holds one complete world. The same arguments give byte-identical
    files. ``progress(stage, fraction)`` is called as the stages advance (calendar,
    media, users, journeys, orders, sessions, events, write). The expected number of
    users is ``n_users`` (without shocks: the plan is sized before they strike).

    ``shocks`` multiply a media pair's effectiveness by ``factor`` from ``date`` on
    (spend unchanged; see ``simulate.shocks``) and are recorded in truth.json
    (``shocks`` and the pair's ``media[...]["shock"]``); a bad one raises
    ``InputError`` before anything is written. No shocks, no change to any file.

    ``risks`` plant what a growth plan's risk section names (``simulate.risks``: a
    channel's acquisition cost, slower fulfilment, more returns, lower order values,
    high-value customers leaving, a festival promotion that fails) in a market from a
    date on, recorded in truth.json (``risks``: each with its ``effective_start`` and the
    catalog KPIs it moves); a bad one raises ``InputError`` before anything is written.
    No risks, no change to any file.

    ``winback`` adds the win-back coupon experiment (``simulate.winback``: an effect that
    differs by customer, each unit's truth in ``truth_uplift.parquet``). Its extra orders
    are not drawn by the BG/NBD process, so the default world leaves it out and keeps
    the purchase and funnel truths exact.
    """
    if n_users < 1:
        raise ValueError(f"n_users = {n_users}: expected at least 1")
    if days < 1:
        raise ValueError(f"days = {days}: expected at least 1")
    cfg = config or default_config()
    planted = check_shocks(shocks, cfg, start, days)
    planted_risks = check_risks(risks, cfg, start, days)
    out = _output_folder(out)
    report = progress or _silent
    rngs = _streams(seed)
    with _stage(report, "calendar"):
        params = build_params(cfg, usd_per_unit(cfg.reporting_currency))
        cal = build_calendar(start, days, params.regions)
        fx = simulate_fx(rngs["fx"], params.currencies, cfg.reporting_currency, days)
    with _stage(report, "media"):
        acq = plan_acquisition(rngs["media"], params, cal, n_users,
                               planted + risk_shocks(planted_risks),
                               festival_demand(planted_risks, params.markets, cal.festival,
                                               start))
    with _stage(report, "users"):
        seeds = seed_signups(rngs["signups"], params, acq, days, rngs["shocks"], rngs["risks"])
        signups = add_referrals(rngs["referrals"], params, seeds, cal.end)
        profiles = draw_profiles(rngs["users"], params, signups.market)
    with _stage(report, "journeys"):
        checkout, shipping = default_experiments(days)
        checkout_units = assign_signups(rngs["experiments"], checkout, signups.t)
        journeys = _journeys(rngs["journeys"], params, cal, signups, profiles, checkout,
                             checkout_units)
        touches = touch_sessions(rngs["sessions"], params, acq, cal, signups, journeys)
    with _stage(report, "orders"):
        drawn, drawn_units, drawn_latents = _orders(rngs, params, cal, fx, shipping, signups,
                                                    journeys, touches, planted_risks)
        churned = _churn(rngs["risks"], planted_risks, params, cal, signups, drawn,
                         nps_surveys(rngs["surveys"], drawn.fulfilment, drawn.market, params,
                                     cal.end), (shipping, drawn_units), drawn_latents)
        base, base_surveys = churned.orders, churned.surveys
        shipping_units, latents = churned.shipping, churned.latents
        coupon: tuple[Winback, Orders] | None = None
        orders, surveys = base, base_surveys
        if winback:
            coupon = _coupon(rngs["uplift"], params, cal, fx, signups, profiles, base, latents,
                             planted_risks)
            orders, base_index, coupon_index = merge_orders(base, coupon[1])
            surveys = merge_surveys(
                base_surveys, base_index,
                nps_surveys(rngs["uplift"], coupon[1].fulfilment, coupon[1].market, params,
                            cal.end), coupon_index)
    with _stage(report, "sessions"):
        sessions, pool, n_visitors = all_sessions(rngs["sessions"], params, acq, cal, signups,
                                                  profiles, journeys, touches, base,
                                                  ANONYMOUS_BROWSE_SHARE, rngs["risks"])
        if coupon is not None:
            sessions = merge_sessions(
                renumber_orders(sessions, base_index),
                renumber_orders(coupon_sessions(rngs["uplift"], params, acq, cal, profiles,
                                                coupon[1]), coupon_index))
        traffic = realised_traffic(sessions)
    ids = make_ids(rngs["ids"], len(signups), n_visitors, len(orders))
    rows = {"events": write_events(out, rngs["events"], sessions, params,
                                   acq.plan.campaign_names, ids, orders, cal.start_us,
                                   report)}
    del sessions
    report("write", 0.0)
    experiments: tuple[tuple[Experiment, Assignment], ...] = (
        (checkout, checkout_units), (shipping, shipping_units))
    if coupon is not None:
        experiments += ((coupon[0].experiment, coupon[0].assignment),)
    rows |= write_tables(out, rngs["media"], params, cal, fx, acq, signups, profiles, orders,
                         surveys, experiments, ids, report)
    (out / "truth_uplift.parquet").unlink(missing_ok=True)  # an earlier run's
    if coupon is not None:
        _truth_uplift(out, coupon[0], ids)
    outcomes = _outcomes(planted_risks, params, cal, orders, churned, drawn, ids)
    truth = truth_document(cfg, seed, n_users, params, cal, fx, acq, signups, journeys, orders,
                           pool, traffic, experiments, rows, planted, outcomes)
    if coupon is not None:
        truth["experiments"][coupon[0].experiment.name] = coupon[0].truth()  # type: ignore[index]
    write_json(out / "truth.json", truth)
    report("write", 1.0)
    return jsonable(truth)  # type: ignore[return-value]
