"""Shared pieces of the benchmarks: the Row every benchmark returns, timing, and
processes that are always cleaned up (killed by their own pid, never by name)."""

from __future__ import annotations

import contextlib
import math
import os
import random
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Row:
    """One line of the report."""

    benchmark: str
    median_ms: float
    p95_ms: float
    runs: int
    ratio: float | None = None  # median / the baseline's median, measured in the same run
    target: str = "—"
    passed: bool | None = None  # None: the row has no target (a baseline)
    exact: bool | None = None  # None: the row's answer is not checked
    note: str = ""


@dataclass(frozen=True)
class Timing(Generic[T]):
    """The wall times (ms) of `runs` calls and what each call returned."""

    times_ms: list[float]
    results: list[T]

    @property
    def median_ms(self) -> float:
        return statistics.median(self.times_ms)

    @property
    def p95_ms(self) -> float:
        ordered = sorted(self.times_ms)
        return ordered[math.ceil(0.95 * len(ordered)) - 1]  # nearest rank


def measure(
    cases: Mapping[str, tuple[Callable[[], T], int]], warmup: int = 3
) -> dict[str, Timing[T]]:
    """Call each case (function, runs) `runs` times, interleaved in rounds so that a
    change in machine load hits every case alike and the ratios stay fair. The order
    within a round is shuffled (seeded): running right after another case costs or saves
    time through caches, and no case should always get the same seat."""
    for fn, _ in cases.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in cases}
    results: dict[str, list[T]] = {name: [] for name in cases}
    order = list(cases)
    shuffle = random.Random(0).shuffle
    for i in range(max(runs for _, runs in cases.values())):
        shuffle(order)
        for name in order:
            fn, runs = cases[name]
            if i >= runs:
                continue
            start = time.perf_counter_ns()
            result = fn()
            times[name].append((time.perf_counter_ns() - start) / 1e6)
            results[name].append(result)
    return {name: Timing(times[name], results[name]) for name in cases}


class Spawned:
    """Processes a benchmark started; `close` kills and reaps each one by its pid."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def popen(self, argv: list[str], **kwargs: object) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            **kwargs,  # type: ignore[call-overload]
        )
        self.procs.append(proc)
        return proc

    def close(self) -> None:
        for proc in self.procs:
            with contextlib.suppress(OSError):
                proc.kill()
        for proc in self.procs:
            proc.wait()
        self.procs.clear()


@contextlib.contextmanager
def environ(**values: str) -> Iterator[None]:
    """Set environment variables for the duration, then restore them."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `predicate` until true; raise after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.005)
