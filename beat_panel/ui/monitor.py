"""The beat monitor: one per panel process, the single owner of "what is beat doing now".

It runs the status checks (a full scan on a timer, and at once when a known beat process
ends), the one start / stop / restart in flight, keep-alive, the activity log of
deaths and automatic restarts, and the alerts ([alerts]) they send beyond the desktop.
The window and the tray are views: they subscribe to its signals and send it actions, so
whatever either does, both show the same state.
"""

from __future__ import annotations

import enum
import logging
import signal
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Signal

from beat_panel import process
from beat_panel.config import Config
from beat_panel.control import actions, activity
from beat_panel.control.keepalive import KeepAlive
from beat_panel.control.outcomes import Level
from beat_panel.control.result import ActionResult
from beat_panel.control.states import Action, Phase
from beat_panel.control.status import Status, check_status
from beat_panel.ui.death_watch import DeathWatch
from beat_panel.ui.jobs import JobRunner
from beat_panel.ui.settings import PanelSettings
from beat_panel.ui.state_style import Trouble

if TYPE_CHECKING:  # loaded when first used: the window opens without them
    from beat_panel.alerts import Alerter
    from beat_panel.health import Health, HealthChecker

log = logging.getLogger(__name__)

MAX_REMEMBERED_EXITS = 64
SETTLE_POLL_MS = 1000  # while another process acts on beat, its status is checked this often


class Origin(str, enum.Enum):
    """Who asked for an action: the face that shows its outcome in full."""

    WINDOW = "window"
    TRAY = "tray"
    KEEP_ALIVE = "keep-alive"


@dataclass(frozen=True)
class Notice:
    """Something that happened without anyone here asking: a death, a comeback, a second
    beat, keep-alive stepping in or giving up."""

    level: Level
    title: str
    text: str
    offer_start: bool = False  # a death nobody restarts: offer Start and the log


