"""Why did an entry not run, and will it? One answer per entry naming each reason that
applies, in the order a person would fix them: beat, its schedule, the entry, the broker,
the workers, the task, the last send.

`explain(config, name)` answers for one entry (the CLI's `why`); `explain_all` answers for
every entry from one health check (the editor's column). Both block for a health check
and a look at the app's routes, run at the same time (about 1.5 s, at most the checker's
deadline): call them off the GUI thread. `answer` is the pure part, given the facts.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

from beat_panel import schedule
from beat_panel.celeryapp.tasknames import BUILTIN_PREFIX, closest_names
from beat_panel.config import Config
from beat_panel.errors import PanelError
from beat_panel.health.check import HealthChecker, Route, RouteKey, route_key, worker_command
from beat_panel.health.probe import mask
from beat_panel.health.report import BeatPing, Health
from beat_panel.schedule import Document, Entry, ScheduleError
from beat_panel.schedule.beat_report import BeatReport, last_good_path, read_beat_report
from beat_panel.schedule.source import RedisSource
from beat_panel.schedule.store import ScheduleStore
from beat_panel.schedule.timing import BeatClock
from beat_panel.schedule.views import EntryView, build_views, clock_for


class WhyError(PanelError):
    """The question cannot be asked: no schedule file, or no entry of that name."""


class ScheduleUnavailable(WhyError):
    """The schedule cannot be read now (its Redis is out of reach): a failure, not bad
    usage."""


class UnknownEntryError(WhyError):
    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        self.known = known
        names = ", ".join(known) if known else "none: the schedule is empty"
        super().__init__(f"No entry is named {name!r}. The entries are: {names}.")


class Code(str, enum.Enum):
    """The reasons, in the order they are given."""

    BEAT_NOT_RUNNING = "beat_not_running"
    BEAT_UNKNOWN = "beat_unknown"
    BEAT_HUNG = "beat_hung"
    SCHEDULE_NOT_APPLIED = "schedule_not_applied"
    SCHEDULE_ELSEWHERE = "schedule_elsewhere"  # the app's RedBeat beat reads another one
    DISABLED = "disabled"
    DONE = "done"  # a one-off that already ran
    MISSED = "missed"  # a one-off whose time passed with no beat to send it
    NOT_DUE = "not_due"
    BROKER_UNREACHABLE = "broker_unreachable"
    WORKERS_UNKNOWN = "workers_unknown"
    NO_WORKER_FOR_QUEUE = "no_worker_for_queue"
    TASK_NOT_REGISTERED = "task_not_registered"
    LAST_SEND_FAILED = "last_send_failed"

    def __str__(self) -> str:
        return self.value


# Whether a reason stops the next run (the rest explain, or are about the past).
BLOCKING: dict[Code, bool] = {
    Code.BEAT_NOT_RUNNING: True,
    Code.BEAT_UNKNOWN: False,
    Code.BEAT_HUNG: True,
    Code.SCHEDULE_NOT_APPLIED: True,
    Code.SCHEDULE_ELSEWHERE: True,
    Code.DISABLED: True,
    Code.DONE: True,
    Code.MISSED: True,
    Code.NOT_DUE: False,
    Code.BROKER_UNREACHABLE: True,
    Code.WORKERS_UNKNOWN: False,
    Code.NO_WORKER_FOR_QUEUE: True,
    Code.TASK_NOT_REGISTERED: True,
    Code.LAST_SEND_FAILED: False,
}


@dataclass(frozen=True)
class Reason:
    code: Code
    message: str

    @property
    def blocking(self) -> bool:
        return BLOCKING[self.code]

    def to_json(self) -> dict:
        return {"code": str(self.code), "message": self.message, "blocking": self.blocking}


@dataclass(frozen=True)
class WhyAnswer:
    name: str
    task: str
    will_run: bool
    next_run: datetime | None  # when it is due, in beat's zone (None: never, as it stands)
    reasons: tuple[Reason, ...]
    route: Route | None = None
    checked_at: float = 0.0

    @property
    def blocking(self) -> list[Reason]:
        return [r for r in self.reasons if r.blocking]

    @property
    def codes(self) -> list[str]:
        return [str(r.code) for r in self.reasons]

    def to_json(self) -> dict:
        return {"name": self.name, "task": self.task, "will_run": self.will_run,
                "next_run": self.next_run.isoformat() if self.next_run else None,
                "reasons": [r.to_json() for r in self.reasons],
                "queue": self.route.queue if self.route else None,
                "route": self.route.to_json() if self.route else None,
                "checked_at": self.checked_at}


@dataclass(frozen=True)
class Facts:
    """What every entry's answer is made from, gathered once."""

    health: Health
    routes: Mapping[RouteKey, Route]
    report: BeatReport | None
    schedule_path: Path | str  # the file, or the masked Redis URL of a RedBeat schedule
    clock: BeatClock
    schedule_error: str | None = None  # the file cannot be read (the last good copy is used)
    now: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    app: str | None = None  # the -A value, for the commands the messages suggest
    celery: tuple[str, ...] = ()  # [beat] command: the celery those commands name


