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

from beat_panel.files.owners import user_name
from beat_panel.files.regular import NotRegularFileError, open_regular
from beat_panel.process import argv as argv_parser
from beat_panel.process import identity
from beat_panel.process.argv import Kind
from beat_panel.process.identity import read_cmdline as read_cmdline  # re-exported
from beat_panel.process.managers import Manager, detect_manager

PROC = Path("/proc")
# How much later than its pidfile's mtime a process may have been created and still be
# the one that wrote it (clock granularity and filesystems with coarse mtimes).
_PIDFILE_SLACK_SECONDS = identity.PIDFILE_SLACK_SECONDS

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
    pidfile: str | None  # its --pidfile, absolute when its folder is known
    manager: Manager | None
    # Where it runs: its cwd, else an absolute --workdir from its argv; None when unknown.
    folder: str | None = None

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
            "folder": self.folder,
            "pidfile": self.pidfile,
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
    folder = identity.folder_of(command, cwd)
    return BeatProcess(
        pid=pid,
        create_time=create_time,
        owner=owner,
        uid=uid,
        embedded=command.kind is Kind.EMBEDDED,
        app=command.app,
        argv=tuple(words),
        cwd=cwd,
        pidfile=identity.pidfile_of(command, folder),
        manager=detect_manager(pid),
        folder=folder,
    )


_Classified = tuple[argv_parser.CeleryCommand, list[str]]


def _classify(pid: int) -> _Classified | None:
    return identity.classify(pid)


def scan() -> list[BeatProcess]:
    """Every beat on the machine, and every worker that runs beat embedded (-B).

    Reads /proc directly (`identity.find_beats`, the walk start_celery_beat.sh uses too):
    a cheap byte test first, the real argv parse only for the few processes that mention
    celery.
    """
    found: list[BeatProcess] = []
    for pid, command, words in identity.find_beats(skip=os.getpid()):
        described = _describe(pid, command, words)
        if described is not None:
            found.append(described)
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
                            f"{user_name(stat.st_uid)}, neither you, root, nor the beat it "
                            f"names (run by {beat.owner})")
    return PidfileState(path, pid, beat, None)
