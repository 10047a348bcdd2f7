"""Write a file so that a crash leaves the old or the new content, never a torn one.

A new file gets the permissions any program would give it under the person's umask (not
the 0600 of a temp file): a beat running as a service user must be able to read the
schedule a person saved. A file that exists keeps its mode, and its owner and group as far
as this process may set them.

A temp file is named `.<target>.<pid>-<start>-<random>.tmp`: the writer's pid and the
start time of that process, so a temp file left by a writer that was killed can be told
from one a live writer is still filling (`remove_orphaned_temp_files`)."""

from __future__ import annotations

import contextlib
import os
import re
import stat
import tempfile
import time
from collections.abc import Container
from pathlib import Path

from beat_panel.files.owners import group_arg, owner_arg, user_arg

# A temp file older than this whose writer is gone is removed by the next cleanup that
# holds no lock of its writer: long past any real write, and safe if the writer lived in
# another PID namespace (where its pid means nothing here).
STALE_AFTER = 5 * 60
# Temp files of versions that did not name their writer: removed only when this old.
LEGACY_STALE_AFTER = 60 * 60

_TEMP = re.compile(r"^\.(?P<target>.+)\.(?P<pid>\d+)-(?P<start>\d+)-[a-z0-9_]{8}\.tmp$")
_LEGACY_TEMP = re.compile(r"^\.(?P<target>.+)\.[a-z0-9_]{8}\.tmp$")


def atomic_write(path: Path, data: bytes, mode: int | None = None) -> None:
    """Write `data` to a temp file in the same folder, fsync it, rename it over `path`,
    then fsync the folder so the rename itself survives a power cut."""
    folder = path.parent
    fd, tmp = open_temp(path)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        _take_over_permissions(tmp, path, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def open_temp(path: Path) -> tuple[int, str]:
    """A new temp file for `path`, in its folder and named after this process: (fd, name)."""
    pid = os.getpid()
    try:
        start = _start_time(pid)
    except (OSError, ValueError, IndexError):
        start = 0  # no /proc: the pid alone names the writer
    return tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{pid}-{start}-",
                            suffix=".tmp")


def _start_time(pid: int) -> int:
    """When process `pid` started, in clock ticks since boot (field 22 of
    /proc/PID/stat). With the pid, it names one process: a
    pid used again later has another start time."""
    with open(f"/proc/{pid}/stat", "rb") as fh:
        fields = fh.read().rpartition(b")")[2].split()
    return int(fields[19])


def _writer_alive(pid: int, start: int) -> bool:
    """Whether the process that wrote a temp file still runs. When in doubt, yes."""
    try:
        return _start_time(pid) == start or start == 0
    except FileNotFoundError:
        pass  # no such process here, or /proc hides other users' processes
    except (OSError, ValueError, IndexError):
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        pass  # it exists (another user's): its start time cannot be checked
    return True


def remove_orphaned_temp_files(folder: Path, targets: Container[str] | None = None,
                               older_than: float = STALE_AFTER) -> list[Path]:
    """Remove temp files in `folder` left by writers that died mid-write; the removed.

    Only names of this module's format count, and only for the file names in `targets`
    (all when None). A temp file of a live writer is never removed. One of a writer that
    is gone is removed once it is `older_than` seconds old; a caller holding the lock
    that every writer of these targets holds passes 0, since no write is under way.
    Temp files of earlier versions (no pid in the name) are removed at an hour's age, or
    at once under the lock. Symbolic links and anything but regular files are left alone.
    """
    removed: list[Path] = []
    now = time.time()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if not (entry.name.startswith(".") and entry.name.endswith(".tmp")):
            continue
        match = _TEMP.match(entry.name)
        legacy = None if match else _LEGACY_TEMP.match(entry.name)
        found = match or legacy
        if found is None or (targets is not None and found["target"] not in targets):
            continue
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if not stat.S_ISREG(info.st_mode):
            continue
        age = now - info.st_mtime
        if match:
            if age < older_than or _writer_alive(int(match["pid"]), int(match["start"])):
                continue
        elif older_than > 0 and age < max(older_than, LEGACY_STALE_AFTER):
            continue
        with contextlib.suppress(FileNotFoundError):
            os.unlink(entry.path)
            removed.append(Path(entry.path))
    return removed


def read_only_reason(path: Path) -> str | None:
    """Why `path` must not be replaced by this user, or None when it may be.

    A rename replaces a file whatever its own mode (only the folder's write bit counts),
    so this is checked before: a file this user may not write is not theirs to replace,
    and a file whose owner has no write bit (0444) is taken as locked on purpose, by
    everyone, root too. None for a path that does not exist or is not a regular file
    (other checks report those)."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    if not stat.S_ISREG(info.st_mode):
        return None
    mode = stat.S_IMODE(info.st_mode)
    owner = user_arg(info.st_uid)
    described = f"mode {mode:04o}, owner {owner_arg(info)}"
    me = user_arg()
    if not mode & stat.S_IWUSR:
        who = "" if info.st_uid == os.geteuid() else f" (as {owner} or root)"
        return (f"the file is read-only ({described}), so Beat Panel will not replace it"
                f"{', not even as root' if os.geteuid() == 0 else ''}. To allow saving, "
                f"run{who}: chmod u+w {path}")
    if not os.access(path, os.W_OK, effective_ids=os.access in os.supports_effective_ids):
        return (f"{me} may not write it ({described}), so Beat Panel will not replace it. "
                f"Save it as {owner}, or let {me} write it, e.g. as {owner} or root: "
                f"chgrp {group_arg(os.getegid())} {path} && chmod g+w {path}")
    return None


def current_umask() -> int:
    """This process's umask, read without changing it (os.umask can only set it, and
    setting it back leaves a moment when other threads create files with another one)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


def _take_over_permissions(tmp: str, path: Path, mode: int | None) -> None:
    try:
        existing = path.stat()
    except FileNotFoundError:
        existing = None
    if mode is not None:
        os.chmod(tmp, mode)
    elif existing is not None:
        os.chmod(tmp, existing.st_mode & 0o7777)
    else:
        os.chmod(tmp, 0o666 & ~current_umask())
    if existing is not None and (existing.st_uid, existing.st_gid) != (os.geteuid(),
                                                                        os.getegid()):
        # Root may give the file back to its owner; anyone may keep a group they are in.
        for uid, gid in ((existing.st_uid, existing.st_gid), (-1, existing.st_gid)):
            try:
                os.chown(tmp, uid, gid)
                break
            except PermissionError:
                continue
