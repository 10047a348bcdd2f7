"""Check what beat depends on: the broker, the workers and beat itself, each probe with
its own hard deadline, run at the same time, off the caller's thread.

`HealthChecker(config).check()` blocks for about the ping timeout (1 s) plus the start
of the probes, and never more than the deadline (2.5 s by default) plus the reap, however
the broker behaves. Call it from a worker thread, never from the GUI thread. One checker
per panel keeps the workers' queues and registered tasks for `details_ttl` seconds, so a
refresh asks each worker only for its pid, and remembers when each worker was last seen.
"""

from __future__ import annotations

import shlex
import socket
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import PurePath

from beat_panel.config import Config
from beat_panel.control.states import Phase
from beat_panel.control.status import Status, check_status
from beat_panel.health import beat_node
from beat_panel.health.deadline import DEFAULT_DEADLINE, ProbeRun, run_probe
from beat_panel.health.report import (
    AppRedbeat,
    BeatHealth,
    BeatPing,
    BrokerHealth,
    Health,
    MissingWorker,
    Problem,
    StoreHealth,
    WorkerHealth,
    WorkersHealth,
    sort_problems,
)
from beat_panel.process import argv as argv_parser
from beat_panel.process import identity
from beat_panel.schedule.redbeat.target import RedisTarget, error_text, mask_url, place_of

DEFAULT_PING_TIMEOUT = 1.0  # as `celery inspect ping`: every node may answer
DEFAULT_SOCKET_TIMEOUT = 1.0  # connect and read on the broker, inside the probe
DETAILS_TTL = 60.0  # how long a worker's queues and registered tasks are kept
MISSING_TTL = 600.0  # how long a worker that stopped answering is reported missing
ROUTES_TTL = 60.0
DEFAULT_QUEUE = "celery"


@dataclass(frozen=True)
class _Details:
    pid: int | None
    queues: tuple[str, ...] | None
    registered: tuple[str, ...] | None
    at: float  # monotonic, for the cache's age
    fetched_at: float  # wall clock, for people


@dataclass(frozen=True)
class Route:
    """Where a task sent with some options goes: its queue (`source` says how it was
    found: "options", "app" or "default"), or `error` when the app's routes could not
    be read (the queue is then the entry's own or the default)."""

    task: str
    queue: str
    source: str
    error: str | None = None
    registered_in_app: bool | None = None

    def to_json(self) -> dict:
        return {"task": self.task, "queue": self.queue, "source": self.source,
                "error": self.error, "registered_in_app": self.registered_in_app}


RouteKey = tuple[str, str | None, str | None, str | None]  # task, queue, exchange, key


def route_key(task: str, options: dict | None = None) -> RouteKey:
    options = options or {}
    return (task, options.get("queue"), options.get("exchange"), options.get("routing_key"))


