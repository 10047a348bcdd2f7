"""Is beat running, and start / stop / restart it: the one answer the window, the tray
and the CLI all share.

Every function here blocks (it waits on processes); the GUI calls them from a worker.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shlex
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from beat_panel import history, logfile, paths, process, store
from beat_panel.config import Config
from beat_panel.managers import Manager, run_action
from beat_panel.process import BeatProcess, PidfileState

# Exit codes of the outward contract.
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NOT_RUNNING, EXIT_PERMISSION = 0, 1, 2, 3, 4
_EXIT_CELERY_PIDLOCK = 73  # os.EX_CANTCREAT: celery found its pidfile held
_POLL = 0.05
_KILL_WAIT = 5.0
_MANAGER_APPEAR_WAIT = 20.0
PLUGIN_SCHEDULER = "beat_panel.plugin:PanelScheduler"
_IN_FLIGHT_STATE = {"start": "starting", "stop": "stopping", "restart": "restarting"}

# Children this process started; polled so that none is left a zombie.
_children: list[subprocess.Popen] = []


class Busy(Exception):
    """Another start/stop/restart of the same beat is in flight."""


# ---------------------------------------------------------------------------
# Status
# ---------------------------------------------------------------------------


@dataclass
class Status:
    """The answer to "is beat running?" at one moment."""

    state: str  # running | stopped | starting | stopping | restarting | error
    processes: list[BeatProcess] = field(default_factory=list)
    other_beats: list[BeatProcess] = field(default_factory=list)
    pidfile: PidfileState | None = None
    error: str | None = None
    scan: str = "full"  # "pidfile" when the fast path answered
    app: str | None = None  # the configured app
    checked_at: float = field(default_factory=time.time)
    schedule_applied: bool | None = None

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
        return out + [_same_app_warning(other) for other in self.same_app_elsewhere]

    @property
    def warnings(self) -> list[str]:
        out = self.duplicate_warnings
        if self.pidfile is not None and self.pidfile.problem:
            out.append(f"Pidfile {self.pidfile.path}: {self.pidfile.problem}.")
        return out

    @property
    def same_app_elsewhere(self) -> list[BeatProcess]:
        apps = {p.app for p in self.processes} | ({self.app} if self.app else set())
        return [b for b in self.other_beats if b.app in apps and not b.embedded]

    @property
    def message(self) -> str:
        if self.state == "error":
            return f"Could not check beat: {self.error}"
        if self.state in ("starting", "stopping", "restarting"):
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
            "state": self.state,
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


def _same_app_warning(other: BeatProcess) -> str:
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


def status(config: Config, full_scan: bool = True) -> Status:
    """Check whether this project's beat runs.

    With `full_scan=False` a valid pidfile answers alone (well under a millisecond);
    a full scan also finds duplicates and beats started without the pidfile.
    """
    _reap_children()
    try:
        in_flight = _action_in_flight(config)
        pidfile = process.read_pidfile(config.beat.pidfile) if config.beat.pidfile else None
        if not full_scan and pidfile is not None and pidfile.beat is not None:
            found, others, scan = [pidfile.beat], [], "pidfile"
        else:
            everything = process.scan()
            found = [b for b in everything if belongs_to(b, config)]
            others = [b for b in everything if not belongs_to(b, config)]
            scan = "full"
    except OSError as exc:
        return Status(state="error", error=f"cannot read the process table: {exc}")
    state = in_flight or ("running" if found else "stopped")
    applied = None
    if config.schedule_file is not None:
        applied = store.schedule_applied(config.schedule_file,
                                         [p.pid for p in found if not p.embedded])
    return Status(state=state, processes=found, other_beats=others, pidfile=pidfile,
                  scan=scan, schedule_applied=applied, app=config.beat.app)


# ---------------------------------------------------------------------------
# Results of actions
# ---------------------------------------------------------------------------


@dataclass
class ActionResult:
    """The outcome of start / stop / restart, written for the person who sees it."""

    action: str
    success: bool
    message: str
    not_running: bool = False
    permission_denied: bool = False
    already_running: bool = False
    killed: bool = False  # the stop needed SIGKILL
    instructions: str | None = None
    manual_start_command: str | None = None
    old_pids: list[int] = field(default_factory=list)
    new_pids: list[int] = field(default_factory=list)
    owner: str | None = None
    log_tail: str | None = None
    manager: Manager | None = None

    @property
    def exit_code(self) -> int:
        if self.success:
            return EXIT_OK
        if self.permission_denied:
            return EXIT_PERMISSION
        if self.not_running:
            return EXIT_NOT_RUNNING
        return EXIT_FAILED

    def to_json(self) -> dict:
        return {
            "action": self.action,
            "success": self.success,
            "not_running": self.not_running,
            "permission_denied": self.permission_denied,
            "already_running": self.already_running,
            "killed": self.killed,
            "message": self.message,
            "instructions": self.instructions,
            "manual_start_command": self.manual_start_command,
            "old_pids": self.old_pids,
            "new_pids": self.new_pids,
            "owner": self.owner,
            "log_tail": self.log_tail,
            "manager": self.manager.to_json() if self.manager else None,
        }


# ---------------------------------------------------------------------------
# How beat is launched
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LaunchSpec:
    """Everything needed to start beat: argv, working directory, environment, files."""

    argv: tuple[str, ...]
    cwd: Path
    env: dict[str, str]
    pidfile: Path | None
    logfile: Path


def _logfile(config: Config) -> Path:
    return config.beat.logfile or config.run_dir / "beat.log"


def configured_launch(config: Config) -> LaunchSpec | None:
    """The launch the config describes, or None when it names no app."""
    beat = config.beat
    if beat.app is None:
        return None
    argv = [*beat.command, "-A", beat.app, "beat"]
    if beat.pidfile is not None and not any(a.startswith("--pidfile") for a in beat.args):
        argv.append(f"--pidfile={beat.pidfile}")
    env = dict(os.environ)
    if config.schedule_file is not None:
        argv += ["-S", PLUGIN_SCHEDULER]
        env["BEAT_PANEL_SCHEDULE"] = str(config.schedule_file)
        # Beat may run in the project's own environment: let it import the plugin.
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(paths.plugin_import_dir()), env.get("PYTHONPATH")) if p)
    argv += beat.args
    env.update(beat.env)
    return LaunchSpec(tuple(argv), beat.workdir, env, beat.pidfile, _logfile(config))


def launch_from_process(beat: BeatProcess, config: Config) -> LaunchSpec:
    """Rebuild how a running beat was started: its argv, folder and environment."""
    words = list(beat.argv)
    if words and words[0].startswith("["):  # setproctitle: `[celery beat] -A x beat ...`
        words = [*config.beat.command, *" ".join(words).split("]", 1)[1].split()]
    try:
        env = psutil.Process(beat.pid).environ()
    except psutil.Error:
        env = dict(os.environ)
    cwd = Path(beat.cwd) if beat.cwd else config.beat.workdir
    pidfile = Path(beat.pidfile) if beat.pidfile else config.beat.pidfile
    return LaunchSpec(tuple(words), cwd, env, pidfile, _logfile(config))


def manual_start_command(config: Config) -> str:
    """The command a person can paste into a terminal to start this beat by hand."""
    beat = config.beat
    script = paths.start_script()
    if beat.app is None:
        return f"cd {shlex.quote(str(beat.workdir))} && celery -A <your app> beat"
    words = [f"{k}={v}" for k, v in sorted(beat.env.items())]
    words = (["env", *words] if words else []) + [
             str(script) if script.exists() else "start_celery_beat.sh",
             "--app", beat.app, "--workdir", str(beat.workdir),
             "--logfile", str(_logfile(config))]
    if beat.pidfile is not None:
        words += ["--pidfile", str(beat.pidfile)]
    if config.schedule_file is not None:
        words += ["--schedule-file", str(config.schedule_file)]
    words += ["--celery", " ".join(beat.command)]
    if beat.args:
        words += ["--", *beat.args]
    return shlex.join(words)


# ---------------------------------------------------------------------------
# One action at a time
# ---------------------------------------------------------------------------


def _lock_path(config: Config) -> Path:
    return config.run_dir / "action.lock"


@contextlib.contextmanager
def action_lock(config: Config, action: str) -> Iterator[None]:
    """Hold the project's action lock; raise Busy when another action holds it.

    The lock file also says which action runs, so `status` can show "restarting".
    """
    path = _lock_path(config)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        yield  # no writable state folder (another user's HOME): run unguarded
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Busy(_in_flight_text(path)) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"action": action, "pid": os.getpid()}).encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _in_flight_text(path: Path) -> str:
    try:
        marker = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        marker = {}
    what = marker.get("action", "another action")
    holder = marker.get("pid", "?")
    return f"Beat Panel (pid {holder}) is already doing a {what}; try again when it ends."


def _action_in_flight(config: Config) -> str | None:
    """'starting' / 'stopping' / 'restarting' while any Beat Panel holds the lock."""
    path = _lock_path(config)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            held = True
        else:
            held = False
            fcntl.flock(fd, fcntl.LOCK_UN)
        if not held:
            return None
        try:
            action = json.loads(os.pread(fd, 4096, 0) or b"{}").get("action")
        except ValueError:
            action = None
        return _IN_FLIGHT_STATE.get(action, "restarting")
    finally:
        os.close(fd)


def _exclusive(config: Config, action: str,
               body: Callable[[], ActionResult]) -> ActionResult:
    """Run one action under the project's lock, and record how it went."""
    try:
        with action_lock(config, action):
            result = body()
    except Busy as exc:
        return ActionResult(action, False, str(exc))
    history.record(config.project_id, result.action, result.success, result.message)
    return result


