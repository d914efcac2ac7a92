"""Serving the dashboard: `solara run sim/app.py`, with swapsim's settings and without going online."""

from __future__ import annotations

import os
import sys
from pathlib import Path

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
APP = Path(__file__).resolve().parents[1] / "app.py"


def command(host: str, port: int) -> list[str]:
    """The `solara run` command line for the app, in production mode (no reloader, no browser opened)."""
    return [sys.executable, "-m", "solara", "run", str(APP), "--host", host, "--port", str(port), "--production",
            "--no-open", "--log-level", "warning"]


def environment(scenario: str, out: Path, posterior: str | None, runs: int) -> dict[str, str]:
    """The server's environment: the app's settings, and no telemetry (a server in the field stays offline)."""
    env = dict(os.environ)
    env.update(SWAPSIM_SCENARIO=scenario, SWAPSIM_OUT=str(out.resolve()), SWAPSIM_RUNS=str(runs),
               SOLARA_TELEMETRY_MIXPANEL_ENABLE="False")
    if posterior:
        env["SWAPSIM_POSTERIOR"] = str(Path(posterior).resolve())
    else:
        env.pop("SWAPSIM_POSTERIOR", None)
    return env


def serve(host: str, port: int, env: dict[str, str]) -> None:
    """Become the server (exec): Ctrl-C and signals reach it directly, and no process is left behind."""
    sys.stdout.flush()
    sys.stderr.flush()
    argv = command(host, port)
    os.execve(argv[0], argv, env)
