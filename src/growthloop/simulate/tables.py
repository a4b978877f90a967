"""The canonical tables of the simulated world: raw ids, the events and the rest.

Users are ``u0000042`` in sign-up order, orders ``o…`` in time order, anonymous ids
``a…`` a random permutation over users and anonymous visitors; events are written in
chunks of about a million. Money is written in the market's currency at the day's rate.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from growthloop.core.schema import DEVICES, ORDER_STATUSES, REFERRAL_MECHANISMS, arrow_schema
from growthloop.simulate.acquisition import Acquisition, Profiles, Signups
from growthloop.simulate.calendar import Calendar
from growthloop.simulate.experiments import Assignment, Experiment
from growthloop.simulate.fx import FxRates
from growthloop.simulate.media import impressions_and_clicks
from growthloop.simulate.orders import Orders, Surveys
from growthloop.simulate.output import (
    AtomicParquetWriter,
    constant,
    id_width,
    string_ids,
    strings,
    take,
    timestamps,
    write_table,
)
from growthloop.simulate.params import N_PRODUCTS, WorldParams
from growthloop.simulate.sessions import FIXED_PROPERTIES, EventContext, Sessions, event_chunk

__all__ = ["Ids", "make_ids", "write_events", "write_tables"]

Progress = Callable[[str, float], None]
EVENTS_PER_CHUNK = 1_000_000


@dataclass(frozen=True)
class Ids:
    """The raw string ids of users, anonymous ids (users first) and orders."""

    users: pa.Array
    anonymous: pa.Array
    orders: pa.Array


def make_ids(rng: np.random.Generator, n_users: int, n_visitors: int, n_orders: int) -> Ids:
    """Ids of users and orders by index; anonymous ids a random permutation."""
    anon_numbers = rng.permutation(n_users + n_visitors)
    return Ids(users=string_ids("u", np.arange(n_users), id_width(n_users, 7)),
               anonymous=string_ids("a", anon_numbers, id_width(n_users + n_visitors, 8)),
               orders=string_ids("o", np.arange(n_orders), id_width(n_orders, 7)))


def _event_context(params: WorldParams, campaign_names: tuple[str, ...], ids: Ids,
                   orders: Orders, start_us: int, n_sessions: int,
                   n_events: int) -> EventContext:
    properties = pa.concat_arrays([
        strings(FIXED_PROPERTIES),
        pc.binary_join_element_wise('{"order_id":"', ids.orders, '"}', "")])
    return EventContext(
        user_ids=ids.users, anon_ids=ids.anonymous, market_codes=strings(params.markets),
        market_currency=strings(params.currencies), channel_names=strings(params.channels),
        campaign_names=strings(campaign_names), devices=strings(DEVICES),
        products=string_ids("p", np.arange(N_PRODUCTS), 5), properties=properties,
        n_fixed_properties=len(FIXED_PROPERTIES), order_t=orders.t,
        order_amount=orders.amount, start_us=start_us,
        session_width=id_width(n_sessions, 8), event_width=id_width(n_events, 9),
        short_video=params.channel_index("short_video"),
        live_commerce=params.channel_index("live_commerce"), n_products=N_PRODUCTS)


def write_events(out: Path, rng: np.random.Generator, sessions: Sessions, params: WorldParams,
                 campaign_names: tuple[str, ...], ids: Ids, orders: Orders, start_us: int,
                 report: Progress) -> int:
    """Write events.parquet, chunk by chunk of whole sessions; return the rows written.

    ``report`` gets the "events" stage's progress.
    """
    n_sessions = len(sessions)
    per_session = sessions.event_counts()
    n_events = int(per_session.sum())
    ctx = _event_context(params, campaign_names, ids, orders, start_us, n_sessions, n_events)
    ends = np.cumsum(per_session)
    bounds = np.unique(np.concatenate([
        [0], np.searchsorted(ends, np.arange(EVENTS_PER_CHUNK, n_events, EVENTS_PER_CHUNK),
                             side="left") + 1, [n_sessions]]))
    report("events", 0.0)
    with AtomicParquetWriter(out / "events.parquet", "events") as writer:
        done = 0
        for lo, hi in itertools.pairwise(bounds.tolist()):
            chunk = event_chunk(rng, sessions.slice(lo, hi), int(lo), done, ctx)
            writer.write(chunk)
            done += chunk.num_rows
            report("events", done / max(n_events, 1))
        if n_events == 0:
            writer.write(arrow_schema("events").empty_table())
    return writer.rows


def _dates(cal: Calendar) -> pa.Array:
    return pa.array(cal.dates.astype("datetime64[D]")).cast(pa.date32())


def _users(params: WorldParams, campaign_names: tuple[str, ...], signups: Signups,
           profiles: Profiles, ids: Ids, start_us: int) -> pa.Table:
    consent = profiles.consent
    return pa.Table.from_arrays([
        ids.users, timestamps(signups.t, start_us), take(strings(params.markets), signups.market),
        take(strings(profiles.countries), profiles.country),
        take(strings(params.channels), signups.channel),
        take(strings(campaign_names), signups.campaign), take(ids.users, signups.parent),
        pa.array(consent[:, 0]), pa.array(consent[:, 1]), pa.array(consent[:, 2]),
    ], schema=arrow_schema("users"))


def _orders(params: WorldParams, orders: Orders, ids: Ids, start_us: int) -> pa.Table:
    om = orders.market
    return pa.Table.from_arrays([
        ids.orders, take(ids.users, orders.user), timestamps(orders.t, start_us),
        take(strings(params.markets), om), take(strings(params.currencies), om),
        pa.array(orders.amount), take(strings(ORDER_STATUSES), orders.fulfilment.status),
        timestamps(orders.fulfilment.delivered_t, start_us),
    ], schema=arrow_schema("orders"))


def _ad_spend(rng: np.random.Generator, params: WorldParams, cal: Calendar, fx: FxRates,
              acq: Acquisition) -> pa.Table:
    """A row per campaign and day with spend; impressions and clicks drawn from the spend."""
    plan = acq.plan
    camp_spend = plan.campaign_spend
    c_idx, c_day = np.nonzero(camp_spend > 0)
    srt = np.lexsort((c_idx, c_day))
    c_idx, c_day = c_idx[srt], c_day[srt]
    c_pair = plan.campaigns.pair[c_idx]
    c_market, c_channel = acq.pair_market[c_pair], acq.pair_channel[c_pair]
    spend_rep = camp_spend[c_idx, c_day]
    imp, clicks = impressions_and_clicks(rng, spend_rep, params.cpm[c_market, c_channel],
                                         params.ctr[c_channel])
    return pa.Table.from_arrays([
        _dates(cal).take(pa.array(c_day)), take(strings(params.markets), c_market),
        take(strings(params.channels), c_channel), take(strings(plan.campaign_names), c_idx),
        pa.array(fx.to_local(spend_rep, fx.indices(params.currencies)[c_market], c_day)),
        take(strings(params.currencies), c_market), pa.array(imp), pa.array(clicks),
    ], schema=arrow_schema("ad_spend"))


def _referrals(signups: Signups, ids: Ids, start_us: int) -> pa.Table:
    inviter, invitee = signups.invitations()
    return pa.Table.from_arrays([
        take(ids.users, inviter), take(ids.users, invitee),
        timestamps(signups.t[invitee], start_us),
        take(strings(REFERRAL_MECHANISMS), signups.mechanism[invitee]),
    ], schema=arrow_schema("referrals"))


def _surveys(params: WorldParams, orders: Orders, surveys: Surveys, ids: Ids,
             start_us: int) -> pa.Table:
    """NPS answers in response-time order."""
    o = np.argsort(surveys.t, kind="stable")
    order, t, score = surveys.order[o], surveys.t[o], surveys.score[o]
    return pa.Table.from_arrays([
        string_ids("r", np.arange(len(order)), id_width(len(order), 7)),
        take(ids.users, orders.user[order]), timestamps(t, start_us),
        take(strings(params.markets), orders.market[order]), constant("nps", len(order)),
        pa.array(score.astype(np.int32)),
    ], schema=arrow_schema("surveys"))


def _experiment_assignments(experiments: tuple[tuple[Experiment, Assignment], ...], ids: Ids,
                            start_us: int) -> pa.Table:
    """Each experiment's assignments in assignment-time order."""
    tables = []
    for exp, asg in experiments:
        o = np.argsort(asg.assigned_t, kind="stable")
        tables.append(pa.Table.from_arrays([
            constant(exp.name, len(o)), take(ids.users, asg.unit[o]),
            take(strings(("control", "treatment")), asg.treated[o].astype(np.int64)),
            timestamps(asg.assigned_t[o], start_us)],
            schema=arrow_schema("experiment_assignments")))
    return pa.concat_tables(tables)


