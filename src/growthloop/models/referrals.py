"""Referral networks as a branching process: invitation trees, the viral coefficient K,
the cycle time, amplification and the critical-mass regression. NumPy/SciPy on arrays.

Model (a Galton-Watson branching process in continuous time, Harris 1963 [1]_): every
user brings a Poisson(K) number of successful invitees, each signing up an Exp(mu) delay
after the inviter. K is the mean offspring per user (the *viral coefficient*), mu the
*cycle time*. Data observed up to an end time see, of a user who signed up a window
``w`` before the end, only the invitees with a delay below ``w``: a Poisson(K F(w))
count, ``F(w) = 1 - exp(-w / mu)``.

- ``fit_delay``: mu by maximum likelihood of the exponential truncated at each
  invitation's window (Deemer and Votaw 1955 [2]_), with a profile-likelihood interval;
- ``viral_k``: K = invitees / exposure, exposure = sum over users of F(w), the MLE of a
  Poisson rate; its interval is Garwood's exact one [3]_ on the count, widened by the
  delay estimate's uncertainty (delta method on log exposure, added in quadrature);
- ``amplification``: expected users per seed, the seed included, 1 / (1 - K) for K < 1
  (the expected total progeny of a subcritical branching process [1]_), infinite else;
- ``invitation_trees``: each user's root (the seed of the chain), generation and tree
  size, with a clear error on a self-invitation, a second inviter or a cycle;
- ``critical_mass``: weighted least squares of cell-level K on the local user base.

References
----------
.. [1] Harris, T. E. (1963), *The Theory of Branching Processes*, Springer, ch. I
   (mean offspring m; expected total progeny 1 / (1 - m) for m < 1).
.. [2] Deemer, W. L. and Votaw, D. F. (1955), "Estimation of parameters of truncated or
   censored exponential distributions", Annals of Mathematical Statistics, 26(3), 498-504.
.. [3] Garwood, F. (1936), "Fiducial limits for the Poisson distribution", Biometrika,
   28(3/4), 437-442.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, stats

from growthloop.core.errors import AssumptionWarning, InputError

__all__ = ["CriticalMass", "DelayFit", "InvitationTrees", "amplification", "critical_mass",
           "delay_cdf", "delay_cdf_dlogmean", "exposure", "fit_delay", "garwood_interval",
           "generation_shares", "invitation_trees", "viral_k"]


# --------------------------------------------------------------------------- trees


@dataclass(frozen=True)
class InvitationTrees:
    """Per user (by index): the root of its invitation tree, its generation (0 for a
    seed, a user nobody invited) and the size of its tree (the root included)."""

    root: np.ndarray
    generation: np.ndarray
    size: np.ndarray

    @property
    def n_trees(self) -> int:
        return int(np.count_nonzero(self.generation == 0))

    @property
    def max_generation(self) -> int:
        return int(self.generation.max()) if len(self.generation) else 0


def _label(labels: Sequence[str] | None, i: int) -> str:
    return repr(str(labels[i])) if labels is not None else f"#{i}"


def invitation_trees(n: int, inviter: np.ndarray, invitee: np.ndarray, *,
                     labels: Sequence[str] | None = None, rows: np.ndarray | None = None,
                     what: str = "referrals") -> InvitationTrees:
    """Roots, generations and tree sizes of ``n`` users linked by invitation edges.

    ``inviter[j]`` invited ``invitee[j]`` (user indices in ``0..n-1``). A user invited by
    nobody is a seed: generation 0 and its own root; an invitee's generation is its
    inviter's plus one. Raises ``InputError`` naming the edge (row ``j`` of ``what``) and
    the users (``labels``, else their index) for a self-invitation, an invitee with two
    inviters, or a cycle of invitations (which has no seed); ``rows[j]`` is the row number
    an edge is named by (default ``j``). Pointer doubling: O(n log d) for a deepest
    generation d, never a loop without end.
    """
    inviter = np.asarray(inviter, dtype=np.int64)
    invitee = np.asarray(invitee, dtype=np.int64)
    if inviter.shape != invitee.shape:
        raise InputError(f"{what}: {len(inviter)} inviters but {len(invitee)} invitees")
    row = np.arange(len(inviter)) if rows is None else np.asarray(rows)
    bad = np.flatnonzero((inviter < 0) | (inviter >= n) | (invitee < 0) | (invitee >= n))
    if len(bad):
        j = int(bad[0])
        raise InputError(f"{what} row {row[j]}: user index out of range 0..{n - 1} "
                         f"(inviter {inviter[j]}, invitee {invitee[j]})")
    self_inv = np.flatnonzero(inviter == invitee)
    if len(self_inv):
        j = int(self_inv[0])
        raise InputError(f"{what} row {row[j]}: user {_label(labels, int(inviter[j]))} invited "
                         "themselves; expected an inviter other than the invitee")
    order = np.argsort(invitee, kind="stable")
    dup = np.flatnonzero(np.diff(invitee[order]) == 0)
    if len(dup):
        j1, j2 = sorted((int(order[dup[0]]), int(order[dup[0] + 1])))
        raise InputError(
            f"{what} rows {row[j1]} and {row[j2]}: user {_label(labels, int(invitee[j1]))} "
            f"has two inviters, {_label(labels, int(inviter[j1]))} and "
            f"{_label(labels, int(inviter[j2]))}; expected one inviter per invitee")
    parent = np.full(n, -1, dtype=np.int64)
    parent[invitee] = inviter
    anc = np.where(parent >= 0, parent, np.arange(n))
    depth = (parent >= 0).astype(np.int64)
    for _ in range(max(int(n).bit_length() + 1, 1)):
        if np.all(parent[anc] < 0):
            break
        depth = depth + np.where(parent[anc] >= 0, depth[anc], 0)
        anc = np.where(parent[anc] >= 0, anc[anc], anc)
    stuck = np.flatnonzero(parent[anc] >= 0) if n else np.zeros(0, np.int64)
    if len(stuck):
        raise InputError(_cycle_message(parent, int(stuck[0]), inviter, invitee, labels,
                                        row, what))
    size = np.bincount(anc, minlength=n)
    return InvitationTrees(root=anc, generation=depth, size=size[anc])


def _cycle_message(parent: np.ndarray, start: int, inviter: np.ndarray, invitee: np.ndarray,
                   labels: Sequence[str] | None, rows: np.ndarray, what: str) -> str:
    """Name the users of the cycle above ``start`` (at most n steps up), inviter first."""
    seen: dict[int, int] = {}
    u = start
    while u not in seen:
        seen[u] = len(seen)
        u = int(parent[u])
    cycle = [v for v, k in sorted(seen.items(), key=lambda kv: kv[1]) if k >= seen[u]]
    j = int(np.flatnonzero(invitee == cycle[0])[0])
    chain = [cycle[0], *cycle[1:][::-1], cycle[0]]
    shown = [_label(labels, v) for v in chain[:9]] + (["..."] if len(chain) > 9 else [])
    return (f"{what} row {rows[j]}: inviter {_label(labels, int(inviter[j]))} and invitee "
            f"{_label(labels, int(invitee[j]))} are in a cycle of {len(cycle)} invitations "
            f"({' invited '.join(shown)}), so no seed started them; expected every chain "
            "of inviters to end at a user nobody invited")


def generation_shares(generation: np.ndarray) -> pd.DataFrame:
    """Users per generation and their share of all users (generation 0: not referred)."""
    counts = np.bincount(np.asarray(generation, dtype=np.int64))
    total = counts.sum()
    return pd.DataFrame({"generation": np.arange(len(counts)), "users": counts,
                         "share": counts / total if total else np.zeros(len(counts))})


# --------------------------------------------------------------------------- delay


@dataclass(frozen=True)
class DelayFit:
    """The delay mean mu (days) with its profile-likelihood interval at ``level``."""

    mean: float
    low: float
    high: float
    invitations: int
    level: float
    log_likelihood: float

    @property
    def log_se(self) -> float:
        """Standard error of log mu implied by the interval (for the delta method)."""
        z = stats.norm.ppf(0.5 + self.level / 2)
        if not (math.isfinite(self.low) and math.isfinite(self.high)) or self.low <= 0:
            return math.inf
        return (math.log(self.high) - math.log(self.low)) / (2 * z)


def delay_cdf(window: np.ndarray, mean: float) -> np.ndarray:
    """F(w) = 1 - exp(-w / mean): the share of a user's invitees seen ``w`` days after
    sign-up (0 for w <= 0)."""
    w = np.maximum(np.asarray(window, dtype=float), 0.0)
    return -np.expm1(-w / mean)


def _truncated_loglik(log_mu: float, delays: np.ndarray, windows: np.ndarray) -> float:
    """Log likelihood of Exp(mu) delays each truncated at its window [2]_:
    sum(-log mu - d / mu - log F(w))."""
    mu = math.exp(log_mu)
    return float(-len(delays) * log_mu - delays.sum() / mu
                 - np.log(-np.expm1(-windows / mu)).sum())


def fit_delay(delays: np.ndarray, windows: np.ndarray, *, level: float = 0.95) -> DelayFit:
    """MLE of the exponential delay mean from delays seen within their windows.

    ``delays[j]``: days from the inviter's sign-up to the invitee's; ``windows[j]``: days
    from the inviter's sign-up to the end of the data (an invitee later than that is not
    seen). Ignoring the truncation would bias the mean down. The interval is the profile
    likelihood's (log-likelihood within chi2(1, level) / 2 of its maximum).
    """
    d = np.asarray(delays, dtype=float)
    w = np.asarray(windows, dtype=float)
    if d.shape != w.shape:
        raise InputError(f"{len(d)} delays but {len(w)} windows")
    if not len(d):
        raise InputError("no invitations, so the delay from inviter to invitee cannot be "
                         "estimated; load the referrals table")
    bad = np.flatnonzero(~np.isfinite(d) | (d < 0) | (d > w))
    if len(bad):
        j = int(bad[0])
        raise InputError(f"invitation {j}: delay {d[j]:g} days outside its window "
                         f"0..{w[j]:g} days (an invitee signed up before the inviter or "
                         "after the end of the data)")
    d = np.maximum(d, 1e-9)
    w = np.maximum(w, d)
    guess = math.log(max(d.mean(), 1e-6))
    lo_b, hi_b = guess - 12.0, guess + 12.0

    def score(t: float) -> float:  # d loglik / d log mu: sum(-1 + d / mu + x / (e^x - 1))
        x = w / math.exp(t)
        return float((-1 + d / math.exp(t) + x / np.expm1(np.minimum(x, 700.0))).sum())

    if score(lo_b) > 0 > score(hi_b):
        t_hat = optimize.brentq(score, lo_b, hi_b, xtol=1e-14)
    else:  # no interior maximum: the delays fill their windows evenly
        warnings.warn(f"the {len(d)} invitation delays are spread evenly over their "
                      "windows, not falling off like an exponential; the delay mean (and "
                      "with it K's exposure) is at the edge of what was searched",
                      AssumptionWarning, stacklevel=2)
        t_hat = hi_b if score(hi_b) > 0 else lo_b
    best = _truncated_loglik(t_hat, d, w)
    cut = stats.chi2.ppf(level, 1) / 2

    def gap(t: float) -> float:
        return best - _truncated_loglik(t, d, w) - cut

    low = (math.exp(optimize.brentq(gap, lo_b, t_hat)) if gap(lo_b) > 0 else 0.0)
    high = (math.exp(optimize.brentq(gap, t_hat, hi_b)) if gap(hi_b) > 0 else math.inf)
    return DelayFit(mean=math.exp(t_hat), low=low, high=high, invitations=len(d),
                    level=level, log_likelihood=best)


# --------------------------------------------------------------------------- K


def delay_cdf_dlogmean(window: np.ndarray, mean: float) -> np.ndarray:
    """dF(w) / d log(mean) = -(w / mean) exp(-w / mean): how a user's exposure moves with
    the delay mean (for the delta method of ``viral_k``)."""
    x = np.maximum(np.asarray(window, dtype=float), 0.0) / mean
    return -x * np.exp(-x)


def exposure(windows: np.ndarray, mean: float) -> float:
    """The Poisson exposure of K: sum over users of F(w), the share of their invitees
    the data can have seen."""
    return float(delay_cdf(windows, mean).sum())


def garwood_interval(count: np.ndarray, exposure: np.ndarray, level: float = 0.95
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Garwood's exact interval of a Poisson rate [3]_: chi2(a/2, 2n)/2E to
    chi2(1-a/2, 2n+2)/2E (lower 0 when n = 0); NaN where the exposure is 0."""
    n = np.asarray(count, dtype=float)
    e = np.asarray(exposure, dtype=float)
    a = 1 - level
    with np.errstate(divide="ignore", invalid="ignore"):
        low = np.where(n > 0, stats.chi2.ppf(a / 2, 2 * n) / 2, 0.0) / e
        high = stats.chi2.ppf(1 - a / 2, 2 * n + 2) / 2 / e
    bad = e <= 0
    return np.where(bad, np.nan, low), np.where(bad, np.nan, high)


