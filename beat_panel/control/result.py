"""The outcome of start / stop / restart, written for the person who sees it."""

from __future__ import annotations

from dataclasses import dataclass, field

from beat_panel.control.states import Action
from beat_panel.process.managers import Manager


@dataclass
class ActionResult:
    """The outcome of start / stop / restart, written for the person who sees it."""

    action: Action
    success: bool
    message: str
    not_running: bool = False
    permission_denied: bool = False
    already_running: bool = False
    killed: bool = False  # the stop needed SIGKILL
    instructions: str | None = None
    manual_start_command: str | None = None
    old_pids: list[int] = field(default_factory=list)
    new_pids: list[int] = field(default_factory=list)
    owner: str | None = None
    log_tail: str | None = None
    manager: Manager | None = None
    warning: str | None = None  # a success with something the person must know
    command: str | None = None  # a command that does what the panel could not (to copy)

    def __post_init__(self) -> None:
        self.action = Action(self.action)

    def to_json(self) -> dict:
        return {
            "action": self.action.value,
            "success": self.success,
            "not_running": self.not_running,
            "permission_denied": self.permission_denied,
            "already_running": self.already_running,
            "killed": self.killed,
            "message": self.message,
            "instructions": self.instructions,
            "manual_start_command": self.manual_start_command,
            "old_pids": self.old_pids,
            "new_pids": self.new_pids,
            "owner": self.owner,
            "log_tail": self.log_tail,
            "manager": self.manager.to_json() if self.manager else None,
            "warning": self.warning,
            "command": self.command,
        }
