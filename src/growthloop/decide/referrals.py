"""Referral analytics over the warehouse: invitation trees, the viral coefficient K per
market, mechanism, channel or sign-up cohort, the cycle time, amplification, the share of
users per generation and whether K rises with the local user base (critical mass).

The engine (Ibis, any backend) reads the users' sign-up time, market, channel and month
and the invitations with their time and mechanism; the trees need the edge list, so
those rows come out, and the models (``growthloop.models.referrals``) run on arrays.

Conventions:

- An invitation is a ``referrals`` row; ``users.referrer_id`` is not read (it says the
  same). An invitation counts for its inviter's groups (market, channel, sign-up month)
  and its own ``mechanism``; each user is exposed to every mechanism.
- The data end (``end``) is the midnight after the last sign-up or invitation, or the
  end of the day given (later sign-ups and invitations are then left out, as if the data
  ended there). A user who signed up ``w`` days before it had the time to bring
  a share F(w) of their invitees (the delay CDF), which is their exposure.
- ``since`` keeps the users (as inviters, and in the generation shares and critical-mass
  cells) who signed up on or after that day; their invitees count whenever they came.
  The trees are always built over every user.
- Erasure leaves ``(erased)`` on one side of an invitation: with the inviter erased the
  row has no inviter to count it for and is left out (counted in ``unlinked``); with the
  invitee erased it still counts for its inviter's K and delay (timed by
  ``referral_ts``), but it is in no tree; a user whose inviter was erased starts a tree
  of their own (generation 0). Any other id that is not in ``users`` is an error naming
  the row.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import ibis.expr.types as ir
import numpy as np
import pandas as pd
from ibis.backends import BaseBackend

from growthloop.core.config import Config
from growthloop.core.dates import parse_day
from growthloop.core.errors import InputError
from growthloop.core.schema import ERASED, REFERRAL_MECHANISMS
from growthloop.metrics.sources import check_by
from growthloop.models.referrals import (
    CriticalMass,
    DelayFit,
    InvitationTrees,
    amplification,
    critical_mass,
    delay_cdf,
    delay_cdf_dlogmean,
    fit_delay,
    generation_shares,
    invitation_trees,
    viral_k,
)

__all__ = ["REFERRAL_DIMENSIONS", "ReferralNetwork", "ReferralReport",
           "check_referral_dimensions", "invitation_tree_frame", "load_network",
           "referral_doc", "referral_report", "referral_tables", "viral_by_market"]

REFERRAL_DIMENSIONS: tuple[str, ...] = ("market", "mechanism", "channel", "cohort")
_DAY_S = 86400.0
_EPOCH = pd.Timestamp("1970-01-01")
#: How an invitation is named in an error: a table has no row order of its own, so rows are
#: counted from 0 in the order of referral_ts, inviter_id, invitee_id.
_ROWS = "referrals (rows by referral_ts)"


def check_referral_dimensions(by: Sequence[str]) -> list[str]:
    """``by`` as a list, or ``InputError`` naming the bad value and the allowed ones."""
    by = list(by)
    check_by(by, REFERRAL_DIMENSIONS, "the viral coefficient")
    return by


def referral_tables(backend: BaseBackend) -> tuple[ir.Table, ir.Table]:
    """The Ibis expressions read: users (id, sign-up time, market, channel, month) and
    invitations (inviter, invitee, time, mechanism)."""
    u = backend.table("users")
    users = u.select(u.user_id, u.signup_ts, u.market, channel=u.acquisition_channel,
                     cohort=u.signup_ts.strftime("%Y-%m"))
    r = backend.table("referrals")
    refs = r.select(r.inviter_id, r.invitee_id, r.referral_ts, r.mechanism).order_by(
        [r.referral_ts, r.inviter_id, r.invitee_id])
    return users, refs


def _days(ts: pd.Series) -> np.ndarray:
    return ((pd.to_datetime(ts) - _EPOCH) / pd.Timedelta(days=1)).to_numpy(float)


@dataclass(frozen=True)
class ReferralNetwork:
    """Users (``users``: user_id, t in days since 1970, market, channel, cohort) and the
    linked invitations (``edges``: inviter and invitee user index, the invitee -1 when
    erased, t, mechanism), the trees over the users, the data end (days) and the count
    of invitations without a known inviter."""

    users: pd.DataFrame
    edges: pd.DataFrame
    trees: InvitationTrees
    end: float
    unlinked: int

    @property
    def end_day(self) -> dt.date:
        return (_EPOCH + pd.Timedelta(days=self.end)).date() - dt.timedelta(days=1)


def _unknown(refs: pd.DataFrame, col: str, idx: np.ndarray) -> None:
    bad = np.flatnonzero((idx < 0) & (refs[col].to_numpy() != ERASED))
    if len(bad):
        j = int(bad[0])
        r = refs.iloc[j]
        side = "inviter" if col == "inviter_id" else "invitee"
        raise InputError(
            f"{_ROWS} row {j} (inviter_id={r.inviter_id!r}, invitee_id={r.invitee_id!r}, "
            f"referral_ts {r.referral_ts}): the {side} is not in users"
            f"{f' (+{len(bad) - 1} more rows)' if len(bad) > 1 else ''}; expected every "
            "invitation between loaded users: load the users table first")


def load_network(backend: BaseBackend, cfg: Config, *,
                 end: dt.date | str | None = None) -> ReferralNetwork:
    """Read users and invitations, check them and build the invitation trees.

    Raises ``InputError`` for an invitation naming an unknown user, an invitee who
    signed up before the inviter, a self-invitation, a second inviter or a cycle.
    """
    users_x, refs_x = referral_tables(backend)
    users = users_x.execute()
    refs = refs_x.execute()
    users = users.sort_values(["signup_ts", "user_id"], kind="stable").reset_index(drop=True)
    users["t"] = _days(users.signup_ts)
    if end is not None:
        stop = float((pd.Timestamp(parse_day(end, "end")) + pd.Timedelta(days=1) - _EPOCH)
                     / pd.Timedelta(days=1))
        users = users[users.t < stop].reset_index(drop=True)  # as the data were then
        refs = refs[_days(refs.referral_ts) < stop].reset_index(drop=True)
    else:
        last = max([users.signup_ts.max(), refs.referral_ts.max()] if len(refs)
                   else [users.signup_ts.max()])
        if pd.isna(last):
            raise InputError("the warehouse has no users; load them with "
                             "`growthloop ingest users FILE`")
        stop = float((pd.Timestamp(last).normalize() + pd.Timedelta(days=1) - _EPOCH)
                     / pd.Timedelta(days=1))
    index = pd.Index(users.user_id)
    inviter = index.get_indexer(refs.inviter_id)
    invitee = index.get_indexer(refs.invitee_id)
    _unknown(refs, "inviter_id", inviter)
    _unknown(refs, "invitee_id", invitee)
    t = _days(refs.referral_ts)
    linked = inviter >= 0
    both = linked & (invitee >= 0)
    ids = users.user_id.to_numpy()
    trees = invitation_trees(len(users), inviter[both], invitee[both], labels=ids,
                             rows=np.flatnonzero(both), what=_ROWS)
    early = np.flatnonzero(linked & (t < users.t.to_numpy()[np.maximum(inviter, 0)]))
    if len(early):
        j = int(early[0])
        raise InputError(
            f"{_ROWS} row {j} (inviter_id={refs.inviter_id.iloc[j]!r}, invitee_id="
            f"{refs.invitee_id.iloc[j]!r}): referral_ts {refs.referral_ts.iloc[j]} is before "
            "the inviter's signup_ts; expected the invitee to sign up after the inviter")
    edges = pd.DataFrame({"inviter": inviter[linked], "invitee": invitee[linked],
                          "t": t[linked], "mechanism": refs.mechanism.to_numpy()[linked]})
    return ReferralNetwork(users=users.drop(columns="signup_ts"), edges=edges, trees=trees,
                           end=stop, unlinked=int((~linked).sum()))


def invitation_tree_frame(backend: BaseBackend, cfg: Config) -> pd.DataFrame:
    """Per user: user_id, root_id (the seed of their chain), generation, tree_size."""
    net = load_network(backend, cfg)
    ids = net.users.user_id.to_numpy()
    return pd.DataFrame({"user_id": ids, "root_id": ids[net.trees.root],
                         "generation": net.trees.generation, "tree_size": net.trees.size})


@dataclass(frozen=True)
class ReferralReport:
    """What ``referral_report`` measured: K per group (``k``: the group columns, users,
    invitees, exposure, k, k_low, k_high and, unless by mechanism, amplification), K
    over everyone (``overall``), the delay (cycle time), users per generation, the trees'
    summary and the critical-mass regression."""

    by: tuple[str, ...]
    level: float
    end: dt.date
    since: dt.date | None
    k: pd.DataFrame
    overall: dict[str, float]
    delay: DelayFit
    generations: pd.DataFrame
    trees: dict[str, int]
    critical: CriticalMass | None
    critical_reason: str
    unlinked: int


def _group_k(users: pd.DataFrame, edges: pd.DataFrame, by: list[str], delay: DelayFit,
             level: float) -> pd.DataFrame:
    """K per group of ``by`` (mechanism taken from the invitation, the rest from the
    inviter): counts, exposure and its sensitivity to the delay mean, then ``viral_k``."""
    mu = delay.mean
    w = users.window.to_numpy()
    f = delay_cdf(w, mu)
    u = users.assign(_f=f, _df=delay_cdf_dlogmean(w, mu))
    ukeys = [d for d in by if d != "mechanism"]
    if ukeys:
        g = u.groupby(ukeys, sort=True).agg(users=("_f", "size"), exposure=("_f", "sum"),
                                            _d=("_df", "sum")).reset_index()
    else:
        g = pd.DataFrame({"users": [len(u)], "exposure": [u._f.sum()], "_d": [u._df.sum()]})
    e = edges.join(users[ukeys], on="inviter") if ukeys else edges
    ekeys = ukeys + (["mechanism"] if "mechanism" in by else [])
    if ekeys:
        c = e.groupby(ekeys, sort=True).size().rename("invitees").reset_index()
    else:
        c = pd.DataFrame({"invitees": [len(e)]})
    if "mechanism" in by:
        g = g.merge(pd.DataFrame({"mechanism": list(REFERRAL_MECHANISMS)}), how="cross")
    out = (g.merge(c, on=ekeys, how="left") if ekeys else g.assign(invitees=c.invitees[0]))
    out["invitees"] = out.invitees.fillna(0).astype(np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        dlog = np.where(out.exposure > 0, out._d / out.exposure, 0.0)
    k, lo, hi = viral_k(out.invitees.to_numpy(), out.exposure.to_numpy(), dlog, delay,
                        level=level)
    out = out.drop(columns="_d").assign(k=k, k_low=lo, k_high=hi)
    if "mechanism" not in by:
        out["amplification"] = amplification(k)
    cols = [*by, "users", "invitees", "exposure", "k", "k_low", "k_high"]
    cols += [] if "mechanism" in by else ["amplification"]
    return out[cols].sort_values(by, kind="stable").reset_index(drop=True) if by else out[cols]


def _critical(users: pd.DataFrame, all_users: pd.DataFrame, edges: pd.DataFrame,
              delay: DelayFit, target: float, level: float) -> CriticalMass:
    """Cells market x sign-up month: invitees, exposure, and the market's users before the
    month's first day."""
    cells = _group_k(users, edges, ["market", "cohort"], delay, level)
    start = _days(pd.to_datetime(cells.cohort + "-01"))
    before = np.zeros(len(cells))
    for m, grp in all_users.groupby("market"):
        ts = np.sort(grp.t.to_numpy())
        rows = np.flatnonzero(cells.market.to_numpy() == m)
        before[rows] = np.searchsorted(ts, start[rows], side="left")
    return critical_mass(cells.invitees.to_numpy(), cells.exposure.to_numpy(), before,
                         cells.market.to_numpy(), target=target, level=level)


