"""The activity log (the window's Activity tab): starts, stops, restarts, schedule saves,
deaths and keep-alive restarts, newest first."""

from __future__ import annotations

from datetime import datetime

from PySide6.QtGui import QColor
from PySide6.QtWidgets import QAbstractItemView, QTableWidget, QTableWidgetItem, QWidget

from beat_panel.control import activity
from beat_panel.ui.jobs import JobRunner


class ActivityView(QTableWidget):
    def __init__(self, project: str, runner: JobRunner, parent: QWidget | None = None) -> None:
        super().__init__(0, 4, parent)
        self.project = project
        self.runner = runner
        self.setHorizontalHeaderLabels(["When", "What", "Result", "Message"])
        self.horizontalHeader().setStretchLastSection(True)
        self.verticalHeader().setVisible(False)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setColumnWidth(0, 160)
        self.setColumnWidth(2, 70)

    def refresh(self) -> None:
        self.runner.submit(activity.read, self.project, on_done=self._show)

    def _show(self, events: list[activity.Event]) -> None:
        self.setRowCount(len(events))
        for row, event in enumerate(events):
            when = datetime.fromtimestamp(event.at).strftime("%Y-%m-%d %H:%M:%S")
            result = QTableWidgetItem("ok" if event.success else "failed")
            result.setForeground(QColor("#1e8e3e" if event.success else "#c5221f"))
            cells = (QTableWidgetItem(when), QTableWidgetItem(event.kind.value), result,
                     QTableWidgetItem(event.message))
            for column, item in enumerate(cells):
                item.setToolTip(event.message)
                self.setItem(row, column, item)
