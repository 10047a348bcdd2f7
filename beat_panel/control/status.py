"""Is beat running? The one answer the window, the tray and the CLI all share.

Which of the beats on the machine is this project's is decided by one rule,
`beat_panel.process.identity` (its pidfile, or its app in its folder), on the full scan
and on the pidfile's fast path alike; every other beat is only shown.
"""

from __future__ import annotations

import os
import pwd
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from beat_panel import process
from beat_panel.config import Config
from beat_panel.control.action_lock import action_in_flight
from beat_panel.control.states import Phase
from beat_panel.process import BeatProcess, PidfileState, identity
from beat_panel.schedule import access, beat_report

if TYPE_CHECKING:  # read only for a schedule in Redis (it costs uuid and platform)
    from beat_panel.schedule.redbeat.lock import LockState


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
    # Why beats in the project's folder were not taken for its beat, when the rule could
    # not decide (no app configured, several apps there).
    identity_note: str | None = None
    # A schedule in Redis: RedBeat's lock, which tells the beat that sends (here or on
    # another machine) from standbys and from a killed beat's leftover.
    redbeat_lock: LockState | None = None

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
        """Two beats at once send every task twice (not RedBeat's: only the lock's
        holder sends, the others wait as standbys)."""
        return self.count > 1 and self.redbeat_lock is None

    @property
    def redbeat(self) -> str | None:
        """For a schedule in Redis, what RedBeat's lock says: "running" (held here by a
        running beat), "standby" (running here, held elsewhere), "remote" (held by another
        machine), "stale" (held by this machine where no beat runs: a killed beat's),
        "waiting" (beat runs here, nobody holds it yet), "free", or "unknown" (Redis could
        not be read). None for a schedule file."""
        lock = self.redbeat_lock
        if lock is None:
            return None
        if lock.error:
            return "unknown"
        if not lock.held:
            return "waiting" if self.running else "free"
        if lock.this_machine is False:
            return "standby" if self.running else "remote"
        if self.running:
            # Taken before any of our beats started: a killed beat's lock, waited for.
            started = min(p.create_time for p in self.processes)
            taken = lock.taken_at.timestamp() if lock.taken_at else None
            if lock.this_machine and taken is not None and taken < started - 1:
                return "waiting"
            return "running"
        return "stale" if lock.this_machine else "remote"

    @property
    def embedded(self) -> bool:
        return any(p.embedded for p in self.processes)

    @property
    def redbeat_note(self) -> str | None:
        """One sentence on RedBeat's lock, when the schedule is in Redis."""
        lock, state = self.redbeat_lock, self.redbeat
        if lock is None or state is None:
            return None
        expires = f"expires in {lock.ttl:.0f} s" if lock.ttl is not None else "never expires"
        if state == "unknown":
            return f"RedBeat's lock cannot be read: {lock.error}"
        if state == "running":
            extra = (f"; the other {self.count - 1} wait as standbys" if self.count > 1
                     else "")
            slow = "" if all(_names_max_interval(p.argv) for p in self.processes) else (
                " It runs with Celery's default --max-interval (300 s), so it may take up "
                "to 5 minutes to pick up an edit: start it with --max-interval 5.")
            return f"This machine's beat holds RedBeat's lock and sends ({expires} unless " \
                   f"extended){extra}.{slow}"
        if state == "standby":
            return (f"Beat here waits as a standby: {lock.holder} holds RedBeat's lock and "
                    "sends.")
        if state == "remote":
            return (f"Beat runs on another machine ({lock.holder}): it holds RedBeat's lock "
                    f"({expires} unless extended).")
        if state == "stale":
            return (f"RedBeat's lock is stale: held by this machine, where no beat runs (a "
                    f"beat killed without releasing it); it {expires}, and a beat started "
                    "now waits for it.")
        if state == "waiting":
            if lock.held:
                return (f"Beat runs here and waits for RedBeat's lock, which a beat that "
                        f"is gone still holds; it {expires}.")
            return "Beat runs here and waits to take RedBeat's lock."
        return None

    @property
    def duplicate_warnings(self) -> list[str]:
        """The loud ones: more than one beat sending the same tasks."""
        out = []
        if self.duplicate:
            out.append(
                f"{self.count} beats are running at once (pids "
                f"{', '.join(map(str, self.pids))}): every periodic task is sent "
                f"{self.count} times. Stop the extra beat (beat-panel stop-extra) and keep "
                "the project's own."
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
        if self.identity_note:
            out.append(self.identity_note)
        stranger = self.pidfile_names_another_beat
        if stranger is not None and self.pidfile is not None:
            out.append(f"Pidfile {self.pidfile.path} names pid {stranger.pid}, a beat that is "
                       f"not this project's (app {stranger.app or '(none given)'}, folder "
                       f"{stranger.folder or 'unknown'}): it is not taken for this one.")
        return out

    @property
    def pidfile_names_another_beat(self) -> BeatProcess | None:
        """The beat the project's pidfile names, when that beat is not the project's."""
        named = self.pidfile.beat if self.pidfile is not None else None
        if named is None or any(p.pid == named.pid for p in self.processes):
            return None
        return named

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
            if self.redbeat in ("remote", "stale"):
                return self.redbeat_note or "Beat is not running."
            return "Beat is not running."
        parts = []
        for p in self.processes:
            where = f"pid {p.pid}, user {p.owner}"
            if p.embedded:
                where += ", embedded in a worker (-B)"
            if p.manager:
                where += f", under {p.manager.describe()}"
            parts.append(where)
        text = "Beat is running (" + "; ".join(parts) + ")."
        if self.redbeat in ("running", "standby", "waiting") and self.redbeat_note:
            text += " " + self.redbeat_note
        return text

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
            "pidfile": self._pidfile_json(),
            "identity_note": self.identity_note,
            **({"redbeat_lock": {**self.redbeat_lock.to_json(), "state": self.redbeat}}
               if self.redbeat_lock is not None else {}),
        }

    def _pidfile_json(self) -> dict | None:
        if self.pidfile is None:
            return None
        # "valid": it names a live beat; "ours": that beat is this project's.
        return {**self.pidfile.to_json(), "ours": self.pidfile.beat is not None
                and self.pidfile_names_another_beat is None}