def referral_report(backend: BaseBackend, cfg: Config, *, by: Sequence[str] = ("market",),
                    since: dt.date | str | None = None, target: float = 1.0,
                    level: float = 0.95, end: dt.date | str | None = None) -> ReferralReport:
    """K per group with its interval, the cycle time, amplification, users per
    generation and the critical-mass finding (``target``: the K level to reach)."""
    by = check_referral_dimensions(by)
    if not 0 < level < 1:
        raise InputError(f"level {level!r}: expected a confidence level between 0 and 1")
    if not (math.isfinite(target) and target > 0):
        raise InputError(f"target K {target!r} (--level): expected a positive number")
    net = load_network(backend, cfg, end=end)
    users = net.users.assign(window=net.end - net.users.t)
    start = parse_day(since, "--since") if since is not None else None
    keep = np.ones(len(users), bool)
    if start is not None:
        keep = users.t.to_numpy() >= _days(pd.Series([pd.Timestamp(start)]))[0]
    pop = users[keep]
    if pop.empty:
        raise InputError(f"no user signed up on or after {start} (--since); the data end "
                         f"on {net.end_day}")
    edges = net.edges[keep[net.edges.inviter.to_numpy()]]
    delays = edges.t.to_numpy() - users.t.to_numpy()[edges.inviter.to_numpy()]
    windows = users.window.to_numpy()[edges.inviter.to_numpy()]
    delay = fit_delay(delays, windows, level=level)
    k = _group_k(pop, edges, by, delay, level)
    total = _group_k(pop, edges, [], delay, level).iloc[0]
    overall = {c: float(total[c]) for c in ("users", "invitees", "exposure", "k", "k_low",
                                            "k_high", "amplification")}
    overall["amplification_low"] = float(amplification(total.k_low))
    overall["amplification_high"] = float(amplification(total.k_high))
    gen = net.trees.generation[keep]
    trees = {"users": len(users), "seeds": int(net.trees.n_trees),
             "referred": int(len(users) - net.trees.n_trees),
             "max_generation": net.trees.max_generation,
             "largest_tree": int(net.trees.size.max()) if len(users) else 0}
    try:
        critical, reason = _critical(pop, users, edges, delay, target, level), ""
    except InputError as e:
        critical, reason = None, str(e)
    return ReferralReport(by=tuple(by), level=level, end=net.end_day, since=start, k=k,
                          overall=overall, delay=delay, generations=generation_shares(gen),
                          trees=trees, critical=critical, critical_reason=reason,
                          unlinked=net.unlinked)