# -- gathering the facts ---------------------------------------------------------------


def load_schedule(config: Config) -> tuple[Document, str | None]:
    """The schedule, and why the file cannot be used when it cannot (then the copy of
    the last one beat applied, if there is one)."""
    if config.schedule_redis is not None:
        loaded, _ = _redis_schedule(config)
        return loaded, None
    path = config.schedule_file
    if path is None:
        raise WhyError("No schedule file is configured. Add to beat-panel.toml:\n"
                       '[schedule]\nfile = "schedule.json"')
    try:
        return ScheduleStore(path).load().document, None
    except ScheduleError as exc:
        problem = str(exc)
    try:
        good = last_good_path(path)
        return schedule.loads(good.read_text(encoding="utf-8"), str(good)), problem
    except (OSError, ValueError, ScheduleError):
        return Document(), problem


def _redis_schedule(config: Config) -> tuple[Document, BeatReport]:
    """A RedBeat schedule and RedBeat's run state; WhyError when Redis cannot be read."""
    assert config.schedule_redis is not None
    try:
        loaded, report = RedisSource(config.schedule_redis).open()
    except ScheduleError as exc:
        raise WhyError(str(exc)) from None
    except PanelError as exc:
        raise ScheduleUnavailable(str(exc)) from None
    assert report is not None
    return loaded.document, report


def _routing(entry: Entry) -> dict:
    return {k: v for k, v in entry.options.to_json().items()
            if k in ("queue", "exchange", "routing_key")}


def gather(config: Config, document: Document, checker: HealthChecker,
           schedule_error: str | None = None, health: Health | None = None) -> Facts:
    """Check health (unless given) and look up the entries' routes, at the same time."""
    items = [(e.task, _routing(e)) for e in document.entries]
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="why-routes") as pool:
        routes = pool.submit(checker.routes, items) if items else None
        if health is None:
            health = checker.check()
        found = routes.result() if routes is not None else {}
    where: Path | str
    if config.schedule_redis is not None:
        _, report = _redis_schedule(config)
        where = config.schedule_redis.shown
    else:
        assert config.schedule_file is not None
        report, where = read_beat_report(config.schedule_file), config.schedule_file
    pids = [p.pid for p in health.beat.status.processes if not p.embedded]
    return Facts(health, found, report, where, clock_for(document, report, pids),
                 schedule_error, app=config.beat.app, celery=config.beat.command)


def explain(config: Config, name: str, checker: HealthChecker | None = None) -> WhyAnswer:
    """Why the entry `name` did not or will not run. UnknownEntryError for a name the
    schedule does not have; WhyError when no schedule file is configured."""
    document, error = load_schedule(config)
    entry = document.get(name)
    if entry is None and error:
        raise WhyError(f"The schedule file cannot be read: {error}. The last version beat "
                       f"applied has no entry named {name!r} either.")
    if entry is None:
        raise UnknownEntryError(name, document.names())
    single = replace(document, entries=(entry,))
    facts = gather(config, single, checker or HealthChecker(config), error)
    return answer_all(single, facts)[0]


def explain_all(config: Config, checker: HealthChecker | None = None,
                health: Health | None = None) -> list[WhyAnswer]:
    """An answer for every entry, from one health check (`health`, when the caller has
    a fresh one) and one look at the routes."""
    document, error = load_schedule(config)
    facts = gather(config, document, checker or HealthChecker(config), error, health)
    return answer_all(document, facts)


def answer_all(document: Document, facts: Facts) -> list[WhyAnswer]:
    views = build_views(document, facts.report, facts.now, facts.clock)
    return [answer(view, facts) for view in views]


# -- the answer ------------------------------------------------------------------------


def answer(view: EntryView, facts: Facts) -> WhyAnswer:
    """The answer for one entry (its view: next run in beat's zone), from the facts."""
    entry = view.entry
    route = facts.routes.get(route_key(entry.task, _routing(entry)))
    reasons = [*_beat_reasons(facts), *_entry_reasons(view, facts),
               *_delivery_reasons(entry, route, facts), *_last_send(entry, facts)]
    will_run = view.next_run is not None and not any(r.blocking for r in reasons)
    return WhyAnswer(entry.name, entry.task, will_run, view.next_run, tuple(reasons), route,
                     facts.health.checked_at)


