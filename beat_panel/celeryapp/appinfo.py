"""What a project's Celery app contains, learned in a subprocess with a time limit.

The user's app is never imported into the panel: its import may be slow, have side
effects or hang. `introspect.py` runs in the project's own Python instead.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from beat_panel.config import Config
from beat_panel.errors import PanelError
from beat_panel.process.command_path import (
    CommandError,
    Program,
    beat_path_variable,
    find_program,
    require_trusted,
    script_interpreter,
)
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
    python: Program | None = None  # the interpreter the app was looked at in


def project_python(config: Config) -> Program:
    """The Python that runs the project's beat: the interpreter the configured command
    names, or the one in the `#!` line of the celery script it names. The command is found
    as the start finds it (`beat_panel.process.command_path`: on beat's PATH, or in the
    project folder, never in the panel's current folder), and both files must be ones
    only the user and root can change. AppInfoError when it cannot be known or may not be
    run: the app must be looked at in the same Python as beat, or not at all."""
    try:
        program = find_program(config.beat.command[0], config.beat.workdir,
                               beat_path_variable(config.beat.env))
        require_trusted(program)
        if os.path.basename(program.path).startswith("python"):
            return program
        interpreter = script_interpreter(program, beat_path_variable(config.beat.env))
        if interpreter is not None and \
                os.path.basename(interpreter.path).startswith("python"):
            if not os.path.exists(interpreter.path):
                raise AppInfoError(f"The Python that runs {program.path} ([beat] command), "
                                   f"{interpreter.path} ({interpreter.how}), does not "
                                   "exist. Set [beat] command to the project's celery.")
            require_trusted(interpreter, "the Python of [beat] command")
            return interpreter
    except CommandError as exc:
        raise AppInfoError(str(exc)) from None
    raise AppInfoError(f"Cannot tell which Python runs {program.path} ([beat] command): it "
                       "is not a Python script. Set [beat] command to the project's own "
                       "[\"/path/to/python\", \"-m\", \"celery\"].")


def _run_helper(config: Config, app: str | None, extra: list[str], timeout: float
                ) -> tuple[dict, Program]:
    """Run introspect.py in the project's Python: its JSON answer, and that Python."""
    name = app or config.beat.app
    if not name:
        raise AppInfoError("No Celery app is configured: set [beat] app in beat-panel.toml "
                           "or name one with --app.")
    if not config.beat.workdir.is_dir():
        raise AppInfoError(f"The project folder {config.beat.workdir} ([beat] workdir) does "
                           "not exist.")
    env = dict(os.environ)
    env.update(config.beat.env)
    python = project_python(config)
    try:
        done = subprocess.run(
            [python.path, str(INTROSPECT_SCRIPT), name, *extra],
            cwd=config.beat.workdir, env=env, capture_output=True, text=True,
            timeout=timeout, check=False, stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise AppInfoError(f"Loading the app {name!r} took longer than {timeout:g} s; "
                           "does importing it connect somewhere or wait for input?") from None
    except OSError as exc:
        raise AppInfoError(f"Cannot run the project's Python, {python.describe()}: "
                           f"{exc}") from None
    try:
        data = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        tail = (done.stderr or done.stdout).strip()[-800:]
        raise AppInfoError(f"Could not load the app {name!r}: {tail or 'no output'}") from None
    if "error" in data:
        raise AppInfoError(f"Could not load the app {name!r}: {data['error']}")
    return data, python


def send_now(config: Config, entry: Entry, timeout: float = DEFAULT_TIMEOUT) -> str:
    """Send the entry's task once, now, through the app's broker; return the task id."""
    data, _ = _run_helper(config, None, ["--send", entry.task, json.dumps(list(entry.args)),
                                      json.dumps(entry.kwargs),
                                      json.dumps(entry.options.to_json())], timeout)
    return str(data["id"])


def inspect_app(config: Config, app: str | None = None,
                timeout: float = DEFAULT_TIMEOUT) -> AppInfo:
    """Registered tasks, beat_schedule, time zone and masked broker URL of the app."""
    data, python = _run_helper(config, app, [], timeout)
    return AppInfo(tasks=data.get("tasks", []), beat_schedule=data.get("beat_schedule", []),
                   timezone=data.get("timezone"), broker=data.get("broker"), python=python)
