"""The one run loop: runs cut into batches of lanes, each batch one `ExchangeModel`, on any executor.

`swapsim run`, `compare` and `sweep` all describe their runs as
`Batch`es: the lanes' scenarios, seeds, parameter overrides and the labels each row
carries (run, point, replicate, scenario). `execute` hands them to an executor (this
process, a local process pool, or a Dask cluster) and yields the results as they
come back, holding only a bounded number in flight. Lane k of a batch equals the run
its seed gives on its own, so results do not depend on the batch size (`lanes`), the
executor or the number of workers.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sim.experiments import pool
from sim.model.outcomes import METRIC_NAMES
from sim.model.scenario import Scenario

# Runs per model (see benchmarks/bench_lanes.py): larger batches are faster; with daily series a batch of
# 2,000 takes about 250 MB while it is written, without them one of 4,000 about 60 MB.
DEFAULT_LANES = 4000
DEFAULT_LANES_WITH_SERIES = 2000


def default_lanes(series: bool) -> int:
    return DEFAULT_LANES_WITH_SERIES if series else DEFAULT_LANES
ERROR = "error"  # the outcome of a run that raised; its message is in `error`


@dataclass(frozen=True)
class Batch:
    """Runs computed together as the lanes of one model.

    `scenarios` are the distinct scenarios and `scenario_of_lane` picks one per lane;
    `overrides` give per-lane parameter values on top (dotted path -> array); `labels`
    are the columns each row of the results starts with (run, point, replicate...).
    """

    index: int
    scenarios: tuple[Scenario, ...]
    scenario_of_lane: np.ndarray
    seeds: np.ndarray
    labels: Mapping[str, np.ndarray] = field(default_factory=dict)
    overrides: Mapping[str, np.ndarray] = field(default_factory=dict)
    series: bool = False
    until: int | None = None  # stop after this day (calibration and forecasts need no more)
    snapshot_days: tuple[int, ...] = ()  # days at whose end both sides' cumulative releases are kept
    history_seeds: np.ndarray | None = None  # each run replays this seed's chance up to history_until
    history_until: int = -1

    @property
    def size(self) -> int:
        return len(self.seeds)

    def lane_scenarios(self) -> list[Scenario]:
        return [self.scenarios[i] for i in self.scenario_of_lane]


@dataclass
class BatchResult:
    """What a batch produced: one row per run (labels, seed, metrics, error) and, if asked, the daily series."""

    index: int
    runs: pd.DataFrame
    series: pd.DataFrame | None = None
    snapshots: pd.DataFrame | None = None

    @property
    def failed(self) -> pd.DataFrame:
        return self.runs[self.runs["outcome"] == ERROR]


def run_batch(batch: Batch) -> BatchResult:
    """Run every lane of the batch in one model.

    If the model raises, the lanes are run one by one (each gives the same result as in
    the batch), and a run that raises on its own becomes a row with outcome 'error'.
    """
    from sim.model.exchange import ExchangeModel  # Mesa: only where runs are computed (workers import it at start)

    try:
        model = ExchangeModel(batch.lane_scenarios(), batch.seeds, overrides=batch.overrides or None,
                              collect=batch.series, snapshot_days=batch.snapshot_days,
                              history_seeds=batch.history_seeds, history_until=batch.history_until)
        runs = model.run(batch.until)
        series = model.series() if batch.series else None
        snapshots = model.snapshots() if batch.snapshot_days else None
        model.release()
        runs["error"] = ""
    except Exception:  # noqa: BLE001 - isolated below, lane by lane
        runs, series, snapshots = _one_by_one(batch)
    return BatchResult(batch.index, _labelled(batch, runs), *(None if frame is None else _labelled(batch, frame)
                                                              for frame in (series, snapshots)))


def _one_by_one(batch: Batch) -> tuple[pd.DataFrame, pd.DataFrame | None, pd.DataFrame | None]:
    from sim.model.exchange import ExchangeModel

    rows, frames, snaps = [], [], []
    scenarios = batch.lane_scenarios()
    for lane in range(batch.size):
        overrides = {path: values[lane:lane + 1] for path, values in batch.overrides.items()}
        try:
            history = None if batch.history_seeds is None else batch.history_seeds[lane:lane + 1]
            model = ExchangeModel(scenarios[lane], batch.seeds[lane:lane + 1], overrides=overrides or None,
                                  collect=batch.series, snapshot_days=batch.snapshot_days,
                                  history_seeds=history, history_until=batch.history_until)
            row = model.run(batch.until).assign(lane=lane, error="")
            if batch.series:
                frames.append(model.series().assign(lane=lane))
            if batch.snapshot_days:
                snaps.append(model.snapshots().assign(lane=lane))
        except Exception as exc:  # recorded, and the batch goes on
            row = pd.DataFrame({"lane": [lane], "seed": [batch.seeds[lane]], "outcome": [ERROR],
                                "error": [f"{type(exc).__name__}: {exc}"]})
        rows.append(row)
    runs = pd.concat(rows, ignore_index=True)
    for name in METRIC_NAMES:
        if name not in runs:
            runs[name] = np.nan
    runs = runs[["lane", "seed", *METRIC_NAMES, "error"]]
    series = pd.concat(frames, ignore_index=True) if batch.series and frames else None
    snapshots = pd.concat(snaps, ignore_index=True) if snaps else None
    return runs, series, snapshots


def _labelled(batch: Batch, frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with the batch's labels in front, in place of the lane number."""
    lane = frame["lane"].to_numpy()
    labels = {name: np.asarray(values)[lane] for name, values in batch.labels.items()}
    return pd.concat([pd.DataFrame(labels), frame.drop(columns="lane").reset_index(drop=True)], axis=1)


