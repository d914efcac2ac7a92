"""swapsim: a prisoner-exchange negotiation simulator of the 2020 Afghan government–Taliban exchange.

The Python API, for notebooks as much as for the `swapsim` command:

    from sim.model.scenario import load
    from sim.experiments import runs as runner
    results = runner.run(load("scenarios/decree_2020.yaml"), runs=200, seed=1, workers=2)
    results.rates()         # outcome rates with Wilson 95% intervals (DataFrame)
    results.runs            # one row per run: seed, outcome, metrics
    results.series          # one row per run and day
    results.figures()       # matplotlib Figures
    results.save("results/decree_2020")
"""

DEFAULT_SEED = 20200311  # the day of the decree
