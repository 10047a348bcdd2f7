"""The vocabulary of beat control: what beat is doing (its phase) and what a person or
the panel can ask of it (an action). Both are `str` enums, so they read as their plain
names in JSON and in the activity log."""

from __future__ import annotations

import enum


class Phase(str, enum.Enum):
    """What beat is doing, as one status check saw it."""

    RUNNING = "running"
    STOPPED = "stopped"
    STARTING = "starting"
    STOPPING = "stopping"
    RESTARTING = "restarting"
    ERROR = "error"  # the check itself failed

    def __str__(self) -> str:
        return self.value

    @property
    def working(self) -> bool:
        """An action is under way (here or in another panel process)."""
        return self in (Phase.STARTING, Phase.STOPPING, Phase.RESTARTING)


class Action(str, enum.Enum):
    """What can be asked of beat."""

    START = "start"
    STOP = "stop"
    RESTART = "restart"

    def __str__(self) -> str:
        return self.value

    @property
    def phase(self) -> Phase:
        """The phase beat is in while this action runs."""
        return _WORKING[self]

    @property
    def label(self) -> str:
        return self.value.capitalize()


_WORKING = {Action.START: Phase.STARTING, Action.STOP: Phase.STOPPING,
            Action.RESTART: Phase.RESTARTING}
