"""The one run loop: runs cut into batches of lanes, each batch one `ExchangeModel`, on any executor.

`swapsim run`, `compare` and `sweep` (and calibration) all describe their runs as
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
                              collect=batch.series)
        runs, series = model.run(), (model.series() if batch.series else None)
        model.release()
        runs["error"] = ""
    except Exception:  # noqa: BLE001 - isolated below, lane by lane
        runs, series = _one_by_one(batch)
    return BatchResult(batch.index, _labelled(batch, runs), None if series is None else _labelled(batch, series))


def _one_by_one(batch: Batch) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    from sim.model.exchange import ExchangeModel

    rows, frames = [], []
    scenarios = batch.lane_scenarios()
    for lane in range(batch.size):
        overrides = {path: values[lane:lane + 1] for path, values in batch.overrides.items()}
        try:
            model = ExchangeModel(scenarios[lane], batch.seeds[lane:lane + 1], overrides=overrides or None,
                                  collect=batch.series)
            row = model.run().assign(lane=lane, error="")
            if batch.series:
                frames.append(model.series().assign(lane=lane))
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
    return runs, series


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
        with pool.process_pool(workers) as workers_pool:
            yield workers_pool
    else:
        yield InlineExecutor()


def execute(batches: Iterable[Batch], executor: Executor, on_done: Callable[[int], None] | None = None,
            max_pending: int = 8) -> Iterator[BatchResult]:
    """Run the batches on the executor; yield each result as it comes back (in completion order).

    At most `max_pending` batches are in flight, so memory stays bounded however many
    runs there are; stopping early (an exception, Ctrl-C) cancels what has not started.
    """
    pending: set[Future] = set()
    todo = iter(batches)
    try:
        for batch in todo:
            pending.add(executor.submit(run_batch, batch))
            done = {future for future in pending if future.done()}  # in this process: at once
            pending -= done
            yield from _results(done, on_done)
            while len(pending) >= max_pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                yield from _results(done, on_done)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            yield from _results(done, on_done)
    finally:
        for future in pending:
            future.cancel()


def _results(done: set[Future], on_done: Callable[[int], None] | None) -> Iterator[BatchResult]:
    """The results of finished futures, each let go of as soon as it is handed on (batches are large)."""
    while done:
        result = done.pop().result()
        if on_done:
            on_done(len(result.runs))
        yield result
        del result


def in_order(results: Iterable[BatchResult]) -> Iterator[BatchResult]:
    """Results reordered by batch index (a buffer holds those that arrive early)."""
    waiting: dict[int, BatchResult] = {}
    expected = 0
    for result in results:
        waiting[result.index] = result
        while expected in waiting:
            yield waiting.pop(expected)
            expected += 1
    yield from (waiting[i] for i in sorted(waiting))


def batches_of(scenarios: Sequence[Scenario], scenario_of_run: np.ndarray, seeds: np.ndarray,
               labels: Mapping[str, np.ndarray], bounds: Sequence[tuple[int, int]], series: bool = False,
               overrides: Mapping[str, np.ndarray] | None = None, first_index: int = 0) -> Iterator[Batch]:
    """Batches over runs lo..hi-1 of a table of runs (one entry per run in each array)."""
    overrides = overrides or {}
    for i, (lo, hi) in enumerate(bounds):
        used = np.unique(scenario_of_run[lo:hi])
        yield Batch(
            index=first_index + i,
            scenarios=tuple(scenarios[j] for j in used),
            scenario_of_lane=np.searchsorted(used, scenario_of_run[lo:hi]),
            seeds=seeds[lo:hi],
            labels={name: values[lo:hi] for name, values in labels.items()},
            overrides={path: values[lo:hi] for path, values in overrides.items()},
            series=series,
        )


def progress_bar(total: int, desc: str, initial: int = 0, leave: bool = False):
    """A terminal progress bar of runs: done, runs per second, time left."""
    from tqdm import tqdm

    tqdm.monitor_interval = 0  # no monitor thread: worker processes may be forked after this
    return tqdm(total=total, initial=initial, desc=desc, unit="run", dynamic_ncols=True, smoothing=0.1, leave=leave)
