"""First run: which Celery project should the panel work on?"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QWidget,
)


class ProjectDialog(QDialog):
    """Asks for the project folder and the Celery app (the -A value)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Choose your Celery project")
        self.folder = QLineEdit(os.getcwd())
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        self.app = QLineEdit()
        self.app.setPlaceholderText("the -A value, e.g. proj or proj.celery:app")
        row = QHBoxLayout()
        row.addWidget(self.folder, 1)
        row.addWidget(browse)
        form = QFormLayout(self)
        form.addRow("Project folder", row)
        form.addRow("Celery app", self.app)
        form.addRow(QLabel("Beat Panel writes its settings to your config folder and keeps "
                           "the schedule in schedule.json in the project folder."))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.ok = buttons.button(QDialogButtonBox.StandardButton.Ok)
        form.addRow(buttons)
        self.app.textChanged.connect(self._check)
        self.folder.textChanged.connect(self._check)
        self._check()

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Project folder", self.folder.text())
        if folder:
            self.folder.setText(folder)

    def _check(self) -> None:
        self.ok.setEnabled(bool(self.app.text().strip()) and Path(self.folder.text()).is_dir())

    def values(self) -> tuple[Path, str]:
        return Path(self.folder.text()).resolve(), self.app.text().strip()
