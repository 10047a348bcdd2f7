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

from beat_panel.files.regular import read_regular


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

    def last_run(self, name: str) -> datetime | None:
        raw = self.runs.get(name, {}).get("last_run_at")
        try:
            return datetime.fromisoformat(raw) if isinstance(raw, str) and raw else None
        except ValueError:
            return None

    def timing_basis(self, name: str) -> datetime | None:
        """What beat counts the entry's next run from: its last run, or when beat
        installed it if it never ran."""
        run = self.runs.get(name, {})
        raw = run.get("last_run_at") or run.get("since")
        try:
            return datetime.fromisoformat(raw) if isinstance(raw, str) and raw else None
        except ValueError:
            return None

    def run_count(self, name: str) -> int:
        count = self.runs.get(name, {}).get("total_run_count")
        return count if isinstance(count, int) and not isinstance(count, bool) else 0


def _typed(value: object, *types: type) -> object:
    return value if isinstance(value, types) and not isinstance(value, bool) else None


def read_beat_report(schedule_path: Path) -> BeatReport | None:
    """What the plugin last wrote, or None; a damaged or planted file is None (or has its
    odd values dropped), never an error and never a read that hangs."""
    try:
        data = json.loads(read_regular(report_path(schedule_path)).decode("utf-8"))
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
        current = file_sha(read_regular(schedule_path))
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
