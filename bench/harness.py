"""Shared pieces of the benchmarks: the Row every benchmark returns, timing, processes
that are always cleaned up (ended by their own pid, never by name), the isolated folders
each benchmark runs in, and the fake beat several of them watch."""

from __future__ import annotations

import contextlib
import math
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import psutil

T = TypeVar("T")

XDG = ("XDG_STATE_HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME")
FAKE_APP = "benchapp"

# A stand-in for `celery -A benchapp beat --pidfile=PATH`: writes its pidfile, idles, and
# on SIGTERM removes the pidfile and exits 0, like beat. Written into a file named
# `celery` after a `#!<this python>` line, so its argv reads as beat's.
FAKE_CELERY = """\
import os
import signal
import sys
import time

pidfile = next(a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--pidfile="))


def on_term(signum, frame):
    try:
        os.unlink(pidfile)
    except FileNotFoundError:
        pass
    sys.exit(0)


signal.signal(signal.SIGTERM, on_term)
with open(pidfile, "w") as fh:
    fh.write(f"{os.getpid()}\\n")
while True:
    time.sleep(3600)
"""


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


def timed_row(name: str, timing: Timing[Any], base: Timing[Any] | None, target: str = "—",
              passed: bool | None = None, exact: bool | None = None, note: str = "") -> Row:
    """A row; its ratio is its median / the baseline's median (1 for a baseline)."""
    ratio = 1.0 if base is None else timing.median_ms / base.median_ms
    return Row(name, timing.median_ms, timing.p95_ms, len(timing.times_ms), ratio, target,
               passed, exact, note)


def rounds(names: list[str], runs: int | Mapping[str, int]) -> Iterator[str]:
    """Each name `runs` times (or runs[name] times), in rounds, shuffled within each round
    (seeded): a change in machine load hits every case alike, and no case always gets
    the same seat (running right after another case costs or saves time through caches)."""
    counts = runs if isinstance(runs, Mapping) else dict.fromkeys(names, runs)
    order = list(names)
    shuffle = random.Random(0).shuffle
    for i in range(max(counts.values(), default=0)):
        shuffle(order)
        yield from (name for name in order if i < counts[name])


def spread_phases(count: int, cycle: float) -> list[float]:
    """Points in a cycle (a beat tick, a refresh timer): one in each of `count` equal
    slices of `cycle`, in shuffled order (seeded). Something a person does or suffers
    lands at any moment of such a cycle; plain random draws from so few runs leave gaps
    (seed 0 draws none below 0.25 in 20), so the p95 would show the seed. Evenly spread
    points cover the whole cycle."""
    rng = random.Random(0)
    phases = [(i + rng.random()) / count * cycle for i in range(count)]
    rng.shuffle(phases)
    return phases


def measure(
    cases: Mapping[str, tuple[Callable[[], T], int]], warmup: int = 3
) -> dict[str, Timing[T]]:
    """Call each case (function, runs) `runs` times, interleaved in `rounds`, so that
    the ratios stay fair."""
    for fn, _ in cases.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in cases}
    results: dict[str, list[T]] = {name: [] for name in cases}
    for name in rounds(list(cases), {name: runs for name, (_, runs) in cases.items()}):
        fn = cases[name][0]
        start = time.perf_counter_ns()
        result = fn()
        times[name].append((time.perf_counter_ns() - start) / 1e6)
        results[name].append(result)
    return {name: Timing(times[name], results[name]) for name in cases}


# ---------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------


def descendants(roots: set[int]) -> list[int]:
    """The pids of every process below `roots` (one pass over the process table)."""
    children: dict[int, list[int]] = {}
    for proc in psutil.process_iter(["ppid"]):
        children.setdefault(proc.info["ppid"], []).append(proc.pid)
    found: list[int] = []
    todo = list(roots)
    while todo:
        below = children.get(todo.pop(), [])
        found += below
        todo += below
    return found


