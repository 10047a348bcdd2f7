"""What the running beat reports about the schedule: written by the plugin inside beat
(`beat_panel.plugin`), read by the panel to say whether a save was applied and when each
entry last ran. Standard library only (and the package's own small helpers): the plugin
imports this module inside beat."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from beat_panel.files.regular import MAX_FILE_BYTES, read_regular


def report_path(schedule_path: Path) -> Path:
    """Where the beat plugin records what it applied and when each entry last ran."""
    return schedule_path.with_name(f".{schedule_path.name}.beat-state.json")


def last_good_path(schedule_path: Path) -> Path:
    """Where the plugin keeps a copy of the last schedule it applied, so a beat started
    while the file is damaged runs that instead of nothing."""
    return schedule_path.with_name(f".{schedule_path.name}.last-good")


def file_sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class BeatReport:
    """What the plugin inside beat last wrote: the version it runs and run history."""

    pid: int | None
    applied_sha: str | None
    applied_revision: int | None
    applied_at: float | None
    error: str | None
    timezone: str | None
    runs: dict
    ticked_at: float | None = None  # when this beat finished its first tick
    entries: int | None = None  # how many entries it runs (enabled and not done)
    broker_error: str | None = None  # beat cannot reach the broker and is retrying
    broker_error_since: float | None = None
    version: int = 1  # 2: runs say what was sent and what failed, apart from the timing

    def _run(self, name: str) -> dict:
        run = self.runs.get(name)
        return run if isinstance(run, dict) else {}

    def last_run(self, name: str) -> datetime | None:
        """When beat last sent the entry's task to the broker (a send that failed is not
        a run; a beat before report version 2 counted every attempt)."""
        return _time(self._run(name).get("last_sent_at" if self.version >= 2
                                         else "last_run_at"))

    def timing_basis(self, name: str) -> datetime | None:
        """What beat counts the entry's next run from: its last run (sent or not), or
        when beat installed it if it never ran."""
        run = self._run(name)
        return _time(run.get("last_run_at") or run.get("since"))

    def run_count(self, name: str) -> int:
        count = self._run(name).get("sent_count" if self.version >= 2 else "total_run_count")
        return count if isinstance(count, int) and not isinstance(count, bool) else 0

    def last_error(self, name: str) -> tuple[datetime, str] | None:
        """When the entry's latest send failed and why, unless one succeeded since."""
        error = self._run(name).get("last_error")
        if not isinstance(error, dict) or not isinstance(error.get("error"), str):
            return None
        at = _time(error.get("at"))
        return (at, error["error"]) if at is not None else None


def _time(raw: object) -> datetime | None:
    try:
        return datetime.fromisoformat(raw) if isinstance(raw, str) and raw else None
    except ValueError:
        return None


def _typed(value: object, *types: type) -> object:
    return value if isinstance(value, types) and not isinstance(value, bool) else None


def read_beat_report(schedule_path: Path) -> BeatReport | None:
    """What the plugin last wrote, or None; a damaged or planted file is None (or has its
    odd values dropped), never an error and never a read that hangs."""
    try:
        data = json.loads(read_regular(report_path(schedule_path), limit=MAX_FILE_BYTES)
                          .decode("utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    applied = data.get("applied")
    applied = applied if isinstance(applied, dict) else {}
    runs = data.get("runs")
    return BeatReport(
        pid=_typed(applied.get("pid"), int), applied_sha=_typed(applied.get("sha256"), str),
        applied_revision=_typed(applied.get("revision"), int),
        applied_at=_typed(applied.get("at"), int, float),
        error=_typed(applied.get("error"), str), timezone=_typed(data.get("timezone"), str),
        runs={k: v for k, v in runs.items() if isinstance(v, dict)}
        if isinstance(runs, dict) else {},
        ticked_at=_typed(applied.get("ticked_at"), int, float),
        entries=_typed(applied.get("entries"), int),
        broker_error=_typed(applied.get("broker_error"), str),
        broker_error_since=_typed(applied.get("broker_error_since"), int, float),
        version=_typed(data.get("version"), int) or 1,
    )


def has_ticked(schedule_path: Path, pid: int) -> bool:
    """Beat `pid` has loaded the schedule and finished its first tick: its sign of life."""
    report = read_beat_report(schedule_path)
    return report is not None and report.pid == pid and report.ticked_at is not None


def schedule_applied(schedule_path: Path, running_pids: list[int]) -> bool | None:
    """Has the running beat loaded the latest saved schedule?

    None when it cannot be known: no beat running, or the beat does not run the
    plugin (it never wrote a state file for its pid).
    """
    if not running_pids:
        return None
    state = read_beat_report(schedule_path)
    if state is None or state.pid not in running_pids:
        return None
    try:
        current = file_sha(read_regular(schedule_path, limit=MAX_FILE_BYTES))
    except OSError:
        return None
    return state.applied_sha == current


def wait_applied(schedule_path: Path, sha: str, timeout: float = 5.0) -> bool:
    """Wait until the running beat acknowledges the version with hash `sha`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = read_beat_report(schedule_path)
        if state is not None and state.applied_sha == sha:
            return True
        time.sleep(0.05)
    return False
