"""A pane that follows beat's log file, read in a job every couple of seconds: warnings
and errors stand out (colour and bold), long lines wrap, and a filter box and "Errors
only" narrow what it shows."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QEvent, QPointF, QRect, QRectF, Qt, QTimer
from PySide6.QtGui import (
    QColor,
    QFont,
    QPainter,
    QPaintEvent,
    QPalette,
    QPen,
    QPolygonF,
    QResizeEvent,
    QTextBlockFormat,
    QTextCharFormat,
    QTextCursor,
    QTextFormat,
    QTextOption,
)
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


# Level -> how its lines look, on a light and on a dark background. Bold as well as
# colour: they stand out without colour too (and the line itself names its level).
_LOOKS = {
    False: {
        "error": _Look("#8c1a14", "#fde2e0", bold=True),
        "warning": _Look("#6b4700", "#fff1c7", bold=True),
        "debug": _Look("#6f7479"),
        _NOTE: _Look("#6f7479", italic=True),
    },
    True: {
        "error": _Look("#ffb4ab", "#4d1f1c", bold=True),
        "warning": _Look("#ffd978", "#3f3300", bold=True),
        "debug": _Look("#9aa0a6"),
        _NOTE: _Look("#9aa0a6", italic=True),
    },
}
# A level's mark in the margin: a shape, so it reads without colour (and a block's user
# state, so the margin knows the level of each line it paints).
_MARKS = {"error": 1, "warning": 2}


def _formats(level: str | None, dark: bool) -> tuple[QTextBlockFormat, QTextCharFormat]:
    block, char = QTextBlockFormat(), QTextCharFormat()
    look = _LOOKS[dark].get(level or "")
    if look is not None:
        if look.background:
            block.setBackground(QColor(look.background))  # the whole line, edge to edge
        if look.colour:
            char.setForeground(QColor(look.colour))
        char.setFontWeight(QFont.Weight.Bold if look.bold else QFont.Weight.Normal)
        char.setFontItalic(look.italic)
    return block, char


class _Margin(QWidget):
    def __init__(self, text: LogText) -> None:
        super().__init__(text)
        self.text = text

    def paintEvent(self, event: QPaintEvent) -> None:
        self.text.paint_margin(self, event)


class LogText(QPlainTextEdit):
    """The log's lines, with a margin that marks errors (a disc) and warnings (a
    triangle), and the wrapped part of a long line (a bar beside it), so neither needs
    colour to be seen."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.margin = _Margin(self)
        self.updateRequest.connect(self._update_margin)

    def margin_width(self) -> int:
        return self.fontMetrics().horizontalAdvance("0") * 2 + 4

    def setFont(self, font: QFont) -> None:
        super().setFont(font)
        self.setViewportMargins(self.margin_width(), 0, 0, 0)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        box = self.contentsRect()
        self.margin.setGeometry(QRect(box.left(), box.top(), self.margin_width(), box.height()))

    def _update_margin(self, rect: QRect, dy: int) -> None:
        if dy:
            self.margin.scroll(0, dy)
        else:
            self.margin.update(0, rect.y(), self.margin.width(), rect.height())

    def paint_margin(self, margin: QWidget, event: QPaintEvent) -> None:
        painter = QPainter(margin)
        painter.fillRect(event.rect(), self.palette().color(QPalette.ColorRole.Base))
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        ink = self.palette().color(QPalette.ColorRole.Text)
        line_height = self.fontMetrics().height()
        size = min(line_height * 0.6, margin.width() - 8.0)
        block = self.firstVisibleBlock()
        top = self.blockBoundingGeometry(block).translated(self.contentOffset()).top()
        while block.isValid() and top <= event.rect().bottom():
            height = self.blockBoundingRect(block).height()
            if block.isVisible() and top + height >= event.rect().top():
                background = block.blockFormat().background()
                if background.style() != Qt.BrushStyle.NoBrush:
                    painter.fillRect(QRectF(0, top, margin.width(), height), background)
                colour = block.charFormat().foreground().color() \
                    if block.charFormat().hasProperty(QTextFormat.Property.ForegroundBrush) \
                    else ink
                painter.setPen(QPen(colour, 1.5))
                painter.setBrush(colour)
                x, y = 3.0, top + (line_height - size) / 2
                if block.userState() == _MARKS["error"]:
                    painter.drawEllipse(QRectF(x, y, size, size))
                elif block.userState() == _MARKS["warning"]:
                    painter.drawPolygon(QPolygonF([QPointF(x + size / 2, y),
                                                   QPointF(x + size, y + size),
                                                   QPointF(x, y + size)]))
                if block.layout().lineCount() > 1:  # wrapped: a bar beside the rest of it
                    bar_x = margin.width() - 2.5
                    painter.drawLine(QPointF(bar_x, top + line_height),
                                     QPointF(bar_x, top + height - 2))
            block = block.next()
            top += height
        painter.end()


class LogView(QWidget):
    def __init__(self, config: Config, runner: JobRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runner = runner
        self.position: logtail.Position | None = None  # None: not looked at yet
        self.reading = False
        self.path: Path | None = None
        self.missing = False  # the last look found no log file (beat has not written it)
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
        self.text = LogText()
        self.text.setReadOnly(True)
        # Read from the keyboard too: arrows, Page Up/Down, Ctrl+Home/End, Shift to select.
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse
                                          | Qt.TextInteractionFlag.TextSelectableByKeyboard)
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
        self.missing = False
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
        missing = self.position is None  # never opened: no file (or none to read)
        if missing != self.missing:
            self.missing = missing
            self._count()
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

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:  # a light or dark theme now
            self.refilter()

    def _append(self, lines: list[tuple[str, str | None]]) -> None:
        dark = self.text.palette().color(QPalette.ColorRole.Base).lightness() < 128
        formats = {level: _formats(level, dark) for level in {lv for _, lv in lines}}
        cursor = QTextCursor(self.text.document())
        cursor.movePosition(QTextCursor.MoveOperation.End)
        cursor.beginEditBlock()
        for line, level in lines:
            if not self.shows(line, level):
                continue
            block, char = formats[level]
            if self.shown:
                cursor.insertBlock(block, char)
            else:
                cursor.setBlockFormat(block)
                cursor.setBlockCharFormat(char)
            cursor.insertText(line, char)
            cursor.block().setUserState(_MARKS.get(level or "", 0))
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
        elif self.missing and not self.lines:
            self.text.setPlaceholderText(f"There is no log file yet: beat writes {self.path} "
                                         "when it starts, and it shows here then.")
        else:
            self.text.setPlaceholderText("Nothing in beat's log yet.")
