"""The dashboard's responsiveness in Chromium, beside a baseline measured in the same run (issue 17).

Two servers run side by side on this machine: this checkout's `swapsim dashboard`, and a baseline's (by default
the main worktree's, `/work/main/.venv/bin/swapsim`; any other with --baseline). Headless Chromium (Playwright,
the system's /usr/bin/chromium) drives each through the same steps:
- Step to updated figure: from the click to the run's figure showing the new day (the plotly div's data; for a
  baseline drawing PNGs, a new image), median of --steps steps, timed twice: by Playwright around its click, and
  in the page from the click event (without Playwright's work to find and check the button). Target: under 150 ms.
- Slider to updated ensemble at 500 runs: from a slider's change (trust from 0 to 1 and back) to the rates table
  showing the new ensemble, and no computation pending, median of --slides changes. Target: under 1 s.
- Disconnections over 50 rapid slider changes (50 ms apart): websockets closed, or the page saying it is
  disconnected, and whether the page still answers a Step after. Target: 0.
Prints figures, asserts nothing. Usage: python benchmarks/bench_dashboard.py [--baseline SWAPSIM] [--steps 20]
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from common import one_run_ms
from playwright.sync_api import sync_playwright

from sim.dashboard import assets

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("SWAPSIM_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
COMPLETED = ("() => { const r = [...document.querySelectorAll('.swapsim-rates tr')]"
             ".find(t => t.innerText.startsWith('completed')); return r ? r.cells[2].innerText : null; }")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving(swapsim: str, log: Path):
    """`swapsim dashboard` from the given executable on a free port, with this checkout's front-end files."""
    port = _free_port()
    env = dict(os.environ, SOLARA_ASSETS_PROXY_CACHE_DIR=str(assets.cache_dir()))
    with open(log, "w") as sink:
        server = subprocess.Popen([swapsim, "dashboard", "--port", str(port), "--out", str(log.parent / "saved")],
                                  stdout=sink, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"{swapsim} dashboard did not start:\n{log.read_text()}")
                time.sleep(0.3)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


# What the run's figure shows now: its trace lengths (plotly), or its image (a PNG baseline).
RUN_FIGURE = """() => {
    const card = [...document.querySelectorAll('.v-card')].find(c => c.innerText.includes('One run, day by day'));
    const plot = card && card.querySelector('.js-plotly-plot');
    if (plot && plot.data) return plot.data.map(t => (t.y || []).length).join(',');
    const img = card && card.querySelector('img');
    return img ? img.src.length + ':' + img.src.slice(-64) : '';
}"""


# In the page: from the Step button's click event to the run's figure showing the new day (polled every ms), so
# that Playwright's own work around a click (finding the button, checking it can be clicked) is not counted.
STEP_IN_PAGE = """() => new Promise(resolve => {
    const card = [...document.querySelectorAll('.v-card')].find(c => c.innerText.includes('One run, day by day'));
    const button = [...card.querySelectorAll('button')].find(b => b.innerText.trim().toLowerCase() === 'step');
    const shown = () => (RUN_FIGURE)();
    const before = shown();
    const started = performance.now();
    const poll = () => shown() !== before ? resolve(performance.now() - started) : setTimeout(poll, 1);
    button.click();
    poll();
})""".replace("(RUN_FIGURE)", "(" + RUN_FIGURE + ")")


def step_in_page_ms(page, steps: int) -> float:
    """Median time, measured in the page, from a Step click to the run's figure changing."""
    times = []
    for _ in range(steps):
        times.append(page.evaluate(STEP_IN_PAGE))
        page.wait_for_timeout(200)
    return statistics.median(times)


def step_ms(page, steps: int) -> float:
    """Median time from Playwright's Step click to the run's figure changing, seen by Playwright."""
    times = []
    for _ in range(steps):
        before = page.evaluate(RUN_FIGURE)
        started = time.monotonic()
        page.get_by_role("button", name="Step", exact=True).click()
        page.wait_for_function(f"() => ({RUN_FIGURE})() !== {before!r}", timeout=120_000)
        times.append(1000 * (time.monotonic() - started))
    return statistics.median(times)


