"""The window's Health tab: the broker, the workers and beat, each with its state (colours
from state_style's tables) and when it was last checked. A view on the monitor's last
health check: it never checks anything itself."""

from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFormLayout,
    QGroupBox,
    QHeaderView,
    QLabel,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from beat_panel.health import Health, Level
from beat_panel.ui import state_style
from beat_panel.ui.monitor import BeatMonitor
from beat_panel.ui.state_style import Look, restyle

WORKER_COLUMNS = ["State", "Name", "PID", "Queues", "Last seen"]
STRETCHED_COLUMN = "Queues"  # takes the room left; the others are as wide as their text
LEVEL_GLYPHS = {Level.ERROR: "✖", Level.WARNING: "!"}


def _clock(at: float | None) -> str:
    return datetime.fromtimestamp(at).strftime("%H:%M:%S") if at else "—"


class StatePill(QLabel):
    """A state in its look's colour, glyph and words (`key` for tests)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.key = ""
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)

    def show_look(self, key: str, look: Look) -> None:
        self.key = key
        self.setText(f"{look.glyph} {look.label}")
        restyle(self, f"QLabel {{ background: {look.colour}; color: white; "
                      "border-radius: 8px; padding: 2px 10px; font-weight: bold; }")


class HealthView(QWidget):
    def __init__(self, monitor: BeatMonitor, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.monitor = monitor

        self.broker_state = StatePill()
        self.broker_url = QLabel()
        self.broker_url.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.broker_latency = QLabel()
        self.broker_checked = QLabel()
        self.broker_error = QLabel()
        self.broker_error.setWordWrap(True)
        broker_box = QGroupBox("Broker")
        broker_form = QFormLayout(broker_box)
        broker_form.addRow("State:", self.broker_state)
        broker_form.addRow("URL:", self.broker_url)
        broker_form.addRow("Latency:", self.broker_latency)
        broker_form.addRow("Last checked:", self.broker_checked)
        broker_form.addRow("Error:", self.broker_error)
        # A schedule in Redis (RedBeat): that Redis too, in the broker's box.
        self.store_state = StatePill()
        self.store_detail = QLabel()
        self.store_detail.setWordWrap(True)
        self.store_detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._store_label = QLabel("Schedule Redis:")
        broker_form.addRow(self._store_label, self.store_state)
        broker_form.addRow("", self.store_detail)
        self._show_store(False)

        self.workers_state = StatePill()
        self.workers_note = QLabel()
        self.workers_note.setWordWrap(True)
        self.workers = QTableWidget(0, len(WORKER_COLUMNS))
        self.workers.setTabKeyNavigation(False)  # Tab moves on to the next control
        self.workers.setHorizontalHeaderLabels(WORKER_COLUMNS)
        self.workers.verticalHeader().setVisible(False)
        self.workers.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        # A name is shown whole; the queues take the room left (a long list is elided,
        # whole in its tooltip); State, PID and Last seen only what their text needs.
        header = self.workers.horizontalHeader()
        header.setStretchLastSection(False)
        for column, name in enumerate(WORKER_COLUMNS):
            mode = QHeaderView.ResizeMode.Stretch if name == STRETCHED_COLUMN \
                else QHeaderView.ResizeMode.ResizeToContents
            header.setSectionResizeMode(column, mode)
        workers_box = QGroupBox("Workers")
        workers_layout = QVBoxLayout(workers_box)
        workers_layout.addWidget(self.workers_state, 0, Qt.AlignmentFlag.AlignLeft)
        workers_layout.addWidget(self.workers_note)
        workers_layout.addWidget(self.workers, 1)

        self.beat_state = StatePill()
        self.beat_message = QLabel()
        self.beat_message.setWordWrap(True)
        self.beat_ping = QLabel()
        self.beat_ping.setWordWrap(True)
        beat_box = QGroupBox("Beat")
        beat_form = QFormLayout(beat_box)
        beat_form.addRow("State:", self.beat_state)
        beat_form.addRow("", self.beat_message)
        beat_form.addRow("Own ping:", self.beat_ping)

        self.problems = QLabel()
        self.problems.setObjectName("healthProblems")
        self.problems.setWordWrap(True)

        layout = QVBoxLayout(self)
        layout.addWidget(broker_box)
        layout.addWidget(workers_box, 1)
        layout.addWidget(beat_box)
        layout.addWidget(self.problems)
        # Bound methods, not lambdas: Qt drops the connection when this view is deleted
        # (the monitor outlives every window).
        monitor.health_changed.connect(self._health_changed)
        monitor.changed.connect(self.show_health)
        self.show_health()

    def _health_changed(self, _health: object) -> None:
        self.show_health()

    def show_health(self) -> None:
        monitor = self.monitor
        health = monitor.health
        beat_key = state_style.state_key(monitor.status, trouble=monitor.trouble)
        self.beat_state.show_look(beat_key, state_style.LOOKS[beat_key])
        if health is None:
            unchecked = state_style.HEALTH_LOOKS["unchecked"]
            for pill in (self.broker_state, self.workers_state):
                pill.show_look("unchecked", unchecked)
            self.beat_message.setText(monitor.status.message if monitor.status else "")
            return
        self._broker(health)
        self._workers(health)
        self._beat(health)
        problems = [f"{LEVEL_GLYPHS[p.level]} {p.message}" for p in health.problems]
        trouble = monitor.trouble  # a queue no worker consumes is found beside the check
        if trouble is not None and all(trouble.message not in p for p in problems):
            problems.insert(0, f"! {trouble.message}")
        self.problems.setText("\n".join(problems) if problems else "✓ No problems found.")

    def _broker(self, health: Health) -> None:
        broker = health.broker
        key = "broker_ok" if broker.ok else "broker_unreachable"
        self.broker_state.show_look(key, state_style.HEALTH_LOOKS[key])
        self.broker_url.setText(broker.url or "(the app could not be read)")
        self.broker_latency.setText(f"{broker.latency_ms:.1f} ms"
                                    if broker.latency_ms is not None else "—")
        self.broker_checked.setText(_clock(broker.checked_at))
        self.broker_error.setText(broker.error or "—")
        store = health.schedule_store
        self._show_store(store is not None)
        if store is not None:
            key = "broker_ok" if store.ok else "broker_unreachable"
            self.store_state.show_look(key, state_style.HEALTH_LOOKS[key])
            latency = f", {store.latency_ms:.1f} ms" if store.latency_ms is not None else ""
            reads = f"\nThe app's RedBeat beat reads {store.app.shown}." \
                if store.app is not None and store.app.url else ""
            self.store_detail.setText(f"{store.url}{latency}"
                                      + (f": {store.error}" if store.error else "") + reads)

    def _show_store(self, shown: bool) -> None:
        for widget in (self._store_label, self.store_state, self.store_detail):
            widget.setVisible(shown)

    def _workers(self, health: Health) -> None:
        workers = health.workers
        if not workers.checked:
            key = "workers_unknown"
            note = workers.error or ""
        elif not workers.workers:
            key = "no_workers"
            note = f"None answered a ping within {workers.ping_timeout:g} s."
        else:
            key = "worker_answering"
            note = f"{len(workers.workers)} answered at {_clock(workers.checked_at)}."
        self.workers_state.show_look(key, state_style.HEALTH_LOOKS[key])
        self.workers_note.setText(note)
        rows: list[tuple[str, list[str]]] = []
        for w in workers.workers:
            queues = ", ".join(w.queues) if w.queues is not None else "not known"
            rows.append(("worker_answering", [w.name, str(w.pid or w.reported_pid or "—"),
                                              queues, _clock(w.last_seen)]))
        for gone in workers.missing:
            rows.append(("worker_missing", [gone.name, "—", "—", _clock(gone.last_seen)]))
        table = self.workers
        table.setRowCount(len(rows))
        for row, (state, cells) in enumerate(rows):
            look = state_style.HEALTH_LOOKS[state]
            item = QTableWidgetItem(f"{look.glyph} {look.label}")
            item.setForeground(QColor(look.colour))
            table.setItem(row, 0, item)
            for column, text in enumerate(cells, start=1):
                cell = QTableWidgetItem(text)
                cell.setToolTip(text)
                table.setItem(row, column, cell)

    def _beat(self, health: Health) -> None:
        status = self.monitor.status or health.beat.status
        self.beat_message.setText(f"{status.message} (checked {_clock(status.checked_at)})")
        beat = health.beat
        if beat.ping is not None:
            self.beat_ping.setText(f"{beat.ping} as {beat.node}")
        else:
            self.beat_ping.setText(beat.ping_note or "not asked")
