"""What a project's Celery app contains, learned in a subprocess with a time limit.

The user's app is never imported into the panel: its import may be slow, have side
effects or hang. `introspect.py` runs in the project's own Python instead.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from beat_panel.config import Config
from beat_panel.errors import PanelError
from beat_panel.schedule import Entry

INTROSPECT_SCRIPT = Path(__file__).with_name("introspect.py")
DEFAULT_TIMEOUT = 30.0


class AppInfoError(PanelError):
    """The app could not be inspected; the message says why."""


@dataclass(frozen=True)
class AppInfo:
    tasks: list[str]
    beat_schedule: list[dict]
    timezone: str | None
    broker: str | None = None
    problems: list[str] = field(default_factory=list)


def project_python(config: Config) -> str:
    """The Python that runs the project's beat: the interpreter the configured command
    names, or the one in the first line of the celery script it names (found on the
    PATH beat gets, as beat itself would be). AppInfoError when it cannot be known: the
    app must be looked at in the same Python as beat, or not at all."""
    first = config.beat.command[0]
    path_var = config.beat.env.get("PATH", os.environ.get("PATH", ""))
    if os.sep in first:  # a path: relative ones are relative to where beat runs
        found: str | None = os.path.join(config.beat.workdir, first)
    else:
        found = shutil.which(first, path=path_var)
    if found is None or not os.path.exists(found):
        raise AppInfoError(f"The command that runs beat, {first!r} ([beat] command), was not "
                           "found, so the project's Python is not known. Set [beat] command "
                           "to the project's celery, e.g. [\"/srv/proj/.venv/bin/celery\"].")
    if os.path.basename(found).startswith("python"):
        return found
    try:
        with open(found, "rb") as fh:
            line = fh.readline(512)
    except OSError as exc:
        raise AppInfoError(f"Cannot read {found} ([beat] command) to find the project's "
                           f"Python: {exc.strerror}.") from None
    words = line[2:].strip().split() if line.startswith(b"#!") else []
    if words and os.path.basename(words[0]) == b"env" and len(words) > 1:
        interpreter = shutil.which(words[1].decode(errors="replace"), path=path_var)
    else:
        interpreter = words[0].decode(errors="replace") if words else None
    if interpreter and os.path.basename(interpreter).startswith("python") and \
            os.path.exists(interpreter):
        return interpreter
    raise AppInfoError(f"Cannot tell which Python runs {found} ([beat] command): it is not a "
                       "Python script. Set [beat] command to the project's own "
                       "[\"/path/to/python\", \"-m\", \"celery\"].")


def _run_helper(config: Config, app: str | None, extra: list[str], timeout: float) -> dict:
    """Run introspect.py in the project's Python and return its JSON answer."""
    name = app or config.beat.app
    if not name:
        raise AppInfoError("No Celery app is configured: set [beat] app in beat-panel.toml "
                           "or name one with --app.")
    if not config.beat.workdir.is_dir():
        raise AppInfoError(f"The project folder {config.beat.workdir} ([beat] workdir) does "
                           "not exist.")
    env = dict(os.environ)
    env.update(config.beat.env)
    try:
        done = subprocess.run(
            [project_python(config), str(INTROSPECT_SCRIPT), name, *extra],
            cwd=config.beat.workdir, env=env, capture_output=True, text=True,
            timeout=timeout, check=False, stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise AppInfoError(f"Loading the app {name!r} took longer than {timeout:g} s; "
                           "does importing it connect somewhere or wait for input?") from None
    except OSError as exc:
        raise AppInfoError(f"Cannot run the project's Python: {exc}") from None
    try:
        data = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        tail = (done.stderr or done.stdout).strip()[-800:]
        raise AppInfoError(f"Could not load the app {name!r}: {tail or 'no output'}") from None
    if "error" in data:
        raise AppInfoError(f"Could not load the app {name!r}: {data['error']}")
    return data


def send_now(config: Config, entry: Entry, timeout: float = DEFAULT_TIMEOUT) -> str:
    """Send the entry's task once, now, through the app's broker; return the task id."""
    data = _run_helper(config, None, ["--send", entry.task, json.dumps(list(entry.args)),
                                      json.dumps(entry.kwargs),
                                      json.dumps(entry.options.to_json())], timeout)
    return str(data["id"])


def inspect_app(config: Config, app: str | None = None,
                timeout: float = DEFAULT_TIMEOUT) -> AppInfo:
    """Registered tasks, beat_schedule, time zone and masked broker URL of the app."""
    data = _run_helper(config, app, [], timeout)
    return AppInfo(tasks=data.get("tasks", []), beat_schedule=data.get("beat_schedule", []),
                   timezone=data.get("timezone"), broker=data.get("broker"))
