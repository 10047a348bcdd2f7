"""Start, stop and restart beat, with a result written for the person who sees it.

Every function here blocks (it waits on processes); the GUI calls them from a worker.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import psutil

from beat_panel import process
from beat_panel.config import Config
from beat_panel.control import activity, logtail
from beat_panel.control.action_lock import Busy, LockRefused, action_lock
from beat_panel.control.launch import (
    PLUGIN_SCHEDULER,
    LaunchError,
    LaunchSpec,
    configured_launch,
    launch_from_process,
    manual_start_command,
    panel_command,
)
from beat_panel.control.result import ActionResult
from beat_panel.control.status import check_status, left_alone, same_app_warning
from beat_panel.files import trust
from beat_panel.files.trust import UntrustedPathError
from beat_panel.process import BeatProcess
from beat_panel.process.managers import Manager, run_action
from beat_panel.process.waiting import wait_any_exit
from beat_panel.schedule import beat_report

_EXIT_CELERY_PIDLOCK = 73  # os.EX_CANTCREAT: celery found its pidfile held
_POLL = 0.05
_KILL_WAIT = 5.0
_MANAGER_APPEAR_WAIT = 20.0


def _exclusive(config: Config, action: str,
               body: Callable[[], ActionResult]) -> ActionResult:
    """Run one action under the project's lock, and record how it went.

    The record is written before the lock is let go, so a panel watching beat sees
    either the lock (an action under way) or its record, never a beat that went away
    with neither: that would look like a death.
    """
    try:
        with action_lock(config, action):
            try:
                result = body()
            except LaunchError as exc:
                result = ActionResult(action, False, str(exc))
            activity.record(config.project_id, result.action, result.success,
                            result.message)
    except (Busy, LockRefused) as exc:
        return ActionResult(action, False, str(exc))
    return result


# ---------------------------------------------------------------------------
# Start
# ---------------------------------------------------------------------------


def _remove_stale_pidfile(path: Path | None, pids: Iterable[int] | None = None) -> str | None:
    """Remove a pidfile that names no live beat, or celery would refuse to start
    (it only clears pidfiles of dead pids, not of a pid reused by another program).

    Only the file beat wrote is removed: a trusted regular file, reached without a link,
    that holds the stale pid (one of `pids` when given). Content that is no pid at all is
    left to celery, which clears it itself. Returns why a stale pidfile was left, if it
    was."""
    if path is None:
        return None
    state = process.read_pidfile(path)
    if state.beat is not None or state.pid is None:
        return None
    if pids is not None and state.pid not in pids:
        return None
    return trust.remove_pidfile(path, [state.pid])


# The config key that names each file beat writes: the fix in a refusal says to set it.
_FIX_KEYS = {"pidfile": "[beat] pidfile", "log": "[beat] logfile",
             "log (--logfile)": "the --logfile in [beat] args"}


def _refused_file(exc: UntrustedPathError, doing: str) -> str:
    """`doing`, then what is wrong with the file, the danger, and the fix (`exc`'s text
    names the file, the folder or link at fault, and the config key to change)."""
    return f"{doing}: {exc}"


def check_launch_files(spec: LaunchSpec) -> None:
    """Raise UntrustedPathError when a file beat writes (its pidfile, its log, a
    --logfile) breaks the trust rule (`beat_panel.files.trust`): a link, not a file,
    not only the user's and root's to change, or in a folder others can change. The log
    the panel opens is checked again as it is opened."""
    for what, path in [*spec.files_beat_writes(), ("log", spec.logfile)]:
        trust.check_file_to_write(what, path, _FIX_KEYS[what])


def _launch(spec: LaunchSpec, config: Config, action: str) -> ActionResult:
    """Start beat as its own session; it has started once it shows its own sign of life
    (see `_sign_of_life`) and then stays up a short watch, not when a timer ran out."""
    # Before anything is made: the log and pid folders may lie inside the project folder.
    if not Path(spec.cwd).is_dir():
        return ActionResult(action, False, f"Cannot start beat: the project folder {spec.cwd} "
                            "does not exist. Check [beat] workdir in beat-panel.toml.")
    try:
        check_launch_files(spec)  # before a folder is made where it should not be
    except UntrustedPathError as exc:
        return ActionResult(action, False, _refused_file(exc, "Cannot start beat"))
    for folder, key in ((spec.logfile.parent, "logfile"),
                        (spec.pidfile.parent if spec.pidfile else None, "pidfile")):
        if folder is None:
            continue
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            return ActionResult(action, False, f"Cannot start beat: cannot create the folder "
                                f"{folder} ([beat] {key}): {exc.strerror}.")
    try:
        # A new log gets no group or world write bit whatever the umask: the rule would
        # refuse it at the next start.
        log_fd, _ = trust.open_to_write("log", spec.logfile,
                                        os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644,
                                        key=_FIX_KEYS["log"])
    except UntrustedPathError as exc:
        return ActionResult(action, False, _refused_file(exc, "Cannot start beat"))
    except OSError as exc:
        return ActionResult(action, False, f"Cannot start beat: cannot open its log "
                            f"{spec.logfile}: {exc.strerror}. Check [beat] logfile in "
                            "beat-panel.toml.")
    try:
        _remove_stale_pidfile(spec.pidfile)
        log_start = os.fstat(log_fd).st_size
        child = subprocess.Popen(
            list(spec.argv), cwd=spec.cwd, env=spec.env, stdin=subprocess.DEVNULL,
            stdout=log_fd, stderr=subprocess.STDOUT, start_new_session=True,
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
    finally:
        os.close(log_fd)
    process.remember_child(child)
    sign, watch = _sign_of_life(spec, config, log_start)
    began = time.monotonic()
    said = None
    while child.poll() is None and time.monotonic() - began < config.beat.start_timeout:
        said = sign(child.pid)
        if said:
            break
        wait_any_exit([child.pid], _SIGN_POLL)  # a death ends the wait at once
    if said and child.poll() is None:
        wait_any_exit([child.pid], watch)
    code = child.poll()
    if code is None:
        message = f"Beat started (pid {child.pid})."
        if not said:
            message += (f" It has not shown that it works within {config.beat.start_timeout:g}"
                        " s (no start line in its log); look at the log if tasks are not "
                        "sent.")
        return ActionResult(action, True, message, new_pids=[child.pid],
                            warning=_schedule_warning(spec, config, child.pid))
    tail = logtail.tail(spec.logfile, since=log_start)
    when = (f"after it {said}, within the {watch:g} s it was watched" if said
            else "before it showed that it had started")
    if code == _EXIT_CELERY_PIDLOCK:
        why = (f"celery found its pidfile {spec.pidfile} held by another process (exit "
               f"{code}): another beat may be running under that pidfile.")
    elif code < 0:
        why = (f"it was killed by {_signal_name(-code)} {when} (by someone or something "
               "else: beat does not do that to itself).")
    else:
        why = f"it exited with code {code} {when}."
    reason = _log_reason(tail)
    said_why = f" The log says: {reason}" if reason else " The log says why."
    if reason and "No module named 'redbeat" in reason:
        said_why += (" Beat runs RedBeat's scheduler (the schedule is in Redis), which is "
                     f"not installed beside beat's celery ({spec.argv[0]}): install it "
                     "there with pip install celery-redbeat.")
    return ActionResult(action, False, f"Beat failed to start: {why}{said_why}",
                        log_tail=tail or "(the log is empty)",
                        instructions=f"See the log: {spec.logfile}")


# "[2026-01-01 00:00:00,000: ERROR/MainProcess] beat: Connection error: …"
_LOGGED_ERROR = re.compile(r"^\[[^\]]*: (?:ERROR|CRITICAL)/[^\]]*\]\s*(.+)$")
_ERROR_LINE = re.compile(r"^(?:\w+\.)*\w*(?:Error|Exception)\b:?\s*(.*)$")


def _log_reason(tail: str | None) -> str | None:
    """The reason a failed beat gives at the end of its log, in a line or three: the
    last exception (`ModuleNotFoundError: No module named 'x'`), or celery's own
    "Error:" and the lines after it ("Unable to load celery application. The module x
    was not found.")."""
    lines = [line.strip() for line in (tail or "").splitlines()]
    for at in range(len(lines) - 1, -1, -1):
        line = lines[at]
        if line == "Error:" or line.startswith("Error: "):
            words = " ".join(w for w in [line[6:].strip(), *lines[at + 1:at + 4]] if w)
            return words[:300] or None
        if _ERROR_LINE.match(line) and not line.startswith(("File ", "Traceback")):
            return line[:300]
        logged = _LOGGED_ERROR.match(line)
        if logged:
            return logged.group(1)[:300]
    return None


# Seconds: a beat that has ticked has loaded the app and the schedule and run its loop
# once; the watch after that only catches a death already on its way.
START_WATCH_AFTER_TICK = 0.05
_SIGN_POLL = 0.01  # seconds between looks for the sign of life (a small file, or the log)
_LOG_START_LINE = "beat: Starting..."  # what celery beat logs once its service starts


def _sign_of_life(spec: LaunchSpec, config: Config,
                  log_start: int) -> tuple[Callable[[int], str | None], float]:
    """How to tell that the new beat works, and how long to watch it after that.

    A beat running the panel's scheduler says so itself: it writes, in its report, that
    it loaded the schedule and finished its first tick. Any other beat is taken at its
    log's start line, then watched for `start_settle` seconds (a broker that cannot be
    reached, say, kills some apps a few seconds in).
    """
    if config.schedule_file is not None and PLUGIN_SCHEDULER in spec.argv:
        path = config.schedule_file

        def ticked(pid: int) -> str | None:
            # A command may start beat as its child (a wrapper that does not exec).
            for candidate in (pid, *_descendants(pid)):
                if beat_report.has_ticked(path, candidate):
                    return "loaded the schedule and ticked"
            return None

        return ticked, START_WATCH_AFTER_TICK
    seen = {"offset": log_start, "text": ""}

    def logged(pid: int) -> str | None:
        text, seen["offset"] = logtail.read_new(spec.logfile, seen["offset"])
        seen["text"] = (seen["text"] + text)[-4096:]
        return "logged that it started" if _LOG_START_LINE in seen["text"] else None

    return logged, config.beat.start_settle


def _schedule_warning(spec: LaunchSpec, config: Config, pid: int) -> str | None:
    """What a beat that started running the panel's scheduler said about the file, when
    it cannot use it: it then runs the last good schedule kept from before, or nothing."""
    if config.schedule_file is None or PLUGIN_SCHEDULER not in spec.argv:
        return None
    report = beat_report.read_beat_report(config.schedule_file)
    if report is None or not report.error or report.pid not in (pid, *_descendants(pid)):
        return None
    runs = (f"the last good schedule, revision {report.applied_revision}, kept from before "
            "this start" if report.applied_sha else "no entries")
    return (f"Beat cannot use the schedule file: {report.error}. It runs {runs}. Fix the "
            "file or restore a saved version (beat-panel schedule history).")


def _descendants(pid: int) -> list[int]:
    try:
        return [child.pid for child in psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return []


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def start(config: Config, force: bool = False) -> ActionResult:
    """Start beat with the configured command, unless a beat already runs."""
    return _exclusive(config, "start", lambda: _start(config, force))


def _start(config: Config, force: bool) -> ActionResult:
    current = check_status(config)
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
    result = _launch(spec, config, "start")
    result.manual_start_command = manual
    for other in current.same_app_elsewhere:
        result.message += f" Warning: {same_app_warning(other)}"
    return result


# ---------------------------------------------------------------------------
# Stop
# ---------------------------------------------------------------------------


def _not_running(action: str, config: Config, others: str | None = None) -> ActionResult:
    """Nothing to stop; `others` says which beats that are not this project's were left
    alone, and why."""
    manual = manual_start_command(config)
    return ActionResult(
        action, False,
        f"Beat is not running, so there is nothing to {action}."
        + (f" {others}" if others else ""),
        not_running=True, manual_start_command=manual,
        instructions=f"Start it with Start in the panel, or {_panel_does('start', config)}, "
                     f"or by hand: {manual}",
    )


def _panel_does(action: str, config: Config) -> str:
    """`beat-panel [--config FILE] ACTION`, by the panel's absolute path (a virtual
    environment's `beat-panel` is on no PATH)."""
    via = f" --config {shlex.quote(str(config.path))}" if config.path else ""
    return f"{shlex.join(panel_command())}{via} {action}"


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
    kill = " ".join(f"{b.pid}" for b in denied)
    # The panel by its absolute path: sudo's PATH does not have a virtual environment's.
    command = f"sudo -u {shlex.quote(owners[0])} {_panel_does(action, config)}"
    return ActionResult(
        action, False,
        f"Permission denied: beat (pid {pids}) runs as {', '.join(owners)}, and you are {me}, "
        f"so Beat Panel may not {action} it.",
        permission_denied=True, owner=", ".join(owners), old_pids=[b.pid for b in denied],
        instructions=(f"Run Beat Panel as that user:\n    {command}\nor stop it yourself "
                      f"with:\n    sudo kill -TERM {kill}"),
        command=command,
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


# Per project: a person asked not to wait for SIGTERM any longer ("Kill now").
_KILL_NOW: dict[str, threading.Event] = {}


def kill_now(config: Config) -> None:
    """Cut short the wait after SIGTERM of this project's stop or restart under way (in
    this process): SIGKILL goes at once. Nothing happens when no stop is waiting."""
    _KILL_NOW.setdefault(config.project_id, threading.Event()).set()


def forget_kill_now(config: Config) -> None:
    """A new stop or restart begins: a "Kill now" asked for an earlier one is not its.
    (Called when the action is asked for, so a Kill now pressed before SIGTERM went out
    still counts.)"""
    _KILL_NOW.setdefault(config.project_id, threading.Event()).clear()


def _wait_gone(beats: list[BeatProcess], timeout: float,
               cut_short: threading.Event | None = None) -> list[BeatProcess]:
    """Wait until the beats exit (zombies count as exited), or `cut_short` is set; return
    those still alive."""
    deadline = time.monotonic() + timeout
    alive = [b for b in beats if b.is_same_process()]
    while alive and time.monotonic() < deadline and not (cut_short and cut_short.is_set()):
        # Woken by an exit itself; the cap re-checks identity now and then regardless.
        wait_any_exit([b.pid for b in alive], min(_POLL, max(deadline - time.monotonic(), 0)))
        process.reap_children()
        alive = [b for b in alive if b.is_same_process()]
    return alive


def _stop_beats(beats: list[BeatProcess], config: Config, action: str) -> ActionResult:
    """SIGTERM, wait up to stop_timeout, then SIGKILL; say which it took."""
    denied = [b for b in beats if _signal(b, signal.SIGTERM) == "denied"]
    if denied:
        return _permission_denied(action, denied, config)
    timeout = config.beat.stop_timeout
    cut_short = _KILL_NOW.setdefault(config.project_id, threading.Event())
    survivors = _wait_gone(beats, timeout, cut_short)
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
    if killed and cut_short.is_set():
        message = (f"Beat (pid {pids}) was killed with SIGKILL when asked (Kill now), before "
                   f"the {timeout:g} s it had after SIGTERM ran out. It could not save its "
                   "schedule state on the way out.")
    elif killed:
        message = (f"Beat (pid {pids}) did not stop within {timeout:g} s of SIGTERM, so it was "
                   "killed with SIGKILL. It could not save its schedule state on the way out.")
    if killed:
        left = _remove_stale_pidfile(config.beat.pidfile, [b.pid for b in beats])
        if left is not None:
            message += f" Its pidfile {config.beat.pidfile} was left in place: {left}."
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
        fresh = [b for b in check_status(config).processes if (b.pid, b.create_time) not in old_ids]
        if fresh:
            return fresh
        time.sleep(0.2)
    return []


def stop(config: Config) -> ActionResult:
    """Stop this project's beat: through its manager, else SIGTERM then SIGKILL."""
    return _exclusive(config, "stop", lambda: _stop(config))


def stop_extra(config: Config) -> ActionResult:
    """With two or more beats at once: stop all but the project's own (the one its
    pidfile names, else the one that started first), which goes on sending."""
    return _exclusive(config, "stop", lambda: _stop_extra(config))


def _stop_extra(config: Config) -> ActionResult:
    current = check_status(config)
    beats = [b for b in current.processes if not b.embedded and b.manager is None]
    if len(beats) < 2:
        return ActionResult("stop", True, "Only one beat runs: there is no extra beat to stop.",
                            old_pids=[])
    named = current.pidfile.beat.pid if current.pidfile and current.pidfile.beat else None
    kept = next((b for b in beats if b.pid == named), None) or \
        min(beats, key=lambda b: b.create_time)
    extra = [b for b in beats if b is not kept]
    stopped = _stop_beats(extra, config, "stop")
    if stopped.success:
        pids = ", ".join(str(b.pid) for b in extra)
        stopped.message = (f"Stopped the extra beat{'s' if len(extra) > 1 else ''} (pid "
                           f"{pids}); beat pid {kept.pid} goes on sending."
                           + (" It needed SIGKILL." if stopped.killed else ""))
    return stopped


def _standalone_beats(config: Config, action: str) -> tuple[list[BeatProcess],
                                                            ActionResult | None]:
    """The beats to signal ourselves, or the result when there are none: not running,
    only embedded in a worker, or under a manager (which then did the action)."""
    current = check_status(config)
    beats = current.processes
    if not beats:
        return [], _not_running(action, config, left_alone(current, config))
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
    try:  # before beat is stopped: a start that cannot happen must not cost the running beat
        check_launch_files(spec)
    except UntrustedPathError as exc:
        return ActionResult("restart", False, _refused_file(
            exc, "Not restarting, because beat could not be started again") +
            " Beat keeps running.", old_pids=[b.pid for b in standalone])
    stopped = _stop_beats(standalone, config, "restart")
    if not stopped.success:
        return stopped
    started = _launch(spec, config, "restart")
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
