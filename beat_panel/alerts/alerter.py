"""One project's alerts from observation to delivery: the panel tells the `Alerter` what
it saw (cheap, on any thread, the GUI's too), and a background job calls `drain`, which
turns what was seen into alerts through the `AlertBook` and sends each one through every
channel, in the order seen. Every delivery goes to the panel log and the activity log;
none of it raises."""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Collection
from dataclasses import dataclass

from beat_panel.alerts import channels as channel_module
from beat_panel.alerts.channels import Channel, Outcome
from beat_panel.alerts.incidents import Alert, AlertBook, make_test_alert, state_path
from beat_panel.config import AlertsConfig, Config
from beat_panel.control import activity

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivery:
    """One alert through one channel."""

    alert: Alert
    outcome: Outcome

    def describe(self) -> str:
        state = {"resolved": "Resolved alert", "test": "Test alert"}.get(self.alert.state,
                                                                          "Alert")
        if self.outcome.success:
            how = ("e-mailed " + self.outcome.target if self.outcome.channel == "email"
                   else f"given to the command {self.outcome.target}")
            return f"{state} \"{self.alert.title}\" {how}."
        how = ("e-mail " + self.outcome.target if self.outcome.channel == "email"
               else f"command {self.outcome.target}")
        return (f"{state} \"{self.alert.title}\" could not be sent ({how}): "
                f"{self.outcome.message}")


def project_label(config: Config) -> str:
    """The project as a person knows it: "proj in /srv/proj"."""
    return f"{config.beat.app or 'beat'} in {config.beat.workdir}"


class Alerter:
    """Observations in, alerts out, for the project of `config` (which has [alerts])."""

    def __init__(self, config: Config, book: AlertBook | None = None,
                 channels: list[Channel] | None = None) -> None:
        assert config.alerts is not None
        self.config = config
        self.settings: AlertsConfig = config.alerts
        self.book = book or AlertBook(state_path(config.run_dir), project_label(config),
                                      self.settings.events)
        self.channels = channels if channels is not None \
            else channel_module.channels(self.settings)
        self._lock = threading.Lock()
        self._seen: deque[Callable[[], list[Alert]]] = deque()
        self._draining = False

    @classmethod
    def for_config(cls, config: Config) -> Alerter | None:
        """The alerter of `config`, or None when it has no [alerts] section."""
        return cls(config) if config.alerts is not None else None

    # -- what was seen (no I/O: safe on the GUI thread) ------------------------------------

    def beat_died(self, text: str) -> None:
        self._note(lambda: self.book.beat_died(text))

    def keepalive_gave_up(self, text: str) -> None:
        self._note(lambda: self.book.keepalive_gave_up(text))

    def beat_running(self, text: str = "") -> None:
        self._note(lambda: self.book.beat_running(text))

    def observe_health(self, broker_ok: bool, broker_error: str | None,
                       queues_without_worker: Collection[str] | None) -> None:
        queues = None if queues_without_worker is None else frozenset(queues_without_worker)
        self._note(lambda: self.book.observe_health(broker_ok, broker_error, queues))

    def _note(self, change: Callable[[], list[Alert]]) -> None:
        with self._lock:
            self._seen.append(change)

    # -- sending (in a job) ----------------------------------------------------------------

    def drain(self) -> list[Delivery]:
        """Apply what was seen, in order, and send the alerts it makes (blocking: call it
        in a background job). When another drain is already under way this returns at
        once and that one sends these too, so alerts never overtake each other."""
        with self._lock:
            if self._draining:
                return []
            self._draining = True
        deliveries: list[Delivery] = []
        while True:
            with self._lock:
                if not self._seen:
                    self._draining = False
                    return deliveries
                change = self._seen.popleft()
            try:
                alerts = change()
            except Exception:  # a bug here must not stop the alerts after it
                log.exception("Could not work out the alerts for an observation")
                continue
            for alert in alerts:
                deliveries += self.send(alert)

    def send(self, alert: Alert) -> list[Delivery]:
        """Send one alert through every channel; each outcome logged and recorded."""
        deliveries = []
        for channel in self.channels:
            try:
                outcome = channel(alert, self.settings)
            except Exception as exc:  # channels never raise; if one does, say so
                log.exception("An alert channel failed")
                outcome = Outcome(getattr(channel, "__name__", "channel"), "", False,
                                  f"failed: {exc}")
            delivery = Delivery(alert, outcome)
            if outcome.success:
                log.info("%s", delivery.describe())
            else:
                log.warning("%s", delivery.describe())
            activity.record(self.config.project_id, activity.Kind.ALERT, outcome.success,
                            delivery.describe())
            deliveries.append(delivery)
        return deliveries


def send_test(config: Config) -> list[Outcome]:
    """Send a test alert through every channel of `config` (which has [alerts]); the
    outcome of each. The incidents are not touched."""
    alerter = Alerter(config)
    alert = make_test_alert(project_label(config))
    return [d.outcome for d in alerter.send(alert)]
