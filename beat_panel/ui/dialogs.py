"""Every message box goes through `Dialogs.launch`, so tests answer them without a
modal loop (they replace `launch`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QMessageBox, QWidget

from beat_panel.control.outcomes import Message

_ICONS = {"info": QMessageBox.Icon.Information, "warning": QMessageBox.Icon.Warning,
          "error": QMessageBox.Icon.Critical, "question": QMessageBox.Icon.Question}
_ROLES = {"ok": QMessageBox.ButtonRole.AcceptRole, "cancel": QMessageBox.ButtonRole.RejectRole}
# Which button Esc presses: the first of these the box has, else its last one.
_ESCAPE_KEYS = ("cancel", "later", "keep", "ok")


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
