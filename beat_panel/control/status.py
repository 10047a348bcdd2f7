"""Is beat running? The one answer the window, the tray and the CLI all share."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path

from beat_panel import process
from beat_panel.config import Config
from beat_panel.control.action_lock import action_in_flight
from beat_panel.control.states import Phase
from beat_panel.process import BeatProcess, PidfileState
from beat_panel.schedule import access, beat_report


@dataclass
class Status:
    """The answer to "is beat running?" at one moment."""

    state: Phase
    processes: list[BeatProcess] = field(default_factory=list)
    other_beats: list[BeatProcess] = field(default_factory=list)
    pidfile: PidfileState | None = None
    error: str | None = None
    scan: str = "full"  # "pidfile" when the fast path answered
    app: str | None = None  # the configured app
    checked_at: float = field(default_factory=time.time)
    schedule_applied: bool | None = None
    # The running beat cannot use the schedule file (it may not read it): why, and the fix.
    schedule_problem: str | None = None

    def __post_init__(self) -> None:
        self.state = Phase(self.state)

    @property
    def running(self) -> bool:
        return bool(self.processes)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes]

    @property
    def count(self) -> int:
        return len(self.processes)

    @property
    def duplicate(self) -> bool:
        """Two beats at once send every task twice."""
        return self.count > 1

    @property
    def embedded(self) -> bool:
        return any(p.embedded for p in self.processes)

    @property
    def duplicate_warnings(self) -> list[str]:
        """The loud ones: more than one beat sending the same tasks."""
        out = []
        if self.duplicate:
            out.append(
                f"{self.count} beats are running at once (pids "
                f"{', '.join(map(str, self.pids))}): every periodic task is sent "
                f"{self.count} times. Stop all but one."
            )
        return out + [same_app_warning(other) for other in self.same_app_elsewhere]

    @property
    def alerts(self) -> list[str]:
        """What the window shows in red: duplicates, and a schedule beat cannot use."""
        return self.duplicate_warnings + ([self.schedule_problem] if self.schedule_problem
                                          else [])

    @property
    def warnings(self) -> list[str]:
        out = self.alerts
        if self.pidfile is not None and self.pidfile.problem:
            out.append(f"Pidfile {self.pidfile.path}: {self.pidfile.problem}.")
        return out

    @property
    def same_app_elsewhere(self) -> list[BeatProcess]:
        apps = {p.app for p in self.processes} | ({self.app} if self.app else set())
        return [b for b in self.other_beats if b.app in apps and not b.embedded]

    @property
    def message(self) -> str:
        if self.state is Phase.ERROR:
            return f"Could not check beat: {self.error}"
        if self.state.working:
            return f"Beat is {self.state}…"
        if not self.running:
            return "Beat is not running."
        parts = []
        for p in self.processes:
            where = f"pid {p.pid}, user {p.owner}"
            if p.embedded:
                where += ", embedded in a worker (-B)"
            if p.manager:
                where += f", under {p.manager.describe()}"
            parts.append(where)
        return "Beat is running (" + "; ".join(parts) + ")."

    def to_json(self) -> dict:
        return {
            "running": self.running,
            "pids": self.pids,
            "count": self.count,
            "schedule_applied": self.schedule_applied,
            "schedule_problem": self.schedule_problem,
            "state": self.state.value,
            "duplicate": self.duplicate,
            "embedded": self.embedded,
            "message": self.message,
            "warnings": self.warnings,
            "error": self.error,
            "scan": self.scan,
            "checked_at": self.checked_at,
            "processes": [p.to_json() for p in self.processes],
            "other_beats": [p.to_json() for p in self.other_beats],
            "pidfile": self.pidfile.to_json() if self.pidfile else None,
        }


def same_app_warning(other: BeatProcess) -> str:
    return (f"Another beat of the same app ({other.app}) runs from {other.cwd} (pid "
            f"{other.pid}, user {other.owner}). If it uses the same broker, every task is "
            "sent twice.")


def belongs_to(beat: BeatProcess, config: Config) -> bool:
    """Whether a beat on the machine is this project's beat: the same pidfile, or the
    same app (-A) running in the project's folder. With no app configured, every beat.

    A beat of another user has no readable folder; the same app is then enough.
    """
    wanted = config.beat
    if wanted.pidfile is not None and beat.pidfile is not None:
        with contextlib.suppress(OSError):
            if Path(beat.pidfile).resolve() == wanted.pidfile.resolve():
                return True
    if wanted.app is None:
        return True
    if beat.app != wanted.app:
        return False
    if beat.cwd is None:
        return True
    with contextlib.suppress(OSError):
        return Path(beat.cwd).resolve() == wanted.workdir.resolve()
    return False


def check_status(config: Config, full_scan: bool = True) -> Status:
    """Check whether this project's beat runs.

    With `full_scan=False` a valid pidfile answers alone (well under a millisecond);
    a full scan also finds duplicates and beats started without the pidfile.
    """
    process.reap_children()
    try:
        in_flight = action_in_flight(config)
        pidfile = process.read_pidfile(config.beat.pidfile) if config.beat.pidfile else None
        if not full_scan and pidfile is not None and pidfile.beat is not None:
            found, others, scan = [pidfile.beat], [], "pidfile"
        else:
            everything = process.scan()
            found = [b for b in everything if belongs_to(b, config)]
            others = [b for b in everything if not belongs_to(b, config)]
            scan = "full"
    except OSError as exc:
        return Status(state=Phase.ERROR, error=f"cannot read the process table: {exc}")
    state = Phase(in_flight) if in_flight else (Phase.RUNNING if found else Phase.STOPPED)
    applied = problem = None
    if config.schedule_file is not None:
        standalone = [p for p in found if not p.embedded]
        applied = beat_report.schedule_applied(config.schedule_file,
                                               [p.pid for p in standalone])
        problem = _schedule_problem(config.schedule_file, standalone, applied)
    return Status(state=state, processes=found, other_beats=others, pidfile=pidfile,
                  scan=scan, schedule_applied=applied, app=config.beat.app,
                  schedule_problem=problem)


def _schedule_problem(path: Path, beats: list[BeatProcess],
                      applied: bool | None) -> str | None:
    """Why the running beat sends nothing or not what the file says, if it does not: a
    user that may not read the file, an error beat reported, or no entry to run."""
    report = beat_report.read_beat_report(path)
    if not applied:  # a beat that applied the current file could read it (ACLs, groups)
        for beat in beats:
            problem = access.read_problem(path, beat.uid, access.process_groups(beat.pid))
            if problem is not None:
                return problem.message
    if report is None or report.pid not in {b.pid for b in beats}:
        return None  # beat does not run the panel's scheduler: it cannot be known here
    if report.error:
        runs = (f"revision {report.applied_revision}" if report.applied_sha
                else "no entries (it never loaded the file)")
        return (f"Beat cannot use the schedule file: {report.error}. It still runs {runs}; "
                "fix the file or restore a saved version (beat-panel schedule history).")
    if report.entries == 0:
        return ("Beat runs no entries: the schedule is empty or every entry is off, so no "
                "periodic task is sent. Add or enable an entry, or import the app's "
                "(beat-panel schedule import).")
    return None
