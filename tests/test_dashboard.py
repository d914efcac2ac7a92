"""The dashboard in-process: its components rendered with solara.render (as Mesa's own tests do), its controls,
its front-end file list and the `swapsim dashboard` command's refusals. The browser tests are in
test_dashboard_browser.py."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import ipyvuetify as v
import numpy as np
import pandas as pd
import pytest
import solara
from hypothesis import given
from hypothesis import strategies as st

from plotly.graph_objs._figurewidget import FigureWidget

from sim import app
from sim.dashboard import assets, controls, ensemble, files, plots, today
from sim.model.exchange import ExchangeModel
from sim.model.scenario import ScenarioError, keyword, load, resolve

ROOT = Path(__file__).resolve().parents[1]
DECREE = ROOT / "scenarios" / "decree_2020.yaml"


@solara.component
def InLayout():
    """The page as `solara run` serves it: inside the app layout that holds its sidebar."""
    with solara.AppLayout():
        app.Page()


@pytest.fixture
def dashboard(tmp_path, monkeypatch):
    monkeypatch.setattr(app, "OUT", tmp_path / "saved")
    monkeypatch.setattr(app, "FOLDERS", files.allowed_folders({files.ALLOW: str(tmp_path)}))
    monkeypatch.setattr(app, "RUNS", 100)
    box, rc = solara.render(InLayout(), handle_error=False)
    settled(rc)
    yield rc
    rc.close()


def settled(rc, timeout: float = 120) -> None:
    """Wait until the ensemble card shows the ensemble of the current settings and the thread that computed it
    has finished rendering it (a change made while another thread renders the page is not seen by that render)."""
    deadline = time.monotonic() + timeout
    while (rc.find(v.Html, class_="swapsim-computing").widgets or not rc.find(attributes={"class": "swapsim-rates"})
           or any(t.name.endswith("(runner)") for t in threading.enumerate())):
        assert time.monotonic() < deadline, "the ensemble did not arrive"
        time.sleep(0.05)


def day_text(rc) -> str:
    return rc.find(v.Html, class_="swapsim-day").widget.children[0]


def rates_html(rc) -> str:
    return rc.find(attributes={"class": "swapsim-rates"}).widget.unsafe_innerHTML


def rate_cells(rc) -> dict[str, tuple[str, str]]:
    """outcome -> (scenario as written, with your settings), as the page shows them."""
    rows = re.findall(r"<tr><td[^>]*>(\w+)</td><td[^>]*>([^<]+)</td><td[^>]*>([^<]+)</td></tr>", rates_html(rc))
    return {outcome: (written, settings) for outcome, written, settings in rows}


def figures(rc) -> list[FigureWidget]:
    """The page's figures: the run's, then the ensemble's releases and outcomes."""
    return rc.find(FigureWidget).widgets


def traces(fig: FigureWidget) -> dict[str, tuple]:
    """The figure's data by trace name: (x, y) as plain tuples, to compare one moment with another."""
    return {t.meta: (tuple(np.asarray(t.x, dtype=object)), tuple(np.asarray(t.y, dtype=float)))
            for t in fig.data if t.meta}


def slider(rc, starts: str):
    return next(w for w in rc.find(v.Slider).widgets if w.label.startswith(starts))


def button(rc, text: str):
    return rc.find(v.Btn, children=[text]).widget


# ---------------------------------------------------------------- the page


def test_step_advances_the_day_and_updates_the_same_figure(dashboard):
    assert day_text(dashboard).startswith("Day 0")
    shown = figures(dashboard)
    assert len(shown) == 3  # the run's, the ensemble's releases and outcomes
    before = [traces(f) for f in shown]
    assert before[0]["gov_released"][1] == ()  # nothing run yet
    button(dashboard, "Step").click()
    assert day_text(dashboard) == "Day 1 (01 Mar 2020)"
    button(dashboard, "+7 days").click()
    assert day_text(dashboard) == "Day 8 (08 Mar 2020)"
    after = figures(dashboard)
    assert [id(f) for f in after] == [id(f) for f in shown]  # the same figures, given new data
    run = traces(after[0])
    assert len(run["gov_released"][1]) == len(run["trust_government"][1]) == 8  # eight days simulated
    assert pd.Timestamp(run["trust_government"][0][-1]) == pd.Timestamp("2020-03-08")  # the text's date: 8 Mar
    assert [traces(f) for f in after[1:]] == before[1:]  # the ensemble's figures did not change
    assert after[0].layout.title.text == f"decree_2020: one run (seed {app.DEFAULT_SEED})"


