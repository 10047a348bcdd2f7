"""What one health check found: the broker, the workers, beat, and the problems among
them, each with when it was checked. Plain data: the window, the tray and the CLI show it,
and `why` reads it to answer for one entry."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from beat_panel.control.status import Status
from beat_panel.schedule.redbeat.target import RedisPlace


class Level(str, enum.Enum):
    """How bad a problem is: an error stops sends (red), a warning may (amber)."""

    ERROR = "error"
    WARNING = "warning"

    def __str__(self) -> str:
        return self.value


# Every problem a health check can report, and how bad it is: one table, not ifs.
PROBLEM_LEVELS: dict[str, Level] = {
    "beat_not_running": Level.ERROR,
    "beat_unknown": Level.WARNING,  # the status check itself failed
    "beat_duplicate": Level.ERROR,
    "beat_hung": Level.ERROR,  # runs, but its own ping went unanswered
    "schedule_problem": Level.WARNING,
    "broker_unreachable": Level.ERROR,
    "workers_unknown": Level.WARNING,  # the workers could not be asked
    "no_workers": Level.WARNING,
    "worker_missing": Level.WARNING,  # answered an earlier check, not this one
    # A schedule in Redis: its Redis, and RedBeat's lock.
    "schedule_store_unreachable": Level.ERROR,
    "redbeat_stale_lock": Level.ERROR,  # a killed beat's lock: nothing sends until it ends
    "schedule_elsewhere": Level.ERROR,  # the app's beat reads another Redis or prefix
    "redbeat_lock_elsewhere": Level.WARNING,  # ...or takes another lock: liveness unknown
}


@dataclass(frozen=True)
class Problem:
    code: str
    message: str

    @property
    def level(self) -> Level:
        return PROBLEM_LEVELS[self.code]

    def to_json(self) -> dict:
        return {"code": self.code, "message": self.message, "level": str(self.level)}


@dataclass(frozen=True)
class AppRedbeat:
    """Where a RedBeat beat of the app reads its schedule, as the app's settings say
    (`url` masked; `url_from`: redbeat_redis_url, or broker_url when that is not set).
    `place` is None when it could not be told; `error` when the settings could not be
    read."""

    url: str | None = None
    url_from: str | None = None
    key_prefix: str | None = None
    lock_key: str | None = None
    place: RedisPlace | None = None
    error: str | None = None

    @classmethod
    def from_json(cls, data: object) -> AppRedbeat | None:
        if not isinstance(data, dict):
            return None

        def text(key: str) -> str | None:
            value = data.get(key)
            return value if isinstance(value, str) else None

        return cls(text("url"), text("url_from"), text("key_prefix"), text("lock_key"),
                   RedisPlace.from_json(data.get("place")), text("error"))

    @property
    def shown(self) -> str:
        return f"{self.url or '(no URL)'}, keys {self.key_prefix or '?'}*"

    def to_json(self) -> dict:
        return {"url": self.url, "url_from": self.url_from, "key_prefix": self.key_prefix,
                "lock_key": self.lock_key,
                "place": self.place.to_json() if self.place is not None else None,
                "error": self.error}


@dataclass(frozen=True)
class StoreHealth:
    """Can the Redis that holds a RedBeat schedule be reached (URL masked), which
    database it is, and where the app's own RedBeat beat reads (`app`, when known)."""

    ok: bool
    url: str
    latency_ms: float | None
    error: str | None = None
    place: RedisPlace | None = None
    app: AppRedbeat | None = None

    def to_json(self) -> dict:
        return {"ok": self.ok, "url": self.url, "latency_ms": self.latency_ms,
                "error": self.error,
                "place": self.place.to_json() if self.place is not None else None,
                "app": self.app.to_json() if self.app is not None else None}


@dataclass(frozen=True)
class BrokerHealth:
    """Can the app's broker be reached: `latency_ms` of one round trip when it can,
    `error` (password masked) when it cannot. `url` is masked too ("" when the app
    could not be read)."""

    ok: bool
    url: str
    latency_ms: float | None
    error: str | None
    transport: str | None = None
    timed_out: bool = False  # the probe was killed at its deadline
    checked_at: float = 0.0
    elapsed_ms: float = 0.0  # how long the probe took, start of the process included

    def to_json(self) -> dict:
        return {"ok": self.ok, "url": self.url, "latency_ms": self.latency_ms,
                "error": self.error, "transport": self.transport,
                "timed_out": self.timed_out, "checked_at": self.checked_at,
                "elapsed_ms": self.elapsed_ms}