def _beat_broker_error(report: BeatReport | None) -> str | None:
    """What beat's own report says about the broker: it cannot reach it (and retries)."""
    return report.broker_error if report is not None and report.broker_error else None


def _beat_reasons(facts: Facts) -> list[Reason]:
    beat = facts.health.beat
    status = beat.status
    found: list[Reason] = []
    if status.error is not None:
        found.append(Reason(Code.BEAT_UNKNOWN, status.message))
    elif status.redbeat in ("stale", "waiting") or \
            (status.redbeat == "unknown" and not status.running):
        # RedBeat: nothing sends while a killed beat's lock lasts; and with its Redis out
        # of reach, no beat here and no lock to say one runs elsewhere.
        found.append(Reason(Code.BEAT_NOT_RUNNING, status.redbeat_note or status.message))
    elif status.redbeat in ("remote", "standby"):
        pass  # a beat on another machine holds RedBeat's lock and sends
    elif not status.running:
        what = f" ({status.state})" if status.state.working else ""
        found.append(Reason(Code.BEAT_NOT_RUNNING, f"Beat is not running{what}: nothing "
                                                   "sends this task. Start it: beat-panel "
                                                   "start"))
    if beat.ping is BeatPing.SILENT:
        found.append(Reason(Code.BEAT_HUNG, f"Beat runs (pid {_pids(status.pids)}) but did "
                                            f"not answer its ping as {beat.node}: its "
                                            "scheduler is not ticking, so it sends nothing. "
                                            "Restart it: beat-panel restart"))
    found += _schedule_reasons(facts)
    return found


def _schedule_reasons(facts: Facts) -> list[Reason]:
    status = facts.health.beat.status
    found = [Reason(Code.SCHEDULE_ELSEWHERE, p.message) for p in facts.health.problems
             if p.code == "schedule_elsewhere"]
    if facts.schedule_error:
        found.append(Reason(Code.SCHEDULE_NOT_APPLIED,
                            f"The schedule file cannot be read: {facts.schedule_error}. Beat "
                            "keeps running the last version it applied; fix the file or "
                            "restore a saved version (beat-panel schedule history)."))
    standalone = [p for p in status.processes if not p.embedded]
    if not standalone or status.schedule_applied is True or status.redbeat_lock is not None:
        return found  # (RedBeat reads Redis at each tick: there is nothing to apply)
    if status.schedule_problem and not _beat_broker_error(facts.report):
        found.append(Reason(Code.SCHEDULE_NOT_APPLIED, status.schedule_problem))
    elif status.schedule_applied is False:
        found.append(Reason(Code.SCHEDULE_NOT_APPLIED,
                            "Beat has not applied the latest saved schedule: it still runs "
                            "an earlier version. It picks up a save within seconds; if it "
                            "does not, restart it: beat-panel restart"))
    elif facts.report is None or facts.report.pid not in status.pids:
        found.append(Reason(Code.SCHEDULE_NOT_APPLIED,
                            f"Beat runs (pid {_pids(p.pid for p in standalone)}) but not the "
                            f"panel's schedule {facts.schedule_path}: it never reported "
                            "loading it. Start it with the panel (beat-panel restart), or "
                            "with -S beat_panel.plugin:PanelScheduler; a beat that has only "
                            "just started reports within a tick."))
    return found


def _entry_reasons(view: EntryView, facts: Facts) -> list[Reason]:
    entry, clock = view.entry, facts.clock
    if not entry.enabled:
        return [Reason(Code.DISABLED, f"The entry is switched off. Switch it on: beat-panel "
                                      f"schedule enable {entry.name}")]
    if view.missed:
        return [Reason(Code.MISSED, "Its one run was due while no beat had it, so no beat "
                                    "will send it. Run it now: beat-panel schedule run "
                                    f"{entry.name}")]
    if view.next_run is None and entry.one_off and view.run_count > 0:
        return [Reason(Code.DONE, "It was a one-off and has run; it will not run again.")]
    if view.next_run is None:
        return []
    when = clock.text(view.next_run, "%Y-%m-%d %H:%M:%S %Z")
    return [Reason(Code.NOT_DUE, f"Not due yet: its next run is at {when} "
                                 f"({_from_now(view.next_run, facts.now)}).")]


