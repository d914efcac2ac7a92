"""Serving the dashboard: `solara run sim/app.py`, with swapsim's settings and without going online."""

from __future__ import annotations

import errno
import os
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

from sim.dashboard.files import is_bundled_name
from sim.dashboard.memory import ALLOCATOR

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
APP = Path(__file__).resolve().parents[1] / "app.py"
CULL_AFTER = "60s"  # a closed browser's session, its model and ensembles, is freed this long after (Solara: 24h)


HIGHEST_PORT = 65535
# Third-party warnings kept off the console: Solara's 12 lines on every page load served over http to an address
# other than "localhost" (it falls back to a same-site cookie, which is what a local server wants).
QUIET = ("ignore::UserWarning:solara.server.starlette",)


def check_port(host: str, port: int) -> str | None:
    """Why the server could not listen on `host`:`port`, in one line, or None: checked before the URL is shown,
    so that a port out of range or in use is not announced as served."""
    if not 1 <= port <= HIGHEST_PORT:
        return f"--port {port}: a port is a whole number from 1 to {HIGHEST_PORT}"
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    except (socket.gaierror, UnicodeError) as err:
        return f"--host {host}: not an address of this machine ({getattr(err, 'strerror', None) or err})"
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does: a closed port is free
        try:
            probe.bind((host, port))
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                return f"--port {port}: already in use on {host}; stop what listens there or pick another --port"
            return f"--host {host} --port {port}: cannot listen there ({err.strerror or err})"
    return None


def command(host: str, port: int) -> list[str]:
    """The `solara run` command line for the app, in production mode (no reloader, no browser opened)."""
    return [sys.executable, "-m", "solara", "run", str(APP), "--host", host, "--port", str(port), "--production",
            "--no-open", "--log-level", "warning"]


def environment(scenario: str, out: Path, posterior: str | None, runs: int,
                allow: Sequence[Path] = ()) -> dict[str, str]:
    """The server's environment: the app's settings, the folders the page may open scenario files from (the
    Save folder, those given with --allow and the folder of a scenario file given on the command line),
    no telemetry (a server in the field stays offline), no third-party warnings (QUIET), and an allocator
    that gives closed sessions' memory back (sim/dashboard/memory.py; a value the operator set is kept)."""
    env = dict(os.environ)
    folders = [out, *allow] + ([] if is_bundled_name(scenario) else [Path(scenario).parent])
    env.update(SWAPSIM_SCENARIO=scenario, SWAPSIM_OUT=str(out.resolve()), SWAPSIM_RUNS=str(runs),
               SWAPSIM_ALLOW=os.pathsep.join(str(Path(folder).resolve()) for folder in folders),
               SOLARA_TELEMETRY_MIXPANEL_ENABLE="False", SOLARA_KERNEL_CULL_TIMEOUT=CULL_AFTER)
    for name, value in ALLOCATOR.items():
        env.setdefault(name, value)
    env["PYTHONWARNINGS"] = ",".join(filter(None, [env.get("PYTHONWARNINGS"), *QUIET]))
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
