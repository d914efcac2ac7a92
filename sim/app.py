"""The swapsim dashboard: one run step by step, and an ensemble that follows the sliders.

Run it with `swapsim dashboard [SCENARIO]` (or `solara run sim/app.py`). As in Mesa's examples,
the page is built from `model_params` (sliders and selects whose names are `ExchangeModel`'s
keyword arguments) and Mesa's own `UserInputs`; the figures are Plotly's, made for the browser (`sim/dashboard/plots.py`
says why), built once and then only given new data (`sim/dashboard/live.py`). Every
browser session gets its own model. Settings from the page pass the scenario schema before any
run; a bad scenario file shows its one-line error in the page.

Configuration, set by `swapsim dashboard`: SWAPSIM_SCENARIO (bundled name or path),
SWAPSIM_OUT (folder the Save button writes to), SWAPSIM_ALLOW (the folders a scenario path typed into
the page may lie in, besides the bundled scenarios: `sim/dashboard/files.py`), SWAPSIM_POSTERIOR
(calibration folder), SWAPSIM_RUNS (ensemble size).
"""

from __future__ import annotations

import html
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import solara
from mesa.visualization.solara_viz import UserInputs

from sim import DEFAULT_SEED
from sim.dashboard import controls, ensemble, files, memory, plots, today
from sim.dashboard import posterior as posterior_view
from sim.dashboard.live import LiveFigure, Resizer
from sim.model.exchange import ExchangeModel
from sim.model.scenario import Scenario, ScenarioError, bundled_names, path_of

START = os.environ.get("SWAPSIM_SCENARIO", "decree_2020")
OUT = Path(os.environ.get("SWAPSIM_OUT", "results/dashboard"))
RUNS = int(os.environ.get("SWAPSIM_RUNS", controls.ENSEMBLE_RUNS))
FOLDERS = files.allowed_folders()
MAX_SEED = 2**63 - 1  # seeds are whole numbers below 2**63
WEEK = 7  # days the "+7 days" button simulates
PLAY_DAYS_PER_SECOND = 10  # Play's steady pace: 2 days every 0.2 s, whatever the time a redraw takes
PLAY_FRAME = 0.2  # seconds between two of Play's redraws
# Vuetify breaks card titles anywhere ("calibratio / n's posterior"); numbers in tables stay on one line.
CSS = """
.v-card__title { word-break: normal; overflow-wrap: break-word; }
.swapsim-rates table { border-collapse: collapse; }
.swapsim-rates td, .swapsim-rates th { white-space: nowrap; padding: 2px 12px 2px 0; text-align: left; }
.swapsim-buttons { flex-wrap: wrap; gap: 6px; }
.swapsim-stale { opacity: 0.55; }
"""


def _posterior():
    folder = os.environ.get("SWAPSIM_POSTERIOR")
    if not folder:
        return None
    from sim.experiments.posterior import load_posterior

    return load_posterior(folder)


POSTERIOR = _posterior()
OBSERVED = ensemble.observed() if POSTERIOR is not None else None

solara.lab.on_kernel_start(memory.on_session_start)


def _load(choice: str) -> tuple[Scenario | None, str | None]:
    """The scenario a bundled name or an allowed path names, or the one line that says why not. The
    scenario given on the command line is the operator's choice and opens from anywhere."""
    try:
        return files.open_scenario(choice, None if choice == START else FOLDERS), None
    except (ScenarioError, OSError, ValueError, RecursionError, MemoryError) as err:
        return None, files.message(err)


@solara.component
def Page():
    """The page: a scenario picker; the rest is keyed by the scenario, so it starts afresh on a new one."""
    choices = list(dict.fromkeys(bundled_names() + ([START] if START not in bundled_names() else [])))
    choice, set_choice = solara.use_state(START)
    file_text, set_file_text = solara.use_state("")
    file_error, set_file_error = solara.use_state(None)
    base, error = solara.use_memo(lambda: _load(choice), [choice])

    def open_file():
        scenario, problem = _load(file_text.strip())
        set_file_error(problem)
        if scenario is not None:
            set_choice(file_text.strip())

    solara.Title("swapsim dashboard")
    solara.Style(CSS)
    Resizer()
    solara.AppBarTitle("swapsim: the 2020 prisoner exchange")  # inside solara.AppBar it was printed as a repr
    with solara.Sidebar():
        with solara.Card("Scenario"):
            solara.Select("Bundled scenario", value=choice if choice in choices else None, values=choices,
                          on_value=set_choice)
            solara.InputText("Or a scenario file (path)", value=file_text, on_value=set_file_text,
                             continuous_update=True)
            solara.Button("Open file", on_click=open_file, disabled=not file_text.strip(), classes=["swapsim-open"])
            if file_error:
                solara.Error(file_error, classes=["swapsim-error"])
    if base is None:
        solara.Error(error, classes=["swapsim-error"])
        return
    Workspace(base).key(f"workspace-{choice}")