# ---------------------------------------------------------------------------
# Start
# ---------------------------------------------------------------------------


def _reap_children() -> None:
    _children[:] = [child for child in _children if child.poll() is None]


def _remove_stale_pidfile(path: Path | None) -> None:
    """Remove a pidfile that names no live beat, or celery would refuse to start
    (it only clears pidfiles of dead pids, not of a pid reused by another program)."""
    if path is None:
        return
    state = process.read_pidfile(path)
    if state.problem is not None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _launch(spec: LaunchSpec, settle: float, action: str) -> ActionResult:
    """Start beat as its own session and wait until it has stayed up `settle` seconds."""
    spec.logfile.parent.mkdir(parents=True, exist_ok=True)
    if spec.pidfile is not None:
        spec.pidfile.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_pidfile(spec.pidfile)
    log_start = logfile.size(spec.logfile)
    try:
        with open(spec.logfile, "ab") as log:
            child = subprocess.Popen(
                list(spec.argv), cwd=spec.cwd, env=spec.env, stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
    except FileNotFoundError:
        return ActionResult(action, False, f"Cannot start beat: {spec.argv[0]!r} was not found. "
                            "Install celery in the project's environment, or set [beat] "
                            "command in beat-panel.toml to the celery to use.")
    except PermissionError as exc:
        return ActionResult(action, False, f"Cannot start beat: {exc}.")
    except NotADirectoryError:
        return ActionResult(action, False, f"Cannot start beat: the folder {spec.cwd} does not "
                            "exist. Check [beat] workdir in beat-panel.toml.")
    _children.append(child)
    deadline = time.monotonic() + settle
    while time.monotonic() < deadline:
        if child.poll() is not None:
            break
        time.sleep(_POLL)
    code = child.poll()
    if code is None:
        return ActionResult(action, True, f"Beat started (pid {child.pid}).",
                            new_pids=[child.pid])
    tail = logfile.tail(spec.logfile, since=log_start)
    if code == _EXIT_CELERY_PIDLOCK:
        why = (f"celery found its pidfile {spec.pidfile} held by another process (exit "
               f"{code}): another beat may be running under that pidfile.")
    else:
        why = f"it exited with code {code} within {settle:g} s."
    return ActionResult(action, False, f"Beat failed to start: {why} The log says why.",
                        log_tail=tail or "(the log is empty)",
                        instructions=f"See the log: {spec.logfile}")


def start(config: Config, force: bool = False) -> ActionResult:
    """Start beat with the configured command, unless a beat already runs."""
    return _exclusive(config, "start", lambda: _start(config, force))


def _start(config: Config, force: bool) -> ActionResult:
    current = status(config)
    manual = manual_start_command(config)
    if current.running and not force:
        return ActionResult(
            "start", False,
            f"Beat is already running (pid {', '.join(map(str, current.pids))}); not starting "
            "a second copy, because two beats send every task twice.",
            already_running=True, old_pids=current.pids, manual_start_command=manual,
        )
    spec = configured_launch(config)
    if spec is None:
        return ActionResult(
            "start", False,
            "No Celery app is configured, so Beat Panel does not know what to start. "
            "Set [beat] app in beat-panel.toml.",
            manual_start_command=manual,
        )
    result = _launch(spec, config.beat.start_settle, "start")
    result.manual_start_command = manual
    for other in current.same_app_elsewhere:
        result.message += f" Warning: {_same_app_warning(other)}"
    return result


# ---------------------------------------------------------------------------
# Stop
# ---------------------------------------------------------------------------


def _not_running(action: str, config: Config) -> ActionResult:
    manual = manual_start_command(config)
    return ActionResult(
        action, False,
        f"Beat is not running, so there is nothing to {action}.",
        not_running=True, manual_start_command=manual,
        instructions=f"Start it with Start, or by hand: {manual}",
    )


def _embedded_only(action: str, beats: list[BeatProcess]) -> ActionResult:
    pids = ", ".join(str(b.pid) for b in beats)
    return ActionResult(
        action, False,
        f"Beat runs embedded in a Celery worker (pid {pids}, started with -B). Beat Panel "
        f"does not {action} it on its own: that would {action} the worker too.",
        instructions="Restart the worker to restart its beat, or run beat as its own "
                     "process (`celery -A APP beat`) and the worker without -B.",
        old_pids=[b.pid for b in beats],
    )


def _distinct_managers(beats: list[BeatProcess]) -> list[Manager]:
    seen: list[Manager] = []
    for b in beats:
        if b.manager is not None and b.manager not in seen:
            seen.append(b.manager)
    return seen


def _permission_denied(action: str, denied: list[BeatProcess], config: Config) -> ActionResult:
    owners = sorted({b.owner for b in denied})
    pids = ", ".join(str(b.pid) for b in denied)
    me = _whoami()
    via = f" --config {shlex.quote(str(config.path))}" if config.path else ""
    kill = " ".join(f"{b.pid}" for b in denied)
    return ActionResult(
        action, False,
        f"Permission denied: beat (pid {pids}) runs as {', '.join(owners)}, and you are {me}, "
        f"so Beat Panel may not {action} it.",
        permission_denied=True, owner=", ".join(owners), old_pids=[b.pid for b in denied],
        instructions=(
            f"Run Beat Panel as that user: `sudo -u {owners[0]} beat-panel{via} {action}`; "
            f"or stop it yourself with `sudo kill -TERM {kill}`."
        ),
    )


def _whoami() -> str:
    try:
        return psutil.Process().username()
    except (psutil.Error, KeyError):
        return str(os.getuid())


def _signal(beat: BeatProcess, sig: int) -> str:
    """Send sig to beat if it is still the same process: 'sent', 'gone' or 'denied'."""
    try:
        proc = psutil.Process(beat.pid)
        if abs(proc.create_time() - beat.create_time) >= 0.01:
            return "gone"  # the pid now belongs to another process
        if proc.status() == psutil.STATUS_ZOMBIE:
            return "gone"
        proc.send_signal(sig)
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return "gone"
    except psutil.AccessDenied:
        return "denied"
    return "sent"


def _wait_gone(beats: list[BeatProcess], timeout: float) -> list[BeatProcess]:
    """Wait until the beats exit (zombies count as exited); return those still alive."""
    deadline = time.monotonic() + timeout
    alive = [b for b in beats if b.is_same_process()]
    while alive and time.monotonic() < deadline:
        time.sleep(_POLL)
        _reap_children()
        alive = [b for b in alive if b.is_same_process()]
    return alive


def _stop_beats(beats: list[BeatProcess], config: Config, action: str) -> ActionResult:
    """SIGTERM, wait up to stop_timeout, then SIGKILL; say which it took."""
    denied = [b for b in beats if _signal(b, signal.SIGTERM) == "denied"]
    if denied:
        return _permission_denied(action, denied, config)
    timeout = config.beat.stop_timeout
    survivors = _wait_gone(beats, timeout)
    killed = False
    if survivors:
        killed = True
        for b in survivors:
            _signal(b, signal.SIGKILL)
        survivors = _wait_gone(survivors, _KILL_WAIT)
    pids = ", ".join(str(b.pid) for b in beats)
    if survivors:
        return ActionResult(
            action, False,
            f"Beat (pid {', '.join(str(b.pid) for b in survivors)}) is still running even "
            "after SIGKILL; it may be stuck in the kernel (uninterruptible I/O).",
            old_pids=[b.pid for b in beats], killed=True,
        )
    if killed:
        _remove_stale_pidfile(config.beat.pidfile)
        message = (f"Beat (pid {pids}) did not stop within {timeout:g} s of SIGTERM, so it was "
                   "killed with SIGKILL. It could not save its schedule state on the way out.")
    else:
        message = f"Beat stopped (pid {pids})."
    return ActionResult(action, True, message, killed=killed, old_pids=[b.pid for b in beats])


def _via_manager(action: str, manager: Manager, old: list[BeatProcess],
                 config: Config) -> ActionResult:
    outcome = run_action(manager, action)
    old_pids = [b.pid for b in old]
    if not outcome.success:
        return ActionResult(
            action, False,
            f"Beat runs under {manager.describe()}; asking it to {action} failed: "
            f"{outcome.message}",
            permission_denied=outcome.permission_denied, manager=manager, old_pids=old_pids,
            owner=old[0].owner if old else None,
            instructions=f"Run: {manager.command(action)}",
        )
    if action == "stop":
        survivors = _wait_gone(old, config.beat.stop_timeout + _KILL_WAIT)
        if survivors:
            return ActionResult(action, False, f"{manager.describe()} reported success but "
                                "beat is still running.", manager=manager, old_pids=old_pids)
        return ActionResult(action, True, f"Beat stopped by {manager.describe()} (pid "
                            f"{', '.join(map(str, old_pids))}).", manager=manager,
                            old_pids=old_pids)
    new = _wait_for_new_beat(config, old)
    if not new:
        return ActionResult(action, False, f"{manager.describe()} restarted, but no new beat "
                            f"came up within {_MANAGER_APPEAR_WAIT:g} s.", manager=manager,
                            old_pids=old_pids, instructions=f"Check: {manager.command('status')}")
    return ActionResult(
        action, True,
        f"Beat restarted by {manager.describe()}: pid {', '.join(map(str, old_pids))} → "
        f"{', '.join(str(b.pid) for b in new)}.",
        manager=manager, old_pids=old_pids, new_pids=[b.pid for b in new],
    )


def _wait_for_new_beat(config: Config, old: list[BeatProcess]) -> list[BeatProcess]:
    old_ids = {(b.pid, b.create_time) for b in old}
    deadline = time.monotonic() + _MANAGER_APPEAR_WAIT
    while time.monotonic() < deadline:
        fresh = [b for b in status(config).processes if (b.pid, b.create_time) not in old_ids]
        if fresh:
            return fresh
        time.sleep(0.2)
    return []


def stop(config: Config) -> ActionResult:
    """Stop this project's beat: through its manager, else SIGTERM then SIGKILL."""
    return _exclusive(config, "stop", lambda: _stop(config))


def _standalone_beats(config: Config, action: str) -> tuple[list[BeatProcess],
                                                            ActionResult | None]:
    """The beats to signal ourselves, or the result when there are none: not running,
    only embedded in a worker, or under a manager (which then did the action)."""
    beats = status(config).processes
    if not beats:
        return [], _not_running(action, config)
    standalone = [b for b in beats if not b.embedded]
    if not standalone:
        return [], _embedded_only(action, beats)
    managers = _distinct_managers(standalone)
    if managers:
        return [], _via_manager(action, managers[0], standalone, config)
    return standalone, None


def _stop(config: Config) -> ActionResult:
    standalone, done = _standalone_beats(config, "stop")
    return done or _stop_beats(standalone, config, "stop")


# ---------------------------------------------------------------------------
# Restart
# ---------------------------------------------------------------------------


def restart(config: Config) -> ActionResult:
    """Stop beat, confirm it is gone, start it the same way, confirm it is up."""
    return _exclusive(config, "restart", lambda: _restart(config))


def _restart(config: Config) -> ActionResult:
    standalone, done = _standalone_beats(config, "restart")
    if done is not None:
        return done
    spec = configured_launch(config) or launch_from_process(standalone[0], config)
    stopped = _stop_beats(standalone, config, "restart")
    if not stopped.success:
        return stopped
    started = _launch(spec, config.beat.start_settle, "restart")
    started.old_pids = stopped.old_pids
    started.killed = stopped.killed
    started.manual_start_command = manual_start_command(config)
    old = ", ".join(map(str, stopped.old_pids))
    if started.success:
        started.message = f"Beat restarted: pid {old} → {started.new_pids[0]}."
        if stopped.killed:
            started.message += (" The old beat ignored SIGTERM and was killed with SIGKILL, "
                                "so its schedule state was not saved.")
    else:
        started.message = f"Beat was stopped (pid {old}) but did not start again. " + \
            started.message
    return started
