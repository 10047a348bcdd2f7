"""Start the tray indicator at login: the freedesktop autostart entry."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

from beat_panel import paths
from beat_panel.files.atomic import atomic_write

ENTRY_NAME = "beat-panel.desktop"


def autostart_dir() -> Path:
    return paths.config_dir().parent / "autostart"


def entry_path() -> Path:
    return autostart_dir() / ENTRY_NAME


def tray_command(config_path: Path | None = None) -> list[str]:
    """How the login session should start the tray: this Python, this package."""
    argv = [sys.executable, "-m", "beat_panel"]
    if config_path is not None:
        argv += ["--config", str(config_path)]
    return [*argv, "tray"]


def entry_text(config_path: Path | None = None) -> str:
    icon = paths.resource("icons/beat-panel.svg")
    exec_line = " ".join(_desktop_quote(a) for a in tray_command(config_path))
    return "\n".join([
        "[Desktop Entry]",
        "Type=Application",
        "Name=Beat Panel",
        "Comment=Shows whether Celery beat is running, in the system tray",
        f"Exec={exec_line}",
        f"Icon={icon if icon.exists() else 'beat-panel'}",
        "Terminal=false",
        "Categories=Development;Utility;",
        "X-GNOME-Autostart-enabled=true",
        "",
    ])


def _desktop_quote(arg: str) -> str:
    # The Exec key's quoting rules: quote when needed; escape ", `, $ and \ inside.
    if arg and all(c.isalnum() or c in "-_./=:@" for c in arg):
        return arg
    escaped = "".join("\\" + c if c in '"`$\\' else c for c in arg)
    return f'"{escaped}"'


def is_enabled() -> bool:
    return entry_path().is_file()


def enable(config_path: Path | None = None) -> Path:
    path = entry_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, entry_text(config_path).encode("utf-8"), mode=0o644)
    return path


def disable() -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(entry_path())