class BeatMonitor(QObject):
    """Owns the checks, the action in flight, keep-alive and the record of what happened.

    `changed` is emitted whenever `status`, `in_flight` or `phase` may read differently.
    """

    changed = Signal()
    action_started = Signal(object, object)  # Action, Origin
    action_finished = Signal(object, object)  # ActionResult, Origin
    noticed = Signal(object)  # Notice
    activity_recorded = Signal()  # the activity log has a new line
    health_changed = Signal(object)  # Health

    def __init__(self, config: Config, settings: PanelSettings, runner: JobRunner,
                 keep_alive: KeepAlive | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.config = config
        self.settings = settings
        self.runner = runner
        self.keep_alive = keep_alive or KeepAlive()
        self.status: Status | None = None
        self.in_flight: Action | None = None
        self._generation = 0  # bumped when a check's answer may be out of date
        self._checking: int | None = None  # the generation of the check under way
        self._check_again = False
        # The pids our own last action started: the next status is its outcome, not a
        # surprise, unless those pids are gone already (then they died meanwhile).
        self._expected: list[int] | None = None
        self._expected_managed = False  # those pids belong to systemd / supervisord
        self._exits: dict[int, str] = {}  # pid -> how it ended, once known
        self.alerter = _alerter_for(config)  # None without [alerts]
        self._alerted_running: bool | None = None  # beat running, as last told the alerter
        # Health: checked in a job after a status check, at most once per refresh interval.
        self._checker: HealthChecker | None = None  # made at the first health check
        self.health: Health | None = None
        self.queues_without_worker: set[str] | None = None  # None: not known
        self._health_running = False
        self._health_started: float | None = None  # time.monotonic() of the last one
        self._health_now = False  # "Check now": the next health check ignores the interval
        self.watch = DeathWatch(self)
        self.watch.ended.connect(self._process_ended)
        self.timer = QTimer(self)
        self.timer.setInterval(settings.refresh_seconds * 1000)
        self.timer.timeout.connect(self.refresh)
        # While another process (the CLI) starts or stops beat, look again soon, not at
        # the next refresh: the faces would show "Restarting…" for up to its interval.
        self._settle = QTimer(self)
        self._settle.setSingleShot(True)
        self._settle.setInterval(SETTLE_POLL_MS)
        self._settle.timeout.connect(self.refresh)
        settings.changed.connect(self._setting_changed)

    # -- life ----------------------------------------------------------------------------

    def start(self) -> None:
        """Begin checking; checks go on until `shutdown`, whichever faces are open."""
        if not self.timer.isActive():
            self.timer.start()
            self.refresh()

    def shutdown(self) -> None:
        self.timer.stop()
        self._settle.stop()
        self.watch.clear()

    @property
    def phase(self) -> Phase | None:
        """What beat is doing as the faces should show it (None before the first check)."""
        if self.in_flight is not None:
            return self.in_flight.phase
        return self.status.state if self.status is not None else None

    @property
    def running(self) -> bool:
        return bool(self.status and self.status.running)

    @property
    def idle(self) -> bool:
        """Nothing is being done to beat, here or by another Beat Panel (the CLI): the
        faces offer Start / Stop / Restart only then."""
        return (self.in_flight is None and self.status is not None
                and not self.status.state.working)

    def set_config(self, config: Config) -> None:
        """Work on another project from now on."""
        self.config = config
        self.alerter = _alerter_for(config)
        self._alerted_running = None
        self._checker = None  # the old one's caches are the old project's
        self.health = None
        self.queues_without_worker = None
        self._health_started = None
        self._generation += 1
        self.status = None
        self._exits.clear()
        self.watch.clear()
        self.changed.emit()
        self.refresh()

    # -- checks ---------------------------------------------------------------------------

    @property
    def checking(self) -> bool:
        return self._checking is not None

    def refresh(self) -> None:
        """Check beat's status now (in a job); a request during a check runs after it.

        A check started before an action or a change of project is not waited for: its
        answer may be out of date, so it is dropped when it lands.
        """
        if self._checking == self._generation:
            self._check_again = True
            return
        generation = self._checking = self._generation
        self.runner.submit(_observe, self.config,
                           on_done=lambda seen: self._landed(*seen, generation),
                           on_error=lambda exc: self._check_failed(exc, generation))

    def check_now(self) -> None:
        """The person asked ("Check now"): beat's status, then health, even if health was
        checked less than a refresh interval ago."""
        self._health_now = True
        self.refresh()

    def _check_failed(self, error: Exception, generation: int) -> None:
        log.error("Status check failed", exc_info=(type(error), error, error.__traceback__))
        self._landed(Status(state=Phase.ERROR, error=str(error)), None, generation)

    def _landed(self, status: Status, last_action_at: float | None, generation: int) -> None:
        if self._checking == generation:
            self._checking = None
        if generation != self._generation:
            if self._checking is None:
                self.refresh()  # asked before an action or a new project: ask again
            return
        previous, self.status = self.status, status
        if self._expected is not None:
            started, self._expected = self._expected, None
            if started and not status.running and status.state is Phase.STOPPED:
                self._died(started, restartable=not self._expected_managed)
        elif previous is not None and self.in_flight is None:
            acted_elsewhere = last_action_at is not None and \
                last_action_at >= previous.checked_at
            self._notice(previous, status, acted_elsewhere)
        if self.in_flight is None and status.state in (Phase.RUNNING, Phase.STOPPED):
            # Settled only: a start under way may show its beat for the moment it lives.
            if status.running and not self._alerted_running and self.alerter is not None:
                self.alerter.beat_running(status.message)  # clears a death or a give-up
                self._send_alerts()
            self._alerted_running = status.running
        self.watch.watch(status.processes)
        if status.state.working and self.in_flight is None:
            self._settle.start()  # someone else's action: look again soon
        if previous is not None and previous.running != status.running:
            self._health_now = True  # what health says of beat is out of date now
        self.changed.emit()
        if self._check_again:
            self._check_again = False
            self.refresh()
        else:
            self._check_health(status)

    # -- health ----------------------------------------------------------------------------

    @property
    def trouble(self) -> Trouble | None:
        """What the last health check found that keeps beat's sends from a worker: the
        broker unreachable, or a queue the entries need that no answering worker consumes."""
        health = self.health
        if health is None:
            return None
        if not health.broker.ok and health.broker.url:
            # (No URL: the app itself could not be read, which says nothing of the broker.)
            return Trouble("broker_unreachable", f"The broker {health.broker.url} cannot be "
                                                 f"reached: {health.broker.error}")
        if self.queues_without_worker:
            names = ", ".join(repr(q) for q in sorted(self.queues_without_worker))
            return Trouble("no_worker_for_queue",
                           f"No worker consumes queue {names} that the schedule's entries "
                           "are sent to: those tasks wait in the broker.")
        return None

    def _check_health(self, status: Status) -> None:
        """Check health in a job unless one runs, or one started less than a refresh
        interval ago (a little slack: the timer's checks land at slightly uneven times)."""
        now = time.monotonic()
        interval = self.settings.refresh_seconds
        if self._health_running:
            return  # a "Check now" meanwhile waits for the next status check
        if not self._health_now and self._health_started is not None \
                and now - self._health_started < interval * 0.8:
            return
        self._health_now = False
        self._health_running = True
        self._health_started = now
        checker = self.checker
        self.runner.submit(_health, checker, self.config, status,
                           on_done=lambda seen: self._health_landed(checker, *seen),
                           on_error=lambda exc: self._health_failed(exc))

    @property
    def checker(self) -> HealthChecker:
        """The project's health checker (its caches of workers' queues and tasks)."""
        if self._checker is None:
            from beat_panel.health import HealthChecker  # not at start: it costs the window

            self._checker = HealthChecker(self.config)
        return self._checker

    def _health_failed(self, error: Exception) -> None:
        self._health_running = False
        log.error("Health check failed", exc_info=(type(error), error, error.__traceback__))

    def _health_landed(self, checker: HealthChecker, health: Health,
                       queues: set[str] | None) -> None:
        self._health_running = False
        if checker is not self.checker:
            return  # the project changed meanwhile
        self.health = health
        self.queues_without_worker = queues
        if health.broker.url:  # without it the app could not be read: nothing is known
            self.observe_health(health.broker.ok, health.broker.error, queues)
        self.health_changed.emit(health)
        self.changed.emit()
        if self.status is not None and health.beat.status.running != self.status.running:
            # Beat started or stopped while it ran: its problems are of the old state.
            self._health_now = True
            self._check_health(self.status)

    def _process_ended(self, pid: int) -> None:
        if len(self._exits) >= MAX_REMEMBERED_EXITS:
            self._exits.pop(next(iter(self._exits)))
        self._exits[pid] = _how_it_ended(pid)
        log.info("Beat process %d ended: %s", pid, self._exits[pid])
        self.refresh()

    # -- what nobody here asked for --------------------------------------------------------

    def _notice(self, before: Status, after: Status, acted_elsewhere: bool) -> None:
        """Tell about changes nobody here asked for. A change that another Beat Panel
        process (the CLI, a script) made and recorded is no surprise: no notice."""
        if acted_elsewhere:
            return
        if before.state is Phase.RUNNING and before.running and after.state is Phase.STOPPED:
            # Keep-alive starts only beats it could have started itself: never beside a
            # service manager (it restarts its own) or in place of a worker's -B beat.
            self._died(before.pids, restartable=all(
                not p.embedded and p.manager is None for p in before.processes))
        elif not before.running and after.running and not before.state.working:
            self._tell(Level.INFO, "Beat is running again", after.message)
        elif after.count > before.count and after.count > 1:
            self._tell(Level.ERROR, "A second beat appeared",
                       f"{after.count} beats are running (pids "
                       f"{', '.join(map(str, after.pids))}): every task is sent "
                       f"{after.count} times.")

    def _died(self, pids: list[int], restartable: bool = True) -> None:
        how = "; ".join(self._exits.get(p) or _how_it_ended(p) for p in pids)
        text = f"Beat stopped without anyone asking: {how}. Periodic tasks are not being sent."
        records = [(activity.Kind.DIED, False, text)]
        if self.alerter is not None:
            self.alerter.beat_died(text)
            self._send_alerts()
        if not restartable and self.settings.keep_alive:
            self._tell(Level.WARNING, "Beat stopped unexpectedly",
                       f"{text} It ran under a service manager or inside a worker, so "
                       "keep-alive leaves restarting it to them.")
        elif not self.settings.keep_alive:
            self._tell(Level.WARNING, "Beat stopped unexpectedly", text, offer_start=True)
        else:
            records += self._keep_alive_step(text)
        self._record(records)

    def _keep_alive_step(self, text: str) -> list[tuple[activity.Kind, bool, str]]:
        """Start beat again if keep-alive still may; else give up and say so."""
        if self.keep_alive.allow():
            count = len(self.keep_alive.attempts)
            records = [(activity.Kind.KEEP_ALIVE, True,
                        f"Keep-alive is starting beat again (restart {count} of at most "
                        f"{self.keep_alive.max_restarts} in "
                        f"{self.keep_alive.window / 60:g} minutes).")]
            self._tell(Level.WARNING, "Beat stopped unexpectedly",
                       f"{text} Keep-alive is starting it again.")
            self.run_action(Action.START, Origin.KEEP_ALIVE)
            return records
        limit = self.keep_alive.describe_limit()
        # Keep-alive is off now, and every face shows it off: a person turns it on.
        self.settings.set_keep_alive(False)
        self._tell(Level.ERROR, "Beat stopped unexpectedly", f"{text} {limit}")
        if self.alerter is not None:
            self.alerter.keepalive_gave_up(f"{text} {limit}")
            self._send_alerts()
        return [(activity.Kind.GAVE_UP, False, limit)]

    def observe_health(self, broker_ok: bool, broker_error: str | None,
                       queues_without_worker: set[str] | None) -> None:
        """A health check's answer, for the alerts: the broker answered or not (its error,
        password masked), and the queues no worker consumes (None: not known). Call it on
        the GUI thread with each health refresh; it returns at once."""
        if self.alerter is not None:
            self.alerter.observe_health(broker_ok, broker_error, queues_without_worker)
            self._send_alerts()

    def _send_alerts(self) -> None:
        """Send what the alerter was told, in a job (SMTP may take its whole timeout)."""
        assert self.alerter is not None
        self.runner.submit(self.alerter.drain,
                           on_done=lambda sent: sent and self.activity_recorded.emit())

    def _tell(self, level: Level, title: str, text: str, offer_start: bool = False) -> None:
        self.noticed.emit(Notice(level, title, text, offer_start))

    def _record(self, records: list[tuple[activity.Kind, bool, str]]) -> None:
        """Append to the activity log in one job, so the lines keep their order."""
        project = self.config.project_id

        def write() -> None:
            for kind, success, message in records:
                activity.record(project, kind, success, message)

        self.runner.submit(write, on_done=lambda _: self.activity_recorded.emit())

    # -- actions -------------------------------------------------------------------------

    def run_action(self, action: Action | str, origin: Origin) -> bool:
        """Start, stop or restart in a job; False when another action is in flight."""
        action = Action(action)
        if self.in_flight is not None:
            return False
        if origin is not Origin.KEEP_ALIVE:
            self.keep_alive.reset()  # a person took over
        self.in_flight = action
        self._generation += 1
        actions.forget_kill_now(self.config)
        self.action_started.emit(action, origin)
        self.changed.emit()
        self.runner.submit(getattr(actions, action.value), self.config,
                           on_done=lambda result: self._action_done(result, origin),
                           on_error=lambda exc: self._action_failed(exc, action, origin))
        return True

    def stop_extra(self, origin: Origin) -> bool:
        """Two beats at once: stop all but the project's own, as a Stop in flight."""
        if self.in_flight is not None:
            return False
        self.keep_alive.reset()
        self.in_flight = Action.STOP
        self._generation += 1
        actions.forget_kill_now(self.config)
        self.action_started.emit(Action.STOP, origin)
        self.changed.emit()
        self.runner.submit(actions.stop_extra, self.config,
                           on_done=lambda result: self._action_done(result, origin),
                           on_error=lambda exc: self._action_failed(exc, Action.STOP, origin))
        return True

    def _action_failed(self, error: Exception, action: Action, origin: Origin) -> None:
        log.error("%s failed", action.label, exc_info=(type(error), error, error.__traceback__))
        self._action_done(ActionResult(action, False, f"Beat Panel failed while trying to "
                                                      f"{action.value} beat: {error}"), origin)

    def _action_done(self, result: ActionResult, origin: Origin) -> None:
        self.in_flight = None
        self._generation += 1
        self._expected = list(result.new_pids) if result.success else []
        self._expected_managed = result.manager is not None
        # State first, the outcome last: a face may answer the outcome with a message
        # box, and nothing here may wait for a person to close it.
        self.changed.emit()
        self.refresh()
        self.activity_recorded.emit()  # the core recorded the action itself
        self.action_finished.emit(result, origin)
        if origin is Origin.KEEP_ALIVE and not result.success and self.settings.keep_alive:
            # A restart that failed is one more death: try again while allowed, then stop.
            self._record(self._keep_alive_step(f"Keep-alive could not start beat: "
                                               f"{result.message}"))

    # -- settings ------------------------------------------------------------------------

    def _setting_changed(self, name: str) -> None:
        if name == "refresh_seconds":
            self.timer.setInterval(self.settings.refresh_seconds * 1000)
            self.changed.emit()
        elif name == "keep_alive":
            if self.settings.keep_alive:
                self.keep_alive.reset()
                if self.status is not None and self.status.state is Phase.STOPPED:
                    self._tell(Level.INFO, "Keep-alive is on",
                               "Beat is not running now. Keep-alive starts it again when it "
                               "dies; start it yourself to begin.")
            self.changed.emit()


def _observe(config: Config) -> tuple[Status, float | None]:
    """One check (in a job): beat's status, and when any Beat Panel last acted on it."""
    status = check_status(config)
    return status, activity.last_action_at(config.project_id)


def _health(checker: HealthChecker, config: Config,
            status: Status) -> tuple[Health, set[str] | None]:
    """One health check (in a job), and the queues the enabled entries are sent to that no
    answering worker consumes (None when that cannot be known)."""
    health = checker.check(status)
    return health, _queues_without_worker(checker, config, health)


def _alerter_for(config: Config) -> Alerter | None:
    """The alerter of a config with [alerts]; without one the alerts are not loaded."""
    if config.alerts is None:
        return None
    from beat_panel.alerts import Alerter

    return Alerter.for_config(config)


def _queues_without_worker(checker: HealthChecker, config: Config,
                           health: Health) -> set[str] | None:
    from beat_panel.health import WhyError
    from beat_panel.health.check import route_key
    from beat_panel.health.why import load_schedule

    workers = health.workers
    if not workers.checked or not workers.queues_known or \
            (config.schedule_file is None and config.schedule_redis is None):
        return None
    try:
        document, _error = load_schedule(config)
    except WhyError:
        return None
    items = [(e.task, {k: v for k, v in e.options.to_json().items()
                       if k in ("queue", "exchange", "routing_key")})
             for e in document.entries if e.enabled]
    if not items:
        return set()
    routes = checker.routes(items)
    queues = {routes[route_key(task, options)].queue for task, options in items
              if route_key(task, options) in routes}
    return {q for q in queues if not workers.consumers(q)}


def _how_it_ended(pid: int) -> str:
    """One clause for a person: how process `pid` ended, as far as it can be known."""
    code = process.exit_status(pid)
    if code is None:
        return f"pid {pid} ended; this panel did not start it, so how is not known"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"pid {pid} was killed by {name}"
    return f"pid {pid} exited with status {code}"
