"""The panel's settings, one object per process: every face reads and changes them here,
each change is stored at once and announced, so it takes effect in every face at once."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QByteArray, QObject, QSettings, Signal

from beat_panel import autostart, paths

log = logging.getLogger(__name__)

DEFAULT_REFRESH_SECONDS = 30
MIN_REFRESH_SECONDS = 1
MAX_REFRESH_SECONDS = 3600


SETTINGS_NAME = "Beat Panel.conf"  # where QSettings("beat-panel", "Beat Panel") keeps them


def settings_file() -> Path:
    """The settings file, beside beat-panel.toml in the user's config folder."""
    return paths.config_dir() / SETTINGS_NAME


def _store() -> QSettings:
    # An explicit path, read from XDG_CONFIG_HOME each time (Qt caches its own default
    # location for the whole process).
    return QSettings(str(settings_file()), QSettings.Format.IniFormat)


class PanelSettings(QObject):
    """Typed settings with a `changed(name)` signal.

    "Start at login" is not kept here but in the autostart entry itself (the file the
    desktop reads), so it can never disagree with what happens at the next login.
    """

    changed = Signal(str)  # the setting's name

    def __init__(self, config_path: Path | None = None, refresh_override: int | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.config_path = config_path
        # `--refresh SECONDS` on the command line: for this run only, until changed here.
        self._refresh_override = refresh_override
        self._settings = _store()

    # -- refresh interval ---------------------------------------------------------------

    @property
    def refresh_seconds(self) -> int:
        if self._refresh_override:
            return max(MIN_REFRESH_SECONDS, min(MAX_REFRESH_SECONDS, self._refresh_override))
        raw = self._settings.value("refresh_seconds")
        if raw is None:
            return DEFAULT_REFRESH_SECONDS
        try:
            value = int(str(raw))
        except ValueError:
            value = 0
        if not MIN_REFRESH_SECONDS <= value <= MAX_REFRESH_SECONDS:
            log.warning("%s: refresh_seconds=%r is not a whole number of seconds from %d to "
                        "%d; using %d", settings_file(), raw, MIN_REFRESH_SECONDS,
                        MAX_REFRESH_SECONDS, DEFAULT_REFRESH_SECONDS)
            return DEFAULT_REFRESH_SECONDS
        return value

    def set_refresh_seconds(self, seconds: int) -> None:
        seconds = max(MIN_REFRESH_SECONDS, min(MAX_REFRESH_SECONDS, int(seconds)))
        overridden, self._refresh_override = self._refresh_override, None
        self._set("refresh_seconds", seconds)
        if overridden:
            self.changed.emit("refresh_seconds")

    # -- keep-alive and the tray -------------------------------------------------------

    @property
    def keep_alive(self) -> bool:
        return self._flag("keep_alive")

    def set_keep_alive(self, on: bool) -> None:
        self._set("keep_alive", bool(on))

    @property
    def keep_in_tray(self) -> bool:
        return self._flag("keep_in_tray")

    def set_keep_in_tray(self, on: bool) -> None:
        self._set("keep_in_tray", bool(on))

    @property
    def start_at_login(self) -> bool:
        return autostart.is_enabled()

    def set_start_at_login(self, on: bool) -> None:
        """Write or remove the autostart entry (raises OSError when it cannot)."""
        if on == autostart.is_enabled():
            return
        if on:
            autostart.enable(self.config_path)
        else:
            autostart.disable()
        self.changed.emit("start_at_login")

    # -- window geometry ---------------------------------------------------------------

    @property
    def geometry(self) -> QByteArray | None:
        value = self._settings.value("geometry")
        return value if isinstance(value, QByteArray) else None

    def set_geometry(self, geometry: QByteArray) -> None:
        self._settings.setValue("geometry", geometry)  # no face follows it: no signal

    def _flag(self, name: str) -> bool:
        """A switch: only a clear yes turns it on (a damaged value, say `banana`, must
        not switch on keep-alive, which restarts beat)."""
        raw = self._settings.value(name)
        if raw is None or isinstance(raw, bool):
            return bool(raw)
        text = str(raw).strip().lower()
        if text in ("true", "1", "yes", "on"):
            return True
        if text not in ("false", "0", "no", "off", ""):
            log.warning("%s: %s=%r is neither true nor false; taking false",
                        settings_file(), name, raw)
        return False

    def _set(self, name: str, value: object) -> None:
        if self._settings.value(name) == value:
            return
        self._settings.setValue(name, value)
        self._settings.sync()
        self.changed.emit(name)