class HealthChecker:
    """Runs health checks for one project and keeps what may be kept between them."""

    def __init__(self, config: Config, deadline: float = DEFAULT_DEADLINE,
                 ping_timeout: float = DEFAULT_PING_TIMEOUT,
                 socket_timeout: float = DEFAULT_SOCKET_TIMEOUT,
                 details_ttl: float = DETAILS_TTL, routes_ttl: float = ROUTES_TTL) -> None:
        self.config = config
        self.deadline = deadline
        self.ping_timeout = ping_timeout
        self.socket_timeout = socket_timeout
        self.details_ttl = details_ttl
        self.routes_ttl = routes_ttl
        self._lock = threading.Lock()
        self._details: dict[str, _Details] = {}
        self._last_seen: dict[str, float] = {}
        self._routes: dict[RouteKey, tuple[Route, float]] = {}

    # -- the check ------------------------------------------------------------------

    def check(self, status: Status | None = None) -> Health:
        """Check broker, workers and beat now (see the module docstring for how long it
        takes). `status`: a status check the caller already has, else one is made."""
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=3, thread_name_prefix="health") as pool:
            target = self.config.schedule_redis
            broker_run = pool.submit(self._probe, "broker", {
                "timeout": self.socket_timeout, "redbeat": target is not None})
            store_run = pool.submit(check_store, target) if target is not None else None
            if status is None:
                status = check_status(self.config)
            remote = _remote_control(status)
            workers_run = pool.submit(self._probe, "workers", self._workers_options(remote))
            broker_answer = broker_run.result()
            broker = self._broker(broker_answer)
            workers, beat_nodes, beat_node_name, beat_remote = \
                self._workers(workers_run.result())
            store = store_run.result() if store_run is not None else None
        if store is not None:
            said = broker_answer.data if broker_answer.data is not None \
                else broker_answer.partial
            store = replace(store, app=AppRedbeat.from_json(said.get("redbeat")))
        beat = _beat(status, remote, beat_node_name, beat_remote, beat_nodes, workers)
        problems = _problems(broker, workers, beat, self.config.beat.app, store, target,
                             self.config.beat.command)
        return Health(broker, workers, beat, problems, time.time(),
                      (time.monotonic() - started) * 1000, store)

    def _probe(self, command: str, options: dict) -> ProbeRun:
        return run_probe(self.config, command, options, self.deadline)

    def _workers_options(self, remote: beat_node.RemoteControl | None) -> dict:
        now = time.monotonic()
        with self._lock:
            cached = {name: d.pid for name, d in self._details.items()
                      if now - d.at < self.details_ttl and d.queues is not None
                      and d.registered is not None}
        options: dict = {"timeout": self.ping_timeout, "cached": cached}
        if remote is not None:
            options.update(remote.to_probe())
        return options

    def _broker(self, run: ProbeRun) -> BrokerHealth:
        data = run.data if run.data is not None else run.partial
        error = data.get("error") if run.data is not None else run.error
        if run.timed_out:
            # A reason only: each face puts it after its own "cannot be reached: ".
            error = f"no answer within {self.deadline:g} s"
        return BrokerHealth(
            ok=bool(data.get("ok")) and run.data is not None,
            url=str(data.get("url") or ""), latency_ms=_number(data.get("latency_ms")),
            error=None if data.get("ok") and run.data is not None else (error or "unknown"),
            transport=data.get("transport"), timed_out=run.timed_out,
            checked_at=time.time(), elapsed_ms=run.elapsed * 1000)

    def _workers(self, run: ProbeRun
                 ) -> tuple[WorkersHealth, list[str], str | None, bool | None]:
        now, wall = time.monotonic(), time.time()
        data = run.data
        if data is None or not data.get("ok"):
            error = run.error if data is None else data.get("error")
            if run.timed_out:
                # A reason only: each face puts it after its own "could not be asked: ".
                error = f"no answer within {self.deadline:g} s"
            return (WorkersHealth(False, error=error, ping_timeout=self.ping_timeout,
                                  checked_at=wall, elapsed_ms=run.elapsed * 1000,
                                  timed_out=run.timed_out,
                                  broker_unreachable=bool((data or {}).get(
                                      "broker_unreachable"))),
                    [], None, None)
        found = []
        with self._lock:
            for item in data.get("workers") or []:
                name = str(item.get("name"))
                reported = item.get("pid") if isinstance(item.get("pid"), int) else None
                details = self._details.get(name)
                if item.get("queues") is not None or item.get("registered") is not None \
                        or details is None or details.pid != reported:
                    details = _Details(reported, _names(item.get("queues")),
                                       _names(item.get("registered")), now, wall)
                    self._details[name] = details
                self._last_seen[name] = wall
                local = _is_local_worker(name, reported)
                found.append(WorkerHealth(
                    name, reported if local else None, details.queues, details.registered,
                    reported_pid=reported, local=local, last_seen=wall,
                    details_at=details.fetched_at))
            answered = {w.name for w in found}
            for name, seen in list(self._last_seen.items()):
                if name not in answered and wall - seen > MISSING_TTL:
                    del self._last_seen[name]
                    self._details.pop(name, None)
            missing = tuple(MissingWorker(name, seen)
                            for name, seen in sorted(self._last_seen.items())
                            if name not in answered)
        workers = WorkersHealth(True, tuple(found), None, missing, self.ping_timeout, wall,
                                run.elapsed * 1000)
        beat_nodes = [str(n) for n in data.get("beat_nodes") or []]
        return workers, beat_nodes, data.get("beat_node"), data.get("beat_remote")

    # -- routes ---------------------------------------------------------------------

    def routes(self, items: Iterable[tuple[str, dict | None]]) -> dict[RouteKey, Route]:
        """The queue each (task, options) goes to, by the app's own router (in a probe,
        cached for `routes_ttl`). Blocks up to the deadline."""
        wanted = {route_key(task, options) for task, options in items}
        now = time.monotonic()
        with self._lock:
            known = {k: r for k, (r, at) in self._routes.items()
                     if k in wanted and now - at < self.routes_ttl}
        ask = sorted(wanted - set(known), key=lambda k: tuple(str(p) for p in k))
        if not ask:
            return known
        entries = [{"task": task, "options": {k: v for k, v in (
            ("queue", queue), ("exchange", exchange), ("routing_key", key)) if v}}
            for task, queue, exchange, key in ask]
        run = self._probe("routes", {"entries": entries})
        answers = (run.data or {}).get("routes") if run.data and run.data.get("ok") else None
        error = None if answers is not None else (
            (run.data or {}).get("error") or run.error or "unknown")
        default = str((run.data or {}).get("default_queue") or DEFAULT_QUEUE)
        found: dict[RouteKey, Route] = {}
        for i, key in enumerate(ask):
            answer = answers[i] if answers is not None and i < len(answers) else None
            found[key] = _route(key, answer, error, default)
        with self._lock:
            if answers is not None:  # a failed look is not kept: the next may work
                for key, route in found.items():
                    self._routes[key] = (route, now)
        return {**known, **found}