def test_reset_goes_back_to_day_0_with_the_same_run(dashboard):
    button(dashboard, "+7 days").click()
    first = traces(figures(dashboard)[0])
    button(dashboard, "Reset").click()
    assert day_text(dashboard).startswith("Day 0")
    assert traces(figures(dashboard)[0])["gov_released"][1] == ()
    button(dashboard, "+7 days").click()
    assert day_text(dashboard).startswith("Day 7 ")
    assert traces(figures(dashboard)[0]) == first  # same seed, same run


def test_a_slider_changes_the_settings_ensemble_and_not_the_baseline(dashboard):
    before = rate_cells(dashboard)
    assert set(before) == {"completed", "collapsed", "deadlocked", "partial"}
    assert all(written == settings for written, settings in before.values())  # unmoved: one ensemble twice
    releases = traces(figures(dashboard)[1])
    slider(dashboard, "Government's trust, day 0").v_model = 0.9
    settled(dashboard)
    after = rate_cells(dashboard)
    assert [written for written, _ in after.values()] == [written for written, _ in before.values()]
    assert after["completed"][1] != before["completed"][1]
    assert slider(dashboard, "Government's trust, day 0").label.endswith(": 0.9")
    now = traces(figures(dashboard)[1])
    assert all(now[k] == releases[k] for k in now if k.startswith("written_"))
    assert any(now[k] != releases[k] for k in now if k.startswith("settings_"))


def test_the_ensemble_matches_swapsim_runs_of_the_same_scenario(dashboard):
    """The page's rates are those of the run API for the same scenario, runs and seed."""
    runs = ensemble.simulate(load(DECREE), 100).runs
    shown = rate_cells(dashboard)
    for outcome, (written, _) in shown.items():
        share = (runs["outcome"] == outcome).mean()
        assert written.startswith(f"{100 * share:.1f}%"), (outcome, written, share)


@pytest.mark.parametrize("name", ["decree_2020", "spoiler_surge"])
def test_the_ensemble_bands_are_those_of_the_clis_figures(name):
    """The page's bands, from the runs' daily snapshots of both sides' releases, are the quantiles that the CLI's
    figures take from the same runs' full daily series (DailyBands), day by day, ended runs at their final value."""
    from sim.experiments import runs as runs_module
    from sim.reports.analysis import DailyBands
    from sim.reports.results import _uppers

    scenario = resolve(name)
    page = ensemble.simulate(scenario, 120, seed=5)
    full = runs_module.run(scenario, 120, 5, series=True)
    assert page.runs.drop(columns="lane", errors="ignore").equals(full.runs.drop(columns="lane", errors="ignore"))
    assert (full.runs["end_day"] < scenario.calendar.horizon_days - 1).any()  # some runs end early: carried
    cli = DailyBands(scenario.calendar.horizon_days, _uppers(scenario))  # as `swapsim run` builds them
    cli.add(full.series)
    for column in ensemble.RELEASES:
        np.testing.assert_array_equal(page.bands.quantiles(column, plots.BAND), cli.quantiles(column, plots.BAND))


def test_the_policy_select_changes_the_ensemble(dashboard):
    select = next(w for w in dashboard.find(v.Select).widgets if w.label == "The 15 commanders")
    before = rate_cells(dashboard)
    select.v_model = "first_batch"
    settled(dashboard)
    assert rate_cells(dashboard) != before


