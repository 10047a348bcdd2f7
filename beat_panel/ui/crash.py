"""An unexpected exception in the GUI is logged with its traceback and shown to the person
in a dialog that names the log file, instead of vanishing into a terminal nobody sees."""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from beat_panel.ui.dialogs import Dialogs, Prompt

log = logging.getLogger(__name__)

ExceptHook = Callable[[type[BaseException], BaseException, TracebackType | None], None]


def install(dialogs: Dialogs, log_file: Path | None) -> ExceptHook:
    """Make `sys.excepthook` log and show unexpected exceptions; returns the old hook.

    PySide6 hands an exception raised in a slot to `sys.excepthook` and goes on, so the
    panel stays usable after showing it.
    """
    previous = sys.excepthook
    showing = [False]

    def hook(kind: type[BaseException], error: BaseException,
             trace: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            previous(kind, error, trace)
            return
        log.critical("Unexpected error", exc_info=(kind, error, trace))
        if showing[0]:  # an error while showing an error: the log has it
            return
        showing[0] = True
        try:
            where = (f"The details are in {log_file}; please include that file if you "
                     "report the problem.") if log_file else (
                "The details are below and were printed to standard error; please "
                "include them if you report the problem.")
            dialogs.launch(Prompt(
                "error", "Beat Panel hit an unexpected error",
                f"{kind.__name__}: {error}",
                f"Beat Panel goes on running. {where}",
                "".join(traceback.format_exception(kind, error, trace))))
        finally:
            showing[0] = False

    sys.excepthook = hook
    return previous
