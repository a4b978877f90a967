"""Orchestration: simulate the shop, write the canonical tables and the ground truth.

Stages: calendar and FX; media spend and paid sign-ups (adstock + Hill); organic and
owned sign-ups; the referral branching process; users; touch journeys and first
purchases (noisy-OR); repeat purchases (BG/NBD) and order values (Gamma-Gamma);
fulfilment and NPS; experiments; sessions and events (written in chunks).
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from growthloop.core.config import Config, default_config
from growthloop.core.schema import DEVICES, ORDER_STATUSES, REFERRAL_MECHANISMS, arrow_schema
from growthloop.simulate.calendar import FESTIVAL_PEAKS, WEEKDAY_MULTIPLIERS, build_calendar
from growthloop.simulate.calendar import time_of_day as _time_of_day
from growthloop.simulate.customers import (
    bgnbd_expected_repeats,
    bgnbd_prob_no_repeat,
    bgnbd_repeat_times,
    choice,
    expand_daily_counts,
    gamma_gamma_mean,
    referral_multiplier,
    simulate_referrals,
)
from growthloop.simulate.experiments import assign_buyers, assign_signups, default_experiments
from growthloop.simulate.fx import MEAN_REVERSION, simulate_fx, usd_per_unit
from growthloop.simulate.journeys import _no_email_mix, expected_conversion, simulate_journeys
from growthloop.simulate.media import (
    campaign_shapes,
    impressions_and_clicks,
    plan_media,
    response_curve,
)
from growthloop.simulate.orders import NPS_SCORE_GIVEN_CATEGORY, expected_nps, fulfil, nps_surveys
from growthloop.simulate.output import AtomicParquetWriter, jsonable, write_json, write_table
from growthloop.simulate.params import (
    ANONYMOUS_BROWSE_SHARE,
    ANONYMOUS_SESSIONS_PER_VISITOR,
    BROWSE_BEFORE_PURCHASE_DAYS,
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
    build_params,
)
from growthloop.simulate.sessions import (
    FIXED_PROPERTIES,
    LAYOUT,
    EventContext,
    Sessions,
    concat_sessions,
    event_chunk,
    make_sessions,
    noncomplete_depth,
    product_draws,
    string_ids,
    to_micros,
)

__all__ = ["TABLE_FILES", "simulate"]

Progress = Callable[[str, float], None]
TABLE_FILES: tuple[str, ...] = ("users", "events", "orders", "ad_spend", "referrals", "surveys",
                                "experiment_assignments", "fx_rates")
_STREAMS = ("fx", "media", "signups", "referrals", "users", "experiments", "journeys",
            "sessions", "orders", "values", "fulfilment", "surveys", "events", "ids")
_EVENTS_PER_CHUNK = 1_000_000
_VERSION = 1
_DAY_US = 86_400_000_000
_CONVERSION_DAYS = 30  # windows after sign-up of the realised conversion and retention
_RETENTION_DAYS = (7, 30)


def _silent(stage: str, fraction: float) -> None:
    """Progress callback that does nothing."""


def _width(n: int, minimum: int) -> int:
    return max(minimum, len(str(max(n - 1, 0))))


def _days(t: np.ndarray, days: int) -> np.ndarray:
    return np.clip(np.floor(t).astype(np.int64), 0, days - 1)


def _str(values: list[str] | tuple[str, ...]) -> pa.Array:
    return pa.array(list(values), pa.string())


def _take(values: pa.Array, idx: np.ndarray) -> pa.Array:
    idx = np.asarray(idx, dtype=np.int64)
    return values.take(pa.array(idx, mask=idx < 0, type=pa.int64()))


def _const(value: str, n: int) -> pa.Array:
    return pa.array([value], pa.string()).take(pa.array(np.zeros(n, dtype=np.int64)))


def _ts(t: np.ndarray, start_us: int) -> pa.Array:
    t = np.asarray(t, dtype=float)
    us = to_micros(np.nan_to_num(t), start_us)
    return pa.array(us, mask=np.isnan(t), type=pa.int64()).cast(pa.timestamp("us"))


def _by_market(params: WorldParams, values: np.ndarray) -> dict[str, object]:
    return {m: values[i] for i, m in enumerate(params.markets)}


def _by_market_channel(params: WorldParams, values: np.ndarray,
                       channels: tuple[int, ...] | None = None) -> dict[str, dict[str, object]]:
    cols = range(params.n_channels) if channels is None else channels
    return {m: {params.channels[c]: values[i, c] for c in cols}
            for i, m in enumerate(params.markets)}


def _period_labels(us: np.ndarray, grain: str) -> np.ndarray:
    """UTC month ("2025-01") or ISO week (its Monday, "2024-12-30") of epoch microseconds."""
    day = np.asarray(us, dtype=np.int64) // _DAY_US
    if grain == "week":
        return (day - (day + 3) % 7).astype("datetime64[D]").astype(str)  # 1970-01-01: Thu
    return day.astype("datetime64[D]").astype("datetime64[M]").astype(str)


def _by_market_period(params: WorldParams, market: np.ndarray, labels: np.ndarray,
                      weights: np.ndarray | None = None) -> dict[str, dict[str, object]]:
    """Counts (or sums of ``weights``) by market and period label."""
    out: dict[str, dict[str, object]] = {}
    for i, m in enumerate(params.markets):
        sel = market == i
        keys, inv = np.unique(labels[sel], return_inverse=True)
        w = None if weights is None else weights[sel]
        out[m] = dict(zip(keys.tolist(), np.bincount(inv, w, minlength=len(keys)), strict=True))
    return out


def simulate(out: Path, *, config: Config | None = None, n_users: int = 50_000, days: int = 365,
             seed: int = 0, start: dt.date = dt.date(2025, 1, 1),
             progress: Progress | None = None) -> dict:
    """Simulate a cross-border shop into ``out``; return the ground truth written to truth.json.

    Writes the eight canonical tables (``TABLE_FILES``, Parquet, raw ids such as
    ``u0000042``) and then ``truth.json``; each file appears atomically, and a
    ``truth.json`` left by an earlier run is removed first, so a folder with a
    ``truth.json`` holds one complete world. The same arguments give byte-identical
    files. ``progress(stage, fraction)`` is called as the stages advance (calendar,
    media, users, journeys, orders, sessions, events, write). The expected number of
    users is ``n_users``.
    """
    if n_users < 1:
        raise ValueError(f"n_users = {n_users}: expected at least 1")
    if days < 1:
        raise ValueError(f"days = {days}: expected at least 1")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    # truth.json is written last: without it the folder does not hold a complete world
    (out / "truth.json").unlink(missing_ok=True)
    report = progress or _silent
    cfg = config or default_config()
    rngs = {name: np.random.default_rng(s) for name, s in
            zip(_STREAMS, np.random.SeedSequence(seed).spawn(len(_STREAMS)), strict=True)}
    report("calendar", 0.0)
    params = build_params(cfg, usd_per_unit(cfg.reporting_currency))
    nm, nc = params.n_markets, params.n_channels
    cal = build_calendar(start, days, params.regions)
    fx = simulate_fx(rngs["fx"], params.currencies, cfg.reporting_currency, days)
    cur_idx = np.asarray([fx.index(c) for c in params.currencies])
    horizon = float(days)
    last_start = horizon - SESSION_CAP_DAYS
    start_us = int((dt.datetime(start.year, start.month, start.day)
                    - dt.datetime(1970, 1, 1)) // dt.timedelta(microseconds=1))
    truth: dict[str, object] = {}
    report("calendar", 1.0)

    # ---- media plan and acquisition targets ----------------------------------------------
    report("media", 0.0)
    pairs = np.asarray([(m, c) for m in range(nm) for c in params.media_channels],
                       dtype=np.int64).reshape(-1, 2)
    pm, pc_ = pairs[:, 0], pairs[:, 1]
    pair_of = np.full((nm, nc), -1, dtype=np.int64)
    pair_of[pm, pc_] = np.arange(len(pairs))
    shapes = campaign_shapes(rngs["media"], cal.weekday, cal.festival[pm])
    alpha, shape, k_mult = (params.adstock_alpha[pc_], params.hill_shape[pc_],
                            params.hill_k_multiple[pc_])
    _, _, h_unit = response_curve(shapes.pair_total(len(pairs)), alpha, shape, k_mult)
    paid_shape = h_unit / h_unit.sum(axis=1, keepdims=True)
    signup_season = cal.season(1.0, 1.0)
    base_shape = signup_season / signup_season.sum(axis=1, keepdims=True)
    seed_shape = (1.0 - params.paid_share)[:, None] * base_shape
    for i, (m, c) in enumerate(pairs):
        seed_shape[m] += params.paid_share[m] * params.paid_mix[m, c] * paid_shape[i]
    remaining = horizon - (np.arange(days) + 0.5)
    multiplier = np.vstack([referral_multiplier(k, REFERRAL_DELAY_MEAN_DAYS, remaining)
                            for k in params.viral_k])
    users_per_seed = (seed_shape * multiplier).sum(axis=1)
    weight = params.market_weight / params.market_weight.sum()
    seeds_target = n_users * weight / users_per_seed

    conv_given_first = expected_conversion(params)
    r, al, a, b = params.bgnbd.T
    repeats_window = bgnbd_expected_repeats(VALUE_WINDOW_DAYS, r, al, a, b)
    aov = gamma_gamma_mean(params.gg[:, 0], params.gg[:, 1], params.gg[:, 2])
    net_factor = (1.0 - params.cancel_probability) * (1.0 - params.return_probability)
    value_gross = conv_given_first * (aov * (1.0 + repeats_window))[:, None]
    value_net = value_gross * net_factor[:, None]
    signups_target = seeds_target[pm] * params.paid_share[pm] * params.paid_mix[pm, pc_]
    spend_target = signups_target * value_net[pm, pc_] / params.roi_target[pm, pc_]
    names = tuple(f"{params.markets[pm[p]]}-{params.channels[pc_[p]]}-c{k}"
                  for p, k in zip(shapes.pair, shapes.number, strict=True))
    plan = plan_media(pairs, names, shapes, spend_target, signups_target, alpha, shape, k_mult)
    report("media", 1.0)

    # ---- sign-ups: paid, organic/owned baseline, referrals --------------------------------
    report("users", 0.0)
    rs = rngs["signups"]
    paid_counts = rs.poisson(plan.expected)
    src, day = expand_daily_counts(paid_counts)
    paid_market = pm[src]
    paid_t = day + _time_of_day(rs, params.utc_offset[paid_market])
    paid_campaign = plan.pick_campaign(src, day, rs.random(len(src)))
    base_ch = np.asarray(params.baseline_channels, dtype=np.int64)
    nb = len(base_ch)
    base_expected = ((seeds_target * (1.0 - params.paid_share))[:, None, None]
                     * params.baseline_mix[:, base_ch][:, :, None] * base_shape[:, None, :])
    base_counts = rs.poisson(base_expected.reshape(nm * nb, days))
    bsrc, bday = expand_daily_counts(base_counts)
    base_market = bsrc // max(nb, 1)
    base_t = bday + _time_of_day(rs, params.utc_offset[base_market])
    seed_t = np.concatenate([paid_t, base_t])
    seed_market = np.concatenate([paid_market, base_market])
    seed_channel = np.concatenate([pc_[src], base_ch[bsrc % max(nb, 1)]])
    seed_campaign = np.concatenate([paid_campaign, np.full(len(base_t), -1, np.int64)])

    ref = simulate_referrals(rngs["referrals"], seed_t, seed_market, params.viral_k,
                             REFERRAL_DELAY_MEAN_DAYS, horizon, params.mechanism_mix)
    n_ref = len(ref.t)
    all_t = np.concatenate([seed_t, ref.t])
    order = np.argsort(all_t, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    signup_t = all_t[order]
    market = np.concatenate([seed_market, ref.market])[order]
    acq = np.concatenate([seed_channel, np.full(n_ref, params.referral_channel)])[order]
    campaign = np.concatenate([seed_campaign, np.full(n_ref, -1, np.int64)])[order]
    parent_raw = np.concatenate([np.full(len(seed_t), -1, np.int64), ref.parent])[order]
    parent = np.where(parent_raw >= 0, rank[np.maximum(parent_raw, 0)], -1)
    mechanism = np.concatenate([np.full(len(seed_t), -1, np.int64), ref.mechanism])[order]
    generation = np.concatenate([np.zeros(len(seed_t), np.int64), ref.generation])[order]
    n = len(signup_t)
    paid_user = campaign >= 0

    ru = rngs["users"]
    vocab = sorted({m for m in params.markets} | {c for cs in params.countries for c in cs})
    country = np.asarray([vocab.index(m) for m in params.markets])[market]
    cross = ru.random(n) < params.cross_border[market]
    for m in range(nm):
        if params.countries[m]:
            sel = np.flatnonzero(cross & (market == m))
            options = np.asarray([vocab.index(c) for c in params.countries[m]])
            country[sel] = options[ru.integers(0, len(options), len(sel))]
    consent = ru.random((n, 3)) < params.consent[market]
    device = choice(ru, params.device_mix, market)
    report("users", 1.0)

    # ---- journeys and first purchases ------------------------------------------------------
    report("journeys", 0.0)
    exp_checkout, exp_shipping = default_experiments(days)
    re_ = rngs["experiments"]
    a_checkout = assign_signups(re_, exp_checkout, signup_t)
    lift = np.ones(n)
    lift[a_checkout.unit[a_checkout.treated]] = 1.0 + exp_checkout.lift
    jr = simulate_journeys(rngs["journeys"], params, signup_t, market, acq, consent[:, 1],
                           last_start, lift)
    paid_kind = np.asarray([k == "paid" for k in params.kinds])
    rss = rngs["sessions"]

    def session_campaign(mk: np.ndarray, ch: np.ndarray, t: np.ndarray) -> np.ndarray:
        out_c = np.full(len(mk), -1, dtype=np.int64)
        sel = np.flatnonzero(paid_kind[np.maximum(ch, 0)] & (ch >= 0)
                             & (pair_of[mk, np.maximum(ch, 0)] >= 0))
        out_c[sel] = plan.pick_campaign(pair_of[mk[sel], ch[sel]], _days(t[sel], days),
                                        rss.random(len(sel)))
        return out_c

    def returning_channel(users: np.ndarray) -> np.ndarray:
        ch = choice(rss, params.touch_mix, market[users])
        if params.email_channel >= 0 and params.organic_channel >= 0:
            ch[(ch == params.email_channel) & ~consent[users, 1]] = params.organic_channel
        return ch

    tm = market[jr.user]
    buys = np.zeros(len(jr.t), bool)
    buys[jr.purchase_touch[jr.converted]] = True
    depth = noncomplete_depth(rss, params.funnel, tm)
    depth[buys] = 4
    t_counts, t_dur = make_sessions(rss, params, depth=depth, market=tm, channel=jr.channel)
    lead = rss.uniform(0.0, 0.5, len(jr.t)) * t_dur
    t_start = np.where(jr.first, np.clip(jr.t - lead, 0.0, last_start), jr.t)
    t_campaign = np.where(jr.first, campaign[jr.user], session_campaign(tm, jr.channel, jr.t))
    report("journeys", 1.0)

    # ---- orders: first purchases, BG/NBD repeats, Gamma-Gamma values --------------------------
    report("orders", 0.0)
    ro = rngs["orders"]
    first_touch = np.flatnonzero(buys)
    fo_user = jr.user[first_touch]
    fo_t = t_start[first_touch] + t_dur[first_touch]
    cm = market[fo_user]
    lam = ro.gamma(params.bgnbd[cm, 0], 1.0 / params.bgnbd[cm, 1])
    drop = ro.beta(params.bgnbd[cm, 2], params.bgnbd[cm, 3])
    owner, offset = bgnbd_repeat_times(ro, lam, drop, horizon - fo_t)
    o_user_raw = np.concatenate([fo_user, fo_user[owner]])
    o_t_raw = np.concatenate([fo_t, fo_t[owner] + offset])
    o_sort = np.argsort(o_t_raw, kind="stable")
    o_rank = np.empty_like(o_sort)
    o_rank[o_sort] = np.arange(len(o_sort))
    o_user, o_t = o_user_raw[o_sort], o_t_raw[o_sort]
    o_first = (np.arange(len(o_sort)) < len(fo_user))[o_sort]
    om = market[o_user]
    n_orders = len(o_t)
    touch_order = np.full(len(jr.t), -1, dtype=np.int64)
    touch_order[first_touch] = o_rank[: len(fo_user)]

    a_shipping, value_mult = assign_buyers(re_, exp_shipping, o_user, o_t, n)
    rv = rngs["values"]
    nu = rv.gamma(params.gg[market, 1], 1.0 / params.gg[market, 2])
    value = rv.gamma(params.gg[om, 0], 1.0 / nu[o_user]) * value_mult
    o_day = _days(o_t, days)
    amount = value / fx.rates[cur_idx[om], o_day]
    ful = fulfil(rngs["fulfilment"], o_t, om, params, horizon)
    sv_idx, sv_t, sv_score = nps_surveys(rngs["surveys"], ful, om, params, horizon)
    o_product = product_draws(rss, n_orders, N_PRODUCTS)
    report("orders", 1.0)

    # ---- sessions ------------------------------------------------------------------------
    report("sessions", 0.0)
    blocks: list[Sessions] = []
    nt = len(jr.t)
    neg = np.full(nt, -1, dtype=np.int64)
    t_product = product_draws(rss, nt, N_PRODUCTS)
    t_product[first_touch] = o_product[touch_order[first_touch]]
    blocks.append(Sessions(
        start=t_start, user=jr.user, anon=jr.user, market=tm, channel=jr.channel,
        campaign=t_campaign, device=device[jr.user], counts=t_counts, duration=t_dur,
        order=touch_order, anon_until=np.where(jr.first, jr.t, -np.inf),
        product=t_product, mechanism=neg))

    rep = np.flatnonzero(~o_first)
    r_ch = returning_channel(o_user[rep])
    r_counts, r_dur = make_sessions(rss, params, depth=np.full(len(rep), 4), market=om[rep],
                                    channel=r_ch)
    r_start = np.maximum(o_t[rep] - r_dur, 0.0)
    r_dur = o_t[rep] - r_start
    blocks.append(Sessions(
        start=r_start, user=o_user[rep], anon=o_user[rep], market=om[rep], channel=r_ch,
        campaign=session_campaign(om[rep], r_ch, r_start), device=device[o_user[rep]],
        counts=r_counts, duration=r_dur, order=rep, anon_until=np.full(len(rep), -np.inf),
        product=o_product[rep], mechanism=np.full(len(rep), -1, np.int64)))

    invitee = np.flatnonzero(parent >= 0)
    inviter = parent[invitee]
    delay = signup_t[invitee] - signup_t[inviter]
    sh_market = market[inviter]
    sh_ch = np.full(len(invitee), params.organic_channel, dtype=np.int64)
    sh_counts, sh_dur = make_sessions(rss, params,
                                      depth=noncomplete_depth(rss, params.funnel, sh_market),
                                      market=sh_market, channel=sh_ch,
                                      share=np.ones(len(invitee), np.int16))
    # the inviter shares shortly before the invitee signs up, never before their own sign-up
    share_t = signup_t[invitee] - np.minimum(rss.exponential(1.0, len(invitee)), 0.9 * delay)
    share_t = np.maximum(np.minimum(share_t, horizon - sh_dur), signup_t[inviter])

    purchases_m = np.bincount(om, minlength=nm)
    q = params.funnel.prod(axis=1)
    pool = np.where(purchases_m > 0,
                    rss.negative_binomial(np.maximum(purchases_m, 1), q), 0)
    existing = np.bincount(tm[~buys], minlength=nm) + np.bincount(sh_market, minlength=nm)
    extra = np.maximum(pool - existing, 0)
    anon_n = rss.binomial(extra, ANONYMOUS_BROWSE_SHARE)
    buyer_n = extra - anon_n

    pick = np.concatenate([
        np.flatnonzero(om == m)[rss.integers(0, max(purchases_m[m], 1), buyer_n[m])]
        for m in range(nm)]).astype(np.int64)
    b_user = o_user[pick]
    b_t = o_t[pick] - rss.exponential(BROWSE_BEFORE_PURCHASE_DAYS, len(pick))
    su = signup_t[b_user]
    early = b_t < su
    b_t[early] = su[early] + rss.random(int(early.sum())) * (o_t[pick][early] - su[early])
    b_t = np.clip(b_t, 0.0, last_start)
    b_market = om[pick]
    b_ch = returning_channel(b_user)
    b_counts, b_dur = make_sessions(rss, params,
                                    depth=noncomplete_depth(rss, params.funnel, b_market),
                                    market=b_market, channel=b_ch)
    blocks.append(Sessions(
        start=b_t, user=b_user, anon=b_user, market=b_market, channel=b_ch,
        campaign=session_campaign(b_market, b_ch, b_t), device=device[b_user],
        counts=b_counts, duration=b_dur, order=np.full(len(pick), -1, np.int64),
        anon_until=np.full(len(pick), -np.inf),
        product=product_draws(rss, len(pick), N_PRODUCTS),
        mechanism=np.full(len(pick), -1, np.int64)))
    blocks.append(Sessions(
        start=share_t, user=inviter, anon=inviter, market=sh_market, channel=sh_ch,
        campaign=np.full(len(invitee), -1, np.int64), device=device[inviter],
        counts=sh_counts, duration=sh_dur, order=np.full(len(invitee), -1, np.int64),
        anon_until=np.full(len(invitee), -np.inf),
        product=product_draws(rss, len(invitee), N_PRODUCTS), mechanism=mechanism[invitee]))

    visitors_m = np.where(anon_n > 0, np.ceil(anon_n / ANONYMOUS_SESSIONS_PER_VISITOR),
                          0).astype(np.int64)
    visitor_first = n + np.concatenate([[0], np.cumsum(visitors_m)[:-1]])
    n_visitors = int(visitors_m.sum())
    v_market = np.repeat(np.arange(nm), visitors_m)
    v_device = choice(rss, params.device_mix, v_market)
    browse_season = cal.season(1.0, 1.0)
    a_market = np.repeat(np.arange(nm), anon_n)
    a_visitor = np.concatenate([
        visitor_first[m] + rss.integers(0, max(visitors_m[m], 1), anon_n[m])
        for m in range(nm)]).astype(np.int64)
    a_day = np.concatenate([
        np.minimum(np.searchsorted(np.cumsum(browse_season[m]) / browse_season[m].sum(),
                                   rss.random(anon_n[m]), side="right"), days - 1)
        for m in range(nm)]).astype(np.int64)
    a_t = np.minimum(a_day + _time_of_day(rss, params.utc_offset[a_market]), last_start)
    a_ch = choice(rss, _no_email_mix(params), a_market)
    a_counts, a_dur = make_sessions(rss, params,
                                    depth=noncomplete_depth(rss, params.funnel, a_market),
                                    market=a_market, channel=a_ch)
    na = len(a_t)
    blocks.append(Sessions(
        start=a_t, user=np.full(na, -1, np.int64), anon=a_visitor, market=a_market,
        channel=a_ch, campaign=session_campaign(a_market, a_ch, a_t),
        device=v_device[a_visitor - n], counts=a_counts, duration=a_dur,
        order=np.full(na, -1, np.int64), anon_until=np.full(na, -np.inf),
        product=product_draws(rss, na, N_PRODUCTS), mechanism=np.full(na, -1, np.int64)))

    returned = np.flatnonzero(~np.isnan(ful.return_t))
    f_counts, f_dur = make_sessions(rss, params, depth=np.zeros(len(returned), np.int64),
                                    market=om[returned], channel=np.full(len(returned), -1),
                                    refund=True)
    nr = len(returned)
    blocks.append(Sessions(
        start=ful.return_t[returned], user=o_user[returned], anon=np.full(nr, -1, np.int64),
        market=om[returned], channel=np.full(nr, -1, np.int64),
        campaign=np.full(nr, -1, np.int64), device=np.full(nr, -1, np.int64),
        counts=f_counts, duration=f_dur, order=returned, anon_until=np.full(nr, -np.inf),
        product=o_product[returned], mechanism=np.full(nr, -1, np.int64)))
    sessions = concat_sessions(blocks)
    del blocks
    sessions = sessions.take(np.argsort(sessions.start, kind="stable"))
    # realised traffic: a session's first event is at its start; channel -1 = none (refunds)
    s_organic = np.asarray([k == "organic" for k in params.kinds] + [False])[sessions.channel]
    s_by_channel = np.bincount(sessions.market * (nc + 1) + sessions.channel + 1,
                               minlength=nm * (nc + 1)).reshape(nm, nc + 1)
    organic_weekly = _by_market_period(
        params, sessions.market[s_organic],
        _period_labels(to_micros(sessions.start[s_organic], start_us), "week"))
    report("sessions", 1.0)

    # ---- ids and the events table ----------------------------------------------------------
    n_sessions = len(sessions)
    per_session = sessions.counts.sum(axis=1, dtype=np.int64)
    n_events = int(per_session.sum())
    user_ids = string_ids("u", np.arange(n), _width(n, 7))
    anon_numbers = rngs["ids"].permutation(n + n_visitors)
    anon_ids = string_ids("a", anon_numbers, _width(n + n_visitors, 8))
    order_ids = string_ids("o", np.arange(n_orders), _width(n_orders, 7))
    properties = pa.concat_arrays([
        _str(FIXED_PROPERTIES),
        pc.binary_join_element_wise('{"order_id":"', order_ids, '"}', "")])
    currency_codes = _str(params.currencies)
    ctx = EventContext(
        user_ids=user_ids, anon_ids=anon_ids, market_codes=_str(params.markets),
        market_currency=currency_codes, channel_names=_str(params.channels),
        campaign_names=_str(plan.campaign_names), devices=_str(DEVICES),
        products=string_ids("p", np.arange(N_PRODUCTS), 5), properties=properties,
        n_fixed_properties=len(FIXED_PROPERTIES), order_t=o_t, order_amount=amount,
        start_us=start_us, session_width=_width(n_sessions, 8),
        event_width=_width(n_events, 9),
        short_video=params.channels.index("short_video") if "short_video" in params.channels
        else -2,
        live_commerce=params.channels.index("live_commerce")
        if "live_commerce" in params.channels else -2,
        n_products=N_PRODUCTS)
    rows: dict[str, int] = {}
    ends = np.cumsum(per_session)
    bounds = np.unique(np.concatenate([
        [0], np.searchsorted(ends, np.arange(_EVENTS_PER_CHUNK, n_events, _EVENTS_PER_CHUNK),
                             side="left") + 1, [n_sessions]]))
    # realised activity, tallied from the events as generated (identified events only)
    signup_us = to_micros(signup_t, start_us)
    active, retained, shared = np.zeros(n, bool), np.zeros(n, bool), np.zeros(n, bool)

    def tally(user: np.ndarray, ts_us: np.ndarray, kind: np.ndarray) -> None:
        known = user >= 0
        user, since = user[known], ts_us[known] - signup_us[user[known]]
        active[user] = True
        d0, d1 = _RETENTION_DAYS
        retained[user[(since >= d0 * _DAY_US) & (since < d1 * _DAY_US)]] = True
        shared[user[kind[known] == LAYOUT.index("share")]] = True

    report("events", 0.0)
    with AtomicParquetWriter(out / "events.parquet", "events") as writer:
        done = 0
        for lo, hi in itertools.pairwise(bounds.tolist()):
            chunk = event_chunk(rngs["events"], sessions.slice(lo, hi), int(lo), done, ctx,
                                tally)
            writer.write(chunk)
            done += chunk.num_rows
            report("events", done / max(n_events, 1))
        if n_events == 0:
            writer.write(arrow_schema("events").empty_table())
    rows["events"] = writer.rows
    del sessions

    # ---- the other tables --------------------------------------------------------------------
    report("write", 0.0)
    rows["users"] = write_table(out / "users.parquet", "users", pa.Table.from_arrays([
        user_ids, _ts(signup_t, start_us), _take(_str(params.markets), market),
        _take(_str(vocab), country), _take(_str(params.channels), acq),
        _take(_str(plan.campaign_names), campaign), _take(user_ids, parent),
        pa.array(consent[:, 0]), pa.array(consent[:, 1]), pa.array(consent[:, 2]),
    ], schema=arrow_schema("users")))
    report("write", 0.15)
    rows["orders"] = write_table(out / "orders.parquet", "orders", pa.Table.from_arrays([
        order_ids, _take(user_ids, o_user), _ts(o_t, start_us),
        _take(_str(params.markets), om), _take(currency_codes, om), pa.array(amount),
        _take(_str(ORDER_STATUSES), ful.status), _ts(ful.delivered_t, start_us),
    ], schema=arrow_schema("orders")))
    report("write", 0.3)

    camp_spend = plan.campaign_spend
    c_idx, c_day = np.nonzero(camp_spend > 0)
    srt = np.lexsort((c_idx, c_day))
    c_idx, c_day = c_idx[srt], c_day[srt]
    c_pair = shapes.pair[c_idx]
    spend_rep = camp_spend[c_idx, c_day]
    imp, clicks = impressions_and_clicks(rngs["media"], spend_rep,
                                         params.cpm[pm[c_pair], pc_[c_pair]],
                                         params.ctr[pc_[c_pair]])
    dates = pa.array(cal.dates.astype("datetime64[D]")).cast(pa.date32())
    rows["ad_spend"] = write_table(out / "ad_spend.parquet", "ad_spend", pa.Table.from_arrays([
        dates.take(pa.array(c_day)), _take(_str(params.markets), pm[c_pair]),
        _take(_str(params.channels), pc_[c_pair]), _take(_str(plan.campaign_names), c_idx),
        pa.array(spend_rep / fx.rates[cur_idx[pm[c_pair]], c_day]),
        _take(currency_codes, pm[c_pair]), pa.array(imp), pa.array(clicks),
    ], schema=arrow_schema("ad_spend")))
    report("write", 0.45)

    rows["referrals"] = write_table(out / "referrals.parquet", "referrals", pa.Table.from_arrays([
        _take(user_ids, inviter), _take(user_ids, invitee), _ts(signup_t[invitee], start_us),
        _take(_str(REFERRAL_MECHANISMS), mechanism[invitee]),
    ], schema=arrow_schema("referrals")))
    sv_order = np.argsort(sv_t, kind="stable")
    sv_idx, sv_t, sv_score = sv_idx[sv_order], sv_t[sv_order], sv_score[sv_order]
    rows["surveys"] = write_table(out / "surveys.parquet", "surveys", pa.Table.from_arrays([
        string_ids("r", np.arange(len(sv_idx)), _width(len(sv_idx), 7)),
        _take(user_ids, o_user[sv_idx]), _ts(sv_t, start_us), _take(_str(params.markets),
                                                                   om[sv_idx]),
        _const("nps", len(sv_idx)), pa.array(sv_score.astype(np.int32)),
    ], schema=arrow_schema("surveys")))
    report("write", 0.6)

    exp_rows = []
    for exp, asg in ((exp_checkout, a_checkout), (exp_shipping, a_shipping)):
        o = np.argsort(asg.assigned_t, kind="stable")
        exp_rows.append(pa.Table.from_arrays([
            _const(exp.name, len(o)), _take(user_ids, asg.unit[o]),
            _take(_str(("control", "treatment")), asg.treated[o].astype(np.int64)),
            _ts(asg.assigned_t[o], start_us)], schema=arrow_schema("experiment_assignments")))
    rows["experiment_assignments"] = write_table(
        out / "experiment_assignments.parquet", "experiment_assignments",
        pa.concat_tables(exp_rows))
    n_cur = len(fx.currencies)
    rows["fx_rates"] = write_table(out / "fx_rates.parquet", "fx_rates", pa.Table.from_arrays([
        dates.take(pa.array(np.repeat(np.arange(days), n_cur))),
        _take(_str(fx.currencies), np.tile(np.arange(n_cur), days)),
        pa.array(fx.rates.T.ravel()),
    ], schema=arrow_schema("fx_rates")))
    report("write", 0.8)

    # ---- ground truth ------------------------------------------------------------------------
    net = (ful.status != ORDER_STATUSES.index("cancelled")) & (
        ful.status != ORDER_STATUSES.index("returned"))
    user_pair = np.where(paid_user, pair_of[market, np.maximum(acq, 0)], -1)
    pair_users = np.bincount(user_pair[paid_user], minlength=len(pairs))
    o_pair = user_pair[o_user]
    pair_revenue = np.bincount(o_pair[o_pair >= 0], weights=(value * net)[o_pair >= 0],
                               minlength=len(pairs))
    spend_total = plan.spend.sum(axis=1)
    media_truth = {}
    for i, (m, c) in enumerate(pairs):
        sel = shapes.pair == i
        media_truth[f"{params.markets[m]}|{params.channels[c]}"] = {
            "market": params.markets[m], "channel": params.channels[c],
            "adstock_alpha": alpha[i], "hill_half_saturation": plan.k_half[i],
            "hill_shape": shape[i], "beta": plan.beta[i],
            "spend_total": spend_total[i], "signups_expected": plan.expected[i].sum(),
            "signups_incremental": pair_users[i],
            "value_per_signup": value_net[m, c], "value_per_signup_gross": value_gross[m, c],
            "roi_target": params.roi_target[m, c],
            "roi_expected": plan.expected[i].sum() * value_net[m, c] / spend_total[i],
            "roi": pair_users[i] * value_net[m, c] / spend_total[i],
            "revenue_in_horizon": pair_revenue[i],
            "roas_in_horizon": pair_revenue[i] / spend_total[i],
            "cpm": params.cpm[m, c], "ctr": params.ctr[c],
            "campaigns": {plan.campaign_names[k]: {"kind": shapes.kind[k],
                                                   "spend_total": camp_spend[k].sum()}
                          for k in np.flatnonzero(sel)},
        }
    users_by_m_c = np.bincount(market * nc + acq, minlength=nm * nc).reshape(nm, nc)
    # realised orders: 'live' = not cancelled (the orders the KPIs see), 'net' = also kept
    o_us = to_micros(o_t, start_us)
    live = ful.status != ORDER_STATUSES.index("cancelled")
    live_orders = np.bincount(o_user[live], minlength=n)
    first_live_us = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(first_live_us, o_user[live], o_us[live])
    user_mc = market * nc + acq

    def per_market(flag: np.ndarray) -> dict[str, object]:
        return _by_market(params, np.bincount(market[flag], minlength=nm))

    def per_market_channel(idx: np.ndarray, weights: np.ndarray | None = None) -> dict:
        return _by_market_channel(params, np.bincount(
            user_mc[idx], weights, minlength=nm * nc).reshape(nm, nc))
    conv_rate = jr.conversions / np.maximum(np.bincount(market, minlength=nm), 1)
    pr1, pr2, pr3, pr4 = params.funnel.T
    truth.update({
        "meta": {
            "generator": "growthloop.simulate", "version": _VERSION, "seed": seed,
            "n_users_requested": n_users, "n_users": n, "days": days,
            "start": start.isoformat(),
            "horizon_end": (start + dt.timedelta(days=days)).isoformat(),
            "reporting_currency": cfg.reporting_currency, "time_unit": "days",
            "markets": {m.code: {"region": params.regions[i], "currency": m.currency,
                                 "countries": list(m.countries),
                                 "utc_offset_hours": params.utc_offset[i]}
                        for i, m in enumerate(cfg.markets)},
            "channels": {c.name: c.kind for c in cfg.channels},
            "money": "amounts are generated in the reporting currency and written in the "
                     "market's currency divided by that day's fx rate (UTC date)",
        },
        "calendar": {
            "weekday_multipliers_mon_to_sun": list(WEEKDAY_MULTIPLIERS),
            "festival_peaks_by_region": FESTIVAL_PEAKS,
            "festivals_in_horizon": [[name, d.isoformat()] for name, d in cal.festivals],
            "signup_seasonality": "weekday * festival",
            "browse_seasonality": "weekday * festival (anonymous visitors)",
            "spend_seasonality": "always-on campaigns weekday^0.6 * festival^0.8; flights "
                                 "weekday^0.6 * festival^0.5; festival pushes (festival - 1)",
        },
        "fx": {"base_rates": fx.base, "daily_log_volatility": fx.volatility,
               "mean_reversion": MEAN_REVERSION,
               "definition": "rate = reporting-currency units per one unit of currency; "
                             "log(rate/base) is a mean-reverting random walk"},
        "media": media_truth,
        "media_definitions": {
            "adstock": "a_t = (1 - alpha) * sum_l alpha^l spend_{t-l} (geometric, normalised, "
                       "starts at 0 on day 0; Jin et al. 2017)",
            "hill": "hill(a) = a^S / (a^S + K^S) with K in reporting currency per day",
            "signups": "paid sign-ups per day ~ Poisson(beta * hill(adstock(spend)))",
            "value_per_signup": "expected net revenue (reporting currency) of a sign-up in "
                                f"its first {VALUE_WINDOW_DAYS:g} days: P(first purchase | "
                                "sign-up channel) * E[order value] * (1 + E[X(365)]) * "
                                "(1 - cancel) * (1 - return); untruncated journeys, "
                                "experiments ignored",
            "roi": "signups_incremental * value_per_signup / spend_total (realised sign-ups); "
                   "roi_expected uses signups_expected and equals roi_target by construction",
            "roas_in_horizon": "net revenue of the pair's paid sign-ups realised inside the "
                               "horizon / spend_total",
        },
        "acquisition": {
            "seed_signups_target": _by_market(params, seeds_target),
            "paid_share_of_seed_signups": _by_market(params, params.paid_share),
            "paid_mix": _by_market_channel(params, params.paid_mix, params.media_channels),
            "baseline_mix": _by_market_channel(params, params.baseline_mix,
                                               params.baseline_channels),
            "market_weight": _by_market(params, weight),
            "users": _by_market(params, np.bincount(market, minlength=nm)),
            "users_by_channel": _by_market_channel(params, users_by_m_c),
            "paid_signups": int(paid_user.sum()),
        },
        "referrals": {
            "viral_k": _by_market(params, params.viral_k),
            "delay_mean_days": REFERRAL_DELAY_MEAN_DAYS,
            "mechanism_probabilities": {m: dict(zip(REFERRAL_MECHANISMS,
                                                    params.mechanism_mix[i], strict=True))
                                        for i, m in enumerate(params.markets)},
            "definition": "each user invites Poisson(viral_k) successful invitees, each "
                          "signing up Exp(delay_mean_days) after the inviter; invitees after "
                          "the horizon end are not observed",
            "referred_users": n_ref,
            "max_generation": int(generation.max()) if n else 0,
        },
        "users": {
            "consent_rates": {m: dict(zip(("analytics", "marketing", "personalisation"),
                                          params.consent[i], strict=True))
                              for i, m in enumerate(params.markets)},
            "cross_border_share": _by_market(params, params.cross_border),
            "device_mix": {m: dict(zip(DEVICES, params.device_mix[i], strict=True))
                           for i, m in enumerate(params.markets)},
        },
        "attribution": {
            "model": "noisy-OR: p = 1 - (1 - base) * prod over touches (1 - effect[channel]); "
                     "converts if U < p; the first purchase is in the last touch session",
            "base": _by_market(params, params.base_conversion),
            "effect": _by_market_channel(params, params.effect),
            "later_touches_mean": _by_market(params, params.later_touches_mean),
            "touch_gap_mean_days": TOUCH_GAP_MEAN_DAYS,
            "touch_mix": _by_market_channel(params, params.touch_mix),
            "expected_conversion_given_signup_channel": _by_market_channel(
                params, conv_given_first),
            "conversions": _by_market(params, jr.conversions),
            "conversion_rate": _by_market(params, conv_rate),
            "lost_conversions_without_channel": _by_market_channel(params, jr.lost),
            "lost_definition": "users with U < p but U >= p without the channel's touches "
                               "(same U; experiment multiplier applied to both)",
        },
        "repeat_purchases": {
            "model": "BG/NBD (Fader, Hardie & Lee 2005): lambda ~ Gamma(r, rate alpha), "
                     "p ~ Beta(a, b), drop-out only right after a repeat purchase; clock "
                     "starts at the first purchase and runs to the horizon end",
            "time_unit": "days",
            "params": {m: dict(zip(("r", "alpha", "a", "b"), params.bgnbd[i], strict=True))
                       for i, m in enumerate(params.markets)},
            "repeat_within_365_days": _by_market(
                params, 1.0 - bgnbd_prob_no_repeat(365.0, r, al)),
            "expected_repeats_365_days": _by_market(params, repeats_window),
            "lifetime_years_heuristic": _by_market(
                params, (a + b - 1.0) / (a - 1.0) / (r / al) / 365.0),
            "customers": len(fo_user), "repeat_orders": len(owner),
        },
        "order_values": {
            "model": "Gamma-Gamma (Fader, Hardie & Lee 2005): nu ~ Gamma(q, rate gamma), "
                     "order value ~ Gamma(p, rate nu), reporting currency",
            "params": {m: dict(zip(("p", "q", "gamma"), params.gg[i], strict=True))
                       for i, m in enumerate(params.markets)},
            "mean_order_value": _by_market(params, aov),
            "value_reporting_total": _by_market(params, np.bincount(om, value, minlength=nm)),
            "orders": _by_market(params, np.bincount(om, minlength=nm)),
        },
        "fulfilment": {
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
        },
        "funnel": {
            "step_rates": {m: {"product_view_given_session": pr1[i],
                               "add_to_cart_given_product_view": pr2[i],
                               "checkout_given_add_to_cart": pr3[i],
                               "purchase_given_checkout": pr4[i]}
                           for i, m in enumerate(params.markets)},
            "definition": "share of sessions (session_start events) reaching a step among "
                          "those reaching the previous one",
            "completion_probability": _by_market(params, q),
            "purchases": _by_market(params, purchases_m),
            "noncompleting_sessions_target": _by_market(params, pool),
            "noncompleting_shortfall": _by_market(params, np.maximum(existing - pool, 0)),
            "session_gap_seconds": SESSION_GAP_SECONDS,
            "anonymous_browse_share": ANONYMOUS_BROWSE_SHARE,
        },
        "sessions": {
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
            "browse_before_purchase_days": BROWSE_BEFORE_PURCHASE_DAYS,
            "anonymous_sessions_per_visitor": ANONYMOUS_SESSIONS_PER_VISITOR,
            "products": f"{N_PRODUCTS} products, popularity (rank + 10)^-1.1",
            "later_touch_email_rule": "email_crm touches only with marketing consent, "
                                      "organic otherwise",
            "sessions": int(n_sessions), "events": int(n_events),
        },
        "content": {"short_video_completion_rate": SHORT_VIDEO_COMPLETION,
                    "live_interaction_rate": LIVE_INTERACTION,
                    "definition": "completion = content_complete / content_view in short_video "
                                  "sessions; interaction = share of live views (live_commerce "
                                  "sessions) with at least one live_interaction"},
        "nps": {"expected_nps": _by_market(params, expected_nps(params)),
                "category_probabilities_normal": {
                    m: dict(zip(("promoter", "passive", "detractor"), params.nps_normal[i],
                                strict=True)) for i, m in enumerate(params.markets)},
                "category_probabilities_slow": {
                    m: dict(zip(("promoter", "passive", "detractor"), params.nps_slow[i],
                                strict=True)) for i, m in enumerate(params.markets)},
                "score_given_category": NPS_SCORE_GIVEN_CATEGORY,
                "slow_delivery": f"delivery longer than {NPS_SLOW_FACTOR:g} x the mean",
                "response_rate": NPS_RESPONSE_RATE},
        "experiments": {
            exp_checkout.name: {**exp_checkout.truth(), "units": len(a_checkout.unit),
                                "treated": int(a_checkout.treated.sum())},
            exp_shipping.name: {**exp_shipping.truth(), "units": len(a_shipping.unit),
                                "treated": int(a_shipping.treated.sum())},
        },
        "realised": {
            "sessions_by_channel": {m: {"(none)": s_by_channel[i, 0],
                                        **dict(zip(params.channels, s_by_channel[i, 1:],
                                                   strict=True))}
                                    for i, m in enumerate(params.markets)},
            "organic_sessions_by_week": organic_weekly,
            "signups_by_month": _by_market_period(params, market,
                                                  _period_labels(signup_us, "month")),
            "kept_orders_by_month": _by_market_period(params, om[net],
                                                      _period_labels(o_us[net], "month")),
            "revenue_by_month": _by_market_period(params, om[net],
                                                  _period_labels(o_us[net], "month"), value[net]),
            "revenue_by_acquisition_channel": per_market_channel(o_user[net], value[net]),
            "customers_by_acquisition_channel": per_market_channel(live_orders > 0),
            "returning_customers": per_market(live_orders > 1),
            "buyers": per_market(np.bincount(o_user[net], minlength=n) > 0),
            "converted_30d": per_market(
                first_live_us < signup_us + _CONVERSION_DAYS * _DAY_US),
            "retained_7_30d": per_market(retained),
            "active_users": per_market(active),
            "sharers": per_market(shared),
            "definitions": {
                "scope": "the whole horizon unless by period; by market (a user's sessions, "
                         "orders and events carry the user's market, an anonymous visitor's "
                         "sessions the visitor's); periods are UTC, of the "
                         "timestamps as written (microseconds); 'kept' = neither cancelled "
                         "nor returned; revenue = order value in the reporting currency "
                         "as generated; identified event = event with a user_id (events "
                         "before the sign-up are anonymous)",
                "sessions_by_channel": "sessions by the channel that started them; '(none)' "
                                       "= refund sessions, which have no channel",
                "organic_sessions_by_week": "sessions from channels of kind organic by the "
                                            "ISO week (its Monday) of their first event",
                "signups_by_month": "users by month of sign-up",
                "kept_orders_by_month": "kept orders by month of the order",
                "revenue_by_month": "revenue of kept orders by month of the order",
                "revenue_by_acquisition_channel": "revenue of kept orders by the buyer's "
                                                  "acquisition channel",
                "customers_by_acquisition_channel": "users with an order not cancelled, by "
                                                    "acquisition channel",
                "returning_customers": "users with two or more orders not cancelled",
                "buyers": "users with a kept order",
                "converted_30d": f"users whose first order not cancelled is before sign-up "
                                 f"+ {_CONVERSION_DAYS} days",
                "retained_7_30d": "users with an identified event in [sign-up + "
                                  f"{_RETENTION_DAYS[0]} days, sign-up + "
                                  f"{_RETENTION_DAYS[1]} days)",
                "active_users": "users with an identified event",
                "sharers": "users with a share event",
            },
        },
        "tables": rows,
    })
    write_json(out / "truth.json", truth)
    report("write", 1.0)
    return jsonable(truth)  # type: ignore[return-value]