def _route(key: RouteKey, answer: dict | None, error: str | None, default: str) -> Route:
    task, queue = key[0], key[1]
    if answer is not None and answer.get("queue") and not answer.get("error"):
        source = "options" if queue else "app" if answer["queue"] != default else "default"
        return Route(task, str(answer["queue"]), source,
                     registered_in_app=answer.get("in_app"))
    why = (answer or {}).get("error") or error
    if queue:
        return Route(task, queue, "options", error=why)
    return Route(task, default, "default", error=why)


def worker_command(app: str | None, command: Sequence[str] = (),
                   queue: str | None = None) -> str:
    """The command that starts a worker for `app` (consuming `queue`), ready to paste in
    a shell: the celery program of the config's [beat] command when it names one (the
    panel's own for the demo: `celery` need not be on the PATH), else `celery`."""
    celery = tuple(command) if command and PurePath(command[-1]).name == "celery" \
        else ("celery",)
    return shlex.join([*celery, "-A", app or "APP", "worker",
                       *(("-Q", queue) if queue else ())])


def check_health(config: Config, deadline: float = DEFAULT_DEADLINE) -> Health:
    """One check with a new checker (nothing cached): the CLI's `health`."""
    return HealthChecker(config, deadline=deadline).check()


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) \
        else None


def _names(value: object) -> tuple[str, ...] | None:
    return tuple(str(v) for v in value) if isinstance(value, list) else None


def _host_names() -> set[str]:
    name = socket.gethostname()
    return {name, name.split(".")[0], "localhost"}


def _is_local_worker(node: str, pid: int | None) -> bool:
    """The worker runs on this machine: its node's host is this one and its pid here is
    a celery worker."""
    host = node.split("@", 1)[1] if "@" in node else node
    if pid is None or host not in _host_names():
        return False
    raw = identity.read_cmdline(pid)
    command = argv_parser.parse(argv_parser.split_cmdline(raw)) if raw else None
    return command is not None and command.kind in (argv_parser.Kind.WORKER,
                                                    argv_parser.Kind.EMBEDDED)


def _remote_control(status: Status) -> beat_node.RemoteControl | None:
    for process in status.processes:
        found = beat_node.remote_control(process)
        if found is not None:
            return found
    return None


def _beat(status: Status, remote: beat_node.RemoteControl | None, node: str | None,
          enabled: bool | None, answered: Sequence[str], workers: WorkersHealth
          ) -> BeatHealth:
    """Beat's status, and what its own ping said when it could be asked."""
    if not status.running:
        return BeatHealth(status)
    if remote is None:
        return BeatHealth(status, ping_note="beat runs inside a worker (-B) or its command "
                                            "line cannot be read: it is not pinged")
    if not workers.checked:
        return BeatHealth(status, ping_note=_unasked_note(workers))
    if enabled is None:
        return BeatHealth(status, ping_note="not pinged: this Celery has no remote control "
                                            "for beat (5.7 and later have it)")
    if node in answered:
        return BeatHealth(status, node, BeatPing.ANSWERED)
    if not enabled:
        return BeatHealth(status, node, ping_note="not pinged: beat runs without "
                                                   "--enable-remote-control")
    return BeatHealth(status, node, BeatPing.SILENT,
                      ping_note=f"beat did not answer its ping as {node} within "
                                f"{workers.ping_timeout:g} s")


def _unasked_note(workers: WorkersHealth) -> str:
    """Why beat's own ping has no answer when the workers' check (which sends it) failed:
    what happened, not a guess (a check that timed out says nothing of the broker)."""
    if workers.broker_unreachable:
        return "not pinged: the workers' check could not reach the broker"
    if workers.timed_out:
        return f"not known: the workers' check, which pings beat too, got {workers.error}"
    return f"not pinged: the workers could not be asked ({workers.error or 'unknown'})"


STORE_TIMEOUT = 1.0  # seconds for the schedule's Redis to answer a PING