@solara.component
def Workspace(base: Scenario):
    summary = solara.use_memo(lambda: posterior_view.summary(POSTERIOR, base, controls.SLIDERS) if POSTERIOR else {},
                              [base.model_dump_json()])
    start = {name: controls.on_step(name, mid) for name, (_, mid, _) in summary.items()}
    settings, set_settings = solara.use_state(controls.defaults(base, start))
    moved, set_moved = solara.use_state(frozenset())
    seed, set_seed = solara.use_state(DEFAULT_SEED)
    runs, set_runs = solara.use_state(RUNS)
    # In posterior mode an unmoved slider's parameter stays the posterior's: only moved ones are applied and held.
    applied = {name: value for name, value in settings.items() if name not in summary or name in moved}
    held = frozenset(path_of(name) for name in moved if name in summary)
    scenario, problem = solara.use_memo(lambda: _applied(base, applied), [repr(applied)])

    def change(name, value):
        set_settings(lambda old: {**old, name: value})
        set_moved(lambda old: old | {name})

    with solara.Sidebar():
        with solara.Card("Parameters"):
            params = controls.model_params(base, settings, start)
            for name, entry in params.items():
                UserInputs({name: entry}, on_change=change)
                if name in summary:
                    solara.Text(posterior_view.described(name, *summary[name])
                                + ("; yours holds in every run" if name in moved else "; runs draw from it"),
                                classes=["swapsim-posterior"], style={"font-size": "small", "color": "#555"})
            solara.Text("Trust: each side's belief (0 to 1) that the other keeps its side of the deal. Memory: the "
                        "share of past evidence kept each day. Attack limit: the conditions' most Taliban attacks per "
                        "day that still allow a tranche. Moving any of these starts the run afresh.",
                        style={"font-size": "small", "color": "#555"})
            SeedInput(seed, set_seed)
            solara.SliderInt("Runs in the ensemble", value=runs, min=min(100, RUNS), max=max(2000, RUNS), step=100,
                             on_value=set_runs)
        if scenario is not None:
            SaveCard(scenario)
    if problem:
        solara.Error(problem, classes=["swapsim-error"])
        return
    with solara.ColumnsResponsive(default=12, large=6):
        OneRun(scenario, seed, held)
        Ensembles(base, scenario, held, runs, seed)


@solara.component
def SeedInput(seed: int, set_seed):
    """The root seed as typed: a whole number from 0 to MAX_SEED, or a one-line error under the field (the
    runs keep the last good seed)."""
    text, set_text = solara.use_state(str(seed))
    problem = seed_problem(text)

    def typed(value: str) -> None:
        set_text(value)
        if seed_problem(value) is None:
            set_seed(int(value.strip()))

    solara.InputText("Seed", value=text, on_value=typed, error=problem is not None, classes=["swapsim-seed"])
    if problem:
        solara.Error(f"{problem}; the runs keep seed {seed}", classes=["swapsim-seed-error"], dense=True)


def seed_problem(text: str) -> str | None:
    """Why `text` is not a root seed, in one line, or None."""
    value = text.strip()
    shown = value if len(value) <= 30 else value[:30] + "…"
    if not (value.isascii() and value.isdigit()):
        return f"Seed: {shown!r} is not a whole number from 0 to {MAX_SEED:,}"
    if int(value) > MAX_SEED:
        return f"Seed: {shown} is above {MAX_SEED:,}, the largest seed"
    return None


def _applied(base: Scenario, settings: dict) -> tuple[Scenario | None, str | None]:
    try:
        return controls.apply(base, settings), None
    except (ScenarioError, ValueError, RecursionError) as err:
        return None, files.message(err)


