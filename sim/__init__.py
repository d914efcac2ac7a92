"""swapsim: a prisoner-exchange negotiation simulator of the 2020 Afghan government–Taliban exchange.

The Python API, for notebooks as much as for the `swapsim` command, in layers: the model
(`sim.model`), the experiments that run it (`sim.experiments`), the reports (`sim.reports`):

    from sim.experiments import runs
    from sim.model.scenario import load
    from sim.reports import results
    batch = runs.run(load("scenarios/decree_2020.yaml"), runs=200, seed=1)
    batch.runs                # one row per run: seed, outcome, metrics
    batch.series              # one row per run and day
    results.rates(batch)      # outcome rates with Wilson 95% intervals (DataFrame)
    results.figures(batch)    # matplotlib Figures
    results.save(batch, "results/decree_2020")
"""

DEFAULT_SEED = 20200311  # the day of the decree
# Runs of a scenario, a comparison, a forecast or the dashboard's ensemble when none are asked for: enough
# for a rate's 95% interval to be at most ±3.1 points wide, and still seconds of computing.
DEFAULT_RUNS = 1000
