"""What to tell a person after start / stop / restart: one table for the window's
message boxes and the tray's notifications."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from beat_panel.control.result import ActionResult


class Level(str, enum.Enum):
    """How much a message matters to the person reading it."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Message:
    level: Level
    title: str
    text: str
    informative: str = ""
    details: str = ""  # the log tail, for the "Show Details..." part
    offer_start: bool = False  # offer a "Start now" button
    offer_log: bool = False  # offer an "Open log" button (a beat that died)
    command: str = ""  # a command the person can run, offered with a Copy button


_DONE_TITLES = {"start": "Beat started", "stop": "Beat stopped", "restart": "Beat restarted"}
_FAILED_TITLES = {"start": "Beat did not start", "stop": "Beat did not stop",
                  "restart": "Restart failed"}


def describe(result: ActionResult) -> Message:
    """The message for one outcome: restarted, not running, permission denied, failed."""
    if result.success:
        # (A SIGKILL is said in the message itself, once.)
        level = Level.WARNING if result.killed or result.warning else Level.INFO
        return Message(level, _DONE_TITLES[result.action], result.message,
                       result.warning or "")
    if result.not_running:
        manual = result.manual_start_command or ""
        return Message(Level.WARNING, "Beat is not running", result.message,
                       f"Start it now, or start it by hand with:\n{manual}" if manual else "",
                       offer_start=True, command=manual)
    if result.permission_denied:
        return Message(Level.ERROR, "Permission denied", result.message,
                       result.instructions or "", command=result.command or "")
    if result.already_running:
        return Message(Level.WARNING, "Beat is already running", result.message)
    return Message(Level.ERROR, _FAILED_TITLES[result.action], result.message,
                   result.instructions or "", details=result.log_tail or "")
