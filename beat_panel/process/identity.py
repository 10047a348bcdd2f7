"""Which running beats are a project's: the one rule that the panel's status, its actions
and `start_celery_beat.sh` share, and the /proc walk that finds the beats to judge.

A beat is the project's when its pidfile is the project's pidfile, or when it runs the
project's app in the project's folder. With no app configured the folder alone (or the
pidfile) says so, and only while the beats in that folder all run one app. Anything else
is "another beat": shown, never signalled, never restarted. In particular another user's
beat, whose folder a non-root user may not see, is the project's only when its pidfile
says so (or its `--workdir` does); the same app name alone is not enough.

Standard library only, and runnable as a file: `start_celery_beat.sh` runs it with the
celery command's own Python, where Beat Panel may not be installed:

    python -I beat_panel/process/identity.py running --app APP --workdir DIR [--pidfile F]

prints one line per finding (`ours PID TEXT`, `note TEXT`, `pidfile TEXT`) and exits 0.
"""

from __future__ import annotations

import os
import pwd
import stat
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

if __package__:
    from beat_panel.process import argv as argv_parser
else:  # pragma: no cover - run as a file by start_celery_beat.sh, without the package
    import importlib.util

    _spec = importlib.util.spec_from_file_location(
        "_beat_panel_argv", os.path.join(os.path.dirname(os.path.abspath(__file__)), "argv.py"))
    assert _spec is not None and _spec.loader is not None
    argv_parser = importlib.util.module_from_spec(_spec)
    sys.modules[_spec.name] = argv_parser
    _spec.loader.exec_module(argv_parser)

PROC = "/proc"
CMDLINE_CHUNK = 131072
# How much later than its pidfile's mtime a process may have been created and still be
# the one that wrote it (clock granularity and filesystems with coarse mtimes).
PIDFILE_SLACK_SECONDS = 2.0

BY_PIDFILE = "pidfile"
BY_FOLDER = "folder"


@dataclass(frozen=True)
class ProjectKey:
    """What tells a project's beat: its app (-A), its folder and its pidfile (absolute)."""

    app: str | None
    workdir: str
    pidfile: str | None


@dataclass(frozen=True)
class Seen:
    """What is known of one running beat, as far as the rule needs it."""

    pid: int
    app: str | None
    folder: str | None  # where it runs; None when it cannot be seen (another user's)
    pidfile: str | None  # its own --pidfile: absolute, or as given when its folder is unknown
    named_by_pidfile: bool = False  # the project's pidfile names this very process


# ---------------------------------------------------------------------------
# The rule
# ---------------------------------------------------------------------------


def folder_of(command: argv_parser.CeleryCommand, cwd: str | None) -> str | None:
    """Where a beat runs: its working directory, else an absolute `--workdir` from its
    argv (celery changes into it at once), else None."""
    if cwd:
        return cwd
    if command.workdir and os.path.isabs(command.workdir):
        return command.workdir
    return None


def pidfile_of(command: argv_parser.CeleryCommand, folder: str | None) -> str | None:
    """A beat's own `--pidfile`, made absolute against its folder when that is known."""
    path = command.pidfile
    if path and folder and not os.path.isabs(path):
        return os.path.join(folder, path)
    return path or None


def _same_path(a: str, b: str) -> bool:
    if not (os.path.isabs(a) and os.path.isabs(b)):
        return False
    try:
        return os.path.realpath(a) == os.path.realpath(b)
    except (OSError, ValueError):
        return False


def _ends_with(path: str, relative: str) -> bool:
    """Whether an absolute path ends with a relative one (`run/beat.pid`)."""
    parts = [p for p in os.path.normpath(relative).split(os.sep) if p not in ("", ".")]
    if not parts or ".." in parts:
        return False
    return os.path.normpath(path).split(os.sep)[-len(parts):] == parts


def why_ours(key: ProjectKey, beat: Seen) -> str | None:
    """Why `beat` is the project's (BY_PIDFILE or BY_FOLDER), or None when it is not.

    By pidfile: its own --pidfile is the project's, or the project's pidfile names it and
    nothing about it disagrees (no other --pidfile of its own, no other app). By folder:
    it runs in the project's folder, with the project's app when one is configured.
    """
    if key.pidfile is not None:
        if beat.pidfile is not None and os.path.isabs(beat.pidfile):
            if _same_path(beat.pidfile, key.pidfile):
                return BY_PIDFILE
        elif (beat.named_by_pidfile
              and (key.app is None or beat.app in (None, key.app))
              and (beat.pidfile is None or _ends_with(key.pidfile, beat.pidfile))):
            return BY_PIDFILE
    if beat.folder is not None and _same_path(beat.folder, key.workdir) \
            and (key.app is None or beat.app == key.app):
        return BY_FOLDER
    return None