def _fx_rates(cal: Calendar, fx: FxRates) -> pa.Table:
    n_cur, days = len(fx.currencies), cal.days
    return pa.Table.from_arrays([
        _dates(cal).take(pa.array(np.repeat(np.arange(days), n_cur))),
        take(strings(fx.currencies), np.tile(np.arange(n_cur), days)),
        pa.array(fx.rates.T.ravel()),
    ], schema=arrow_schema("fx_rates"))


def write_tables(out: Path, media_rng: np.random.Generator, params: WorldParams,
                 cal: Calendar, fx: FxRates, acq: Acquisition, signups: Signups,
                 profiles: Profiles, orders: Orders, surveys: Surveys,
                 experiments: tuple[tuple[Experiment, Assignment], ...], ids: Ids,
                 report: Progress) -> dict[str, int]:
    """Write every table but events; return their rows. Reports the "write" stage to 0.8."""
    start_us, names = cal.start_us, acq.plan.campaign_names
    steps: tuple[tuple[str, Callable[[], pa.Table], float | None], ...] = (
        ("users", lambda: _users(params, names, signups, profiles, ids, start_us), 0.15),
        ("orders", lambda: _orders(params, orders, ids, start_us), 0.3),
        ("ad_spend", lambda: _ad_spend(media_rng, params, cal, fx, acq), 0.45),
        ("referrals", lambda: _referrals(signups, ids, start_us), None),
        ("surveys", lambda: _surveys(params, orders, surveys, ids, start_us), 0.6),
        ("experiment_assignments",
         lambda: _experiment_assignments(experiments, ids, start_us), None),
        ("fx_rates", lambda: _fx_rates(cal, fx), 0.8),
    )
    rows: dict[str, int] = {}
    for name, table, fraction in steps:
        rows[name] = write_table(out / f"{name}.parquet", name, table())
        if fraction is not None:
            report("write", fraction)
    return rows
