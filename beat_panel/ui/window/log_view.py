"""A pane that follows beat's log file, read in a job every couple of seconds."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtGui import QFont, QTextCursor
from PySide6.QtWidgets import QLabel, QPlainTextEdit, QVBoxLayout, QWidget

from beat_panel.config import Config
from beat_panel.control import logtail
from beat_panel.control.launch import beat_logfile
from beat_panel.ui.jobs import JobRunner

POLL_MS = 2000
MAX_BLOCKS = 5000


class LogView(QWidget):
    def __init__(self, config: Config, runner: JobRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runner = runner
        self.position: logtail.Position | None = None  # None: not looked at yet
        self.reading = False
        self.path: Path | None = None
        self.caption = QLabel()
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setMaximumBlockCount(MAX_BLOCKS)
        self.text.setFont(QFont("monospace"))
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.caption)
        layout.addWidget(self.text, 1)
        self.timer = QTimer(self)
        self.timer.setInterval(POLL_MS)
        self.timer.timeout.connect(self.poll)
        self.set_config(config)

    def set_config(self, config: Config) -> None:
        self.path = beat_logfile(config)
        self.position = None
        self.text.clear()
        self.caption.setText(f"Beat's log: {self.path}" if self.path else
                             "No log file is configured ([beat] logfile).")

    def start(self) -> None:
        """Follow the log (while the window is shown)."""
        if not self.timer.isActive():
            self.poll()
            self.timer.start()

    def stop(self) -> None:
        self.timer.stop()

    def poll(self) -> None:
        if self.reading or self.path is None:
            return
        self.reading = True
        path = self.path
        self.runner.submit(logtail.follow, path, self.position,
                           on_done=lambda result: self._read(result, path),
                           on_error=self._failed)

    def _failed(self, error: Exception) -> None:
        self.reading = False
        self.caption.setText(f"Cannot read beat's log {self.path}: {error}")

    def _read(self, result: tuple[str, logtail.Position | None, bool], path: Path) -> None:
        self.reading = False
        if path != self.path:
            return  # read before the project changed
        text, self.position, restarted = result
        if restarted:  # replaced, or cut short (and perhaps grown again): from its start
            self.text.clear()
        if text:
            at_end = self.text.verticalScrollBar().value() >= \
                self.text.verticalScrollBar().maximum() - 4
            cursor = self.text.textCursor()
            cursor.movePosition(QTextCursor.MoveOperation.End)
            cursor.insertText(text if text.endswith("\n") else text + "\n")
            if at_end:
                self.text.verticalScrollBar().setValue(self.text.verticalScrollBar().maximum())
