"""Decide from a process's argv whether it is Celery beat, and read its options.

This is a parser, not a pattern match: `tail -f celerybeat.log`, an editor on
`celery_beat.py` or `sh -c "celery beat"` mention the words but are not beat.
"""

from __future__ import annotations

import enum
import os
import re
from dataclasses import dataclass

# Celery's global options that take a value (they stand before the sub-command).
_GLOBAL_VALUE_OPTIONS = {
    "-A", "--app", "-b", "--broker", "--result-backend", "--loader", "--config", "--workdir",
}
# Python interpreter options that take a value (`python -X dev -m celery ...`).
_PYTHON_VALUE_OPTIONS = {"-X", "-W", "--check-hash-based-pycs"}
_PYTHON_NAME = re.compile(r"^(python|pypy)(\d+(\.\d+)*)?[a-z]?$")
_WORKER_EMBEDDED_BEAT_FLAGS = {"-B", "--beat"}
# Short worker flags that take no value and may be clustered with -B (`-BE`).
_WORKER_SHORT_BOOL_FLAGS = set("BDE")


class Kind(enum.Enum):
    """What a process is, as far as Beat Panel cares."""

    BEAT = "beat"
    EMBEDDED = "embedded"  # a `celery worker -B`: beat runs inside the worker
    WORKER = "worker"  # any other celery worker (never beat, but a parent of embedded beat)


@dataclass(frozen=True)
class CeleryCommand:
    """A parsed celery command line."""

    kind: Kind
    app: str | None
    workdir: str | None
    pidfile: str | None
    subcommand_args: tuple[str, ...]


def split_cmdline(raw: bytes) -> list[str]:
    """Turn the bytes of /proc/PID/cmdline into argv.

    A process renamed by setproctitle (as Celery does when it is installed) has one
    space-separated string padded with NULs, e.g. ``[celery beat] -A proj beat``.
    """
    parts = [p.decode("utf-8", "surrogateescape") for p in raw.split(b"\0")]
    while parts and parts[-1] == "":
        parts.pop()
    if len(parts) >= 1 and parts[0].startswith("[") and all(p == "" for p in parts[1:]):
        return parts[0].split()
    return parts


def _option_value(args: list[str], i: int, names: set[str]) -> tuple[str | None, int] | None:
    """If args[i] is one of `names` (as `-A x`, `-Ax`, `--app x`, `--app=x`), return
    (value, index after it); otherwise None."""
    token = args[i]
    for name in names:
        if token == name:
            return (args[i + 1] if i + 1 < len(args) else None), i + 2
        if name.startswith("--") and token.startswith(name + "="):
            return token[len(name) + 1 :], i + 1
        if not name.startswith("--") and token.startswith(name) and len(token) > len(name):
            return token[len(name) :].lstrip("="), i + 1
    return None


def _celery_args(argv: list[str]) -> list[str] | None:
    """The arguments after the `celery` program itself, or None if argv is not celery.

    Accepts `celery ...`, `/venv/bin/celery ...`, `python /venv/bin/celery ...`
    (how a shebang script shows up) and `python -m celery ...`.
    """
    if not argv:
        return None
    prog = os.path.basename(argv[0])
    if prog == "celery":
        return argv[1:]
    if not _PYTHON_NAME.match(prog):
        return None
    i = 1
    while i < len(argv):
        token = argv[i]
        if token == "-m":
            return argv[i + 2 :] if i + 1 < len(argv) and argv[i + 1] == "celery" else None
        if token.startswith("-m") and len(token) > 2:
            return argv[i + 1 :] if token[2:] == "celery" else None
        if token == "-c" or token.startswith("-c"):
            return None  # inline code is never beat itself
        if token in _PYTHON_VALUE_OPTIONS:
            i += 2
            continue
        if token.startswith("-"):
            i += 1
            continue
        # The first non-option is the script python runs.
        return argv[i + 1 :] if os.path.basename(token) == "celery" else None
    return None


def _parse_celery_args(args: list[str]) -> CeleryCommand | None:
    app = workdir = pidfile = None
    subcommand: str | None = None
    rest: list[str] = []
    i = 0
    while i < len(args):
        token = args[i]
        if subcommand is None:
            found = _option_value(args, i, _GLOBAL_VALUE_OPTIONS)
            if found is not None:
                value, i = found
                if token.startswith(("-A", "--app")):
                    app = value
                elif token.startswith("--workdir"):
                    workdir = value
                continue
            if token.startswith("-"):
                i += 1
                continue
            subcommand = token
            i += 1
            continue
        # Celery 4 allowed the app after the sub-command (`celery beat -A proj`).
        found = _option_value(args, i, {"-A", "--app", "--pidfile", "--workdir"})
        if found is not None:
            value, next_i = found
            if token.startswith(("-A", "--app")):
                app = app or value
            elif token.startswith("--pidfile"):
                pidfile = value
            else:
                workdir = workdir or value
            rest.extend(args[i:next_i])
            i = next_i
            continue
        rest.append(token)
        i += 1
    if subcommand == "beat":
        return CeleryCommand(Kind.BEAT, app, workdir, pidfile, tuple(rest))
    if subcommand == "worker":
        kind = Kind.EMBEDDED if any(_is_beat_flag(t) for t in rest) else Kind.WORKER
        return CeleryCommand(kind, app, workdir, pidfile, tuple(rest))
    return None


def _is_beat_flag(token: str) -> bool:
    if token in _WORKER_EMBEDDED_BEAT_FLAGS:
        return True
    letters = token[1:]
    return (
        token.startswith("-")
        and not token.startswith("--")
        and "B" in letters
        and set(letters) <= _WORKER_SHORT_BOOL_FLAGS
    )


def _parse_title(argv: list[str]) -> CeleryCommand | None:
    """Parse a setproctitle title: `[celery beat] -A proj beat ...` for standalone beat,
    a bare `[celery beat]` for the beat child of `worker -B`, and
    `[celeryd: host:MainProcess] -active- (-A proj worker -B)` for a worker."""
    title = " ".join(argv)
    if title.startswith("[celery beat]"):
        args = title[len("[celery beat]") :].split()
        parsed = _parse_celery_args(args) if args else None
        if parsed is not None and parsed.kind is Kind.BEAT:
            return parsed
        # A bare title: the beat child process of an embedded worker -B.
        return CeleryCommand(Kind.BEAT, None, None, None, ()) if not args else None
    if title.startswith("[celeryd"):
        inner = re.search(r"\((.*)\)\s*$", title)
        if inner:
            parsed = _parse_celery_args(inner.group(1).split())
            if parsed is not None and parsed.kind is not Kind.BEAT:
                return parsed
        return CeleryCommand(Kind.WORKER, None, None, None, ())
    return None


def parse(argv: list[str]) -> CeleryCommand | None:
    """Parse argv; return what celery command it is, or None when it is not celery
    beat or a celery worker."""
    if not argv:
        return None
    if argv[0].startswith("["):
        return _parse_title(argv)
    args = _celery_args(argv)
    if args is None:
        return None
    return _parse_celery_args(args)


# Every form of celery beat or worker command line contains this; nothing else is parsed.
CELERY_MARKER = b"celery"


def might_be_celery(raw: bytes) -> bool:
    """A cheap pre-filter on raw cmdline bytes before the real parse."""
    return CELERY_MARKER in raw