def check_store(target: RedisTarget) -> StoreHealth:
    """PING the Redis of a RedBeat schedule, with the store's short timeouts."""
    import redis

    client = target.client(STORE_TIMEOUT)
    started = time.perf_counter()
    try:
        client.ping()
        latency = (time.perf_counter() - started) * 1000
        try:
            place = place_of(client, answered=True)
        except redis.RedisError:  # INFO refused (renamed by an ACL): where it was sought
            place = place_of(client, answered=False)
    except redis.RedisError as exc:
        error = error_text(exc, target.url)
        return StoreHealth(False, mask_url(target.url), None, error,
                           place_of(client, answered=False))
    finally:
        client.close()
    return StoreHealth(True, mask_url(target.url), latency, place=place)


def _elsewhere(store: StoreHealth, target: RedisTarget) -> list[Problem]:
    """The app's own RedBeat beat reads another Redis, database or prefix than the one the
    panel edits (its edits then never run), or takes another lock (the panel cannot tell
    whether it runs)."""
    app = store.app
    if app is None or app.error is not None:
        return []
    edits = f"the panel edits {store.url}, keys {target.key_prefix}*"
    fix = ("Point [schedule] redis_url and key_prefix where the app's redbeat_redis_url "
           "and redbeat_key_prefix point, or the other way round.")
    source = "broker_url, as redbeat_redis_url is not set" if app.url_from == "broker_url" \
        else app.url_from
    where = f"{app.shown} (from {source})"
    if app.place is not None and store.place is not None and \
            not app.place.same_as(store.place):
        return [Problem("schedule_elsewhere", f"The app's RedBeat beat reads its schedule "
                                              f"from {where}, but {edits}: that beat never "
                                              f"runs these entries. {fix}")]
    if app.key_prefix is not None and app.key_prefix != target.key_prefix:
        return [Problem("schedule_elsewhere", f"The app's RedBeat beat reads the keys "
                                              f"{app.key_prefix}* (redbeat_key_prefix), but "
                                              f"{edits}: that beat never runs these "
                                              f"entries. {fix}")]
    if app.lock_key is not None and app.lock_key != target.lock:
        return [Problem("redbeat_lock_elsewhere", f"The app's RedBeat beat takes the lock "
                                                  f"{app.lock_key} (redbeat_lock_key), but "
                                                  f"the panel looks at {target.lock}: it "
                                                  "cannot tell whether that beat runs. Set "
                                                  "[schedule] lock_key to the app's.")]
    return []


def _problems(broker: BrokerHealth, workers: WorkersHealth, beat: BeatHealth,
              app: str | None, store: StoreHealth | None = None,
              target: RedisTarget | None = None, command: Sequence[str] = ()
              ) -> tuple[Problem, ...]:
    found: list[Problem] = []
    status = beat.status
    if store is not None and not store.ok:
        found.append(Problem("schedule_store_unreachable", f"The schedule's Redis {store.url} "
                                                           f"cannot be reached: {store.error}. "
                                                           "A RedBeat beat cannot read its "
                                                           "entries."))
    if store is not None and target is not None:
        found += _elsewhere(store, target)
    if status.redbeat == "stale":
        found.append(Problem("redbeat_stale_lock", status.redbeat_note or "stale lock"))
    if status.state is Phase.ERROR:
        found.append(Problem("beat_unknown", status.message))
    elif status.redbeat in ("remote", "stale"):
        pass  # a beat elsewhere sends, or the stale lock above says what is wrong
    elif not status.running and not status.state.working:
        found.append(Problem("beat_not_running", "Beat is not running: no periodic task is "
                                                 "sent. Start it: beat-panel start"))
    for warning in status.duplicate_warnings:
        found.append(Problem("beat_duplicate", warning))
    if beat.ping is BeatPing.SILENT:
        found.append(Problem("beat_hung", f"Beat runs (pid {', '.join(map(str, status.pids))})"
                                          f" but did not answer its ping as {beat.node}: its "
                                          "scheduler has stopped ticking or it cannot reach "
                                          "the broker. Restart it: beat-panel restart"))
    if status.schedule_problem:
        found.append(Problem("schedule_problem", status.schedule_problem))
    if not broker.ok:
        where = broker.url or "of the app"
        found.append(Problem("broker_unreachable", f"The broker {where} cannot be reached: "
                                                   f"{broker.error}"))
    if not workers.checked:
        if broker.ok:  # with the broker down, that problem says it all
            found.append(Problem("workers_unknown", f"The workers could not be asked: "
                                                    f"{workers.error}"))
    elif not workers.workers:
        found.append(Problem("no_workers", f"No worker answered a ping within "
                                           f"{workers.ping_timeout:g} s: tasks beat sends "
                                           "wait in the broker. Start a worker: "
                                           f"{worker_command(app, command)}"))
    for gone in workers.missing:
        seen = time.strftime("%H:%M:%S", time.localtime(gone.last_seen))
        found.append(Problem("worker_missing", f"Worker {gone.name} no longer answers (last "
                                               f"seen at {seen})."))
    return sort_problems(found)