def test_save_writes_a_valid_scenario_inside_the_folder_only(dashboard, tmp_path):
    slider(dashboard, "Taliban's trust, day 0").v_model = 0.7
    settled(dashboard)
    name = next(w for w in dashboard.find(v.TextField).widgets if w.label == "File name")
    name.v_model = "../../escape.yaml"
    button(dashboard, "Save scenario").click()
    saved = tmp_path / "saved" / "escape.yaml"
    assert saved.is_file()
    assert sorted(p.name for p in tmp_path.rglob("*.yaml")) == ["escape.yaml"]
    assert load(saved).taliban.initial_trust == pytest.approx(0.7)
    assert "Saved" in dashboard.find(v.Alert).widget.children[0]
    done = subprocess.run([sys.executable, "-m", "sim.cli", "validate", "-q", str(saved)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    button(dashboard, "Save scenario").click()  # again: refused without "replace"
    assert "tick 'replace'" in dashboard.find(v.Alert).widget.children[0]
    next(w for w in dashboard.find(v.Checkbox).widgets if w.label == "Replace an existing file").v_model = True
    button(dashboard, "Save scenario").click()
    assert "Replaced" in dashboard.find(v.Alert).widget.children[0]


def test_a_bad_scenario_file_shows_one_line_in_the_page(dashboard, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("government:\n  initial_trust: [1, 2\n")
    path = next(w for w in dashboard.find(v.TextField).widgets if w.label.startswith("Or a scenario file"))
    path.v_model = str(bad)
    button(dashboard, "Open file").click()
    message = dashboard.find(v.Alert).widget.children[0]
    assert message.startswith(f"{bad}: malformed YAML: line") and "\n" not in message
    assert day_text(dashboard).startswith("Day 0")  # the page goes on with the scenario it had


def open_path(rc, text: str) -> str | None:
    """Type a path into the page's box and open it; the page's error line, if any."""
    path = next(w for w in rc.find(v.TextField).widgets if w.label.startswith("Or a scenario file"))
    path.v_model = text
    button(rc, "Open file").click()
    alerts = rc.find(v.Alert)
    return alerts.widget.children[0] if alerts.widgets else None


def test_the_path_box_reads_nothing_outside_the_allowed_folders(dashboard, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    secret = elsewhere / "token.yaml"
    secret.write_text("SECRET_TOKEN_ABC123: 1\n")
    for outside in (secret, elsewhere / "absent.yaml", Path("/etc/passwd"), Path("/etc/shadow")):
        message = open_path(dashboard, str(outside))
        # the same words whether the file exists or not, and nothing of what it holds
        assert message == f"{outside}: outside the folders that may be read", message
    assert day_text(dashboard).startswith("Day 0")


def test_links_and_extends_cannot_lead_out_of_the_allowed_folders(dashboard, tmp_path, tmp_path_factory):
    secret = tmp_path_factory.mktemp("elsewhere") / "secret.yaml"
    secret.write_text("government: {initial_trust: 0.5}\nSECRET_TOKEN_ABC123: 1\n")
    link = tmp_path / "link.yaml"
    link.symlink_to(secret)
    assert open_path(dashboard, str(link)) == f"{link}: outside the folders that may be read"
    child = tmp_path / "child.yaml"
    child.write_text(f"extends: {secret}\n")
    message = open_path(dashboard, str(child))
    assert message.startswith(f"{child}: extends:") and "outside the folders" in message
    assert "SECRET" not in message


def test_a_hostile_file_or_seed_keeps_the_session_alive(dashboard, tmp_path):
    deep = tmp_path / "deep.yaml"
    deep.write_text("parameters: {a: " + "[" * 600 + "]" * 600 + "}\n")
    assert "nested deeper than" in open_path(dashboard, str(deep))
    seed = next(w for w in dashboard.find(v.TextField).widgets if w.label == "Seed")
    seed.v_model = str(2**70)
    seed.fire_event("keyup.enter", None)  # as pressing Enter in the field does
    button(dashboard, "Step").click()
    assert day_text(dashboard).startswith("Day 1")
    alerts = [str(w.children[0]) for w in dashboard.find(v.Alert).widgets]
    assert any("is above 9,223,372,036,854,775,807" in a and "keep seed" in a for a in alerts), alerts
    assert not any("Traceback" in a for a in alerts)


@pytest.mark.parametrize("typed, fragment", [("abc", "'abc' is not a whole number"), ("-3", "'-3' is not a whole"),
                                             ("1.5", "'1.5' is not a whole"), ("²", "'²' is not a whole"),
                                             (str(2**63), "is above"), ("12", None), (" 7 ", None)])
def test_a_seed_that_is_not_one_is_said_in_the_page(typed, fragment):
    problem = app.seed_problem(typed)
    assert (problem is None) if fragment is None else (fragment in problem and problem.count("\n") == 0)


def test_page_messages_are_one_short_line():
    long = ScenarioError([f"f.yaml: x: expected a number (got {'a' * 20_000!r})", "second"])
    text = files.message(long)
    assert len(text) <= files.LONGEST_MESSAGE and "\n" not in text
    assert files.message(RecursionError("deep")) == "could not be done (RecursionError); see the server's log"


@pytest.mark.slow
def test_a_scenario_file_opens_and_starts_afresh(dashboard, tmp_path):
    own = tmp_path / "own.yaml"
    own.write_text("extends: " + str(DECREE) + "\nmetadata: {name: own}\ngovernment: {initial_trust: 0.66}\n")
    button(dashboard, "Step").click()
    path = next(w for w in dashboard.find(v.TextField).widgets if w.label.startswith("Or a scenario file"))
    path.v_model = str(own)
    button(dashboard, "Open file").click()
    assert day_text(dashboard).startswith("Day 0")
    assert slider(dashboard, "Government's trust, day 0").label.endswith(": 0.66")


# ---------------------------------------------------------------- controls and today


def test_model_params_build_the_model_mesa_style():
    """The sliders' names are ExchangeModel keywords: the same dictionary builds the model."""
    base = load(DECREE)
    params = controls.model_params(base)
    values = {name: entry["value"] for name, entry in params.items()}
    model = ExchangeModel(scenario=str(DECREE), seed=3, **values)
    assert model.lanes.scenarios[0] == base
    for path in controls.SLIDERS:
        assert params[keyword(path)]["min"] <= values[keyword(path)] <= params[keyword(path)]["max"]


def test_apply_validates_what_the_page_sends():
    base = load(DECREE)
    assert controls.apply(base, controls.defaults(base)) is base
    with pytest.raises(ScenarioError) as info:
        controls.apply(base, {"government__initial_trust": 1.5})
    assert info.value.problems == ["dashboard: government.initial_trust: must be at most 1.0 (got 1.5)"]


@given(st.text(max_size=40))
def test_safe_names_never_leave_the_folder(name):
    try:
        stem = controls.safe_name(name)
    except ValueError:
        return
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,80}", stem)
    assert not stem.startswith(("-", "_"))


def test_today_in_words_follows_the_run():
    model = ExchangeModel(load(DECREE), seed=1)
    assert today.describe(model, "2020-03-01")[0].startswith("Day 0")
    while model.running:
        model.step()
    lines = today.describe(model, "2020-03-01")
    assert lines[-1].startswith(f"The run has ended on day {model.metrics()['end_day'].iloc[0]}: ")
    assert lines[-1].rstrip(".").split(": ")[1] in ("completed", "collapsed", "deadlocked", "partial")


@pytest.mark.slow
def test_the_ensemble_draws_from_a_posterior(tmp_path):
    """With a calibration folder, each run of the ensemble draws its parameters from the posterior, and the
    observed 2020 releases are drawn on the release plot."""
    from test_calibration import tiny  # the calibration tests' own small spec

    from sim.experiments import calibration_spec, posterior as posteriors
    from sim.reports import calibration as report

    report.calibrate(calibration_spec.load_spec(tiny(tmp_path)), tmp_path / "fit", workers=1)
    posterior = posteriors.load_posterior(tmp_path / "fit")
    base = resolve("decree_2020")
    drawn, plain = ensemble.simulate(base, 100, posterior=posterior), ensemble.simulate(base, 100)
    assert (drawn.runs["seed"] == plain.runs["seed"]).all()
    assert not drawn.runs[["outcome", "end_day", "government_released"]].equals(
        plain.runs[["outcome", "end_day", "government_released"]])
    fig = plots.releases_figure(base, ensemble.observed())
    observed = [t for t in fig.data if t.name == "Observed 2020 (news reports)"]
    assert len(observed) == 2 and all(len(t.y) > 0 for t in observed)  # both sides' records


# ---------------------------------------------------------------- front-end files and the command


def test_the_front_end_files_are_those_solaras_page_loads():
    names = dict(assets.required())
    assert {"@widgetti/solara-vuetify-app", "requirejs", "font-awesome", "@widgetti/vue-grid-layout"} <= set(names)
    assert all(re.fullmatch(r"\d[\w.-]*", version) for version in names.values())


def test_an_empty_cache_lacks_every_file(tmp_path):
    assert assets.missing(tmp_path) == assets.required()


@pytest.mark.parametrize("args, fragment", [
    (["nonexistent_scenario"], "nonexistent_scenario: no such scenario"),
    (["scenarios/decree_2020.yaml", "--posterior", "nowhere"], "nowhere: not a calibration folder"),
    (["--port", "0"], "--port: must be at least 1"),
    (["--allow", "nowhere"], "--allow nowhere: not a folder"),
    (["--runs", "100000"], "--runs 100,000: the dashboard's ensembles hold at most 10,000 runs"),
    (["--port", "99999"], "--port 99999: a port is a whole number from 1 to 65535"),
    (["--port", "abc"], "--port: expected a whole number, got 'abc'"),
    (["--host", "nosuch.invalid"], "--host nosuch.invalid: not an address of this machine"),
])
def test_dashboard_refuses_bad_input_in_one_line(args, fragment):
    done = subprocess.run([sys.executable, "-m", "sim.cli", "dashboard", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=60)
    assert done.returncode == 2
    assert fragment in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and not done.stdout, done.stderr


def test_a_port_in_use_is_refused_before_the_address_is_shown():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "sim.cli", "dashboard", "--port", str(port)],
                              capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 2, done.stderr
    assert done.stderr == f"swapsim: --port {port}: already in use on 127.0.0.1; stop what listens there or pick " \
                          "another --port\n"
    assert "http://" not in done.stdout


def test_missing_front_end_files_are_said_on_the_console_with_what_to_do(tmp_path):
    """With an empty cache and no npm to fetch with, the server says why the page would be blank, and how to
    mend it, before it serves."""
    env = {**os.environ, "SOLARA_ASSETS_PROXY_CACHE_DIR": str(tmp_path / "cdn"),
           "PATH": str(Path(sys.executable).parent)}  # python and swapsim, no npm
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "sim.cli", "dashboard", "--port", str(port)], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first, second = process.stderr.readline(), process.stderr.readline()
    finally:
        process.terminate()
        process.wait(timeout=20)
    assert first.startswith("swapsim: the page's front-end files are not cached")
    assert "npm is not installed" in second and "swapsim dashboard --fetch-assets" in second


@pytest.mark.slow
def test_the_console_says_where_it_serves_and_nothing_of_third_parties():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "sim.cli", "dashboard", "--port", str(port)], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read()
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, "the dashboard did not start"
                time.sleep(0.3)
        assert b"swapsim" in page or b"solara" in page.lower()
        time.sleep(1)
    finally:
        process.terminate()
        out, err = process.communicate(timeout=30)
    assert out.splitlines()[0] == f"swapsim dashboard on http://localhost:{port}/ (Ctrl-C to stop)"
    assert "Warning" not in err and "warn" not in out.lower(), err


@given(total=st.integers(1, 200_000))
def test_release_ticks_run_from_zero_to_the_total_without_crowding_it(total):
    ticks = plots._ticks(total)
    assert ticks[0] == 0 and ticks[-1] == total and ticks == sorted(set(ticks))
    assert 2 <= len(ticks) <= 7
    assert all(t <= 0.88 * total for t in ticks[:-1])


@pytest.mark.parametrize("observed", [False, True])
def test_release_panels_keep_room_above_the_total_for_their_legend(observed):
    """A count never passes its total, so a legend drawn above the total never covers data; the total is the top
    tick, named."""
    scenario = load(ROOT / "scenarios" / "decree_2020.yaml")
    figures = [(plots.run_figure(scenario), plots.RUN_HEIGHT),
               (plots.releases_figure(scenario, ensemble.observed() if observed else None), plots.RELEASES_HEIGHT)]
    plot_px = lambda height: height - plots.MARGIN["t"] - plots.MARGIN["b"]  # noqa: E731
    for fig, height in figures:
        for row, total in ((1, scenario.protocol.government_prisoners), (2, scenario.protocol.taliban_prisoners)):
            axis = fig.layout["yaxis" if row == 1 else f"yaxis{row}"]
            name = "y" if row == 1 else f"y{row}"
            entries = sum(1 for t in fig.data if (t.yaxis or "y") == name and t.showlegend is not False)
            panel = (axis.domain[1] - axis.domain[0]) * plot_px(height)
            above_total = (axis.range[1] - total) / axis.range[1] * panel
            assert entries >= 2 and above_total >= entries * plots.LEGEND_ENTRY_PX + plots.LEGEND_PAD_PX - 1e-9
            assert axis.tickvals[-1] == total and axis.ticktext[-1] == f"all {total:,}"
            legend = fig.layout["legend" if row == 1 else f"legend{row}"]
            assert legend.yanchor == "top" and legend.y == axis.domain[1] and legend.tracegroupgap == 0