def _names_max_interval(argv: tuple[str, ...]) -> bool:
    return any(a in ("-m", "--max-interval") or a.startswith("--max-interval=")
               for a in argv)


def same_app_warning(other: BeatProcess) -> str:
    """What is said of a beat of the project's app that is not the project's beat."""
    if other.folder is not None:
        where = (f"folder {other.folder}. It is not this project's beat: it runs in another "
                 "folder")
    else:
        where = (f"folder unknown (it runs as {other.owner}, and you, {_whoami()}, may not "
                 "see its folder). It is not taken for this project's beat: only a beat "
                 "whose folder or pidfile matches is. If it is this project's, give it "
                 "and beat-panel.toml the same [beat] pidfile, or run Beat Panel as "
                 f"{other.owner}")
    return (f"Another beat of the same app ({other.app}) runs: pid {other.pid}, user "
            f"{other.owner}, {where}. If it uses the same broker, every task is sent twice.")


def _whoami() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return str(os.geteuid())


def project_key(config: Config) -> identity.ProjectKey:
    """What tells this project's beat from the others (see `identity`)."""
    beat = config.beat
    return identity.ProjectKey(beat.app, str(beat.workdir),
                               str(beat.pidfile) if beat.pidfile is not None else None)


def _seen(beat: BeatProcess, pidfile: PidfileState | None) -> identity.Seen:
    named = (pidfile is not None and pidfile.beat is not None
             and (pidfile.beat.pid, pidfile.beat.create_time) == (beat.pid, beat.create_time))
    return identity.Seen(beat.pid, beat.app, beat.folder, beat.pidfile, named)


def belongs_to(beat: BeatProcess, config: Config,
               pidfile: PidfileState | None = None) -> bool:
    """Whether a beat on the machine is this project's beat: its pidfile is the
    project's (or the project's pidfile, `pidfile` as read, names it and nothing about
    it disagrees), or it runs the project's app in the project's folder. With no app
    configured, the folder alone. Another user's beat whose folder cannot be seen is
    the project's only by its pidfile."""
    return identity.why_ours(project_key(config), _seen(beat, pidfile)) is not None


def split_beats(config: Config, beats: list[BeatProcess], pidfile: PidfileState | None
                ) -> tuple[list[BeatProcess], list[BeatProcess], str | None]:
    """(this project's beats, the others, a note when the rule could not decide)."""
    ours, note = identity.adopt(project_key(config), [_seen(b, pidfile) for b in beats])
    chosen = set(ours)
    return ([b for i, b in enumerate(beats) if i in chosen],
            [b for i, b in enumerate(beats) if i not in chosen], note)


def left_alone(status: Status, config: Config) -> str | None:
    """For a result that says nothing runs while beats do: which of them were left alone
    and by what rule, or None when no beat could have been taken for this one."""
    if status.identity_note:
        return status.identity_note
    if config.beat.app is not None:
        same = status.same_app_elsewhere
        return " ".join(f"{same_app_warning(b)} It was left alone." for b in same) or None
    if not status.other_beats:
        return None
    what = f"has the pidfile {config.beat.pidfile} or " if config.beat.pidfile else ""
    pids = ", ".join(str(b.pid) for b in status.other_beats)
    return (f"beat-panel.toml names no [beat] app, so only a beat that {what}runs in the "
            f"project folder {config.beat.workdir} is this project's. The beats running on "
            f"this machine (pid {pids}) are not, and were left alone.")


def check_status(config: Config, full_scan: bool = True) -> Status:
    """Check whether this project's beat runs.

    With `full_scan=False` a valid pidfile answers alone (well under a millisecond);
    a full scan also finds duplicates and beats started without the pidfile.
    """
    process.reap_children()
    try:
        in_flight = action_in_flight(config)
        pidfile = process.read_pidfile(config.beat.pidfile) if config.beat.pidfile else None
        note = None
        if not full_scan and pidfile is not None and pidfile.beat is not None \
                and belongs_to(pidfile.beat, config, pidfile):
            found, others, scan = [pidfile.beat], [], "pidfile"
        else:  # a pidfile naming a beat that is not this project's answers nothing
            found, others, note = split_beats(config, process.scan(), pidfile)
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
    lock = None
    if config.schedule_redis is not None:
        from beat_panel.schedule.redbeat.lock import read_lock

        lock = read_lock(config.schedule_redis)
    return Status(state=state, processes=found, other_beats=others, pidfile=pidfile,
                  scan=scan, schedule_applied=applied, app=config.beat.app,
                  schedule_problem=problem, identity_note=note, redbeat_lock=lock)


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
    if report.broker_error:
        since = time.strftime("%H:%M:%S", time.localtime(report.broker_error_since or 0))
        return (f"Beat cannot reach the broker and sends nothing: {report.broker_error} "
                f"(retrying since {since}). Check that the broker runs and that beat's "
                "broker URL is right.")
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
