"""Where Beat Panel keeps things: the user's config, data and state folders (XDG), and the
resources it ships."""

from __future__ import annotations

import os
import sys
from pathlib import Path

APP_DIR_NAME = "beat-panel"


def _xdg(variable: str, fallback: str) -> Path:
    value = os.environ.get(variable, "")
    # The XDG spec says relative values are invalid and must be ignored.
    if value and os.path.isabs(value):
        return Path(value)
    return Path.home() / fallback


def config_dir() -> Path:
    """The folder of the user's `beat-panel.toml` (~/.config/beat-panel)."""
    return _xdg("XDG_CONFIG_HOME", ".config") / APP_DIR_NAME


def data_dir() -> Path:
    """Beat Panel's data folder (~/.local/share/beat-panel): the demo project, history."""
    return _xdg("XDG_DATA_HOME", ".local/share") / APP_DIR_NAME


def state_dir() -> Path:
    """Beat Panel's state folder (~/.local/state/beat-panel): locks, action markers."""
    return _xdg("XDG_STATE_HOME", ".local/state") / APP_DIR_NAME


def _package_dir() -> Path:
    """This package's folder: beside this file, or inside a frozen bundle."""
    if getattr(sys, "frozen", False):
        return Path(sys._MEIPASS) / "beat_panel"  # type: ignore[attr-defined]
    return Path(__file__).resolve().parent


def resource(name: str) -> Path:
    """The file `name` (e.g. "icons/beat-panel.svg", "start_celery_beat.sh") among the
    panel's resources, found the same way in a checkout, an installed wheel and a frozen
    bundle.

    They live in `beat_panel/resources/`: in a checkout that is a link to the top-level
    `resources/` folder (whose `start_celery_beat.sh` links to the script at the top), a
    wheel carries them as package data, and a PyInstaller bundle must put them in
    `beat_panel/resources/` under its own folder (`sys._MEIPASS`). The path is returned
    with links resolved; it does not exist only when the package was built without them.
    """
    relative = Path(name)
    if relative.is_absolute() or ".." in relative.parts:
        raise ValueError(f"a resource name is a path inside resources/, not {name!r}")
    return (_package_dir() / "resources" / relative).resolve()


def resources_dir() -> Path:
    """The resources folder itself; prefer `resource(name)`."""
    return resource(".")


def plugin_import_dir() -> Path:
    """A folder to put on a beat's PYTHONPATH so that a project's own environment can
    import the panel's scheduler (`beat_panel.plugin`) without installing Beat Panel."""
    package = Path(__file__).resolve().parent
    if package.parent.name != "site-packages":
        return package.parent  # a checkout: its root holds the package
    # Installed: a folder that holds nothing but a link to this package, so the rest of
    # the panel's site-packages does not leak into the project's environment.
    folder = state_dir() / "pythonpath"
    link = folder / "beat_panel"
    if not link.is_symlink():
        folder.mkdir(parents=True, exist_ok=True)
        link.symlink_to(package, target_is_directory=True)
    return folder
