"""How each state of beat looks: colour, glyph and words. One table for the window's
badge and the tray's icon, so they always agree."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from beat_panel.control.states import Phase
from beat_panel.control.status import Status
from beat_panel.health.report import PROBLEM_LEVELS, Level

if TYPE_CHECKING:
    from PySide6.QtWidgets import QWidget


@dataclass(frozen=True)
class Look:
    colour: str  # background
    glyph: str  # shape, so the state reads without colour too
    label: str


GREEN, RED, AMBER, GREY = "#1e8e3e", "#c5221f", "#e37400", "#5f6368"

LOOKS: dict[str, Look] = {
    "running": Look(GREEN, "✓", "Active"),
    "stopped": Look(RED, "■", "Stopped"),  # (a ⚠ is hard to read at tray size)
    "error": Look(RED, "✖", "Error"),
    "starting": Look(AMBER, "↻", "Starting…"),
    "stopping": Look(AMBER, "↻", "Stopping…"),
    "restarting": Look(AMBER, "↻", "Restarting…"),
    "duplicate": Look(AMBER, "!!", "beats running"),  # (‼ is missing from common fonts)
    "degraded": Look(AMBER, "!", "Schedule problem"),  # runs, but not what the file says
    # Runs, but what it sends cannot reach a worker (see TROUBLE_LOOKS):
    "broker_down": Look(AMBER, "!", "Broker unreachable"),
    "no_worker": Look(AMBER, "!", "No worker for a queue"),
    "unknown": Look(GREY, "…", "Checking…"),
    # A schedule in Redis, from RedBeat's lock (see REDBEAT_LOOKS):
    "remote": Look(GREEN, "✓", "Active elsewhere"),  # another machine's beat sends
    "standby": Look(GREEN, "✓", "Standby"),  # runs here; another machine's beat sends
    "stale_lock": Look(AMBER, "!", "Stale lock"),  # a killed beat's lock: nothing sends
    "lock_wait": Look(AMBER, "↻", "Waiting for lock"),  # runs here, waits for a stale lock
}

# What RedBeat's lock says (Status.redbeat), as the look it turns the faces to.
REDBEAT_LOOKS: dict[str, str] = {
    "remote": "remote",
    "standby": "standby",
    "stale": "stale_lock",
    "waiting": "lock_wait",
}

# How bad a health problem is, as a colour: from the core's one table of levels.
LEVEL_COLOURS: dict[Level, str] = {Level.ERROR: RED, Level.WARNING: AMBER}


def _problem_colour(code: str) -> str:
    return LEVEL_COLOURS[PROBLEM_LEVELS[code]]


# The states of the window's Health view other than beat's own (beat uses LOOKS).
HEALTH_LOOKS: dict[str, Look] = {
    "unchecked": Look(GREY, "…", "Not checked yet"),
    "broker_ok": Look(GREEN, "✓", "Reachable"),
    "broker_unreachable": Look(_problem_colour("broker_unreachable"), "✖", "Unreachable"),
    "worker_answering": Look(GREEN, "✓", "Answering"),
    "worker_missing": Look(_problem_colour("worker_missing"), "!", "Not answering"),
    "no_workers": Look(_problem_colour("no_workers"), "!", "No worker answered"),
    "workers_unknown": Look(_problem_colour("workers_unknown"), "?", "Could not be asked"),
}


@dataclass(frozen=True)
class Trouble:
    """What the last health check found that keeps a running beat's sends from reaching
    a worker: a code of TROUBLE_LOOKS and the reason in words (password masked)."""

    code: str
    message: str


# While beat runs, each trouble turns the faces to its look: one table, not ifs.
TROUBLE_LOOKS: dict[str, str] = {
    "broker_unreachable": "broker_down",
    "no_worker_for_queue": "no_worker",
}


def state_key(status: Status | None, working: Phase | None = None,
              trouble: Trouble | None = None) -> str:
    """The look to show: `working` (an action of this panel in flight) wins."""
    if working is not None:
        return working.value
    if status is None:
        return "unknown"
    if status.state is Phase.RUNNING and status.duplicate:
        return "duplicate"
    if status.state is Phase.RUNNING and status.running and trouble is not None:
        return TROUBLE_LOOKS[trouble.code]
    if status.state is Phase.RUNNING and status.schedule_problem:
        return "degraded"
    if status.state in (Phase.RUNNING, Phase.STOPPED) and status.redbeat in REDBEAT_LOOKS:
        return REDBEAT_LOOKS[status.redbeat]
    return status.state.value


def badge_text(status: Status | None, working: Phase | None = None,
               trouble: Trouble | None = None) -> str:
    key = state_key(status, working, trouble)
    look = LOOKS[key]
    if status is not None and key == "duplicate":
        return f"{look.glyph} {status.count} {look.label}"
    return f"{look.glyph} {look.label}"


def tooltip(status: Status | None, working: Phase | None = None,
            trouble: Trouble | None = None) -> str:
    if working is not None:
        return f"Beat is {working.value}…"
    if status is None:
        return "Checking whether beat is running…"
    lines = [status.message]
    if trouble is not None and state_key(status, working, trouble) == \
            TROUBLE_LOOKS[trouble.code]:
        lines.append(trouble.message)
    if status.pids:
        lines.append("pids: " + ", ".join(map(str, status.pids)))
    lines += status.warnings
    if status.state is Phase.STOPPED:
        lines.append("Click for what to do.")
    return "\n".join(lines)


def context(status: Status | None) -> str:
    """Where beat runs, when that matters: a manager, or embedded in a worker."""
    if status is None or not status.processes:
        return ""
    notes = []
    for p in status.processes:
        if p.embedded:
            notes.append(f"embedded in worker pid {p.pid}")
        elif p.manager is not None:
            notes.append(f"under {p.manager.describe()}")
    return "; ".join(dict.fromkeys(notes))


def restyle(widget: QWidget, sheet: str) -> None:
    """Give `widget` this style sheet unless it has it: every set re-polishes the widget
    and repaints it, which each refresh would otherwise pay for nothing."""
    if widget.styleSheet() != sheet:
        widget.setStyleSheet(sheet)


def dim(widget: QWidget) -> None:
    """Quieter text (a note, when it was checked) that stays readable in a light and in a
    dark theme: the palette's own placeholder colour, not a fixed grey."""
    from PySide6.QtGui import QPalette

    widget.setForegroundRole(QPalette.ColorRole.PlaceholderText)