@dataclass(frozen=True)
class WorkerHealth:
    """One worker that answered the ping. `pid` is given only when that pid is a celery
    worker on this machine (`reported_pid` is what the worker said). `queues` and
    `registered` are None when not known; they may come from a cache (`details_at`)."""

    name: str
    pid: int | None
    queues: tuple[str, ...] | None
    registered: tuple[str, ...] | None
    reported_pid: int | None = None
    local: bool = False
    last_seen: float = 0.0
    details_at: float | None = None

    def consumes(self, queue: str) -> bool | None:
        """Whether it consumes `queue`; None when its queues are not known."""
        return None if self.queues is None else queue in self.queues

    def registers(self, task: str) -> bool | None:
        return None if self.registered is None else task in self.registered

    def to_json(self) -> dict:
        return {"name": self.name, "pid": self.pid, "queues": list(self.queues or ()),
                "queues_known": self.queues is not None,
                "registered": list(self.registered) if self.registered is not None
                else None,
                "reported_pid": self.reported_pid, "local": self.local,
                "last_seen": self.last_seen, "details_at": self.details_at}


@dataclass(frozen=True)
class MissingWorker:
    """A worker an earlier check of the same checker saw, that did not answer this one."""

    name: str
    last_seen: float

    def to_json(self) -> dict:
        return {"name": self.name, "last_seen": self.last_seen}


@dataclass(frozen=True)
class WorkersHealth:
    """Who answered the remote-control ping. `checked` is False when the workers could
    not be asked (the broker is down, the probe failed: `error` says why); the list is
    then empty and says nothing about the workers. `error` is the reason alone, without
    "could not be asked": each face says that in its own words."""

    checked: bool
    workers: tuple[WorkerHealth, ...] = ()
    error: str | None = None
    missing: tuple[MissingWorker, ...] = ()
    ping_timeout: float = 0.0
    checked_at: float = 0.0
    elapsed_ms: float = 0.0
    timed_out: bool = False  # not checked: the probe was stopped at its deadline
    broker_unreachable: bool = False  # not checked: the probe could not reach the broker

    def consumers(self, queue: str) -> list[WorkerHealth]:
        return [w for w in self.workers if w.consumes(queue)]

    @property
    def queues_known(self) -> bool:
        return all(w.queues is not None for w in self.workers)

    @property
    def registered_known(self) -> bool:
        return all(w.registered is not None for w in self.workers)


class BeatPing(str, enum.Enum):
    """Beat's own answer to a remote-control ping (`celery beat --enable-remote-control`,
    where Celery has it): it answers only while its scheduler ticks."""

    ANSWERED = "answered"
    SILENT = "silent"  # remote control is on, but beat did not answer: hung, or cut off

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class BeatHealth:
    """Beat as the status check sees it, and its own ping when it could be asked
    (`ping` None: not asked; `ping_note` says why)."""

    status: Status
    node: str | None = None
    ping: BeatPing | None = None
    ping_note: str | None = None

    def to_json(self) -> dict:
        return {**self.status.to_json(), "ping": str(self.ping) if self.ping else None,
                "node": self.node, "ping_note": self.ping_note}


@dataclass(frozen=True)
class Health:
    """One health check: broker, workers, beat, and the problems, worst first."""

    broker: BrokerHealth
    workers: WorkersHealth
    beat: BeatHealth
    problems: tuple[Problem, ...] = ()
    checked_at: float = 0.0
    elapsed_ms: float = 0.0
    schedule_store: StoreHealth | None = None  # a schedule in Redis: that Redis

    @property
    def worst(self) -> Problem | None:
        """The problem to show first (the tray's tooltip): errors before warnings."""
        return self.problems[0] if self.problems else None

    @property
    def level(self) -> Level | None:
        """The worst level among the problems; None when there are none."""
        return self.worst.level if self.worst else None

    def to_json(self) -> dict:
        return {
            "broker": self.broker.to_json(),
            "workers": [w.to_json() for w in self.workers.workers],
            "workers_checked": self.workers.checked,
            "workers_error": self.workers.error,
            "missing_workers": [m.to_json() for m in self.workers.missing],
            "ping_timeout": self.workers.ping_timeout,
            "beat": self.beat.to_json(),
            "problems": [p.message for p in self.problems],
            "problem_details": [p.to_json() for p in self.problems],
            "level": str(self.level) if self.level else None,
            "checked_at": self.checked_at,
            "elapsed_ms": self.elapsed_ms,
            **({"schedule_store": self.schedule_store.to_json()}
               if self.schedule_store is not None else {}),
        }


def sort_problems(problems: list[Problem]) -> tuple[Problem, ...]:
    """Errors first, then warnings; in the order found within each level."""
    order = list(Level)
    return tuple(sorted(problems, key=lambda p: order.index(p.level)))
