"""A config that cannot be used, shown where a person launched from a menu or at login
can see it: what is wrong (the file and the key), with the file one click away, a retry
once it is fixed, and another project to choose instead, instead of one line on a
standard error nobody reads."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QApplication

from beat_panel import config as config_module
from beat_panel.config import Config, ConfigError
from beat_panel.ui.dialogs import Dialogs, Prompt
from beat_panel.ui.jobs import JobRunner

if TYPE_CHECKING:  # the type only: the dialog is loaded when it is chosen
    from beat_panel.ui.window.project_dialog import SavedProject

Chooser = Callable[[Dialogs], "SavedProject | None"]


def choose_another_project(dialogs: Dialogs) -> SavedProject | None:
    """The project dialog (checking the app as in the window), with no project to
    prefill: the one it saved, or None."""
    from beat_panel.ui.window import project_dialog

    # Parented to the application: a check still running when the dialog closes ends
    # in its own time, without holding up the GUI thread.
    runner = JobRunner(QApplication.instance())
    return project_dialog.choose(runner, dialogs)


def ask_until_usable(error: ConfigError, explicit: str | os.PathLike[str] | None,
                     dialogs: Dialogs, choose: Chooser = choose_another_project
                     ) -> Config | None:
    """Show the error until the person fixes the file (Try again), chooses another
    project (saved as the user's default, and used), or quits (None)."""
    while True:
        where = (f"The file is {error.path}. Open it, fix what the message names, then "
                 "choose Try again, or choose another project.") if error.path else \
            "Fix the setting the message names, then choose Try again, or choose another " \
            "project."
        buttons: tuple[tuple[str, str], ...] = (
            ("retry", "Try again"), ("choose", "Choose another project…"), ("quit", "Quit"))
        if error.path is not None:
            buttons = (("open", "Open the file"), *buttons)
        answer = dialogs.launch(Prompt("error", "Beat Panel cannot use its settings",
                                       str(error), where, "", buttons, "retry"))
        if answer == "open" and error.path is not None:
            if not QDesktopServices.openUrl(QUrl.fromLocalFile(str(error.path))):
                dialogs.tell("warning", "Cannot open the file",
                             f"No program is set up to open {error.path} on this desktop.",
                             "Open it in a text editor, fix it, then choose Try again.")
            continue
        if answer == "choose":
            saved = choose(dialogs)
            if saved is None:
                continue
            from beat_panel.ui.window.project_dialog import tell_saved

            tell_saved(dialogs, saved, error.path)
            return saved.config
        if answer != "retry":
            return None
        try:
            return config_module.load(explicit)
        except ConfigError as again:
            error = again
