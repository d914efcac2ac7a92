"""Giving a closed session's memory back to the system.

A session's model and ensembles are Python objects that Solara drops when it culls the session, but the
C allocator keeps the freed pages for reuse: numpy's large arrays land in per-thread heaps that fragment,
and without help the server grew by about 20 MiB with every session opened and closed
(`benchmarks/bench_dashboard_memory.py`). The server therefore runs with one heap and large blocks mapped
on their own (ALLOCATOR, set by `swapsim dashboard`), and returns free pages once a session has gone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import threading
from collections.abc import Callable

# glibc's malloc settings for the server process (read when it starts): one arena, and blocks of 128 KiB
# or more (numpy's arrays) mapped on their own, so freeing them returns them at once.
ALLOCATOR = {"MALLOC_ARENA_MAX": "1", "MALLOC_MMAP_THRESHOLD_": "131072"}
SETTLE = 2.0  # seconds after a session closes before its pages are returned: Solara tears it down meanwhile


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        library = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return library if library is not None and hasattr(library, "malloc_trim") else None


LIBC = _libc()


def give_back() -> None:
    """Collect unreachable objects and return the allocator's free pages to the system (glibc only)."""
    gc.collect()
    if LIBC is not None:
        LIBC.malloc_trim(0)


def on_session_start() -> Callable[[], None]:
    """For `solara.lab.on_kernel_start`: when the session closes, give its memory back shortly after."""
    def closed() -> None:
        timer = threading.Timer(SETTLE, give_back)
        timer.daemon = True
        timer.start()

    return closed
