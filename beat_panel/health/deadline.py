"""Run one probe (`probe.py`) in the project's own Python, and end it at its deadline.

The probe is killed by its pid (its own process group: it starts nothing, but a user's
app might) when the deadline passes, so a broker that hangs costs the deadline and
never more; what it printed is read after it ended.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from beat_panel.celeryapp.appinfo import AppInfoError, project_python
from beat_panel.config import Config

PROBE_SCRIPT = Path(__file__).with_name("probe.py")
DEFAULT_DEADLINE = 2.5  # seconds for each probe, start of its Python included
# After the kill, how long to wait for the pipes to close and the probe to be reaped.
_REAP_WAIT = 1.0


@dataclass(frozen=True)
class ProbeRun:
    """What one probe answered: `data` (its JSON object), or `error` saying why there is
    none; `timed_out` when it was killed at its deadline."""

    command: str
    data: dict | None
    error: str | None
    elapsed: float
    timed_out: bool = False
    # What a probe that did not finish had said so far (the broker's URL, say).
    partial: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.data is not None


def run_probe(config: Config, command: str, options: dict, deadline: float) -> ProbeRun:
    """Run `probe.py APP COMMAND OPTIONS` in the project's Python, in the project folder,
    with the environment beat gets; at most `deadline` seconds (plus the reap)."""
    started = time.monotonic()

    def failed(error: str, timed_out: bool = False, said: str = "") -> ProbeRun:
        return ProbeRun(command, None, error, time.monotonic() - started, timed_out,
                        _merged(said)[0])

    app = config.beat.app
    if not app:
        return failed("No Celery app is configured: set [beat] app in beat-panel.toml.")
    if not config.beat.workdir.is_dir():
        return failed(f"The project folder {config.beat.workdir} ([beat] workdir) does not "
                      "exist.")
    try:
        python = project_python(config)
    except AppInfoError as exc:
        return failed(str(exc))
    env = dict(os.environ)
    env.update(config.beat.env)
    try:
        proc = subprocess.Popen(
            [python.path, str(PROBE_SCRIPT), app, command, json.dumps(options)],
            cwd=config.beat.workdir, env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            start_new_session=True)
    except OSError as exc:
        return failed(f"Cannot run the project's Python, {python.describe()}: {exc}")
    try:
        out, err = proc.communicate(timeout=max(0.0, deadline - (time.monotonic() - started)))
    except subprocess.TimeoutExpired:
        said = _kill(proc)
        return failed(f"no answer within {deadline:g} s", timed_out=True, said=said)
    data, complete = _merged(out)
    if not complete:
        tail = (err or out).strip()[-600:]
        return failed(f"the probe ended with exit code {proc.returncode}: "
                      f"{tail or 'no output'}", said=out)
    return ProbeRun(command, data, None, time.monotonic() - started)


def _merged(out: str) -> tuple[dict, bool]:
    """The probe's JSON lines merged in order, and whether its final line came (the
    probe says what it knows early, so that a probe killed at its deadline has said
    something)."""
    merged: dict = {}
    complete = False
    for line in out.splitlines():
        try:
            data = json.loads(line)
        except ValueError:
            continue
        if isinstance(data, dict):
            complete = bool(data.pop("final", False))
            merged.update(data)
    return merged, complete


def _kill(proc: subprocess.Popen) -> str:
    """SIGKILL the probe by its pid (and its group, which it leads), reap it, and return
    what it had printed."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    try:
        out, _ = proc.communicate(timeout=_REAP_WAIT)
    except (subprocess.TimeoutExpired, OSError, ValueError):
        # Something the app started holds the pipe open: reap the probe all the same.
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=_REAP_WAIT)
        return ""
    return out or ""
