"""The swapsim dashboard: one run step by step, and an ensemble that follows the sliders.

Run it with `swapsim dashboard [SCENARIO]` (or `solara run sim/app.py`). As in Mesa's examples,
the page is built from `model_params` (sliders and selects whose names are `ExchangeModel`'s
keyword arguments) and Mesa's own `UserInputs`; the plots are swapsim's report figures. Every
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
from pathlib import Path

import solara
from mesa.visualization.solara_viz import UserInputs

from sim import DEFAULT_SEED
from sim.dashboard import controls, ensemble, files, memory, today
from sim.model.exchange import ExchangeModel
from sim.model.scenario import Scenario, ScenarioError, bundled_names
from sim.reports import figures
from sim.reports.analysis import DailyBands

START = os.environ.get("SWAPSIM_SCENARIO", "decree_2020")
OUT = Path(os.environ.get("SWAPSIM_OUT", "results/dashboard"))
RUNS = int(os.environ.get("SWAPSIM_RUNS", controls.ENSEMBLE_RUNS))
FOLDERS = files.allowed_folders()
MAX_SEED = 2**63 - 1  # seeds are whole numbers below 2**63
PLAY_DAYS = 7  # days simulated between two redraws while playing
PLAY_PAUSE = 0.1  # seconds between a redraw and the next stride
DPI = 72  # figures are drawn for the screen: fewer pixels, faster redraws


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
    with solara.AppBar():
        solara.AppBarTitle("swapsim: the 2020 prisoner exchange")
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
    settings, set_settings = solara.use_state(controls.defaults(base))
    seed, set_seed = solara.use_state(DEFAULT_SEED)
    runs, set_runs = solara.use_state(RUNS)
    scenario, problem = solara.use_memo(lambda: _applied(base, settings), [repr(settings)])

    with solara.Sidebar():
        with solara.Card("Parameters"):
            UserInputs(controls.model_params(base, settings), on_change=lambda name, value: set_settings(
                lambda old: {**old, name: value}))
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
    with solara.Columns([1, 1]):
        with solara.Column():
            OneRun(scenario, seed)
        with solara.Column():
            Ensembles(base, scenario, runs, seed)


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
def OneRun(scenario: Scenario, seed: int):
    """One run, driven by Step, Play and Reset, drawn with swapsim's single-run figures."""
    generation, set_generation = solara.use_state(0)
    model = solara.use_memo(lambda: ExchangeModel(scenario, seed=seed),
                            [scenario.model_dump_json(), seed, generation])
    tick, set_tick = solara.use_state(0)
    playing, set_playing = solara.use_state(False)
    lock = solara.use_memo(threading.Lock, [])

    def advance(days: int, cancel: threading.Event | None = None) -> None:
        with lock:
            for _ in range(days):
                if not model.running or (cancel is not None and cancel.is_set()):
                    break
                model.step()
        set_tick(lambda t: t + 1)

    def play_on(cancel: threading.Event):
        """While playing, each redraw starts the next few days: the page shows every stride."""
        if not playing:
            return
        if not model.running:
            set_playing(False)
            return
        time.sleep(PLAY_PAUSE)
        if not cancel.is_set():
            advance(PLAY_DAYS, cancel)

    solara.use_thread(play_on, dependencies=[playing, model, tick])

    with solara.Card("One run, day by day"):
        with solara.Row():
            solara.Button("Step", on_click=lambda: advance(1), disabled=playing or not model.running,
                          classes=["swapsim-step"])
            solara.Button(f"+{PLAY_DAYS} days", on_click=lambda: advance(PLAY_DAYS), disabled=playing or not model.running,
                          classes=["swapsim-week"])
            solara.Button("Pause" if playing else "Play", on_click=lambda: set_playing(not playing),
                          disabled=not model.running, classes=["swapsim-play"])
            solara.Button("Reset", on_click=lambda: (set_playing(False), set_generation(generation + 1)),
                          classes=["swapsim-reset"])
        lines, drawn = solara.use_memo(lambda: _one_run_figures(model, scenario, seed, lock), [tick, model])
        with solara.Column(gap="2px"):
            solara.Text(lines[0], classes=["swapsim-day"], style={"font-weight": "bold"})
            for line in lines[1:]:
                solara.Text(line)
        for fig in drawn:
            solara.FigureMatplotlib(fig, format="png", dpi=DPI, dependencies=[tick, model, id(fig)])


def _one_run_figures(model: ExchangeModel, scenario: Scenario, seed: int, lock: threading.Lock):
    """Today's state in words, and the releases, trust and attacks figures of the run so far."""
    with lock:
        lines = today.describe(model, scenario.calendar.start_date)
        single = model.series().drop(columns="lane").assign(run=seed)
    empty = DailyBands(scenario.calendar.horizon_days)
    return lines, [draw(empty, scenario, single=single)
                   for draw in (figures.releases_figure, figures.trust_figure, figures.attacks_figure)]


@solara.component
def Ensembles(base: Scenario, scenario: Scenario, runs: int, seed: int):
    """The settings' ensemble beside the unchanged scenario's, on the same seeds, recomputed as a slider moves."""
    started = time.perf_counter()
    baseline = solara.use_memo(lambda: ensemble.simulate(base, runs, seed, POSTERIOR),
                               [base.model_dump_json(), runs, seed])
    current = solara.use_memo(lambda: baseline if scenario == base else ensemble.simulate(scenario, runs, seed,
                                                                                           POSTERIOR),
                              [scenario.model_dump_json(), runs, seed])
    table, drawn = solara.use_memo(lambda: _ensemble_views(baseline, current), [id(baseline), id(current)])
    took = time.perf_counter() - started
    with solara.Card(f"Ensemble of {runs:,} runs" + (" drawn from the calibration's posterior" if POSTERIOR else "")):
        solara.HTML(tag="div", unsafe_innerHTML=_table_html(table), classes=["swapsim-rates"])
        solara.Text(f"Outcome shares with Wilson 95% intervals; both columns on the same {runs:,} seeds "
                    f"(computed in {took:.2f} s).")
        for fig in drawn:
            solara.FigureMatplotlib(fig, format="png", dpi=DPI, dependencies=[id(fig)])


def _ensemble_views(baseline: ensemble.Ensemble, current: ensemble.Ensemble):
    """The rates table (computed once, for the table and the figure) and the two ensemble figures."""
    rates = ensemble.rates(baseline, current)
    return ensemble.rates_text(rates), [ensemble.releases_figure(baseline, current, OBSERVED),
                                        ensemble.rates_figure(baseline, current, rates)]


def _table_html(table) -> str:
    head = "".join(f"<th style='text-align:left;padding-right:1em'>{html.escape(str(c))}</th>" for c in table.columns)
    rows = "".join("<tr>" + "".join(f"<td style='padding-right:1em'>{html.escape(str(v))}</td>" for v in row) + "</tr>"
                   for row in table.itertuples(index=False))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
