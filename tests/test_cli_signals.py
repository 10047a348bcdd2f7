"""Ctrl-C and SIGTERM to a `beat-panel` command: a short line, the signal's exit code
(128 + its number), no traceback, and no helper process left behind — not even one stuck
importing an app that hangs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from health_world import make_project

HANG_GUARD = 30  # a bound for a command that would otherwise hang: not a timing assert


def helpers_of(proc: subprocess.Popen, wanted: int) -> list[psutil.Process]:
    """The command's helper processes (probes, introspection), once `wanted` run."""
    parent = psutil.Process(proc.pid)
    deadline = time.monotonic() + HANG_GUARD
    while time.monotonic() < deadline:
        children = parent.children(recursive=True)
        if len(children) >= wanted:
            return children
        time.sleep(0.05)
    raise AssertionError(f"the command started {len(children)} helpers, not {wanted}")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
@pytest.mark.parametrize(("command", "helpers"), [(("health",), 2), (("schedule", "import"), 1)],
                         ids=["health", "import"])
def test_a_signal_ends_the_command_and_every_helper_it_started(
        tmp_path: Path, signum: signal.Signals, command: tuple[str, ...], helpers: int):
    # The app hangs at import: its helpers would wait for minutes.
    project = make_project(tmp_path / "proj", "memory://",
                           before="import time\ntime.sleep(600)\n")
    proc = subprocess.Popen([sys.executable, "-m", "beat_panel", "--config",
                             str(project.config_path), *command],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=os.getcwd())
    started: list[psutil.Process] = []
    try:
        started = helpers_of(proc, helpers)
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=HANG_GUARD)
        _, alive = psutil.wait_procs(started, timeout=HANG_GUARD)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for helper in started:  # so that a failure leaves nothing behind
            if helper.is_running():
                helper.kill()
    assert proc.returncode == 128 + signum, err
    assert err.strip().endswith(f"stopped by {signum.name}."), err
    assert "Traceback" not in err
    assert alive == [], f"helpers left running: {[p.pid for p in alive]}"