@solara.component
def SaveCard(scenario: Scenario):
    name, set_name = solara.use_state(scenario.metadata.name + "_dashboard")
    replace, set_replace = solara.use_state(False)
    message, set_message = solara.use_state(None)

    def save():
        try:
            saved = controls.save(scenario, OUT, name, replace)
        except (FileExistsError, ValueError, OSError) as err:
            set_message(("error", str(err)))
            return
        set_message(("ok", f"{'Replaced' if saved.replaced else 'Saved'} {saved.path}"))
        set_replace(False)

    with solara.Card("Save these settings"):
        solara.InputText("File name", value=name, on_value=set_name, continuous_update=True)
        solara.Checkbox(label="Replace an existing file", value=replace, on_value=set_replace)
        solara.Button("Save scenario", on_click=save, classes=["swapsim-save"])
        solara.Text(f"Writes into {OUT}/")
        if message:
            kind, text = message
            (solara.Success if kind == "ok" else solara.Error)(text, classes=[f"swapsim-save-{kind}"])




@solara.component
def OneRun(scenario: Scenario, seed: int, held: frozenset[str]):
    """One run, driven by Step, +7 days, Play and Reset. A step changes the figure's data only: the run's series
    so far are sent to the figure built once for the scenario. In posterior mode the run's parameters are the
    posterior's draw for its seed (except those held at a moved slider's value), and the page says which."""
    drawn_scenario, drawn = solara.use_memo(
        lambda: posterior_view.draw(posterior_view.holding(POSTERIOR, held), scenario, seed) if POSTERIOR
        else (scenario, {}), [scenario.model_dump_json(), seed, held])
    generation, set_generation = solara.use_state(0)
    model = solara.use_memo(lambda: ExchangeModel(drawn_scenario, seed=seed),
                            [drawn_scenario.model_dump_json(), seed, generation])
    tick, set_tick = solara.use_state(0)
    playing, set_playing = solara.use_state(False)
    lock = solara.use_memo(threading.Lock, [])
    skeleton = solara.use_memo(lambda: plots.run_figure(scenario), [plots.run_figure_key(scenario)])

    def advance(days: int) -> None:
        with lock:
            for _ in range(days):
                if not model.running:
                    break
                model.step()
        set_tick(lambda t: t + 1)

    def play() -> Callable[[], None] | None:
        """While playing, a thread steps the run at a steady pace: PLAY_DAYS_PER_SECOND, redrawn every PLAY_FRAME
        seconds on a clock (a slow redraw delays the next frame; it does not slow the pace after it). Started only
        on Play, so that no thread re-renders the page while it is idle."""
        if not playing:
            return None
        cancel = threading.Event()
        stride = max(1, round(PLAY_DAYS_PER_SECOND * PLAY_FRAME))

        def loop() -> None:
            due = time.monotonic()
            while model.running and not cancel.is_set():
                advance(stride)
                due = max(due + PLAY_FRAME, time.monotonic() - PLAY_FRAME)
                cancel.wait(max(0.0, due - time.monotonic()))
            if not model.running and not cancel.is_set():
                set_playing(False)

        threading.Thread(target=loop, daemon=True).start()
        return cancel.set

    solara.use_effect(play, [playing, model])
    lines, data = solara.use_memo(lambda: _one_run_view(model, scenario, lock), [tick, model])

    with solara.Card("One run, day by day"):
        with solara.Row(classes=["swapsim-buttons"]):
            solara.Button("Step", on_click=lambda: advance(1), disabled=playing or not model.running,
                          classes=["swapsim-step"])
            solara.Button(f"+{WEEK} days", on_click=lambda: advance(WEEK), disabled=playing or not model.running,
                          classes=["swapsim-week"])
            solara.Button("Pause" if playing else "Play", on_click=lambda: set_playing(not playing),
                          disabled=not model.running, classes=["swapsim-play"])
            solara.Button("Reset", on_click=lambda: (set_playing(False), set_generation(generation + 1)),
                          classes=["swapsim-reset"])
        solara.Text(f"Play runs at {PLAY_DAYS_PER_SECOND} days a second.", style={"font-size": "small", "color": "#555"})
        with solara.Column(gap="2px"):
            solara.Text(lines[0], classes=["swapsim-day"], style={"font-weight": "bold"})
            for line in lines[1:]:
                solara.Text(line)
            if drawn:
                solara.Text(_drawn_line(drawn, held), classes=["swapsim-drawn"], style={"font-size": "small"})
        # The title names the run, not the day: a step then changes the traces only, not the layout.
        LiveFigure(skeleton, data, (tick, id(model)), title=f"{scenario.metadata.name}: one run (seed {seed})",
                   classes=["swapsim-run-figure"])


