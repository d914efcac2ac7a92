"""The dashboard's responsiveness: from a slider's change to the page's redrawn ensemble, in-process.

Target (issue 9): an ensemble of 500 runs redraws within 2 s of a slider change on a machine where
one decree_2020 run takes 8 ms. The page is rendered with solara.render (no browser, no network);
the browser adds its own transfer and paint (the browser test prints its own figure).
Prints figures, asserts nothing. Usage: python benchmarks/bench_dashboard.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import ipyvuetify as v
import solara
from common import one_run_ms

from sim import app
from sim.dashboard import ensemble
from sim.model.scenario import resolve


@solara.component
def InLayout():
    with solara.AppLayout():
        app.Page()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    baseline = one_run_ms()
    print(f"baseline: one decree_2020 run on its own takes {baseline:.1f} ms on this machine (median of 30)")
    base = resolve("decree_2020")
    compute = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        ensemble.simulate(base, app.RUNS)
        compute.append(time.perf_counter() - start)
    print(f"ensemble of {app.RUNS} runs with daily series, computed alone: {statistics.median(compute):.2f} s (median)")

    _, rc = solara.render(InLayout(), handle_error=False)
    slider = next(w for w in rc.find(v.Slider).widgets if w.label.startswith("Government's trust, day 0"))
    redraw = []
    for i in range(args.repeats):
        start = time.perf_counter()
        slider.v_model = 0.5 + 0.05 * i  # a new value each time: nothing cached
        redraw.append(time.perf_counter() - start)
    rc.close()
    median = statistics.median(redraw)
    print(f"slider change to redrawn page (new run, {app.RUNS}-run ensemble, 5 figures): {median:.2f} s (median of "
          f"{args.repeats}), {median * 1000 / baseline:.0f} times one run")
    print("target: within 2 s (most of it is drawing the figures, which does not scale with the run's time)")


if __name__ == "__main__":
    main()
