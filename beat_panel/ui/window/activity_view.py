"""The activity log (the window's Activity tab): starts, stops, restarts, schedule saves,
deaths and keep-alive restarts, newest first; and, in red, why it cannot be kept."""

from __future__ import annotations

from datetime import datetime

from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from beat_panel.control import activity
from beat_panel.ui.jobs import JobRunner


def _read(project: str) -> tuple[list[activity.Event], str | None]:
    return activity.read(project), activity.problem()


class ActivityView(QWidget):
    def __init__(self, project: str, runner: JobRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.project = project
        self.runner = runner
        self.problem = QLabel()
        self.problem.setObjectName("activityProblem")
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet("QLabel#activityProblem { color: #c5221f; }")
        self.problem.hide()
        self.table = QTableWidget(0, 4)
        self.table.setTabKeyNavigation(False)  # Tab moves on to the next control
        self.table.setHorizontalHeaderLabels(["When", "What", "Result", "Message"])
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setColumnWidth(0, 160)
        self.table.setColumnWidth(2, 70)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.problem)
        layout.addWidget(self.table, 1)

    def refresh(self) -> None:
        self.runner.submit(_read, self.project, on_done=self._show)

    def _show(self, result: tuple[list[activity.Event], str | None]) -> None:
        events, problem = result
        self.problem.setText(problem or "")
        self.problem.setVisible(bool(problem))
        table = self.table
        table.setRowCount(len(events))
        for row, event in enumerate(events):
            when = datetime.fromtimestamp(event.at).strftime("%Y-%m-%d %H:%M:%S")
            outcome = QTableWidgetItem("ok" if event.success else "failed")
            outcome.setForeground(QColor("#1e8e3e" if event.success else "#c5221f"))
            cells = (QTableWidgetItem(when), QTableWidgetItem(event.kind.value), outcome,
                     QTableWidgetItem(event.message))
            for column, item in enumerate(cells):
                item.setToolTip(event.message)
                table.setItem(row, column, item)