def _one_run_view(model: ExchangeModel, scenario: Scenario, lock: threading.Lock):
    """Today's state in words, and the run's traces so far."""
    with lock:
        lines = today.describe(model, scenario.calendar.start_date)
        series = model.series()
    return lines, plots.run_data(series[series["lane"] == 0], scenario)


def _drawn_line(drawn: dict, held: frozenset[str]) -> str:
    """The posterior draw of the one run, in one line: the fitted values (the fixed ones are the calibration's)."""
    fitted = [path for path in POSTERIOR.fitted if path in drawn]
    values = ", ".join(f"{path} = {drawn[path]:.3g}" for path in fitted)
    return (f"This run's parameters are drawn from the posterior for its seed: {values}"
            + (f"; held at your values: {', '.join(sorted(held))}" if held else "")
            + f"; {len(drawn) - len(fitted)} more fixed by the calibration.")


@dataclass
class EnsembleView:
    """What the ensemble card shows, computed off the event loop for one set of inputs (`key`)."""

    key: tuple
    table: object
    releases: dict
    rates: dict
    seconds: float


@solara.component
def Ensembles(base: Scenario, scenario: Scenario, held: frozenset[str], runs: int, seed: int):
    """The settings' ensemble beside the unchanged scenario's, on the same seeds. It is computed in a thread, so
    the page stays live; while it runs the last result stays on the page, dimmed, under a progress bar. A newer
    setting supersedes it: threads waiting their turn give up, and a result for older settings is never shown
    as current."""
    key = (scenario.model_dump_json(), held, runs, seed)
    cache = solara.use_memo(dict, [])  # the scenario-as-written ensemble, computed once per (runs, seed)
    releases_skeleton = solara.use_memo(lambda: plots.releases_figure(base, OBSERVED), [base.model_dump_json()])
    rates_skeleton = solara.use_memo(plots.rates_figure, [])

    def compute(cancel: threading.Event) -> EnsembleView | None:
        started = time.perf_counter()
        written_key = (base.model_dump_json(), runs, seed)
        written = cache.get(written_key)
        if written is None:
            written = ensemble.simulate(base, runs, seed, POSTERIOR)
            cache.clear()
            cache[written_key] = written
        if cancel.is_set():
            return None
        current = written if scenario == base and not held else ensemble.simulate(scenario, runs, seed, POSTERIOR,
                                                                                  held)
        rates = ensemble.rates(written, current)
        return EnsembleView(key, ensemble.rates_text(rates), plots.releases_data(written.bands, current.bands),
                            plots.rates_data(rates, ensemble.differences(written, current), ensemble.BASELINE,
                                             ensemble.CURRENT), time.perf_counter() - started)

    result = solara.use_thread(compute, dependencies=[key], intrusive_cancel=False)
    view = result.value
    current = view is not None and view.key == key and result.state == solara.ResultState.FINISHED
    with solara.Card(f"Ensemble of {runs:,} runs" + (", drawn from the posterior" if POSTERIOR else "")):
        solara.Text(posterior_view.integrates(POSTERIOR, held), classes=["swapsim-integrates"],
                    style={"font-size": "small"})
        # The card's children keep their places whatever the state, so the figures below stay the same widgets.
        solara.ProgressLinear(not current and result.error is None)
        solara.Text(f"Computing {runs:,} runs for these settings…" if not current else "",
                    classes=["swapsim-computing"] if not current else [])
        if result.error is not None:
            solara.Error(f"The ensemble failed: {result.error}", classes=["swapsim-error"])
        if view is None:
            return
        with solara.Div(classes=[] if current else ["swapsim-stale"]).key("ensemble-views"):
            solara.HTML(tag="div", unsafe_innerHTML=_table_html(view.table), classes=["swapsim-rates"])
            solara.Text(f"Outcome shares with Wilson 95% intervals; both columns on the same {runs:,} seeds "
                        f"(computed in {view.seconds:.2f} s).")
            LiveFigure(releases_skeleton, view.releases, id(view), classes=["swapsim-releases-figure"],
                       title=f"{base.metadata.name}: prisoner releases, {runs:,} runs each")
            LiveFigure(rates_skeleton, view.rates, id(view), classes=["swapsim-rates-figure"],
                       title=f"Outcomes of {runs:,} runs, your settings against the scenario as written")


def _table_html(table) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.columns)
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
                   for row in table.itertuples(index=False))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
