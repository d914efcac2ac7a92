"""The dashboard's memory over sessions: does a closed browser's session give its memory back?

Starts `swapsim dashboard`, opens one session in headless Chromium (until its ensemble table is drawn) and
closes it, then opens and closes --sessions more, one after another. After each stage it waits for Solara to
cull the closed sessions (sim/dashboard/server.py: CULL_AFTER) and reads the server's resident memory.
The code before the allocator settings (sim/dashboard/memory.py) is measured first, in the same run, from a
git worktree. Target (issue 16): after 20 sessions, within 10% of the memory after the first. Prints figures,
asserts nothing.

    cd benchmarks && python bench_dashboard_memory.py [--sessions 20] [--baseline REF|none]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import baseline
from common import ROOT

BEFORE = "6b97a7b"  # main before the allocator settings
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def measure(browser, cwd: Path, env: dict[str, str], sessions: int, settle: float) -> dict[str, float]:
    """Serve the dashboard of the code in `cwd`, open and close sessions, and read its resident memory (MiB)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        server = subprocess.Popen([sys.executable, "-m", "sim.cli", "dashboard", "--port", str(port), "--out", tmp],
                                  cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}/"
        try:
            for _ in range(300):
                try:
                    urllib.request.urlopen(url, timeout=2)
                    break
                except OSError:
                    time.sleep(0.3)
            figures = {"started": rss_mib(server.pid)}

            def session() -> float:
                context = browser.new_context(viewport={"width": 1600, "height": 1100})
                page = context.new_page()
                page.goto(url)
                page.locator(".swapsim-rates table").wait_for(timeout=120_000)
                open_rss = rss_mib(server.pid)
                context.close()
                return open_rss

            figures["first open"] = session()
            time.sleep(settle)
            figures["first closed"] = rss_mib(server.pid)
            figures["peak"] = max(session() for _ in range(sessions))
            time.sleep(settle)
            figures["after"] = rss_mib(server.pid)
        finally:
            server.terminate()
            server.wait(timeout=30)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--settle", type=float, default=75.0, help="seconds to wait for the cull after closing")
    parser.add_argument("--baseline", default=BEFORE, help="git ref measured first, in the same run (default: the "
                        "code before the allocator settings); 'none' to skip")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    chromium = os.environ.get("SWAPSIM_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    results = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        if args.baseline != "none":
            with baseline.checkout(args.baseline) as tree:
                env = {**os.environ, "PYTHONPATH": str(tree)}
                results[f"before ({args.baseline})"] = measure(browser, tree, env, args.sessions, args.settle)
        results["now"] = measure(browser, ROOT, dict(os.environ), args.sessions, args.settle)
        browser.close()
    for label, f in results.items():
        print(f"{label}: server resident memory {f['started']:,.0f} MiB started, {f['first open']:,.0f} MiB with "
              f"the first session open, {f['first closed']:,.0f} MiB once it was closed and culled; after "
              f"{args.sessions} more sessions opened and closed one by one {f['after']:,.0f} MiB (highest with one "
              f"open: {f['peak']:,.0f} MiB); after / after the first session: {f['after'] / f['first closed']:.2f} "
              f"(target at most 1.10)")


if __name__ == "__main__":
    main()
