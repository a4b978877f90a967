"""growthloop's experiment statistics against GrowthBook's gbstats, side by side.

Runs both on one fixed fixture of per-variant sufficient statistics (integer sums of a
simulated experiment: a count metric with its pre-period value, and a ratio metric,
revenue per session) and prints each quantity, gbstats' value, growthloop's and their
relative difference. The gbstats column is what tests/test_experiments_stats.py records
as constants (``GBSTATS``); run with ``--dict`` to print them in that form.

gbstats is not a dependency of growthloop. It is on PyPI (0.8.0 is the newest release);
install it anywhere and put it on the path, e.g.

    python3 -m venv /tmp/gbv && /tmp/gbv/bin/pip install --target /tmp/gbt --no-deps gbstats
    PYTHONPATH=/tmp/gbt .venv/bin/python benchmarks/gbstats_reference.py

(gbstats 0.8.0 imports with this project's NumPy, SciPy, pandas and pydantic). Without
gbstats the script prints growthloop's values only.

gbstats 0.8.0 has no CUPED for ratio metrics (``RegressionAdjustedRatioStatistic`` came
later, on GitHub only); the test checks that one against a hand computation instead.
gbstats' mean statistics are ``SampleMeanStatistic`` (unbiased variance), the same
definition as growthloop's ``MeanSums``.
"""

from __future__ import annotations

import argparse
import math

from growthloop.models.experiments import (
    MeanSums,
    RatioSums,
    bayesian_test,
    cuped_test,
    pooled_theta,
    sequential_test,
    srm_p_value,
    welch_test,
)
from growthloop.models.experiments.frequentist import Effect

#: The fixture: integer sums per variant (the same numbers as in the test).
MEAN = {
    "control": dict(n=2000, sum=6804, sum_sq=33538, pre_sum=6136, pre_sum_sq=25120,
                    pre_cross=25846),
    "treatment": dict(n=2100, sum=7494, sum_sq=38624, pre_sum=6269, pre_sum_sq=25193,
                      pre_cross=27704),
}
RATIO = {
    "control": dict(n=2000, num_sum=25114, num_sum_sq=414394, den_sum=10279,
                    den_sum_sq=64291, num_den_sum=157021),
    "treatment": dict(n=2100, num_sum=26906, num_sum_sq=458030, den_sum=10453,
                      den_sum_sq=64157, num_den_sum=164804),
}
SRM = [([2000, 2100], [0.5, 0.5]), ([1000, 1100, 905], [0.3, 0.4, 0.3])]


def _effect(prefix: str, e: Effect) -> dict[str, float]:
    return {f"{prefix}.estimate": e.estimate, f"{prefix}.se": e.se,
            f"{prefix}.ci_low": e.ci_low, f"{prefix}.ci_high": e.ci_high,
            f"{prefix}.p_value": e.p_value}


def growthloop_values() -> dict[str, float]:
    """Every compared quantity, computed by growthloop."""
    c, t = MeanSums(**MEAN["control"]), MeanSums(**MEAN["treatment"])
    rc, rt = RatioSums(**RATIO["control"]), RatioSums(**RATIO["treatment"])
    out: dict[str, float] = {}
    for rel in (True, False):
        kind = "relative" if rel else "absolute"
        w = welch_test(c, t, relative=rel)
        out |= _effect(f"welch.{kind}", w) | {f"welch.{kind}.df": w.df}
        out |= _effect(f"cuped.{kind}", cuped_test(c, t, relative=rel).effect)
        out |= _effect(f"ratio.{kind}", welch_test(rc, rt, relative=rel))
        for cuped in (False, True):
            b = bayesian_test(c, t, relative=rel, cuped=cuped)
            name = f"bayes{'_cuped' if cuped else ''}.{kind}"
            out |= {f"{name}.chance_to_win": b.chance_to_win,
                    f"{name}.risk_control": b.risk_control,
                    f"{name}.risk_treatment": b.risk_treatment,
                    f"{name}.ci_low": b.ci_low, f"{name}.ci_high": b.ci_high}
        s = sequential_test(c, t, relative=rel)
        out |= {f"sequential.{kind}.ci_low": s.ci_low, f"sequential.{kind}.ci_high": s.ci_high,
                f"sequential.{kind}.p_value": s.p_value}
    out["cuped.theta"] = pooled_theta(c, t)
    for i, (counts, weights) in enumerate(SRM):
        out[f"srm.{i}"] = srm_p_value(counts, weights)
    return out


