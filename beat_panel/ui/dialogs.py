"""Every message box goes through `Dialogs.launch`, so tests answer them without a
modal loop (they replace `launch`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QFontMetrics, QGuiApplication
from PySide6.QtWidgets import QGridLayout, QMessageBox, QSizePolicy, QSpacerItem, QWidget

from beat_panel.control.outcomes import Message

_ICONS = {"info": QMessageBox.Icon.Information, "warning": QMessageBox.Icon.Warning,
          "error": QMessageBox.Icon.Critical, "question": QMessageBox.Icon.Question}
_ROLES = {"ok": QMessageBox.ButtonRole.AcceptRole, "cancel": QMessageBox.ButtonRole.RejectRole}
# Which button Esc presses: the first of these the box has, else its last one.
_ESCAPE_KEYS = ("cancel", "later", "keep", "ok")
# What a window manager puts beside the title: the window's icon and its buttons. A box
# narrower than its title plus these has its title cut ("Delete…tries?").
TITLE_DECORATION_PX = 170


@dataclass(frozen=True)
class Prompt:
    """A message box: what it says and which buttons it offers (key, label)."""

    level: str
    title: str
    text: str
    informative: str = ""
    details: str = ""
    buttons: tuple[tuple[str, str], ...] = (("ok", "OK"),)
    default: str = "ok"
    extra: dict = field(default_factory=dict)


def _wide_enough(box: QMessageBox, title: str) -> None:
    """Make the box wide enough for its title in the title bar, within the screen."""
    bold = QFont(box.font())
    bold.setBold(True)  # most title bars draw it bold
    wanted = QFontMetrics(bold).horizontalAdvance(title) + TITLE_DECORATION_PX
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
        if prompt.informative:
            box.setInformativeText(prompt.informative)
        if prompt.details:
            box.setDetailedText(prompt.details)
        buttons = {}
        for key, label in prompt.buttons:
            role = _ROLES.get(key, QMessageBox.ButtonRole.ActionRole)
            buttons[box.addButton(label, role)] = key
            if key == prompt.default:
                box.setDefaultButton(list(buttons)[-1])
        # Esc always closes the box, as its "cancel" (or "close", or only) button.
        keys = [key for key, _ in prompt.buttons]
        escape = next((k for k in _ESCAPE_KEYS if k in keys), keys[-1])
        box.setEscapeButton(next(b for b, k in buttons.items() if k == escape))
        _wide_enough(box, prompt.title)
        box.exec()
        return buttons.get(box.clickedButton(), "cancel")

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
            buttons = (("copy", "Copy command"), *buttons)
        answer = self.launch(Prompt(message.level, message.title, message.text,
                                    message.informative, message.details, buttons, default))
        if answer == "copy":
            QGuiApplication.clipboard().setText(message.command)
        return answer

    def ask(self, title: str, text: str, buttons: tuple[tuple[str, str], ...],
            default: str, informative: str = "", level: str = "question") -> str:
        return self.launch(Prompt(level, title, text, informative, "", buttons, default))

    def tell(self, level: str, title: str, text: str, informative: str = "",
             details: str = "") -> None:
        self.launch(Prompt(level, title, text, informative, details))
