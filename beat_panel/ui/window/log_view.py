"""A pane that follows beat's log file, read in a job every couple of seconds: warnings
and errors stand out (colour and bold), long lines wrap, and a filter box and "Errors
only" narrow what it shows."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtGui import QColor, QFont, QTextBlockFormat, QTextCharFormat, QTextCursor, QTextOption
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from beat_panel.config import Config
from beat_panel.control import logtail
from beat_panel.control.launch import beat_logfile
from beat_panel.ui.jobs import JobRunner

POLL_MS = 2000
MAX_LINES = 5000

# A line the pane adds itself where the file was replaced or cut short (as `tail -F`
# says so), so the lines before it are not mistaken for the new file's.
RESTARTED_NOTE = "──── The log file was replaced or cut short (rotated): its new start follows ────"
_NOTE = "note"


@dataclass(frozen=True)
class _Look:
    colour: str | None = None
    background: str | None = None
    bold: bool = False
    italic: bool = False


# Level -> how its lines look. Bold as well as colour: they stand out without colour too
# (and the line itself names its level).
_LOOKS = {
    "error": _Look("#8c1a14", "#fde2e0", bold=True),
    "warning": _Look("#6b4700", "#fff1c7", bold=True),
    "debug": _Look("#6f7479"),
    _NOTE: _Look("#6f7479", italic=True),
}


def _formats(level: str | None) -> tuple[QTextBlockFormat, QTextCharFormat]:
    block, char = QTextBlockFormat(), QTextCharFormat()
    look = _LOOKS.get(level or "")
    if look is not None:
        if look.background:
            block.setBackground(QColor(look.background))  # the whole line, edge to edge
        if look.colour:
            char.setForeground(QColor(look.colour))
        char.setFontWeight(QFont.Weight.Bold if look.bold else QFont.Weight.Normal)
        char.setFontItalic(look.italic)
    return block, char


class LogView(QWidget):
    def __init__(self, config: Config, runner: JobRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runner = runner
        self.position: logtail.Position | None = None  # None: not looked at yet
        self.reading = False
        self.path: Path | None = None
        self.lines: deque[tuple[str, str | None]] = deque(maxlen=MAX_LINES)
        self.shown = 0  # how many of `lines` the text shows
        self.caption = QLabel()
        self.caption.setWordWrap(True)
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter: show only lines containing…")
        self.filter.setClearButtonEnabled(True)
        self.filter.setAccessibleName("Filter the log's lines")
        self.filter.textChanged.connect(self.refilter)
        self.errors_only = QCheckBox("&Errors only")
        self.errors_only.setToolTip("Show only ERROR and CRITICAL lines (with their "
                                    "tracebacks)")
        self.errors_only.toggled.connect(self.refilter)
        self.count = QLabel()
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setMaximumBlockCount(MAX_LINES)
        font = QFont("monospace")
        font.setStyleHint(QFont.StyleHint.Monospace)
        self.text.setFont(font)
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        # A long task argument has no spaces: wrap it anywhere rather than run off screen.
        self.text.setWordWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        bar = QHBoxLayout()
        bar.addWidget(self.filter, 1)
        bar.addWidget(self.errors_only)
        bar.addWidget(self.count)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.caption)
        layout.addLayout(bar)
        layout.addWidget(self.text, 1)
        self.timer = QTimer(self)
        self.timer.setInterval(POLL_MS)
        self.timer.timeout.connect(self.poll)
        self.set_config(config)

    def set_config(self, config: Config) -> None:
        self.path = beat_logfile(config)
        self.position = None
        self.lines.clear()
        self.caption.setText(f"Beat's log: {self.path}" if self.path else
                             "No log file is configured ([beat] logfile).")
        self.refilter()

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
        carried = self.lines[-1][1] if self.lines else None
        self.runner.submit(logtail.follow_lines, path, self.position, carried,
                           on_done=lambda result: self._read(result, path),
                           on_error=self._failed)

    def shows(self, line: str, level: str | None) -> bool:
        """Whether the filter box and "Errors only" let this line through."""
        if level == _NOTE:
            return True
        if self.errors_only.isChecked() and level != "error":
            return False
        wanted = self.filter.text().strip().casefold()
        return not wanted or wanted in line.casefold()

    def refilter(self) -> None:
        """Show again, from the lines read, those the filter lets through."""
        self.text.clear()
        self.shown = 0
        self._append(list(self.lines))
        self.text.verticalScrollBar().setValue(self.text.verticalScrollBar().maximum())

    def _failed(self, error: Exception) -> None:
        self.reading = False
        self.caption.setText(f"Cannot read beat's log {self.path}: {error}")

    def _read(self, result: tuple[list[tuple[str, str | None]], logtail.Position | None, bool],
              path: Path) -> None:
        self.reading = False
        if path != self.path:
            return  # read before the project changed
        lines, self.position, restarted = result
        if restarted and self.lines:
            lines = [(RESTARTED_NOTE, _NOTE), *lines]
        if not lines:
            return
        bar = self.text.verticalScrollBar()
        at_end = bar.value() >= bar.maximum() - 4
        self.lines.extend(lines)
        self._append(lines)
        if at_end:
            bar.setValue(bar.maximum())

    def _append(self, lines: list[tuple[str, str | None]]) -> None:
        cursor = QTextCursor(self.text.document())
        cursor.movePosition(QTextCursor.MoveOperation.End)
        cursor.beginEditBlock()
        for line, level in lines:
            if not self.shows(line, level):
                continue
            block, char = _formats(level)
            if self.shown:
                cursor.insertBlock(block, char)
            else:
                cursor.setBlockFormat(block)
                cursor.setBlockCharFormat(char)
            cursor.insertText(line, char)
            self.shown += 1
        cursor.endEditBlock()
        self._count()

    def _count(self) -> None:
        narrowed = self.errors_only.isChecked() or bool(self.filter.text().strip())
        shown = self.text.document().blockCount() if self.shown else 0
        self.count.setText(f"{shown} of {len(self.lines)} lines" if narrowed else "")
        if self.path is None:
            self.text.setPlaceholderText("")
        elif narrowed and self.lines:
            self.text.setPlaceholderText("No line of the log matches.")
        else:
            self.text.setPlaceholderText("Nothing in beat's log yet.")
