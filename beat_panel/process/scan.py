"""Find the Celery beat processes on this machine and identify them for sure.

A process is beat when its parsed argv says so (see `argv`). It is identified by
(pid, create_time), so a pid reused by another program is never mistaken for beat.
The pidfile is a fast path that is always verified against the live process.
"""

from __future__ import annotations

import os
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

import psutil

from beat_panel.process import argv as argv_parser
from beat_panel.process.argv import Kind
from beat_panel.process.managers import Manager, detect_manager
from beat_panel.regular_file import NotRegularFileError, open_regular
from beat_panel.trusted_files import owner_name

PROC = Path("/proc")
# How much later than its pidfile's mtime a process may have been created and still be
# the one that wrote it (clock granularity and filesystems with coarse mtimes).
_PIDFILE_SLACK_SECONDS = 2.0
_CMDLINE_CHUNK = 131072

# Beats this process started: polled so that none is left a zombie in a long-running
# window or tray (the CLI exits and leaves them to init), and so that the panel can say
# how one ended. Reaped from worker threads and the GUI thread alike, hence the lock.
_children: list[subprocess.Popen] = []
_exits: dict[int, int] = {}  # pid -> returncode (negative: killed by that signal)
_MAX_EXITS = 64
_children_lock = threading.Lock()


def remember_child(child: subprocess.Popen) -> None:
    with _children_lock:
        _children.append(child)


def reap_children() -> None:
    """Collect the exit status of started beats that have ended."""
    with _children_lock:
        running = []
        for child in _children:
            if child.poll() is None:
                running.append(child)
            else:
                _exits[child.pid] = child.returncode
        _children[:] = running
        while len(_exits) > _MAX_EXITS:
            del _exits[next(iter(_exits))]


def exit_status(pid: int) -> int | None:
    """How a beat this process started ended (Popen's returncode), once it has; None
    for a process it did not start or that still runs."""
    reap_children()
    with _children_lock:
        return _exits.get(pid)


@dataclass(frozen=True)
class BeatProcess:
    """One running beat (or a worker with embedded beat), as seen at one moment."""

    pid: int
    create_time: float
    owner: str
    uid: int
    embedded: bool
    app: str | None
    argv: tuple[str, ...]
    cwd: str | None  # None when the process belongs to someone else
    pidfile: str | None
    manager: Manager | None

    def to_json(self) -> dict:
        return {
            "pid": self.pid,
            "create_time": self.create_time,
            "owner": self.owner,
            "uid": self.uid,
            "embedded": self.embedded,
            "app": self.app,
            "cmdline": list(self.argv),
            "cwd": self.cwd,
            "manager": self.manager.to_json() if self.manager else None,
        }

    def is_same_process(self) -> bool:
        """True while this exact process (pid and create time) is alive and not a zombie."""
        return is_alive(self.pid, self.create_time)


def is_alive(pid: int, create_time: float) -> bool:
    """True while the process (pid, create_time) runs; a zombie counts as gone."""
    try:
        proc = psutil.Process(pid)
        return (
            abs(proc.create_time() - create_time) < 0.01
            and proc.status() != psutil.STATUS_ZOMBIE
        )
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False
    except psutil.AccessDenied:
        return True  # it exists; we just cannot look closer


def read_cmdline(pid: int) -> bytes | None:
    """The raw /proc/PID/cmdline, or None when the process is gone or unreadable."""
    try:
        fd = os.open(f"/proc/{pid}/cmdline", os.O_RDONLY)
    except OSError:
        return None
    try:
        # One read is enough for nearly every process; a short read means the end.
        data = os.read(fd, _CMDLINE_CHUNK)
        if len(data) < _CMDLINE_CHUNK:
            return data
        chunks = [data]
        while chunk := os.read(fd, _CMDLINE_CHUNK):
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)


def _describe(pid: int, command: argv_parser.CeleryCommand, words: list[str]) -> BeatProcess | None:
    """Build a BeatProcess for a pid whose argv parsed as beat; None if it vanished."""
    try:
        proc = psutil.Process(pid)
        with proc.oneshot():
            if proc.status() == psutil.STATUS_ZOMBIE:
                return None
            create_time = proc.create_time()
            uid = proc.uids().real
            try:
                owner = proc.username()
            except KeyError:
                owner = str(uid)
            try:
                cwd: str | None = proc.cwd()
            except (psutil.AccessDenied, FileNotFoundError):
                cwd = None
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None
    pidfile = command.pidfile
    if pidfile and cwd and not os.path.isabs(pidfile):
        pidfile = os.path.join(cwd, pidfile)
    return BeatProcess(
        pid=pid,
        create_time=create_time,
        owner=owner,
        uid=uid,
        embedded=command.kind is Kind.EMBEDDED,
        app=command.app,
        argv=tuple(words),
        cwd=cwd,
        pidfile=pidfile,
        manager=detect_manager(pid),
    )


