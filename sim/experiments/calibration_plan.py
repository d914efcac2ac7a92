"""What `swapsim calibrate --dry-run` shows before anything is fitted: the design, the budget and an estimate
of the time, from simulations of the prior timed here (as `swapsim sweep --dry-run` does for a sweep)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from sim.experiments.calibration import RecordProblem
from sim.experiments.calibration_spec import CalibrationSpec, base_scenario, load_record
from sim.experiments.seeds import replicate_seeds
from sim.reports.words import count

TIMED = 4_000  # simulations of the prior timed here, in this process (lanes pay off from a few thousand)


@dataclass
class Plan:
    spec: CalibrationSpec
    points: int  # record points inside the fit window
    fixed: int
    workers: int
    timed: int
    timed_seconds: float

    @property
    def seconds_per_simulation(self) -> float:
        return self.timed_seconds / self.timed

    def seconds(self, simulations: int) -> float:
        """Time of `simulations` on the workers, at the speed timed here (a worker per core is about as fast)."""
        return simulations * self.seconds_per_simulation / self.workers


def plan(spec: CalibrationSpec, workers: int) -> Plan:
    """The calibration's plan, with TIMED simulations of its prior run and timed in this process."""
    base = base_scenario(spec)
    record = load_record(spec, base=base)
    until = (spec.until - base.calendar.start_date).days
    problem = RecordProblem(base, record, spec.priors(), until)
    rng = np.random.default_rng(spec.seed)
    n = max(1, TIMED // spec.simulations_per_particle)
    positions = problem.sample_prior(rng, n)
    seeds = replicate_seeds(spec.seed, n * spec.simulations_per_particle).reshape(n, -1)
    started = time.perf_counter()
    problem.distances(positions, seeds)
    took = time.perf_counter() - started
    return Plan(spec, len(record.points), len(spec.fixed), workers, seeds.size, took)


def format_plan(p: Plan) -> str:
    """The plan as `swapsim calibrate --dry-run` prints it."""
    s = p.spec
    lines = [f"{s.name}: {s.method} over {count(len(s.parameters), 'fitted parameter')} "
             f"({count(p.fixed, 'fixed value')}), against {count(p.points, 'record point')} to {s.until}; "
             f"root seed {s.seed}"]
    for path, prior in s.parameters.items():
        lines.append(f"  {path}: {prior.low:g} to {prior.high:g}{' (log scale)' if prior.scale == 'log' else ''}")
    if s.method == "rejection":
        lines.append(f"  budget: one generation of {s.simulations:,} simulations from the prior")
    else:
        lines.append(f"  budget: at most {s.simulations:,} simulations; {s.particles:,} particles × "
                     f"{count(s.simulations_per_particle, 'seed')} = {s.first_generation:,} for the first "
                     f"generation; each generation moves its particles up to {s.max_moves:,} rounds")
    lines.append(f"  estimated time: the first generation about {p.seconds(s.first_generation):,.1f} s, the whole "
                 f"budget at most {p.seconds(s.simulations):,.0f} s on {count(p.workers, 'worker')}, from "
                 f"{p.timed:,} simulations of the prior timed here in {p.timed_seconds:.2f} s (the sampler "
                 "stops earlier when its acceptance or effective sample says so)")
    lines.append("nothing was fitted (--dry-run)")
    return "\n".join(lines)