def cut(n: int, lanes: int | None, workers: int, series: bool = False) -> list[tuple[int, int]]:
    """Runs 0..n-1 cut into batches of at most `lanes`, at least one batch per worker when n allows."""
    lanes = lanes or default_lanes(series)
    size = max(1, min(lanes, -(-n // max(workers, 1))))
    return [(lo, min(lo + size, n)) for lo in range(0, n, size)]


# ---------------------------------------------------------------- executors


class InlineExecutor(Executor):
    """An Executor that runs each task in this process when it is submitted (one worker, no pickling)."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:
            future.set_exception(exc)
        return future


class ExecutorError(RuntimeError):
    """The requested executor cannot be had (Dask missing, scheduler unreachable)."""


@contextlib.contextmanager
def open_executor(workers: int = 1, address: str | None = None, executor: Executor | None = None
                  ) -> Iterator[Executor]:
    """An Executor for batches: `executor` if given (left open), a Dask cluster's when `address` names a
    scheduler, else a local pool of processes (`sim.experiments.pool`) or this process."""
    if executor is not None:
        yield executor
    elif address:
        try:
            from distributed import Client
        except ImportError:
            raise ExecutorError("--address needs Dask: pip install 'swapsim[dask]'") from None
        try:
            client = Client(address, timeout="10s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise ExecutorError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
        try:
            yield client.get_executor()
        finally:
            client.close()
    elif workers > 1:
        workers_pool = pool.process_pool(workers)
        try:
            yield workers_pool
        finally:
            workers_pool.shutdown(cancel_futures=True)
    else:
        yield InlineExecutor()


def slots(executor: Executor, workers: int = 1) -> int:
    """How many batches to keep in flight on an executor: two per worker, so that none waits."""
    threads = getattr(executor, "_max_workers", None)  # a process pool
    client = getattr(executor, "_client", None)  # a Dask cluster's executor
    if client is not None:
        threads = sum(client.nthreads().values())
    return 2 * max(threads or workers, 1)


def execute(batches: Iterable[Batch], executor: Executor, on_done: Callable[[int], None] | None = None,
            window: int | None = None, ordered: bool = False) -> Iterator[BatchResult]:
    """Run the batches on the executor and yield their results: in completion order, or with `ordered` in
    batch order (batch indices consecutive).

    At most `window` batches (default: two per worker) are in flight or waiting to be handed on, so memory
    stays bounded however many runs there are, even when one batch is slow. Closing the generator early
    (an exception, Ctrl-C) cancels what has not started.
    """
    window = window or slots(executor)
    pending: set[Future] = set()
    waiting: dict[int, BatchResult] = {}
    todo = iter(batches)
    expected: int | None = None
    try:
        while True:
            while len(pending) + len(waiting) < window and (batch := next(todo, None)) is not None:
                expected = batch.index if expected is None else expected
                future = executor.submit(run_batch, batch)
                pending.add(future)
                if future.done():  # computed in this process: hand it on before computing the next
                    break
            if not pending and not waiting:
                return
            if pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    result = future.result()
                    waiting[result.index] = result
                    if on_done:
                        on_done(len(result.runs))
                del done, future, result
            while waiting:
                if not ordered:
                    yield waiting.pop(next(iter(waiting)))
                elif expected in waiting:
                    yield waiting.pop(expected)
                    expected += 1
                else:
                    break
    finally:
        for future in pending:
            future.cancel()


class RunError(RuntimeError):
    """A run raised: a defect of swapsim, not of the scenario (which was validated)."""


def run_all(batches: Iterable[Batch], workers: int = 1, executor: Executor | None = None,
            progress: tuple[int, str] | None = None) -> Iterator[BatchResult]:
    """The batches' results in batch order, on `executor` or on one opened for `workers`; the first run that
    raised stops everything with a RunError. `progress`: (total runs, label) for a progress bar."""
    bar = progress_bar(*progress) if progress else None
    try:
        with open_executor(workers, executor=executor) as pool, \
                contextlib.closing(execute(batches, pool, bar.update if bar else None, ordered=True)) as results:
            for result in results:
                if len(result.failed):
                    row = result.failed.iloc[0]
                    who = f"{row['scenario']}: " if "scenario" in row else ""
                    raise RunError(f"{who}run {row['run']} (seed {row['seed']}) failed: {row['error']}")
                yield result
                del result  # let the batch go while the next one runs
    finally:
        if bar:
            bar.close()


def batches_of(scenarios: Sequence[Scenario], scenario_of_run: np.ndarray, seeds: np.ndarray,
               labels: Mapping[str, np.ndarray], bounds: Sequence[tuple[int, int]], series: bool = False,
               overrides: Mapping[str, np.ndarray] | None = None, until: int | None = None,
               snapshot_days: Sequence[int] = (), history_seeds: np.ndarray | None = None,
               history_until: int = -1) -> Iterator[Batch]:
    """Batches over runs lo..hi-1 of a table of runs (one entry per run in each array)."""
    overrides = overrides or {}
    for i, (lo, hi) in enumerate(bounds):
        used = np.unique(scenario_of_run[lo:hi])
        yield Batch(
            index=i,
            scenarios=tuple(scenarios[j] for j in used),
            scenario_of_lane=np.searchsorted(used, scenario_of_run[lo:hi]),
            seeds=seeds[lo:hi],
            labels={name: values[lo:hi] for name, values in labels.items()},
            overrides={path: values[lo:hi] for path, values in overrides.items()},
            series=series,
            until=until,
            snapshot_days=tuple(snapshot_days),
            history_seeds=None if history_seeds is None else history_seeds[lo:hi],
            history_until=history_until,
        )


def progress_bar(total: int, desc: str, initial: int = 0, leave: bool = False):
    """A terminal progress bar of runs: done, runs per second, time left (every 10 s when not on a terminal, so
    that logs stay readable)."""
    import sys

    from tqdm import tqdm

    tqdm.monitor_interval = 0  # no monitor thread: worker processes may be forked after this
    return tqdm(total=total, initial=initial, desc=desc, unit="run", dynamic_ncols=True, smoothing=0.1, leave=leave,
                mininterval=0.1 if sys.stderr.isatty() else 10.0)
