"""Local worker processes for batches of runs: started from a clean server process, never re-running
the caller's script, and able to start while this process is still busy (imports only the standard library).

Workers are forked from a `forkserver` process, which has imported swapsim but not the
caller's `__main__`: forking this process itself would be unsafe once it runs threads
(numpy, pyarrow and progress bars start some), and the usual `spawn` or `forkserver`
would re-import and re-run a script that has no `if __name__ == "__main__":` guard.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.context
import multiprocessing.forkserver
import os
import sys
import threading
import time
import types
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor

PRELOAD = ["sim.experiments.batches", "sim.model.exchange"]  # imported once by the server: workers start ready


@contextlib.contextmanager
def _bare_main() -> Iterator[None]:
    """Show multiprocessing a bare `__main__` while a worker starts, so that it does not re-import the caller's script."""
    real = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = real


class _WorkerProcess(multiprocessing.context.ForkServerProcess):
    def start(self) -> None:
        with _bare_main():
            super().start()


class _WorkerContext(multiprocessing.context.ForkServerContext):
    Process = _WorkerProcess


def process_pool(workers: int, warm: bool = False) -> ProcessPoolExecutor:
    """A pool of `workers` processes. With `warm`, the server process starts now and imports swapsim while
    this process goes on; the workers are forked from it, ready, when the first batches arrive."""
    context = _WorkerContext()
    context.set_forkserver_preload(PRELOAD)
    if warm:
        with _bare_main():
            multiprocessing.forkserver.ensure_running()  # returns once the server is spawned
    return ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_watch_parent,
                               initargs=(os.getpid(),))


def _watch_parent(parent: int, every: float = 0.5) -> None:
    """In a worker: exit as soon as the process that made the pool is gone (killed with -9, say), instead of
    waiting for work that will never come while holding its memory."""

    def watch() -> None:
        while True:
            time.sleep(every)
            try:
                os.kill(parent, 0)
            except ProcessLookupError:
                os._exit(1)
            except PermissionError:  # alive, but another user's: cannot be ours
                pass

    threading.Thread(target=watch, name="swapsim-parent-watch", daemon=True).start()


def default_workers() -> int:
    """The cores this process may use."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))
