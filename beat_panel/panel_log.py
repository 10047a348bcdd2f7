"""The panel's own log: a rotating file in the user's state folder, so that no failure
is silent and a person reporting a problem has something to attach."""

from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path

from beat_panel import paths

LOG_NAME = "panel.log"
MAX_BYTES = 1_000_000
BACKUPS = 3
_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(process)d %(threadName)s] %(message)s"


def log_path() -> Path:
    """Where the panel writes its log (~/.local/state/beat-panel/panel.log)."""
    return paths.state_dir() / LOG_NAME


def setup(level: int = logging.INFO) -> Path | None:
    """Send the `beat_panel` loggers to the rotating file (once per process).

    Returns the file's path, or None when it cannot be written; then warnings go to
    standard error instead, never nowhere.
    """
    root = logging.getLogger("beat_panel")
    root.setLevel(level)
    path = log_path()
    for handler in root.handlers:
        if isinstance(handler, logging.handlers.RotatingFileHandler):
            return Path(handler.baseFilename)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8")
    except OSError as exc:
        print(f"beat-panel: cannot write its log {path}: {exc}", file=sys.stderr)
        handler = logging.StreamHandler(sys.stderr)
        handler.setLevel(logging.WARNING)
        path = None  # type: ignore[assignment]
    handler.setFormatter(logging.Formatter(_FORMAT))
    root.addHandler(handler)
    return path


def close() -> None:
    """Stop writing the log file (tests, and a panel that switches homes)."""
    root = logging.getLogger("beat_panel")
    for handler in list(root.handlers):
        if isinstance(handler, logging.handlers.RotatingFileHandler):
            root.removeHandler(handler)
            handler.close()
