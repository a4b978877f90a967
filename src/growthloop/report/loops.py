"""Printing of the growth loops: viral coefficients, audiences, lifecycle triggers.

One place for the tables ``growthloop referrals``, ``audiences``, ``triggers run`` and the
demo print; each takes the console to print on.
"""

from __future__ import annotations

import pandas as pd
from rich.console import Console
from rich.markup import escape

from growthloop.decide.referrals import ReferralReport
from growthloop.report.format import MISSING, is_missing, number
from growthloop.report.layout import Col, emit, paragraph

__all__ = ["print_audiences", "print_referrals", "print_triggers", "print_viral"]


def _interval(low: float, high: float) -> str:
    return f"{number(low)} to {number(high) if not is_missing(high) else 'not finite'}"


def _amp(v: float) -> str:
    return "not finite" if is_missing(v) else number(v)


def print_viral(out: Console, r: ReferralReport) -> None:
    """K per group with its interval and amplification."""
    cols = [*(Col(d, False) for d in r.by), Col("users"), Col("invitees"), Col("K"),
            Col(f"{r.level:.0%} interval", False)]
    amp = "amplification" in r.k.columns
    cols += [Col("amplification")] if amp else []
    rows = []
    for row in r.k.to_dict(orient="records"):
        rows.append([*(str(row[d]) for d in r.by), number(row["users"], "count"),
                     number(row["invitees"], "count"), number(row["k"]),
                     _interval(row["k_low"], row["k_high"]) if not is_missing(row["k"])
                     else MISSING,
                     *([_amp(row["amplification"])] if amp else [])])
    since = f" (users signed up since {r.since})" if r.since else ""
    emit(out, f"Viral coefficient K by {', '.join(r.by) or 'all'}{since}, data to {r.end}",
         cols, rows, keys=max(len(r.by), 1),
         legend=["K: successful invitees per user, exposure-corrected for users who have "
                 "not yet had the time to invite; amplification: users per seed, "
                 "1 / (1 - K), not finite for K >= 1"])

def print_referrals(out: Console, r: ReferralReport) -> None:
    """The whole referral report: K, cycle time, trees, generations, critical mass."""
    print_viral(out, r)
    o, d = r.overall, r.delay
    paragraph(out, f"Overall K {number(o['k'])} ({_interval(o['k_low'], o['k_high'])}) "
                   f"over {number(o['users'], 'count')} users and "
                   f"{number(o['invitees'], 'count')} invitees; amplification "
                   f"{_amp(o['amplification'])} ({_amp(o['amplification_low'])} to "
                   f"{_amp(o['amplification_high'])}).")
    paragraph(out, f"Cycle time (inviter's sign-up to invitee's): {number(d.mean)} days "
                   f"({_interval(d.low, d.high)}), from {d.invitations:,} invitations.")
    t = r.trees
    paragraph(out, f"Invitation trees: {t['seeds']:,} seeds, {t['referred']:,} referred "
                   f"users, deepest generation {t['max_generation']}, largest tree "
                   f"{t['largest_tree']:,} users.")
    emit(out, "Users per generation (0: not referred)",
         [Col("generation"), Col("users"), Col("share")],
         [[str(g.generation), number(g.users, "count"), number(g.share, "share")]
          for g in r.generations.itertuples(index=False)])
    finding = r.critical.finding() if r.critical else r.critical_reason
    paragraph(out, f"Critical mass: {finding}")
    if r.unlinked:
        paragraph(out, f"{r.unlinked:,} invitations have an erased inviter and count for "
                       "no one.")


_AUDIENCE_LEGEND = ["size: members with marketing and personalisation consent; left out: people "
           "the filter chose who lack that consent; exportable: size at least [privacy] "
           "min_group_size"]


def _cell(v: object, unit: str | None = None) -> str:
    return MISSING if v is None or is_missing(v) else number(v, unit)


def print_audiences(out: Console, title: str, df: pd.DataFrame, built: bool) -> None:
    """Audiences with their version, size and whether they may be exported."""
    cols = [Col("audience", False), Col("version"), Col("size"), Col("left out"),
            Col("exportable", False), Col("as of", False),
            Col("new version" if built else "current", False),
            Col("description", False)]
    rows = [[escape(r.name), _cell(r.version, "int"), _cell(r.size, "int"),
             _cell(r.people_left_out, "int"), "yes" if r.exportable else "no",
             str(r.as_of) if r.as_of is not None and not is_missing(r.as_of) else MISSING,
             "yes" if (r.changed if built else r.current) else "no",
             escape(r.description or "")]
            for r in df.itertuples(index=False)]
    emit(out, title, cols, rows, legend=_AUDIENCE_LEGEND)



def print_triggers(out: Console, summary: pd.DataFrame, run_id: str | None) -> None:
    """Per trigger: who entered, who left, members, people left out for consent."""
    emit(out, f"Lifecycle triggers ({run_id})",
         [Col("trigger", False), Col("entered"), Col("left"), Col("members"),
          Col("left out"), Col("description", False)],
         [[escape(r.trigger), number(r.entered, "int"), number(r.left, "int"),
           number(r.members, "int"), number(r.people_left_out, "int"),
           escape(r.description)] for r in summary.itertuples(index=False)],
         legend=["left out: people the trigger chose who lack marketing or "
                 "personalisation consent (they never enter)"])