def adopt(key: ProjectKey, beats: Sequence[Seen]) -> tuple[list[int], str | None]:
    """The indexes of the beats that are the project's, and a note when the rule could
    not decide (no app configured and beats of several apps in the project's folder)."""
    reasons = [why_ours(key, beat) for beat in beats]
    if key.app is not None:
        return [i for i, why in enumerate(reasons) if why], None
    by_pidfile = [i for i, why in enumerate(reasons) if why == BY_PIDFILE]
    by_folder = [i for i, why in enumerate(reasons) if why == BY_FOLDER]
    apps = {beats[i].app for i in (by_pidfile or by_folder)}
    if not by_pidfile and len(apps) > 1:
        listed = "; ".join(f"pid {beats[i].pid}: {beats[i].app or 'no -A'}" for i in by_folder)
        return [], (f"Beats of {len(apps)} apps run in the project folder {key.workdir} "
                    f"({listed}), and beat-panel.toml names no [beat] app, so none of them "
                    "is taken for this project's beat. Set [beat] app (or [beat] pidfile) "
                    "to say which one is.")
    return sorted(by_pidfile + [i for i in by_folder if beats[i].app in apps]), None


# ---------------------------------------------------------------------------
# Finding beats in /proc
# ---------------------------------------------------------------------------


def read_cmdline(pid: int) -> bytes | None:
    """The raw /proc/PID/cmdline, or None when the process is gone or unreadable."""
    try:
        fd = os.open(f"{PROC}/{pid}/cmdline", os.O_RDONLY)
    except OSError:
        return None
    try:
        # One read is enough for nearly every process; a short read means the end.
        data = os.read(fd, CMDLINE_CHUNK)
        if len(data) < CMDLINE_CHUNK:
            return data
        chunks = [data]
        while True:
            chunk = os.read(fd, CMDLINE_CHUNK)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
    except OSError:
        return None
    finally:
        os.close(fd)


def classify(pid: int) -> tuple[argv_parser.CeleryCommand, list[str]] | None:
    """The parsed command of a process that is beat (standalone or embedded in a
    worker), with its argv; None for anything else, a zombie (no argv) included."""
    raw = read_cmdline(pid)
    if not raw or not argv_parser.might_be_celery(raw):
        return None
    words = argv_parser.split_cmdline(raw)
    command = argv_parser.parse(words)
    if command is None or command.kind is argv_parser.Kind.WORKER:
        return None
    return command, words