def gbstats_values() -> dict[str, float]:
    """The same quantities computed by gbstats (which must be importable)."""
    from gbstats.bayesian.tests import EffectBayesianABTest, EffectBayesianConfig
    from gbstats.frequentist.tests import (
        FrequentistConfig,
        SequentialConfig,
        SequentialTwoSidedTTest,
        TwoSidedTTest,
    )
    from gbstats.models.statistics import (
        RatioStatistic,
        RegressionAdjustedStatistic,
        SampleMeanStatistic,
        compute_theta,
    )
    from gbstats.utils import check_srm

    def mean(v: str) -> SampleMeanStatistic:
        s = MEAN[v]
        return SampleMeanStatistic(n=s["n"], sum=s["sum"], sum_squares=s["sum_sq"])

    def ra(v: str) -> RegressionAdjustedStatistic:
        s = MEAN[v]
        return RegressionAdjustedStatistic(
            n=s["n"], post_statistic=mean(v),
            pre_statistic=SampleMeanStatistic(n=s["n"], sum=s["pre_sum"],
                                              sum_squares=s["pre_sum_sq"]),
            post_pre_sum_of_products=s["pre_cross"], theta=0)

    def ratio(v: str) -> RatioStatistic:
        s = RATIO[v]
        return RatioStatistic(
            n=s["n"],
            m_statistic=SampleMeanStatistic(n=s["n"], sum=s["num_sum"],
                                            sum_squares=s["num_sum_sq"]),
            d_statistic=SampleMeanStatistic(n=s["n"], sum=s["den_sum"],
                                            sum_squares=s["den_sum_sq"]),
            m_d_sum_of_products=s["num_den_sum"])

    def freq(prefix: str, test) -> dict[str, float]:
        r = test.compute_result()
        return {f"{prefix}.estimate": r.expected, f"{prefix}.se": r.uplift.stddev,
                f"{prefix}.ci_low": r.ci[0], f"{prefix}.ci_high": r.ci[1],
                f"{prefix}.p_value": r.p_value}

    out: dict[str, float] = {}
    for rel in (True, False):
        kind = "relative" if rel else "absolute"
        diff = "relative" if rel else "absolute"
        cfg = FrequentistConfig(difference_type=diff)
        welch = TwoSidedTTest(mean("control"), mean("treatment"), cfg)
        out |= freq(f"welch.{kind}", welch) | {f"welch.{kind}.df": welch.dof}
        out |= freq(f"cuped.{kind}", TwoSidedTTest(ra("control"), ra("treatment"), cfg))
        out |= freq(f"ratio.{kind}", TwoSidedTTest(ratio("control"), ratio("treatment"), cfg))
        for cuped in (False, True):
            make = ra if cuped else mean
            r = EffectBayesianABTest(make("control"), make("treatment"),
                                     EffectBayesianConfig(difference_type=diff)
                                     ).compute_result()
            name = f"bayes{'_cuped' if cuped else ''}.{kind}"
            out |= {f"{name}.chance_to_win": r.chance_to_win,
                    f"{name}.risk_control": r.risk[0], f"{name}.risk_treatment": r.risk[1],
                    f"{name}.ci_low": r.ci[0], f"{name}.ci_high": r.ci[1]}
        seq = SequentialTwoSidedTTest(mean("control"), mean("treatment"),
                                      SequentialConfig(difference_type=diff)).compute_result()
        out |= {f"sequential.{kind}.ci_low": seq.ci[0],
                f"sequential.{kind}.ci_high": seq.ci[1],
                f"sequential.{kind}.p_value": seq.p_value}
    out["cuped.theta"] = compute_theta(ra("control"), ra("treatment"))
    for i, (counts, weights) in enumerate(SRM):
        out[f"srm.{i}"] = check_srm(counts, weights)
    return {k: float(v) for k, v in out.items()}


def relative_difference(a: float, b: float) -> float:
    """``|a - b| / max(|a|, |b|)`` (0 when both are 0)."""
    scale = max(abs(a), abs(b))
    return abs(a - b) / scale if scale else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dict", action="store_true",
                        help="print gbstats' values as the Python dict the test records")
    args = parser.parse_args()
    ours = growthloop_values()
    try:
        from importlib.metadata import version

        import gbstats  # noqa: F401

        theirs, gb_version = gbstats_values(), version("gbstats")
    except ImportError:
        theirs, gb_version = {}, None
    if args.dict:
        if not theirs:
            raise SystemExit("gbstats is not importable: nothing to record")
        print(f"# gbstats {gb_version}, benchmarks/gbstats_reference.py --dict")
        print("GBSTATS = {")
        for k, v in theirs.items():
            print(f"    {k!r}: {v!r},")
        print("}")
        return
    print(f"gbstats {gb_version or 'not installed'}")
    print(f"{'quantity':36} {'gbstats':>22} {'growthloop':>22} {'rel. diff':>10}")
    worst = 0.0
    for k, v in ours.items():
        if k in theirs:
            d = relative_difference(theirs[k], v)
            worst = max(worst, d)
            print(f"{k:36} {theirs[k]:22.15g} {v:22.15g} {d:10.1e}")
        else:
            print(f"{k:36} {'':>22} {v:22.15g}")
    if theirs:
        print(f"largest relative difference: {worst:.1e}")
    if theirs and not math.isfinite(worst):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
