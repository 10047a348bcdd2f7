"""Which program `[beat] command` runs: one answer for the start and for the look at the
app (`schedule import`, the window's task names, Run now), so both use the same Python.

- A command with a `/` is a path; a relative one is taken from the project folder
  (`[beat] workdir`), where beat runs, never from the panel's current folder.
- A bare name (`celery`) is looked up in the absolute folders of the `PATH` beat gets
  (`[beat.env]` PATH, else the panel's own). Empty and relative entries (`.`, `bin`) are
  skipped: they would name whatever folder the program happened to be started in.
- The program found, and the Python its `#!` line names, must be files only the user and
  root can change (`beat_panel.files.trust`): a root panel must not run another user's file.
"""

from __future__ import annotations

import os
import shlex
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from beat_panel.errors import PanelError
from beat_panel.files import trust
from beat_panel.files.owners import user_name

_KEY = "[beat] command"


class CommandError(PanelError):
    """The command cannot be found, or may not be run; the text says why and what to do."""


@dataclass(frozen=True)
class Program:
    """A program to run: `path` (absolute, links kept: a venv's python finds its venv by
    the name it was run as) and how it was found, for messages."""

    path: str
    how: str  # "on PATH", "in the project folder", "as given", "from the #! line of …"

    def describe(self) -> str:
        """`/srv/proj/.venv/bin/python (from the #! line of /srv/proj/.venv/bin/celery)`."""
        return f"{self.path} ({self.how})"


def beat_path_variable(env: Mapping[str, str]) -> str:
    """The PATH beat runs with: `[beat.env]`'s PATH over the panel's own."""
    if "PATH" in env:
        return env["PATH"]
    return os.environ.get("PATH", os.defpath)


def _executable(path: str) -> bool:
    try:
        st = os.stat(path)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and os.access(path, os.X_OK)


def find_program(word: str, workdir: Path, path_variable: str, key: str = _KEY) -> Program:
    """Where `word` (the first word of a command) is, as described in the module
    docstring; CommandError when it is not found (naming `key`)."""
    if "/" in word:
        absolute = os.path.isabs(word)
        found = word if absolute else os.path.join(workdir, word)
        if not os.path.exists(found):
            where = "" if absolute else f" (in the project folder {workdir})"
            raise CommandError(f"The command that runs beat, {word!r} ({key}), was not "
                               f"found{where}. Set {key} to the project's celery, e.g. "
                               "[\"/srv/proj/.venv/bin/celery\"].")
        return Program(found, "as given" if absolute else "in the project folder")
    entries = path_variable.split(os.pathsep)
    skipped = [e for e in entries if not os.path.isabs(e)]
    for entry in entries:
        if os.path.isabs(entry):
            candidate = os.path.join(entry, word)
            if _executable(candidate):
                return Program(candidate, "on PATH")
    note = (f" (its entries {', '.join(repr(e) for e in dict.fromkeys(skipped))} are not "
            "absolute folders and are not searched)" if skipped else "")
    raise CommandError(f"The command that runs beat, {word!r} ({key}), was not found on "
                       f"PATH{note}. Set {key} to the project's celery, e.g. "
                       "[\"/srv/proj/.venv/bin/celery\"], or set PATH in [beat.env].")


def require_trusted(program: Program, key: str = _KEY) -> None:
    """CommandError unless only the user and root can change `program` and its folders."""
    you = user_name()
    try:
        trust.check_path(program.path)
    except trust.UntrustedPathError as exc:
        raise CommandError(f"Beat Panel will not run {program.path} ({key}, found "
                           f"{program.how}): {exc.reason}. Whoever can change it could run "
                           f"any command as {you}. {exc.fix} Or run Beat Panel as the user "
                           "who owns the project.") from None
    except OSError as exc:
        raise CommandError(f"Cannot check {program.path} ({key}, found {program.how}): "
                           f"{exc.strerror or exc}.") from None


def beat_program(command: tuple[str, ...] | list[str], workdir: Path,
                 env: Mapping[str, str]) -> Program:
    """The program the start runs for `command` (`[beat] command`), found and checked."""
    program = find_program(command[0], workdir, beat_path_variable(env))
    require_trusted(program)
    return program


def script_interpreter(program: Program, path_variable: str) -> Program | None:
    """The interpreter the `#!` line of `program` names (through `/usr/bin/env NAME` too,
    found on `path_variable` as `find_program` does, and pip's `#!/bin/sh` + `'''exec'`
    form for long paths), or None when it has no such line. Not checked for trust."""
    try:
        with open(program.path, "rb") as fh:
            head = fh.read(4096)
    except OSError as exc:
        raise CommandError(f"Cannot read {program.path} ({_KEY}) to find the project's "
                           f"Python: {exc.strerror}.") from None
    if not head.startswith(b"#!"):
        return None
    lines = head.split(b"\n")
    words = lines[0][2:].decode(errors="replace").split()
    if not words:
        return None
    source = f"from the #! line of {program.path}"
    if os.path.basename(words[0]) == "sh" and len(lines) > 1 and \
            lines[1].startswith(b"'''exec' "):
        # pip writes this when the interpreter's path is too long for a #! line.
        try:
            exec_words = shlex.split(lines[1].decode(errors="replace"))
        except ValueError:
            return None
        if len(exec_words) > 1 and os.path.isabs(exec_words[1]):
            return Program(exec_words[1], source)
        return None
    if os.path.basename(words[0]) == "env":
        names = [w for w in words[1:] if not w.startswith("-") and "=" not in w]
        if not names:
            return None
        try:
            found = find_program(names[0], Path("/"), path_variable)
        except CommandError:
            raise CommandError(f"{program.path} ({_KEY}) runs {names[0]!r} through "
                               f"{words[0]}, which is not on beat's PATH.") from None
        return Program(found.path, f"{source} (via env, on PATH)")
    return Program(words[0], source)
