"""Incidents: what turns the panel's observations (beat died, keep-alive gave up, the
broker or a queue's workers missing) into alerts, once when a problem begins and once
when it clears, remembered in the state folder so a restarted panel does not send an
open incident again."""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from beat_panel.config import ALERT_EVENTS
from beat_panel.files.atomic import atomic_write

log = logging.getLogger(__name__)

STATE_NAME = "alerts.json"
STATE_VERSION = 1
# Stored incident texts are cut to this length: a broker's error can be long.
MAX_TEXT = 2000

OPEN = "open"
RESOLVED = "resolved"
TEST = "test"

# kind -> (title while open, what a resolution says). `{queue}` names the queue.
TITLES: dict[str, tuple[str, str]] = {
    "beat_died": ("Beat stopped unexpectedly", "Beat is running again"),
    "keepalive_gave_up": ("Keep-alive gave up restarting beat", "Beat is running again"),
    "broker_unreachable": ("The broker cannot be reached", "The broker can be reached again"),
    "no_worker_for_queue": ("No worker consumes the queue '{queue}'",
                            "A worker consumes the queue '{queue}' again"),
    "test": ("Test alert", ""),
}
assert set(TITLES) == {*ALERT_EVENTS, "test"}


@dataclass(frozen=True)
class Alert:
    """One message to send: an incident opening, its resolution, or a test."""

    kind: str  # one of config.ALERT_EVENTS, or "test"
    state: str  # OPEN, RESOLVED or TEST
    title: str  # for a person: "Beat stopped unexpectedly"
    text: str  # what happened, as the panel saw it
    project: str  # "proj in /srv/proj"
    at: float  # when this was seen (epoch seconds)
    since: float | None = None  # for a resolution: when the incident began
    queue: str | None = None  # for no_worker_for_queue
    host: str = ""  # the machine the panel runs on

    @property
    def key(self) -> str:
        return incident_key(self.kind, self.queue)

    @property
    def subject(self) -> str:
        where = f"{self.project} on {self.host}" if self.host else self.project
        prefix = {RESOLVED: "Resolved: ", TEST: ""}.get(self.state, "")
        # One line, whatever a folder or queue name holds: a header cannot break.
        return " ".join(f"[Beat Panel] {prefix}{self.title}: {where}".split())

    def body(self) -> str:
        lines = [self.text, "", f"Project:  {self.project}"]
        if self.host:
            lines.append(f"Machine:  {self.host}")
        lines.append(f"When:     {_when(self.at)}")
        if self.state == OPEN:
            lines += ["", "Beat Panel sends one more message when this clears, and nothing "
                          "else about it until then."]
        elif self.state == RESOLVED and self.since is not None:
            lines.append(f"Began:    {_when(self.since)} (lasted "
                         f"{_duration(self.at - self.since)})")
        elif self.state == TEST:
            lines += ["", "A test sent by `beat-panel alerts test`: alerts from this panel "
                          "reach you this way."]
        return "\n".join(lines) + "\n"

    def to_json(self) -> dict:
        return {"kind": self.kind, "state": self.state, "key": self.key,
                "title": self.title, "subject": self.subject, "text": self.text,
                "project": self.project, "host": self.host, "queue": self.queue,
                "at": _iso(self.at), "since": _iso(self.since) if self.since else None}


def incident_key(kind: str, queue: str | None = None) -> str:
    return f"{kind}:{queue}" if queue is not None else kind


def make_test_alert(project: str, clock: Callable[[], float] = time.time) -> Alert:
    return Alert("test", TEST, TITLES["test"][0],
                 "This is a test of Beat Panel's alerts. Nothing is wrong with beat.",
                 project, clock(), host=host_name())


def host_name() -> str:
    return socket.gethostname() or "localhost"


def _when(at: float) -> str:
    return datetime.fromtimestamp(at).astimezone().strftime("%Y-%m-%d %H:%M:%S %z")


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at).astimezone().isoformat(timespec="seconds")


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


@dataclass(frozen=True)
class Incident:
    kind: str
    queue: str | None
    since: float
    text: str