def _settled(page) -> None:
    page.wait_for_function("() => !document.querySelector('.swapsim-computing')", timeout=120_000)


def slider_s(page, changes: int) -> float:
    """Median time from a trust slider's change (to its end, alternately 1 and 0) to the new ensemble's rates."""
    slider = page.get_by_role("slider", name=re.compile(r"^Government's trust, day 0: "))
    times = []
    for i in range(changes):
        _settled(page)
        before = page.evaluate(COMPLETED)
        slider.focus()
        started = time.monotonic()
        page.keyboard.press("End" if i % 2 == 0 else "Home")
        page.wait_for_function(f"() => ({COMPLETED})() !== {before!r} && !document.querySelector('.swapsim-computing')",
                               timeout=180_000)
        times.append(time.monotonic() - started)
    return statistics.median(times)


def disconnections(page, closed: list, changes: int = 50) -> tuple[int, bool]:
    """Rapid slider changes, 50 ms apart: websockets closed or a disconnection shown, and whether a Step answers."""
    slider = page.get_by_role("slider", name=re.compile(r"^Government's trust, day 0: "))
    slider.focus()
    page.keyboard.press("Home")
    for _ in range(changes):
        page.keyboard.press("ArrowRight")
        page.wait_for_timeout(50)
    try:
        _settled(page)
        day = page.locator(".swapsim-day").inner_text()
        page.get_by_role("button", name="Step", exact=True).click()
        page.wait_for_function(f"document.querySelector('.swapsim-day').innerText !== {day!r}", timeout=120_000)
        answers = True
    except Exception:  # noqa: BLE001  a page that no longer answers is what is measured
        answers = False
    shown = "disconnected" in page.locator("body").inner_text().lower()
    return len(closed) + int(shown), answers


def measure(browser, url: str, steps: int, slides: int) -> dict:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    closed: list = []
    page.on("websocket", lambda ws: ws.on("close", lambda *_: closed.append(ws.url)))
    page.goto(url)
    page.get_by_role("button", name="Step", exact=True).wait_for(timeout=120_000)
    page.locator(".swapsim-rates table").wait_for(timeout=120_000)
    out = {"step_ms": step_ms(page, steps), "step_in_page_ms": step_in_page_ms(page, steps),
           "slider_s": slider_s(page, slides)}
    out["disconnections"], out["answers"] = disconnections(page, closed)
    context.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="/work/main/.venv/bin/swapsim", help="the baseline's swapsim")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--slides", type=int, default=5)
    parser.add_argument("--logs", type=Path, default=Path("/tmp/bench_dashboard"))
    args = parser.parse_args()
    if assets.missing():
        raise SystemExit("the front-end files are not cached: run `swapsim dashboard --fetch-assets` first")
    args.logs.mkdir(parents=True, exist_ok=True)
    print(f"machine: one decree_2020 run takes {one_run_ms():.1f} ms (median of 30); load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    results = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for name, swapsim in (("baseline", args.baseline), ("this checkout", str(Path(sys.executable).parent /
                                                                               "swapsim"))):
            with serving(swapsim, args.logs / f"{name.replace(' ', '_')}.log") as url:
                results[name] = measure(browser, url, args.steps, args.slides)
        browser.close()
    base, new = results["baseline"], results["this checkout"]
    print(f"{'':44}{'baseline':>12}{'this checkout':>16}{'target':>10}")
    print(f"{f'step to updated figure (median of {args.steps})':44}{base['step_ms']:>10.0f}ms{new['step_ms']:>14.0f}ms"
          f"{'< 150 ms':>10}")
    print(f"{'  the same, timed in the page from the click':44}{base['step_in_page_ms']:>10.0f}ms"
          f"{new['step_in_page_ms']:>14.0f}ms{'< 150 ms':>10}")
    print(f"{f'slider to updated ensemble, 500 runs ({args.slides})':44}{base['slider_s']:>11.2f}s{new['slider_s']:>15.2f}s"
          f"{'< 1 s':>10}")
    print(f"{'disconnections over 50 rapid slider changes':44}{base['disconnections']:>12}{new['disconnections']:>16}"
          f"{'0':>10}")
    print(f"{'page answers a Step after them':44}{str(base['answers']):>12}{str(new['answers']):>16}")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