def stop_pid(pid: int, timeout: float = 10.0) -> None:
    """SIGTERM one process by pid, SIGKILL it if it stays; reap it if it is our child."""
    try:
        proc = psutil.Process(pid)
        proc.terminate()
        try:
            proc.wait(timeout)
        except psutil.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)
    except (psutil.NoSuchProcess, ChildProcessError):
        pass


class Spawned:
    """Processes a benchmark started. `end` ends one gently (SIGTERM, then SIGKILL), and
    what it started first; `close` kills every one still running, and what they
    started, by pid, and reaps them."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[Any]] = []

    def popen(self, argv: list[str], **kwargs: Any) -> subprocess.Popen[Any]:
        for stream in ("stdin", "stdout", "stderr"):
            kwargs.setdefault(stream, subprocess.DEVNULL)
        proc = subprocess.Popen(argv, **kwargs)
        self.procs.append(proc)
        return proc

    def end(self, proc: subprocess.Popen[Any], timeout: float = 10.0) -> None:
        if proc.poll() is None:
            for pid in descendants({proc.pid}):
                stop_pid(pid, timeout=5)
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
        proc.wait()
        with contextlib.suppress(ValueError):
            self.procs.remove(proc)

    def close(self) -> None:
        running = {proc.pid for proc in self.procs if proc.poll() is None}
        for pid in [*descendants(running), *running]:
            with contextlib.suppress(psutil.Error):
                psutil.Process(pid).kill()
        for proc in self.procs:
            proc.wait()
        self.procs.clear()


def start_fake_beat(spawned: Spawned, folder: Path, app: str = FAKE_APP
                    ) -> subprocess.Popen[Any]:
    """`celery -A app beat --pidfile=folder/beat.pid` with the fake `celery` (see
    `write_fake_celery`), once it has written its pidfile."""
    celery = write_fake_celery(folder)
    pidfile = folder / "beat.pid"
    proc = spawned.popen([str(celery), "-A", app, "beat", f"--pidfile={pidfile}"], cwd=folder)

    def written() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"fake beat exited with {proc.returncode}")
        return pidfile.exists() and pidfile.read_text().endswith("\n")

    wait_for(written, timeout=15, what="the fake beat's pidfile")
    return proc


def write_fake_celery(folder: Path) -> Path:
    """Write the fake `celery` into `folder` (made executable); return its path."""
    celery = folder / "celery"
    celery.write_text(f"#!{sys.executable}\n{FAKE_CELERY}")
    celery.chmod(0o755)
    return celery


def stop_leftover_beat(folder: Path) -> None:
    """A fake beat of `folder` still named in its pidfile (its starter died without
    stopping it): stop it by its pid."""
    with contextlib.suppress(OSError, ValueError, psutil.Error):
        pid = int((folder / "beat.pid").read_text().strip())
        if str(folder / "celery") in " ".join(psutil.Process(pid).cmdline()):
            stop_pid(pid)


# ---------------------------------------------------------------------------
# Folders and the environment
# ---------------------------------------------------------------------------


def xdg_dirs(folder: Path) -> dict[str, str]:
    """XDG_STATE_HOME, XDG_DATA_HOME and XDG_CONFIG_HOME inside `folder`."""
    return {name: str(folder / name.lower()) for name in XDG}


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


REDIS_SERVER = "/usr/bin/redis-server"


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_redis(spawned: Spawned, folder: Path) -> tuple[subprocess.Popen[Any], int]:
    """A redis-server of the benchmark's own on a free port (its files in `folder`, no
    persistence), ended by pid with `spawned`; returns it and its port once it answers."""
    port = free_port()
    proc = spawned.popen([REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1",
                          "--dir", str(folder), "--save", "", "--appendonly", "no"])

    def answers() -> bool:
        with socket.socket() as sock:
            sock.settimeout(0.5)
            try:
                sock.connect(("127.0.0.1", port))
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
            except OSError:
                return False

    wait_for(answers, timeout=15, what="redis-server")
    return proc, port
