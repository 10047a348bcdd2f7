"""Is a task name one the app registers, and if not, which registered names are close?

A name the app does not register is worth a warning, never a refusal: a worker built
from another code base may register it. The pure part (`check_task`, `closest_names`)
works on a list of names any face already has (the entry dialog's completion list);
`check_task_in_app` learns the list from the app, in a subprocess with a time limit.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass

from beat_panel.celeryapp import appinfo
from beat_panel.config import Config
from beat_panel.errors import PanelError

# Long enough for a Django project's import; short enough for a command line to wait on.
CHECK_TIMEOUT = 15.0
# Celery's own tasks (celery.backend_cleanup, ...) are registered by every app, but the
# introspection leaves them out of its list, so their names are never questioned.
BUILTIN_PREFIX = "celery."
SUGGESTIONS = 3
_CUTOFF = 0.6


@dataclass(frozen=True)
class TaskCheck:
    """What is known about one task name. `registered` is None when the app's tasks
    could not be read (`reason` says why) or the name is one of Celery's own."""

    task: str
    registered: bool | None
    suggestions: tuple[str, ...] = ()
    task_count: int = 0  # how many tasks the app registers, when known
    app: str | None = None
    reason: str | None = None

    @property
    def warning(self) -> str | None:
        """One sentence for a person when the app does not register the name, else None."""
        if self.registered is not False:
            return None
        who = f"The app {self.app}" if self.app else "The app"
        text = f"{who} does not register a task named {self.task!r}"
        if self.suggestions:
            text += "; did you mean " + " or ".join(repr(s) for s in self.suggestions) + "?"
        else:
            count = self.task_count
            text += (f" (it registers {count} task{'' if count == 1 else 's'}, none with a "
                     "similar name).")
        return text + (" A worker built from other code may register it; if none does, "
                       "beat sends it and nothing runs it.")

    def to_json(self) -> dict:
        return {"task": self.task, "registered": self.registered,
                "suggestions": list(self.suggestions), "reason": self.reason}


def closest_names(task: str, registered: Sequence[str], limit: int = SUGGESTIONS) -> list[str]:
    """The registered names closest to `task`, best first: by the whole dotted name, then
    by the last part alone (`cleanp` finds `proj.tasks.cleanup`)."""
    names = sorted(set(registered))
    found = difflib.get_close_matches(task, names, n=limit, cutoff=_CUTOFF)
    short = task.rsplit(".", 1)[-1]
    by_short: dict[str, list[str]] = {}
    for name in names:
        by_short.setdefault(name.rsplit(".", 1)[-1], []).append(name)
    for match in difflib.get_close_matches(short, list(by_short), n=limit, cutoff=_CUTOFF):
        found += [name for name in by_short[match] if name not in found]
    return found[:limit]


def check_task(task: str, registered: Sequence[str] | None, app: str | None = None,
               reason: str | None = None) -> TaskCheck:
    """Check `task` against the app's registered names (None: they are not known)."""
    if registered is None or task.startswith(BUILTIN_PREFIX):
        return TaskCheck(task, None, app=app, reason=reason)
    if task in registered:
        return TaskCheck(task, True, task_count=len(registered), app=app)
    return TaskCheck(task, False, tuple(closest_names(task, registered)), len(registered),
                     app)


def check_task_in_app(config: Config, task: str, timeout: float = CHECK_TIMEOUT) -> TaskCheck:
    """Check `task` against the tasks the configured app registers, read in the project's
    own Python. Never raises for an app that cannot be read: the answer is then unknown
    (registered None) with the reason."""
    app = config.beat.app
    if not app:
        return TaskCheck(task, None, reason="no Celery app is configured ([beat] app)")
    try:
        info = appinfo.inspect_app(config, timeout=timeout)
    except (PanelError, OSError) as exc:
        return check_task(task, None, app, str(exc))
    return check_task(task, info.tasks, app)
