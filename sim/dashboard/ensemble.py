"""The dashboard's ensemble: many runs of the page's settings beside the same runs of the unchanged scenario.

Both ensembles use the same root seed, so run k of one is paired with run k of the other, and
the difference the slider makes is read without the noise of different chances. They run as
lanes in this process (500 runs take about a second on two cores), which keeps the page
responsive without worker processes. The page draws only both sides' cumulative releases, so
the runs keep those alone, day by day (the model's snapshots), rather than every daily series:
collecting and binning the series took a third of a slider change's time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sim import DEFAULT_SEED
from sim.experiments import observed as observed_2020
from sim.experiments import runs as runs_module
from sim.dashboard.posterior import holding
from sim.experiments.posterior import Posterior
from sim.model.scenario import Scenario
from sim.reports import comparison

BASELINE, CURRENT = "scenario as written", "with your settings"
MAX_RUNS = 10_000  # 10,000 decree runs take about 6 s to redraw on two cores; more is a job for `swapsim compare`
BYTES_PER_RUN = 60_000  # peak memory of one run of an ensemble, its releases per day (tracemalloc: 49 KB a run for
                       # 200 and for 1,000 decree runs)


def check_runs(runs: int) -> None:
    """Refuse an ensemble size the page cannot serve: above MAX_RUNS, or more than a quarter of the memory
    available now for the two ensembles (the scenario's and the settings') of one session."""
    if runs > MAX_RUNS:
        raise runs_module.TooBig(f"--runs {runs:,}: the dashboard's ensembles hold at most {MAX_RUNS:,} runs; "
                                 "use `swapsim compare` for more")
    available = runs_module.available_memory()
    need = 2 * runs * BYTES_PER_RUN
    if available is not None and need > available / 4:
        raise runs_module.TooBig(f"--runs {runs:,}: two ensembles of {runs:,} runs need about "
                                 f"{need / 1e9:.1f} GB of memory for each browser session, and this machine has "
                                 f"{available / 1e9:.1f} GB available; ask for fewer runs")


RELEASES = ("government_released", "taliban_released")


@dataclass
class ReleaseBands:
    """Both sides' cumulative releases, per day and run (`counts[column]`: days x runs; a run that has ended
    counts at its final value)."""

    counts: dict[str, np.ndarray]

    @classmethod
    def of(cls, snapshots: pd.DataFrame, days: int, runs: int) -> ReleaseBands:
        """From runs' snapshots on every day (`runs_module.run(..., snapshot_days=range(days))`)."""
        day, run = snapshots["day"].to_numpy(), snapshots["run"].to_numpy()
        counts = {}
        for column in RELEASES:
            table = np.zeros((days, runs), dtype=np.int64)
            table[day, run] = snapshots[column].to_numpy()
            counts[column] = table
        return cls(counts)

    def quantiles(self, column: str, qs: tuple[float, ...]) -> np.ndarray:
        """Per day (days x qs), the smallest count that share of the runs has reached: the quantiles
        `sim.reports.analysis.DailyBands` gives the CLI's figures for whole counts."""
        return np.quantile(self.counts[column], qs, axis=1, method="inverted_cdf").T


@dataclass
class Ensemble:
    """Runs of one scenario: the run table and both sides' releases per day."""

    scenario: Scenario
    runs: pd.DataFrame
    bands: ReleaseBands


def simulate(scenario: Scenario, runs: int, seed: int = DEFAULT_SEED, posterior: Posterior | None = None,
             held: frozenset[str] = frozenset()) -> Ensemble:
    """`runs` seeded runs of the scenario, each drawing its parameters from `posterior` if given, except those in
    `held` (dotted paths), which keep the scenario's values. Up to 4,000 runs are the lanes of one batch, so the
    model's per-day cost is paid once (two batches of 250 take about twice as long as one of 500)."""
    if posterior is not None:
        posterior = holding(posterior, held)
    days = scenario.calendar.horizon_days
    results = runs_module.run(scenario, runs, seed, workers=1, series=False, posterior=posterior,
                              snapshot_days=range(days))
    return Ensemble(scenario, results.runs, ReleaseBands.of(results.snapshots, days, runs))


def paired_runs(baseline: Ensemble, current: Ensemble) -> pd.DataFrame:
    """Both run tables in one, labelled by `scenario` (BASELINE, CURRENT), for the comparison functions."""
    return pd.concat([baseline.runs.assign(scenario=BASELINE), current.runs.assign(scenario=CURRENT)],
                     ignore_index=True)


def rates(baseline: Ensemble, current: Ensemble) -> pd.DataFrame:
    """Outcome rates with Wilson 95% intervals, the baseline's rows first."""
    return comparison.rates_of(paired_runs(baseline, current), [BASELINE, CURRENT])


def differences(baseline: Ensemble, current: Ensemble) -> pd.DataFrame:
    """Paired differences of the outcome rates (settings minus baseline), with Newcombe intervals."""
    return comparison.differences_of(paired_runs(baseline, current), [BASELINE, CURRENT])


def rates_text(table: pd.DataFrame) -> pd.DataFrame:
    """The rates as a small table for the page: one row per outcome, one column per ensemble."""
    cell = table.apply(lambda r: f"{100 * r['rate']:.1f}% ({100 * r['low']:.1f}–{100 * r['high']:.1f})", axis=1)
    wide = table.assign(cell=cell).pivot(index="outcome", columns="scenario", values="cell")
    order = list(dict.fromkeys(table["outcome"]))
    return wide.loc[order, [c for c in (BASELINE, CURRENT) if c in wide.columns]].reset_index()


def observed() -> pd.DataFrame:
    """The 2020 record of cumulative releases (for the release plot when the ensemble draws from a posterior)."""
    return observed_2020.releases()
