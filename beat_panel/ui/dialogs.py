"""Every message box goes through `Dialogs.launch`, so tests answer them without a
modal loop (they replace `launch`). A box that shows a command for a person to run
shows it one option a line and offers "Copy command"."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QFontMetrics, QGuiApplication
from PySide6.QtWidgets import (
    QAbstractButton,
    QGridLayout,
    QMessageBox,
    QSizePolicy,
    QSpacerItem,
    QWidget,
)

from beat_panel.control.outcomes import Message

_ICONS = {"info": QMessageBox.Icon.Information, "warning": QMessageBox.Icon.Warning,
          "error": QMessageBox.Icon.Critical, "question": QMessageBox.Icon.Question}
_ROLES = {"ok": QMessageBox.ButtonRole.AcceptRole, "cancel": QMessageBox.ButtonRole.RejectRole}
# Which button Esc presses: the first of these the box has, else its last one.
_ESCAPE_KEYS = ("cancel", "later", "keep", "ok")
COPY = ("copy", "Copy command")
COPIED_LABEL = "Copied ✓"
# What a window manager puts beside the title: the window's icon and its buttons. A box
# narrower than its title plus these has its title cut ("Delete…tries?").
TITLE_DECORATION_PX = 170
ICON_COLUMN_PX = 100  # the box's icon and margins, beside its text


@dataclass(frozen=True)
class Prompt:
    """A message box: what it says and which buttons it offers (key, label). With a
    `command`, the "copy" button copies it and leaves the box open."""

    level: str
    title: str
    text: str
    informative: str = ""
    details: str = ""
    buttons: tuple[tuple[str, str], ...] = (("ok", "OK"),)
    default: str = "ok"
    extra: dict = field(default_factory=dict)
    command: str = ""


def command_lines(command: str) -> str:
    """`command` as a person reads it: one option (with its value) a line, each line but
    the last ending in a backslash, so what is shown also pastes into a shell."""
    try:
        words = shlex.split(command)
    except ValueError:  # not one shell command: shown as it is
        return command
    lines: list[list[str]] = [[]]
    for word in words:
        line = lines[-1]
        # A line for the environment, for the program, for each option with its value;
        # what follows "--" stays with it.
        program = bool(line) and line[0] == "env" and all("=" in w for w in line[1:]) \
            and "=" not in word
        if line and line != ["--"] and (word.startswith("-") or program):
            lines.append([])
        lines[-1].append(word)
    if len(lines) < 3:  # short: one line reads best
        return command
    return " \\\n    ".join(shlex.join(line) for line in lines)


def _wide_enough(box: QMessageBox, title: str, lines: str) -> None:
    """Make the box wide enough for its title in the title bar and for each of `lines`
    (a command, one option a line) unwrapped, within the screen."""
    bold = QFont(box.font())
    bold.setBold(True)  # most title bars draw it bold
    wanted = QFontMetrics(bold).horizontalAdvance(title) + TITLE_DECORATION_PX
    if lines:
        metrics = box.fontMetrics()
        wanted = max(wanted, max(metrics.horizontalAdvance(line) for line in
                                 lines.splitlines()) + ICON_COLUMN_PX)
    screen = box.screen()
    if screen is not None:
        wanted = min(wanted, int(screen.availableGeometry().width() * 0.8))
    layout = box.layout()
    if isinstance(layout, QGridLayout):  # QMessageBox sizes itself to its layout
        layout.addItem(QSpacerItem(wanted, 0, QSizePolicy.Policy.Minimum,
                                   QSizePolicy.Policy.Minimum),
                       layout.rowCount(), 0, 1, layout.columnCount())


class Dialogs:
    """Shows prompts; returns the key of the button the person chose."""

    def __init__(self, parent: QWidget | None = None) -> None:
        self.parent = parent

    def launch(self, prompt: Prompt) -> str:
        box = QMessageBox(self.parent)
        # Modal for its window only: the tray's menu stays usable meanwhile.
        box.setWindowModality(Qt.WindowModality.WindowModal if self.parent is not None
                              else Qt.WindowModality.NonModal)
        box.setIcon(_ICONS.get(prompt.level, QMessageBox.Icon.NoIcon))
        box.setWindowTitle(prompt.title)
        box.setText(prompt.text)
        informative = prompt.informative
        shown = ""  # the command, as the box shows it
        if prompt.command and prompt.command in informative:
            shown = command_lines(prompt.command)
            informative = informative.replace(prompt.command, shown)
        if informative:
            box.setInformativeText(informative)
        if prompt.details:
            box.setDetailedText(prompt.details)
        if shown:  # a part of the command can be selected, too (by mouse: the keys stay
            # with the buttons, so Return and Space still answer)
            box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        buttons = {}
        for key, label in prompt.buttons:
            role = _ROLES.get(key, QMessageBox.ButtonRole.ActionRole)
            button = box.addButton(label, role)
            buttons[button] = key
            if key == prompt.default:
                box.setDefaultButton(button)
            if key == COPY[0] and prompt.command:
                # Copying is not an answer: the box stays for Start now or Close.
                button.clicked.disconnect()
                button.clicked.connect(lambda _=False, b=button: _copy(prompt.command, b))
        # Esc always closes the box, as its "cancel" (or "close", or only) button.
        keys = [key for key, _ in prompt.buttons]
        escape = next((k for k in _ESCAPE_KEYS if k in keys), keys[-1])
        box.setEscapeButton(next(b for b, k in buttons.items() if k == escape))
        _wide_enough(box, prompt.title, shown)
        box.exec()
        return buttons.get(box.clickedButton(), "cancel")

    def answer(self, prompt: Prompt) -> str:
        """`launch`, and the command copied when the answer was "copy" (a box that
        closed on it, as a test's scripted one does)."""
        answer = self.launch(prompt)
        if answer == COPY[0] and prompt.command:
            QGuiApplication.clipboard().setText(prompt.command)
        return answer

    def outcome(self, message: Message) -> str:
        """The message box for a start/stop/restart outcome."""
        buttons: tuple[tuple[str, str], ...] = (("ok", "Close"),)
        default = "ok"
        if message.offer_start:
            buttons = (("start", "Start now"), ("ok", "Close"))
            default = "start"
        if message.offer_log:
            buttons = (*buttons[:-1], ("log", "Open log"), buttons[-1])
        if message.command:
            buttons = (COPY, *buttons)
        return self.answer(Prompt(message.level, message.title, message.text,
                                  message.informative, message.details, buttons, default,
                                  command=message.command))

    def ask(self, title: str, text: str, buttons: tuple[tuple[str, str], ...],
            default: str, informative: str = "", level: str = "question",
            command: str = "") -> str:
        """A question; with `command`, the box also offers to copy it."""
        if command:
            buttons = (COPY, *buttons)
        return self.answer(Prompt(level, title, text, informative, "", buttons, default,
                                  command=command))

    def tell(self, level: str, title: str, text: str, informative: str = "",
             details: str = "") -> None:
        self.launch(Prompt(level, title, text, informative, details))


def _copy(command: str, button: QAbstractButton) -> None:
    QGuiApplication.clipboard().setText(command)
    button.setText(COPIED_LABEL)