class AlertBook:
    """The open incidents of one project, and the alerts that changes to them make.

    Each observation method returns the alerts to send now (often none): an incident
    opens once, however often its condition is seen again, and its resolution is sent
    once when the condition clears. Kinds outside `events` are not tracked at all. The
    open incidents are kept in `path` (written atomically) and read back by the next
    book, so a panel restarted during an incident neither sends it again nor forgets to
    say when it clears. Safe to call from any thread; file work happens in the calls.
    """

    def __init__(self, path: Path, project: str, events: Collection[str] = ALERT_EVENTS,
                 clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.project = project
        self.events = frozenset(events)
        self.clock = clock
        self.host = host_name()
        self._lock = threading.Lock()
        self._open: dict[str, Incident] | None = None  # read on first use

    # -- what the panel sees ---------------------------------------------------------------

    def beat_died(self, text: str) -> list[Alert]:
        """Beat stopped without anyone here asking (`text` says how)."""
        return self._change(opened=[("beat_died", None, text)])

    def keepalive_gave_up(self, text: str) -> list[Alert]:
        """Keep-alive stopped restarting beat (`text` says why)."""
        return self._change(opened=[("keepalive_gave_up", None, text)])

    def beat_running(self, text: str = "") -> list[Alert]:
        """Beat runs (again): ends a death and a keep-alive give-up."""
        return self._change(cleared=[("beat_died", None), ("keepalive_gave_up", None)],
                            clear_text=text)

    def observe_health(self, broker_ok: bool, broker_error: str | None,
                       queues_without_worker: Collection[str] | None) -> list[Alert]:
        """A health check's answer: whether the broker answered (and its error when not,
        password masked), and the queues the schedule sends to that no worker consumes
        (None when that could not be found out). While the broker is unreachable nothing
        can be known of the workers, so queue incidents are left as they are."""
        if not broker_ok:
            error = broker_error or "no reason given"
            return self._change(opened=[("broker_unreachable", None,
                                         f"Beat Panel cannot reach the broker: {error}. "
                                         "Beat's sends fail until it is back.")])
        cleared: list[tuple[str, str | None]] = [("broker_unreachable", None)]
        opened: list[tuple[str, str | None, str]] = []
        if queues_without_worker is not None:
            missing = set(queues_without_worker)
            opened = [("no_worker_for_queue", queue,
                       f"No worker consumes the queue '{queue}': tasks beat sends there "
                       "wait in the broker and never run.") for queue in sorted(missing)]
            cleared += [(i.kind, i.queue) for i in self._incidents().values()
                        if i.kind == "no_worker_for_queue" and i.queue not in missing]
        return self._change(opened=opened, cleared=cleared)

    # -- the record ------------------------------------------------------------------------

    def open_incidents(self) -> dict[str, Incident]:
        with self._lock:
            return dict(self._incidents())

    def _change(self, opened: Iterable[tuple[str, str | None, str]] = (),
                cleared: Iterable[tuple[str, str | None]] = (),
                clear_text: str = "") -> list[Alert]:
        with self._lock:
            incidents = self._incidents()
            now = self.clock()
            alerts: list[Alert] = []
            for kind, queue in cleared:
                incident = incidents.pop(incident_key(kind, queue), None)
                if incident is not None:
                    alerts.append(self._resolution(incident, now, clear_text))
            for kind, queue, text in opened:
                key = incident_key(kind, queue)
                if kind not in self.events or key in incidents:
                    continue
                incident = Incident(kind, queue, now, text[:MAX_TEXT])
                incidents[key] = incident
                alerts.append(Alert(kind, OPEN, _title(kind, queue, 0), incident.text,
                                    self.project, now, queue=queue, host=self.host))
            if alerts:
                self._save(incidents)
            return alerts

    def _resolution(self, incident: Incident, now: float, text: str) -> Alert:
        title = _title(incident.kind, incident.queue, 0)
        said = _title(incident.kind, incident.queue, 1)
        detail = f"{said}. {text}".strip() if text else f"{said}."
        return Alert(incident.kind, RESOLVED, title,
                     f"{detail}\n\nWhat was wrong: {incident.text}", self.project, now,
                     since=incident.since, queue=incident.queue, host=self.host)

    def _incidents(self) -> dict[str, Incident]:
        if self._open is None:
            self._open = {key: i for key, i in self._load().items() if i.kind in self.events}
        return self._open

    def _load(self) -> dict[str, Incident]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            loaded = {}
            for key, item in data["open"].items():
                incident = Incident(str(item["kind"]), item.get("queue"),
                                    float(item["since"]), str(item["text"]))
                if incident.kind in ALERT_EVENTS and \
                        key == incident_key(incident.kind, incident.queue):
                    loaded[key] = incident
            return loaded
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            # Forgetting costs at most one repeated alert; refusing would cost all of them.
            log.warning("Could not read the open alert incidents in %s (%s); starting "
                        "afresh", self.path, exc)
            return {}

    def _save(self, incidents: dict[str, Incident]) -> None:
        data = {"version": STATE_VERSION,
                "open": {key: {"kind": i.kind, "queue": i.queue, "since": i.since,
                               "text": i.text} for key, i in incidents.items()}}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(self.path, (json.dumps(data, indent=1) + "\n").encode("utf-8"),
                         mode=0o600)
        except OSError as exc:
            log.warning("Could not record the open alert incidents in %s: %s. A panel "
                        "started again may send them once more.", self.path, exc)


def _title(kind: str, queue: str | None, which: int) -> str:
    return TITLES[kind][which].format(queue=queue or "")


def state_path(run_dir: os.PathLike[str] | str) -> Path:
    """Where a project's open incidents are kept, in its folder of the state folder."""
    return Path(run_dir) / STATE_NAME
