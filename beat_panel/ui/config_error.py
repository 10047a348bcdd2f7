"""A config that cannot be used, shown where a person launched from a menu or at login
can see it: what is wrong (the file and the key), with the file one click away and a
retry once it is fixed, instead of one line on a standard error nobody reads."""

from __future__ import annotations

import os

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices

from beat_panel import config as config_module
from beat_panel.config import Config, ConfigError
from beat_panel.ui.dialogs import Dialogs, Prompt


def ask_until_usable(error: ConfigError, explicit: str | os.PathLike[str] | None,
                     dialogs: Dialogs) -> Config | None:
    """Show the error until the person fixes the file (Try again) or quits (None)."""
    while True:
        where = (f"The file is {error.path}. Open it, fix what the message names, then "
                 "choose Try again.") if error.path else \
            "Fix the setting the message names, then choose Try again."
        buttons: tuple[tuple[str, str], ...] = (("retry", "Try again"), ("quit", "Quit"))
        if error.path is not None:
            buttons = (("open", "Open the file"), *buttons)
        answer = dialogs.launch(Prompt("error", "Beat Panel cannot use its settings",
                                       str(error), where, "", buttons, "retry"))
        if answer == "open" and error.path is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(error.path)))
            continue
        if answer != "retry":
            return None
        try:
            return config_module.load(explicit)
        except ConfigError as again:
            error = again
