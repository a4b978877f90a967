"""Uplift commands: growthloop uplift fit and growthloop uplift score."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from growthloop.cli.app import (
    ConfigOpt,
    JsonOpt,
    app,
    command,
    err,
    open_warehouse,
    out,
    print_consent,
    print_json,
)
from growthloop.core.errors import InputError
from growthloop.decide.uplift import consent_of, fit_uplift, score_uplift, tree_settings
from growthloop.report.format import number
from growthloop.report.layout import Col, emit

__all__ = ["uplift_app", "uplift_fit", "uplift_score"]

uplift_app = typer.Typer(
    name="uplift",
    help="Uplift models: who a treatment moves, fitted on a registered experiment.",
    no_args_is_help=True,
    epilog="Example: growthloop uplift fit --experiment winback_coupon",
)
app.add_typer(uplift_app, name="uplift")


class Learner(StrEnum):
    dr = "dr"
    t = "t"
    x = "x"


ExperimentOpt = Annotated[str, typer.Option(
    "--experiment", help="The experiment's id in the registry ([[experiments]]).")]


@command("fit", group=uplift_app,
         epilog="Example: growthloop uplift fit --experiment winback_coupon --learner x "
                "--leaves 4 --min-leaf 400")
def uplift_fit(
    experiment: ExperimentOpt,
    learner: Annotated[Learner, typer.Option(
        "--learner", help="dr (doubly robust), t (two models) or x (Kunzel et al.).")
    ] = Learner.dr,
    holdout: Annotated[float, typer.Option(
        "--holdout", help="Share of the units held out to measure the model.")] = 0.3,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the split and the fits.")] = 0,
    leaves: Annotated[int | None, typer.Option(
        "--leaves", min=2, help="Leaves per tree (fewer: smoother effects).")] = None,
    min_leaf: Annotated[int | None, typer.Option(
        "--min-leaf", min=1, help="Units per leaf at least (more: less noise).")] = None,
    bags: Annotated[int, typer.Option(
        "--bags", min=2, help="Refits on halves of the units, for each score's interval.")
    ] = 10,
    config: ConfigOpt = Path("growthloop.toml"),
    as_json: JsonOpt = False,
) -> None:
    """Fit an uplift model on an experiment's units (features as of its start, outcome:
    bought in its window) and measure it on held-out units: Qini coefficient and AUUC.

    The model is kept in the project's state directory for `growthloop uplift score`.
    """
    with open_warehouse(config) as wh:
        fit = fit_uplift(wh, experiment, learner=learner.value, holdout=holdout, seed=seed,
                         n_bags=bags, settings=tree_settings(leaves, min_leaf))
    if as_json:
        print_json(fit.as_dict())
        return
    cols = [Col("experiment", False), Col("learner", False), Col("model version", False),
            Col("units"), Col("held out"), Col("Qini coefficient"), Col("AUUC")]
    emit(out, "Uplift model (held-out units)", cols,
         [[escape(fit.experiment_id), fit.learner, escape(fit.model_version),
           number(fit.units), number(fit.holdout_units), number(fit.qini),
           number(fit.auuc)]],
         legend=["Qini coefficient and AUUC: area between the model's curve and random "
                 "targeting on the held-out units, normalised (scikit-uplift's)",
                 f"features as of {fit.as_of}; model kept in {escape(str(fit.path))}"])


@command("score", group=uplift_app,
         epilog="Example: growthloop uplift score --experiment winback_coupon "
                "--out audience.parquet")
def uplift_score(
    experiment: ExperimentOpt,
    out_file: Annotated[Path | None, typer.Option(
        "--out", help="Write the consenting people's scores: .csv or .parquet.")] = None,
    config: ConfigOpt = Path("growthloop.toml"),
    as_json: JsonOpt = False,
) -> None:
    """Score every current customer with the experiment's uplift model, store the scores
    (table uplift_scores) and export those of people with marketing and personalisation
    consent; the people left out are counted on stderr (and in --json)."""
    if out_file is None and not as_json:
        raise InputError("uplift score writes people's scores: pass --out FILE (.csv or "
                         ".parquet) or --json")
    with open_warehouse(config, read_only=False) as wh:
        rows = score_uplift(wh, experiment, out_file)
    consent = consent_of(rows)
    print_consent(consent)
    exported = rows.attrs["exported"]
    if out_file is not None:
        err.print(f"wrote {exported:,} people's uplift scores to {escape(str(out_file))}")
    if as_json:
        print_json({"experiment_id": experiment,
                    "model_version": str(rows.model_version.iloc[0]),
                    "as_of": rows.attrs["as_of"].isoformat(), "scored": len(rows),
                    "exported": exported, "out": str(out_file) if out_file else None,
                    "consent": consent.as_dict()})