def viral_k(counts: np.ndarray, exposures: np.ndarray, dlog_exposure: np.ndarray,
            delay: DelayFit | None = None, *, level: float = 0.95
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """K = invitees / exposure per group, with its interval at ``level``.

    ``dlog_exposure``: d log(exposure) / d log(mu) per group, at the fitted mu. Garwood's
    interval on the count is widened, on the log scale, by the delay's uncertainty:
    half-width sqrt(h_garwood^2 + (z se(log mu) dlogE/dlogmu)^2) (the two estimates are
    close to independent: the count is of invitees, the delay from their timing). Without
    ``delay`` the interval is Garwood's alone.
    """
    n = np.asarray(counts, dtype=float)
    e = np.asarray(exposures, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        k = np.where(e > 0, n / e, np.nan)
    low, high = garwood_interval(n, e, level)
    if delay is None:
        return k, low, high
    z = stats.norm.ppf(0.5 + level / 2)
    s = np.abs(np.asarray(dlog_exposure, dtype=float)) * delay.log_se * z
    with np.errstate(divide="ignore", invalid="ignore"):
        h_lo = np.log(k / low)
        h_hi = np.log(high / np.where(n > 0, k, high))
        low2 = np.where(n > 0, k * np.exp(-np.sqrt(h_lo ** 2 + s ** 2)), 0.0)
        high2 = np.where(n > 0, k * np.exp(np.sqrt(h_hi ** 2 + s ** 2)), high * np.exp(s))
    return k, np.where(e > 0, low2, np.nan), np.where(e > 0, high2, np.nan)


def amplification(k: float | np.ndarray) -> float | np.ndarray:
    """Expected users per seed, the seed included: 1 / (1 - K) for K < 1 (the total
    progeny of a subcritical branching process [1]_), infinite for K >= 1."""
    arr = np.asarray(k, dtype=float)
    with np.errstate(divide="ignore"):
        out = np.where(arr < 1, 1 / (1 - np.minimum(arr, 1 - 1e-300)), np.inf)
    out = np.where(np.isnan(arr), np.nan, out)
    return float(out) if out.ndim == 0 else out


# --------------------------------------------------------------------------- critical mass


@dataclass(frozen=True)
class CriticalMass:
    """K = intercept[group] + slope * users, fitted over cells (a market's sign-up month).

    One intercept per group (market), so the slope says how K moves as a market grows, not
    that larger markets differ. ``crossing`` holds, per group, the user count where its
    fitted line reaches ``target`` K: only when the slope's interval excludes 0 and the
    line reaches it at a non-negative user count; ``reason`` says why there is none.
    """

    groups: tuple[str, ...]
    intercepts: tuple[float, ...]
    slope: float
    slope_low: float
    slope_high: float
    cells: int
    target: float
    level: float
    crossing: dict[str, float]
    max_users: float
    reason: str

    @property
    def reached(self) -> bool:
        return bool(self.crossing)

    def finding(self) -> str:
        """The result in a sentence."""
        per = 1000.0
        slope = (f"K changes by {self.slope * per:+.4f} per 1,000 users of a market "
                 f"({self.level:.0%} interval {self.slope_low * per:+.4f} to "
                 f"{self.slope_high * per:+.4f}, {self.cells} market-months)")
        if not self.crossing:
            return f"{slope}; K does not reach {self.target:g}: {self.reason}."
        at = ", ".join(f"{g} {x:,.0f}" for g, x in self.crossing.items())
        return (f"{slope}; the fitted line reaches K = {self.target:g} at about {at} users "
                f"(largest user base seen {self.max_users:,.0f}).")


def critical_mass(counts: np.ndarray, exposures: np.ndarray, users: np.ndarray,
                  groups: np.ndarray | None = None, *, target: float = 1.0,
                  level: float = 0.95) -> CriticalMass:
    """Does K rise with the local user base? WLS of cell K = n / E on ``users``.

    Each cell (a market's sign-up month) has invitees ``n``, exposure ``E``, the market's
    user count at the start of the month and the market (``groups``; one intercept each).
    Under a Poisson count Var(n / E) = K / E, so a cell's weight is E / K_m, with K_m its
    market's pooled (n + 1/2) / E; the residual variance is estimated (a quasi-Poisson
    scale), and the slope's interval uses Student's t with cells - groups - 1 degrees of
    freedom (the within-group estimator of a linear model with group effects).
    """
    n = np.asarray(counts, dtype=float)
    e = np.asarray(exposures, dtype=float)
    x = np.asarray(users, dtype=float)
    g = (np.zeros(len(n), dtype=object) if groups is None
         else np.asarray(groups, dtype=object))
    keep = e > 0
    n, e, x, g = n[keep], e[keep], x[keep], g[keep]
    names, code = np.unique(g.astype(str), return_inverse=True)
    cells, k = len(n), len(names)
    pooled = ((np.bincount(code, weights=n, minlength=k) + 0.5)
              / np.bincount(code, weights=e, minlength=k))
    v = e / pooled[code]
    vw = np.bincount(code, weights=v, minlength=k)
    y = n / e
    xm = np.bincount(code, weights=v * x, minlength=k) / vw
    ym = np.bincount(code, weights=v * y, minlength=k) / vw
    dx, dy = x - xm[code], y - ym[code]
    sxx = float((v * dx ** 2).sum())
    df = cells - k - 1
    if df < 1 or sxx <= 0:
        raise InputError(f"critical mass needs more market-months than markets + 1, with "
                         f"user bases that differ within a market; got {cells} cells in "
                         f"{k} markets")
    slope = float((v * dx * dy).sum() / sxx)
    intercepts = ym - slope * xm
    resid = dy - slope * dx
    scale = float((v * resid ** 2).sum() / df)
    se = math.sqrt(max(scale, 0.0) / sxx)
    t = stats.t.ppf(0.5 + level / 2, df)
    low, high = slope - t * se, slope + t * se
    crossing: dict[str, float] = {}
    if low <= 0 <= high:
        reason = "the slope's interval contains 0 (no evidence K changes with the user base)"
    else:
        at = (target - intercepts) / slope
        crossing = {str(m): float(a) for m, a in zip(names, at, strict=True) if a >= 0}
        reason = "" if crossing else (f"every market's fitted line moves away from "
                                      f"{target:g}")
    return CriticalMass(groups=tuple(str(m) for m in names),
                        intercepts=tuple(float(a) for a in intercepts), slope=slope,
                        slope_low=low, slope_high=high, cells=cells, target=target,
                        level=level, crossing=crossing, max_users=float(x.max()),
                        reason=reason)