_Classified = tuple[argv_parser.CeleryCommand, list[str]]


def _classify(pid: int) -> _Classified | None:
    raw = read_cmdline(pid)
    if not raw or not argv_parser.might_be_celery(raw):
        return None
    words = argv_parser.split_cmdline(raw)
    command = argv_parser.parse(words)
    if command is None or command.kind is Kind.WORKER:
        return None
    return command, words


def _parent_is_celery(pid: int) -> bool:
    """True when pid's parent is a celery worker or beat: then pid is a fork of it
    (a pool process, or the beat child of `worker -B`) and belongs to that parent."""
    try:
        ppid = psutil.Process(pid).ppid()
    except psutil.Error:
        return False
    raw = read_cmdline(ppid)
    if not raw or not argv_parser.might_be_celery(raw):
        return False
    return argv_parser.parse(argv_parser.split_cmdline(raw)) is not None


def scan() -> list[BeatProcess]:
    """Every beat on the machine, and every worker that runs beat embedded (-B).

    Reads /proc directly: a cheap byte test first, the real argv parse only for the
    few processes that mention celery.
    """
    found: list[BeatProcess] = []
    me = str(os.getpid())
    # This loop runs for every process on the machine: paths relative to an open /proc
    # and no function call per process until a command line mentions celery.
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
                head = os.read(fd, _CMDLINE_CHUNK)
            except OSError:
                continue
            finally:
                os.close(fd)
            if argv_parser.CELERY_MARKER not in head:
                continue
            pid = int(name)
            classified = _classify(pid)  # reads it again, whole
            if classified is None or _parent_is_celery(pid):
                continue
            described = _describe(pid, *classified)
            if described is not None:
                found.append(described)
    finally:
        os.close(proc_fd)
    found.sort(key=lambda p: (p.create_time, p.pid))
    return found


class PidfileState:
    """What the pidfile says, once checked against the live process."""

    def __init__(self, path: Path, pid: int | None, beat: BeatProcess | None, problem: str | None):
        self.path = path
        self.pid = pid
        self.beat = beat
        self.problem = problem

    def to_json(self) -> dict:
        return {
            "path": str(self.path),
            "pid": self.pid,
            "valid": self.beat is not None,
            "problem": self.problem,
        }


def _pidfile_bytes(path: Path) -> tuple[bytes, os.stat_result]:
    """The start of the pidfile and its stat, read without following a link and without
    waiting on a FIFO (a link, a FIFO or a folder there raises NotRegularFileError)."""
    fd, st = open_regular(path)
    try:
        return os.read(fd, 64), st
    finally:
        os.close(fd)


def _pidfile_owner_trusted(st: os.stat_result, beat: BeatProcess) -> bool:
    """A pidfile is believed when its owner is the user, root, or the beat it names
    (a beat run as a service user writes its own)."""
    return st.st_uid in (os.geteuid(), 0, beat.uid)


def read_pidfile(path: Path) -> PidfileState:
    """Read a pidfile and verify it: the pid must be a live beat that started no later
    than the file was written. A partial file (no newline), a dead pid or a pid reused
    by another program is reported as a problem, never trusted; so is a symbolic link
    (never followed), a FIFO or a folder at the path (never waited on), and a file owned
    by another user than the panel's, root, or the beat it names."""
    try:
        content, stat = _pidfile_bytes(path)
    except FileNotFoundError:
        return PidfileState(path, None, None, None)
    except NotRegularFileError as exc:
        return PidfileState(path, None, None, f"not read: {exc.strerror}")
    except OSError as exc:
        return PidfileState(path, None, None, f"cannot read it: {exc.strerror}")
    text = content.decode("ascii", "replace")
    if not text.endswith("\n") or not text.strip().isdigit():
        return PidfileState(path, None, None, "partial or invalid content")
    pid = int(text.strip())
    classified = _classify(pid)
    if classified is None or classified[0].kind is not Kind.BEAT:
        return PidfileState(path, pid, None, f"stale: pid {pid} is not celery beat")
    beat = _describe(pid, *classified)
    if beat is None:
        return PidfileState(path, pid, None, f"stale: pid {pid} is gone")
    if beat.create_time > stat.st_mtime + _PIDFILE_SLACK_SECONDS:
        return PidfileState(path, pid, None, f"stale: pid {pid} was reused by a newer beat")
    if not _pidfile_owner_trusted(stat, beat):
        return PidfileState(path, pid, None, "not trusted: it belongs to "
                            f"{owner_name(stat.st_uid)}, neither you, root, nor the beat it "
                            f"names (run by {beat.owner})")
    return PidfileState(path, pid, beat, None)
