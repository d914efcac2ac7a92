"""The project as it was before a change, checked out beside it, so that a benchmark or docs/reproduce.py can
measure both in the same run on the same machine.

    with checkout() as tree:                       # a git worktree of BEFORE, removed afterwards
        python_in(tree, "-m", "sim.cli", "calibrate", ...)

The old code runs in this interpreter's environment with the worktree first on its path.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
# main before the self-scoring posterior (issue 14): one simulation per particle, moves from rounded values,
# step tuned on acceptance, replays to the end of the fit window.
BEFORE = "6b361f7"

# Calibrate with the old code to `until` and write its forecast's ensemble as a forecast folder that
# `swapsim score` reads (forecast.json and ensemble.parquet): argv = spec, until, calibration folder,
# forecast folder, forecast until, runs, workers.
OLD_FIT_AND_FORECAST = r"""
import datetime as dt, json, sys
from pathlib import Path
from sim.experiments import calibration as abc, pool
from sim.experiments.seeds import replicate_seeds
from sim.model.scenario import with_overrides
from sim.reports import calibration as report
spec_path, until, fit_dir, forecast_dir, ahead, runs, workers = sys.argv[1:8]
spec = abc.load_spec(spec_path).model_copy(update={"until": dt.date.fromisoformat(until)})
with pool.process_pool(int(workers)) as executor:
    report.calibrate(spec, fit_dir, workers=int(workers), executor=executor, force=True, figures_wanted=False)
    posterior = abc.load_posterior(fit_dir)
    scenario = with_overrides(posterior.base, posterior.fixed) if posterior.fixed else posterior.base
    start = scenario.calendar.start_date
    last = (dt.date.fromisoformat(ahead) - start).days
    snaps = abc.continue_runs(posterior.frame, scenario, replicate_seeds(spec.seed + 2, int(runs)), last,
                              (spec.until - start).days, int(workers), executor)
out = Path(forecast_dir)
out.mkdir(parents=True, exist_ok=True)
snaps.to_parquet(out / "ensemble.parquet", index=False)
info = json.loads((Path(fit_dir) / "calibration.json").read_text())
(out / "forecast.json").write_text(json.dumps({
    "calendar_start": start.isoformat(), "until": ahead, "fit_until": until, "runs": int(runs),
    "totals": {"government_released_taliban": scenario.protocol.government_prisoners,
               "taliban_released_government": scenario.protocol.taliban_prisoners},
    "calibration": fit_dir, "simulations": info["simulations"], "tolerance": info["tolerance"],
    "made_by": "the code before issue 14"}))
"""


@contextlib.contextmanager
def checkout(ref: str = BEFORE) -> Iterator[Path]:
    """A git worktree of `ref`, in a temporary folder, removed when done."""
    with tempfile.TemporaryDirectory(prefix="swapsim-before-") as tmp:
        tree = Path(tmp) / "tree"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), ref], check=True,
                       capture_output=True)
        try:
            yield tree
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False,
                           capture_output=True)


def python_in(tree: Path, *args: str) -> subprocess.CompletedProcess:
    """Run this Python with the worktree's `sim` package first on the path, in the worktree."""
    env = {**os.environ, "PYTHONPATH": str(tree), "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, *args], cwd=tree, env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"the code before failed ({' '.join(args[:2])}):\n{done.stderr[-3000:]}")
    return done


def old_fit_and_forecast(tree: Path, until: str, fit_dir: Path, forecast_dir: Path, ahead: str, runs: int = 2000,
                         workers: int = 2) -> None:
    """Calibrate with the old code and its own spec to `until`, and forecast to `ahead` as it did (replaying to
    `until`)."""
    spec = tree / "scenarios" / "calibration" / "record_2020.yaml"
    python_in(tree, "-c", OLD_FIT_AND_FORECAST, str(spec), until, str(fit_dir), str(forecast_dir), ahead, str(runs),
              str(workers))


def cli_fit_and_forecast(tree: Path, until: str, fit_dir: Path, forecast_dir: Path, ahead: str, runs: int = 2000,
                         workers: int = 2) -> None:
    """Calibrate with the worktree's code and its own spec, fitted to `until`, and forecast to `ahead`, through its
    command line (for code that has `swapsim forecast` writing ensemble.parquet, as `swapsim score` reads)."""
    spec = tree / "scenarios" / "calibration" / "record_2020.yaml"
    data = yaml.safe_load(spec.read_text())
    data["until"] = until
    origin = spec.with_name(f"origin_{until}.yaml")  # beside the shipped spec, so that its relative paths hold
    origin.write_text(yaml.safe_dump(data, sort_keys=False))
    python_in(tree, "-m", "sim.cli", "calibrate", str(origin), "--out", str(fit_dir), "--workers", str(workers),
              "--force")
    python_in(tree, "-m", "sim.cli", "forecast", str(fit_dir), "--until", ahead, "--out", str(forecast_dir),
              "--runs", str(runs), "--workers", str(workers), "--force")