def _delivery_reasons(entry: Entry, route: Route | None, facts: Facts) -> list[Reason]:
    health = facts.health
    found: list[Reason] = []
    beat_error = _beat_broker_error(facts.report)
    if not health.broker.ok:
        where = health.broker.url or "of the app"
        since = facts.report.broker_error_since if facts.report is not None else None
        beat_says = (f" Beat has been retrying since "
                     f"{time.strftime('%H:%M:%S', time.localtime(since))} and sends nothing "
                     "meanwhile." if beat_error and since is not None else "")
        found.append(Reason(Code.BROKER_UNREACHABLE, f"The broker {where} cannot be "
                                                     f"reached: {health.broker.error}"
                                                     f"{beat_says}"))
    elif beat_error and health.beat.status.running:
        found.append(Reason(Code.BROKER_UNREACHABLE,
                            f"Beat reports that it cannot reach its broker: "
                            f"{mask(beat_error)}"))
    workers = health.workers
    if not workers.checked:
        if health.broker.ok:
            found.append(Reason(Code.WORKERS_UNKNOWN,
                                f"The workers could not be asked: {workers.error}"))
        return found
    queue = route.queue if route is not None else entry.options.queue or "celery"
    how = _route_words(route, queue)
    consumers = workers.consumers(queue)
    if not workers.workers:
        found.append(Reason(Code.NO_WORKER_FOR_QUEUE,
                            f"No worker answered a ping within {workers.ping_timeout:g} s, "
                            f"so nothing consumes queue {queue!r} ({how}): sent tasks wait "
                            f"in the broker. Start one: "
                            f"{worker_command(facts.app, facts.celery, queue)}"))
    elif not consumers and workers.queues_known:
        others = "; ".join(f"{w.name}: {', '.join(w.queues or ()) or 'none'}"
                           for w in workers.workers)
        found.append(Reason(Code.NO_WORKER_FOR_QUEUE,
                            f"No worker consumes queue {queue!r} ({how}): sent tasks wait "
                            f"in the broker. The workers consume {others}. Start one with "
                            f"-Q {queue}, or send the entry to a queue they consume."))
    found += _registration(entry.task, queue, consumers, workers.workers)
    return found


def _registration(task: str, queue: str, consumers: list, answering: tuple) -> list[Reason]:
    if task.startswith(BUILTIN_PREFIX) or not answering or \
            any(w.registered is None for w in answering):
        return []
    registering = [w for w in answering if w.registers(task)]
    if not registering:
        known = sorted({t for w in answering for t in w.registered or ()})
        close = closest_names(task, known)
        hint = (" Did you mean " + " or ".join(repr(c) for c in close) + "?") if close else ""
        return [Reason(Code.TASK_NOT_REGISTERED,
                       f"No worker that answered registers the task {task!r}: a worker "
                       f"that receives it drops it (\"Received unregistered task\").{hint}")]
    if consumers and not any(w.registers(task) for w in consumers):
        return [Reason(Code.TASK_NOT_REGISTERED,
                       f"The workers that consume queue {queue!r} "
                       f"({', '.join(w.name for w in consumers)}) do not register the task "
                       f"{task!r}; {', '.join(w.name for w in registering)} register it but "
                       "do not consume that queue.")]
    return []


def _last_send(entry: Entry, facts: Facts) -> list[Reason]:
    """The entry's latest send failed (beat's report keeps `last_error` until a send
    succeeds; a report without it, or an older one, says nothing)."""
    failed = facts.report.last_error(entry.name) if facts.report is not None else None
    if failed is None:
        return []
    at, error = failed
    when = facts.clock.text(at, "%Y-%m-%d %H:%M:%S %Z")
    return [Reason(Code.LAST_SEND_FAILED, f"The last send, at {when}, failed: {mask(error)}")]


def _route_words(route: Route | None, queue: str) -> str:
    if route is None or route.source == "default":
        note = f"; the app's routes could not be read: {route.error}" \
            if route is not None and route.error else ""
        return f"the default queue{note}"
    if route.source == "options":
        return "from the entry's options"
    return "from the app's task_routes"


def _pids(pids: Iterable[int]) -> str:
    return ", ".join(str(p) for p in pids)


def _from_now(when: datetime, now: datetime) -> str:
    seconds = int((when - now).total_seconds())
    if seconds < 60:
        return f"in {max(seconds, 0)} s"
    if seconds < 3600:
        return f"in {seconds // 60} min"
    if seconds < 86400:
        return f"in {seconds // 3600} h {seconds % 3600 // 60} min"
    return f"in {seconds // 86400} days"
