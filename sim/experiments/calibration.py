"""Calibration: scenario parameters fitted to a record of cumulative releases by ABC-SMC, on the lanes engine,
resumable generation by generation.

The sampler is `sim.experiments.abc_smc`; this module makes swapsim a problem for it. A particle's position
is a point of R^d: parameter j is the logistic function of coordinate j, placed in its prior range (on a log
scale where the prior says so), so a uniform prior is a logistic density there and no move is ever clipped.
A whole-number parameter is the position's value rounded, so the position keeps moving freely inside the
rounding cell and its ends are as easy to leave as any other value. Each simulation is one run with its own
seed, stopped at the end of the fit window; its distance to the record is `sim.experiments.record.distance` (with
the team's walkouts when the spec scores them).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from sim.experiments import abc_smc, batches, chunks, storage
from sim.experiments.calibration_spec import UNHASHED, CalibrationSpec, Prior, base_scenario, load_record, spec_hash
from sim.experiments.provenance import code_version
from sim.experiments.record import Record, at_points, distance, walkouts_at
from sim.experiments.seeds import SEED_RULE
from sim.model.scenario import Scenario, parameter_fields

ResumeError = storage.ResumeError  # a calibration folder that cannot be resumed as asked


def simulate(base: Scenario, values: dict[str, np.ndarray], seeds: np.ndarray, days: list[int], until: int,
             workers: int = 1, executor: Executor | None = None, lanes: int | None = None,
             on_done=None, history_seeds: np.ndarray | None = None, history_until: int = -1) -> pd.DataFrame:
    """Run each parameter set once with its seed, to the end of day `until`; both sides' cumulative releases
    on `days`, one row per run and day (`run`, `day`, `government_released`, `taliban_released`).

    With `history_seeds`, run k replays the chance of `history_seeds[k]` up to day `history_until`."""
    n = len(seeds)
    plan = batches.batches_of([base], np.zeros(n, dtype=np.int64), np.asarray(seeds, dtype=np.int64),
                              {"run": np.arange(n)}, batches.cut(n, lanes, workers), overrides=values,
                              until=until, snapshot_days=days,
                              history_seeds=None if history_seeds is None else np.asarray(history_seeds, np.int64),
                              history_until=history_until)
    parts = [result.snapshots for result in batches.run_all(plan, workers, executor)]
    if on_done:
        on_done(n)
    return pd.concat(parts, ignore_index=True)


def parameter_values(priors: dict[str, Prior], unit: np.ndarray) -> dict[str, np.ndarray]:
    """Parameter values from places in the prior ranges (sets x parameters); whole numbers where the parameter is."""
    out = {}
    for j, (path, prior) in enumerate(priors.items()):
        values = prior.from_unit(np.clip(unit[:, j], 0.0, 1.0))
        if parameter_fields()[path].annotation is int:
            values = np.rint(values).astype(np.int64)
        out[path] = values
    return out


def units_of(priors: dict[str, Prior], frame: pd.DataFrame) -> np.ndarray:
    """Places in the prior ranges of a frame's parameter values (sets x parameters)."""
    return np.column_stack([prior.to_unit(frame[path].to_numpy(dtype=float)) for path, prior in priors.items()])


def _sigmoid(y: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * y))  # no overflow for any y


def _logit(u: np.ndarray) -> np.ndarray:
    return np.log(u) - np.log1p(-u)