def viral_by_market(backend: BaseBackend, cfg: Config) -> pd.DataFrame:
    """K per market with its 95 % interval: market, k, k_low, k_high, users, invitees."""
    r = referral_report(backend, cfg, by=("market",))
    return r.k[["market", "k", "k_low", "k_high", "users", "invitees"]]


def _num(v: Any) -> Any:
    if isinstance(v, (float, np.floating)):
        return float(v) if math.isfinite(v) else None
    if isinstance(v, np.integer):
        return int(v)
    return v


def referral_doc(r: ReferralReport) -> dict[str, Any]:
    """The report as one JSON-ready document (a non-finite number is null: an
    amplification with K >= 1 is not finite)."""
    rows = [{k: _num(v) for k, v in row.items()} for row in r.k.to_dict(orient="records")]
    cm = r.critical
    critical = None if cm is None else {
        "target": cm.target, "cells": cm.cells,
        "intercepts": dict(zip(cm.groups, cm.intercepts, strict=True)),
        "slope": cm.slope, "slope_low": cm.slope_low, "slope_high": cm.slope_high,
        "reached": cm.reached, "crossing_users": cm.crossing, "max_users": cm.max_users,
        "finding": cm.finding()}
    return {
        "by": list(r.by), "level": r.level, "data_end": r.end.isoformat(),
        "since": r.since.isoformat() if r.since else None,
        "groups": rows,
        "overall": {k: _num(v) for k, v in r.overall.items()},
        "cycle_time_days": {"mean": r.delay.mean, "low": r.delay.low,
                            "high": _num(r.delay.high), "invitations": r.delay.invitations},
        "generations": [{k: _num(v) for k, v in row.items()}
                        for row in r.generations.to_dict(orient="records")],
        "trees": r.trees,
        "critical_mass": critical,
        "critical_mass_reason": r.critical_reason or None,
        "unlinked_invitations": r.unlinked,
    }

