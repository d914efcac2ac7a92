"""The dashboard's memory over sessions: does a closed browser's session give its memory back?

Starts `swapsim dashboard`, opens one session in headless Chromium (until its ensemble table is drawn) and
closes it, then opens and closes --sessions more, one after another. After each stage it waits for Solara to
cull the closed sessions (sim/dashboard/server.py: CULL_AFTER) and reads the server's resident memory.
Target (issue 16): after 20 sessions, within 10% of the memory after the first. Prints figures, asserts nothing.

    python benchmarks/bench_dashboard_memory.py [--sessions 20]
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

from common import ROOT

CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--settle", type=float, default=75.0, help="seconds to wait for the cull after closing")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    chromium = os.environ.get("SWAPSIM_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        server = subprocess.Popen([sys.executable, "-m", "sim.cli", "dashboard", "--port", str(port), "--out", tmp],
                                  cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}/"
        try:
            for _ in range(300):
                try:
                    urllib.request.urlopen(url, timeout=2)
                    break
                except OSError:
                    time.sleep(0.3)
            cold = rss_mib(server.pid)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)

                def session() -> float:
                    context = browser.new_context(viewport={"width": 1600, "height": 1100})
                    page = context.new_page()
                    page.goto(url)
                    page.locator(".swapsim-rates table").wait_for(timeout=120_000)
                    open_rss = rss_mib(server.pid)
                    context.close()
                    return open_rss

                first_open = session()
                time.sleep(args.settle)
                warm = rss_mib(server.pid)
                peak = max(session() for _ in range(args.sessions))
                time.sleep(args.settle)
                after = rss_mib(server.pid)
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(f"server resident memory: {cold:,.0f} MiB started, {first_open:,.0f} MiB with the first session open, "
          f"{warm:,.0f} MiB once it was closed and culled")
    print(f"after {args.sessions} more sessions opened and closed one by one: {after:,.0f} MiB once culled "
          f"(highest with one open: {peak:,.0f} MiB)")
    print(f"after / after the first session: {after / warm:.2f} (target at most 1.10); after / started: "
          f"{after / cold:.2f}")


if __name__ == "__main__":
    main()
