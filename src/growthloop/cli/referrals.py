"""Referral commands: growthloop referrals."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from growthloop.cli.app import ConfigOpt, JsonOpt, command, open_warehouse, out, print_json
from growthloop.core.dates import parse_day
from growthloop.decide.referrals import (
    REFERRAL_DIMENSIONS,
    check_referral_dimensions,
    referral_doc,
    referral_report,
)
from growthloop.report.format import csv_list
from growthloop.report.loops import print_referrals

__all__ = ["referrals"]


@command("referrals", epilog="Example: growthloop referrals --by market,mechanism --since "
                             "2025-01-01 --level 1.0 --json")
def referrals(
    by: Annotated[str, typer.Option(
        "--by", help=f"Group K by these, comma-separated: {', '.join(REFERRAL_DIMENSIONS)} "
                     "(cohort: the inviter's sign-up month).")] = "market",
    since: Annotated[str | None, typer.Option(
        "--since", help="Only inviters who signed up on or after this day, YYYY-MM-DD.")
    ] = None,
    level: Annotated[float, typer.Option(
        "--level", help="The K that critical mass is to reach.")] = 1.0,
    config: ConfigOpt = Path("growthloop.toml"),
    as_json: JsonOpt = False,
) -> None:
    """The viral coefficient K with its interval, the cycle time, amplification, users
    per generation and whether K rises with a market's user base (critical mass)."""
    dims = check_referral_dimensions(csv_list(by))
    start = parse_day(since, "--since") if since is not None else None
    with open_warehouse(config) as wh:
        r = referral_report(wh.backend, wh.cfg, by=dims, since=start, target=level)
    if as_json:
        print_json(referral_doc(r))
        return
    print_referrals(out, r)