class RecordProblem:
    """swapsim against a record, as an `abc_smc.Problem`: positions in R^d, a uniform prior on each range."""

    def __init__(self, base: Scenario, record: Record, priors: dict[str, Prior], until: int, workers: int = 1,
                 executor: Executor | None = None, lanes: int | None = None, on_done=None):
        self.base, self.record, self.priors, self.until = base, record, priors, until
        self.workers, self.executor, self.lanes, self.on_done = workers, executor, lanes, on_done
        self.dimension = len(priors)

    def values(self, y: np.ndarray) -> dict[str, np.ndarray]:
        return parameter_values(self.priors, _sigmoid(np.atleast_2d(y)))

    def sample_prior(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return _logit(rng.random((n, self.dimension)) * (1 - 2**-53) + 2**-54)

    def log_prior(self, y: np.ndarray) -> np.ndarray:
        """Log density of the logistic distribution: uniform places in the prior ranges, in these coordinates."""
        a = np.abs(y)
        return (-a - 2.0 * np.log1p(np.exp(-a))).sum(axis=1)

    def distances(self, y: np.ndarray, seeds: np.ndarray) -> np.ndarray:
        n, k = seeds.shape
        values = {path: np.repeat(v, k) for path, v in self.values(y).items()}
        snaps = simulate(self.base, values, seeds.reshape(-1), self.record.days, self.until, self.workers,
                         self.executor, self.lanes, self.on_done)
        return distance(at_points(snaps, self.record, n * k), self.record,
                        walkouts_at(snaps, self.record, n * k)).reshape(n, k)


def synthetic_record(spec: CalibrationSpec, values: dict[str, float], seed: int) -> pd.DataFrame:
    """The record the model itself makes with these parameter values and seed: the spec's record points (dates,
    sides, confidence, lower bounds) with the simulated counts. What a calibration must recover (docs/ODD.md,
    "Calibration", and benchmarks/sbc_calibration.py)."""
    base = base_scenario(spec)
    record = load_record(spec, base=base)
    until = (spec.until - base.calendar.start_date).days
    snaps = simulate(base, {path: np.array([value]) for path, value in values.items()}, np.array([seed]),
                     record.days, until)
    p = record.points
    return pd.DataFrame({"date": p["date"].astype(str), "side": p["side"],
                         "cumulative_released": at_points(snaps, record, 1)[0].astype(np.int64),
                         "confidence": p["confidence"], "bound": np.where(p["lower"], "lower", "")})


BYTES_PER_SIMULATION = 6_000  # a generation's memory per simulation (peak RSS of calibrate, 5,000 to 20,000 particles)


def check_memory(spec: CalibrationSpec) -> None:
    """Refuse at once a generation that cannot fit in the memory available now (runs.TooBig, one line)."""
    from sim.experiments.runs import TooBig, available_memory  # runs imports posterior, which imports this module

    rejection = spec.method == "rejection"  # one generation of the whole budget
    simulations = spec.first_generation
    need = simulations * BYTES_PER_SIMULATION
    available = available_memory()
    if available is not None and need > available:
        raise TooBig(f"a generation of {simulations:,} simulations needs about {need / 1e9:,.1f} GB of memory, and "
                     f"this machine has {available / 1e9:,.1f} GB available; lower "
                     + ("simulations" if rejection else "particles or simulations_per_particle"))


@dataclass
class Progress:
    """What a calibration has done so far (the state a resumed calibration starts from)."""

    generations: list[abc_smc.Generation] = field(default_factory=list)
    simulations: int = 0
    stop: abc_smc.Stop | None = None


class Calibration:
    """An ABC calibration in a folder: generations written as they complete, so that it can be resumed."""

    def __init__(self, spec: CalibrationSpec, out: Path, workers: int = 1, executor: Executor | None = None,
                 lanes: int | None = None, on_done=None):
        self.spec, self.out = spec, Path(out)
        self.base = base_scenario(spec)
        self.record = load_record(spec, base=self.base)
        self.priors = spec.priors()
        self.until = (spec.until - self.base.calendar.start_date).days  # the last day of the fit window
        self.problem = RecordProblem(self.base, self.record, self.priors, self.until, workers, executor, lanes)
        self.progress = Progress()

    @property
    def on_done(self):
        return self.problem.on_done

    @on_done.setter
    def on_done(self, callback) -> None:
        self.problem.on_done = callback

    def settings(self) -> abc_smc.Settings:
        s = self.spec
        if s.method == "rejection":  # one generation: the whole budget on the prior
            return abc_smc.Settings(particles=s.simulations // s.simulations_per_particle, simulations=s.simulations,
                                    seed=s.seed, replicates=s.simulations_per_particle)
        return abc_smc.Settings(particles=s.particles, simulations=s.simulations, seed=s.seed,
                                replicates=s.simulations_per_particle, keep=s.quantile, min_ess=s.min_ess,
                                min_acceptance=s.min_acceptance, max_rounds=s.max_moves)

    # ---------------------------------------------------------------- running

    def generations(self) -> Iterator[abc_smc.Generation]:
        """Generations after those already done, until the budget, the acceptance or the ESS says stop."""
        if self.progress.stop is not None:
            return
        sampler = abc_smc.Sampler(self.problem, self.settings(), spent=self.progress.simulations)
        last = self.progress.generations[-1] if self.progress.generations else None
        if self.spec.method == "rejection":
            if last is None:
                first = sampler.first()
                if first is not None:
                    self.progress.simulations = sampler.spent
                    yield self._rejection(first)
            self.progress.stop = abc_smc.Stop("budget", "rejection: one generation with the whole budget")
            return
        for generation in sampler.generations(last):
            self.progress.simulations = sampler.spent
            yield generation
        self.progress.simulations = sampler.spent
        self.progress.stop = sampler.stop

    def _rejection(self, prior: abc_smc.Generation) -> abc_smc.Generation:
        """Rejection ABC: the tolerance that keeps an effective sample of `particles`; weights by share within."""
        keep = min(self.spec.particles / len(prior.weights), 1.0)
        epsilon = abc_smc.next_tolerance(prior.distances, prior.weights, prior.epsilon, keep)
        within = prior.within(epsilon)
        live = within > 0
        weights = within[live] / within[live].sum()
        return abc_smc.Generation(0, epsilon, prior.y[live], prior.distances[live], prior.seeds[live], weights,
                                  prior.ids[live], prior.simulations, scale=prior.scale, next_id=prior.next_id)

    # ---------------------------------------------------------------- the folder

    def state_path(self) -> Path:
        return self.out / "calibration_state.json"

    def generation_path(self, index: int) -> Path:
        return self.out / "generations" / f"gen-{index:03d}.parquet"

    def save(self, generation: abc_smc.Generation) -> None:
        storage.write_parquet(self.generation_path(generation.index), _generation_frame(generation, self.priors))
        self.progress.generations.append(generation)
        storage.write_json(self.state_path(), self.state())

    def finish(self) -> None:
        """Record why the sampler stopped, so that a resumed calibration knows it is done."""
        storage.write_json(self.state_path(), self.state())

    def state(self) -> dict:
        stop = self.progress.stop
        return {
            "spec_hash": spec_hash(self.spec), "spec": self.spec.model_dump(mode="json", exclude=UNHASHED),
            "code": code_version(), "seed_rule": SEED_RULE,
            "simulations": self.progress.simulations,
            "generations": [g.stats() for g in self.progress.generations],
            "stop": None if stop is None else {"reason": stop.reason, "detail": stop.detail,
                                              "discarded_simulations": stop.simulations},
        }

    def resume(self) -> None:
        """Reload the generations a previous run of this calibration wrote; refuse another spec or code."""
        path = self.state_path()
        if not path.is_file():
            raise ResumeError(f"{self.out}: not a calibration folder (no calibration_state.json); nothing to resume")
        try:
            old = json.loads(path.read_text())
        except (OSError, ValueError):
            raise ResumeError(f"{path}: cannot be read as JSON; use a new --out, or --force to start over") from None
        now = self.state()
        for key, what in (("spec_hash", "the calibration spec, its base or its record"),
                          ("code", "swapsim's version or commit"), ("seed_rule", "the random-number rule")):
            if old.get(key) != now[key]:
                shown = ""
                if key == "spec_hash" and isinstance(old.get("spec"), dict):  # folders since the spec is kept
                    what, shown = chunks.what_differs(old["spec"], now["spec"], "the calibration spec",
                                                      "its base scenario or its record")
                    shown = f" ({shown})"
                raise ResumeError(f"{self.out}: {what} changed since this folder was started{shown}; "
                                  "use a new --out, or --force to start over")
        self.progress.simulations = int(old["simulations"])
        for stats in old["generations"]:
            frame = pd.read_parquet(self.generation_path(stats["index"]))
            self.progress.generations.append(_generation_from(frame, stats, len(self.priors)))
        if old.get("stop"):
            s = old["stop"]
            self.progress.stop = abc_smc.Stop(s["reason"], s["detail"], s.get("discarded_simulations", 0))

    def posterior(self) -> pd.DataFrame:
        """The last complete generation: one row per particle, with its values, weight and the history (seed) it
        stands for."""
        if not self.progress.generations:
            raise ValueError("no generation completed: raise the budget of simulations")
        last = self.progress.generations[-1]
        return posterior_frame(last, self.priors, self.spec.seed)


def posterior_frame(generation: abc_smc.Generation, priors: dict[str, Prior], seed: int) -> pd.DataFrame:
    """A population as a posterior table: the fitted values (their dotted paths), `weight`, `particle` (copies
    share it), `within` (of its simulations, how many are within the tolerance), and one simulation within the
    tolerance chosen at random, its `seed` and `distance`: the history a forecast replays."""
    values = parameter_values(priors, _sigmoid(generation.y))
    chosen = abc_smc.choose_replicate(generation, seed)
    rows = np.arange(len(chosen))
    return pd.DataFrame(values).assign(
        distance=generation.distances[rows, chosen], weight=generation.weights / generation.weights.sum(),
        seed=generation.seeds[rows, chosen], within=generation.within(), particle=generation.ids,
        generation=generation.index)


def _generation_frame(g: abc_smc.Generation, priors: dict[str, Prior]) -> pd.DataFrame:
    frame = pd.DataFrame(parameter_values(priors, _sigmoid(g.y)))
    for j in range(g.y.shape[1]):
        frame[f"position.{j}"] = g.y[:, j]
    for k in range(g.distances.shape[1]):
        frame[f"distance.{k}"] = g.distances[:, k]
        frame[f"seed.{k}"] = g.seeds[:, k]
    return frame.assign(weight=g.weights, particle=g.ids)


def _generation_from(frame: pd.DataFrame, stats: dict, dimension: int) -> abc_smc.Generation:
    k = sum(1 for c in frame.columns if c.startswith("distance."))

    def block(columns: list[str]) -> np.ndarray:  # row-major, as the sampler made it: the same sums, bit for bit
        return np.ascontiguousarray(frame[columns].to_numpy())

    return abc_smc.Generation(
        stats["index"], stats["epsilon"], block([f"position.{j}" for j in range(dimension)]),
        block([f"distance.{i}" for i in range(k)]), block([f"seed.{i}" for i in range(k)]),
        frame["weight"].to_numpy(), frame["particle"].to_numpy(), stats["simulations"], stats["rounds"],
        stats["proposed"], stats["accepted"], stats["scale"], stats["next_scale"], stats["jumps"], stats["next_id"])


def open_folder(calibration: Calibration, resume: bool, force: bool) -> Path | None:
    """Start a calibration folder, or reopen one with `resume`; returns where a forced run set the old one aside."""
    out = calibration.out
    if resume and calibration.state_path().is_file():
        calibration.resume()
        return None
    aside = storage.start_folder(out, "calibration_state.json", "calibration", resume, force)
    storage.write_json(calibration.state_path(), calibration.state())
    return aside