def _stat_fields(pid: int) -> list[bytes] | None:
    """/proc/PID/stat after the command name: state, ppid, ... (see proc(5))."""
    try:
        with open(f"{PROC}/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None


def parent_pid(pid: int) -> int | None:
    fields = _stat_fields(pid)
    try:
        return int(fields[1]) if fields else None
    except (IndexError, ValueError):
        return None


def _parent_is_celery(pid: int) -> bool:
    """True when pid's parent is a celery worker or beat: then pid is a fork of it
    (a pool process, or the beat child of `worker -B`) and belongs to that parent."""
    ppid = parent_pid(pid)
    if not ppid:
        return False
    raw = read_cmdline(ppid)
    if not raw or not argv_parser.might_be_celery(raw):
        return False
    return argv_parser.parse(argv_parser.split_cmdline(raw)) is not None


def find_beats(skip: int | None = None) -> Iterator[tuple[int, argv_parser.CeleryCommand,
                                                          list[str]]]:
    """Every beat on the machine and every worker that runs beat embedded (-B), as
    (pid, parsed command, argv); forks of a celery process are their parent's.

    This loop runs for every process on the machine: paths relative to an open /proc
    and no function call per process until a command line mentions celery.
    """
    me = str(skip) if skip is not None else ""
    proc_fd = os.open(PROC, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for name in os.listdir(proc_fd):
            if not name.isdigit() or name == me:
                continue
            try:
                fd = os.open(f"{name}/cmdline", os.O_RDONLY, dir_fd=proc_fd)
            except OSError:
                continue  # gone meanwhile
            try:
                head = os.read(fd, CMDLINE_CHUNK)
            except OSError:
                continue
            finally:
                os.close(fd)
            if argv_parser.CELERY_MARKER not in head:
                continue
            pid = int(name)
            classified = classify(pid)  # reads it again, whole
            if classified is None or _parent_is_celery(pid):
                continue
            yield pid, classified[0], classified[1]
    finally:
        os.close(proc_fd)


# ---------------------------------------------------------------------------
# The checker start_celery_beat.sh runs
# ---------------------------------------------------------------------------


def _start_time(pid: int) -> float | None:
    """When a process started, in seconds since the epoch (as psutil's create_time)."""
    fields = _stat_fields(pid)
    try:
        with open(f"{PROC}/stat", "rb") as fh:
            boot = next(int(line.split()[1]) for line in fh if line.startswith(b"btime "))
        ticks = int(fields[19]) if fields else None
    except (OSError, StopIteration, IndexError, ValueError):
        return None
    return None if ticks is None else boot + ticks / os.sysconf("SC_CLK_TCK")


def _owner(pid: int) -> str:
    try:
        uid = os.stat(f"{PROC}/{pid}").st_uid
    except OSError:
        return "?"
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _read_pidfile(path: str) -> tuple[int | None, float | None, str | None]:
    """(pid, mtime, problem) of a pidfile, read without following a link or blocking on
    a FIFO; (None, None, None) when there is none."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None, None, None
    except OSError as exc:
        return None, None, f"cannot be read ({exc.strerror})"
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None, None, "is not a regular file"
        text = os.read(fd, 64).decode("ascii", "replace")
    except OSError as exc:
        return None, None, f"cannot be read ({exc.strerror})"
    finally:
        os.close(fd)
    if not text.endswith("\n") or not text.strip().isdigit():
        return None, None, "has partial or invalid content"
    return int(text.strip()), info.st_mtime, None


def _describe(beat: Seen, owner: str) -> str:
    where = f"in {beat.folder}" if beat.folder else "in a folder that cannot be seen"
    return f"pid {beat.pid}, app {beat.app or '(none given)'}, user {owner}, {where}"


def check(key: ProjectKey) -> list[str]:
    """The checker's findings, one line each (see the module docstring)."""
    named, mtime, problem = _read_pidfile(key.pidfile) if key.pidfile else (None, None, None)
    found: list[tuple[Seen, str]] = []
    for pid, command, _words in find_beats(skip=os.getpid()):
        try:
            cwd: str | None = os.readlink(f"{PROC}/{pid}/cwd")
        except OSError:
            cwd = None
        folder = folder_of(command, cwd)
        started = _start_time(pid) if pid == named else None
        by_pidfile = (pid == named and command.kind is argv_parser.Kind.BEAT
                      and started is not None and mtime is not None
                      and started <= mtime + PIDFILE_SLACK_SECONDS)
        found.append((Seen(pid, command.app, folder, pidfile_of(command, folder), by_pidfile),
                      _owner(pid)))
    ours, note = adopt(key, [beat for beat, _ in found])
    lines = []
    for i in ours:
        beat, owner = found[i]
        how = ("its pidfile is this one" if why_ours(key, beat) == BY_PIDFILE
               else "the same app in the same folder")
        lines.append(f"ours {beat.pid} {_describe(beat, owner)}: {how}")
    for i, (beat, owner) in enumerate(found):
        if i not in ours and key.app is not None and beat.app == key.app:
            lines.append(f"note Another beat of the same app runs ({_describe(beat, owner)}); "
                         "it is not this project's. If it uses the same broker, every task "
                         "is sent twice.")
    if note:
        lines.append(f"note {note}")
    if not ours and key.pidfile is not None:
        if problem is not None:
            lines.append(f"pidfile it {problem}")
        elif named is not None:
            what = next((_describe(beat, owner) for beat, owner in found if beat.pid == named),
                        None)
            if what is not None:
                lines.append(f"pidfile it names a beat that is not this project's: {what}")
            elif os.path.exists(f"{PROC}/{named}"):
                lines.append(f"pidfile it names pid {named}, which is not celery beat")
            else:
                lines.append(f"pidfile it names pid {named}, which is gone")
    return lines


def _main(args: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="identity.py", description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=["running"])
    parser.add_argument("--app", default=None)
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--pidfile", default=None)
    options = parser.parse_args(args)
    key = ProjectKey(options.app or None, os.path.abspath(options.workdir),
                     os.path.abspath(options.pidfile) if options.pidfile else None)
    for line in check(key):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
