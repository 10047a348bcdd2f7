"""Exit codes of the `beat-panel` command (the outward contract; scripts rely on them)."""

from __future__ import annotations

from beat_panel.control.result import ActionResult

OK = 0
FAILED = 1
USAGE = 2  # bad usage, bad config or bad input
NOT_RUNNING = 3  # stop or restart with nothing to stop
PERMISSION = 4  # beat belongs to another user


def for_result(result: ActionResult) -> int:
    if result.success:
        return OK
    if result.permission_denied:
        return PERMISSION
    if result.not_running:
        return NOT_RUNNING
    return FAILED
