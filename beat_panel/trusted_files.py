"""The files the panel and beat write for a project (the pidfile and the log), checked
before anything is written or deleted through them.

A file is trusted when it is a regular file (not a symbolic link, a FIFO or a folder),
owned by the user who runs the panel or by root, with one name (no second hard link),
in a folder that neither another user nor everyone can change: every folder from the
root down to it, as written and as resolved, belongs to the user or root, and none is
writable by every user without the sticky bit. Otherwise the panel refuses, saying why:
a root panel with its pidfile in a shared folder would else write or delete any file a
link there points to. Standard library only.
"""

from __future__ import annotations

import os
import pwd
import stat
from collections.abc import Iterable
from pathlib import Path

from beat_panel.errors import PanelError
from beat_panel.regular_file import NotRegularFileError, kind_of, open_regular


class UntrustedFileError(PanelError):
    """A file the panel would write or delete is not one it may trust; the text says
    which file and why (`what` names it: "pidfile", "log"), `danger` what using it could
    do, and `in_folder` whether the folder is at fault rather than the file."""

    def __init__(self, what: str, path: Path, reason: str, danger: str | None = None,
                 in_folder: bool = False) -> None:
        super().__init__(f"its {what} {path} {reason}")
        self.what = what
        self.path = path
        self.reason = reason
        self.danger = danger
        self.in_folder = in_folder


_LINK_DANGER = ("Beat Panel never writes or deletes through a link there: whoever made it "
                "could point it at any file.")
_FOLDER_DANGER = ("Whoever can change that folder could swap the file for a link to any "
                  "file.")
_OWNER_DANGER = "Beat Panel does not write into or delete another user's file."
_NLINK_DANGER = "Writing it would change that other file too."


def owner_name(uid: int) -> str:
    """A user's name, or its number when it has none."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def trusted_uids() -> set[int]:
    """Who may own the files and folders the panel writes through: the user and root."""
    return {os.geteuid(), 0}


def _you() -> str:
    me = os.geteuid()
    return "you (root)" if me == 0 else f"you ({owner_name(me)}) or root"


def _ancestors(folder: Path) -> list[str]:
    """Every folder walked to reach `folder`: above it as written, and above where it
    really is once links are resolved."""
    seen: list[str] = []
    for start in (os.path.abspath(folder), os.path.realpath(folder)):
        place = start
        while True:
            if place not in seen:
                seen.append(place)
            parent = os.path.dirname(place)
            if parent == place:
                break
            place = parent
    return seen


def folder_problem(folder: Path) -> str | None:
    """Why files in `folder` cannot be trusted (someone else could swap them), or None.
    A folder that does not exist yet is judged by the folders above it."""
    trusted = trusted_uids()
    for place in _ancestors(folder):
        try:
            st = os.stat(place)
        except FileNotFoundError:
            continue
        except OSError as exc:
            return f"is in a folder that cannot be checked: {place}: {exc.strerror}"
        if not stat.S_ISDIR(st.st_mode):
            continue  # the caller meets the error when it uses the path
        if st.st_uid not in trusted:
            return (f"is in a folder another user can change: {place} belongs to "
                    f"{owner_name(st.st_uid)}, not to {_you()}")
        if st.st_mode & stat.S_IWOTH and not st.st_mode & stat.S_ISVTX:
            return (f"is in a folder every user can change: {place} is writable by all "
                    f"(mode {stat.S_IMODE(st.st_mode):04o}) without the sticky bit")
    return None


def file_problem(st: os.stat_result) -> str | None:
    """Why an existing regular file (its stat) cannot be trusted, or None."""
    if st.st_uid not in trusted_uids():
        return f"belongs to {owner_name(st.st_uid)}, not to {_you()}"
    if st.st_nlink > 1:
        return f"has {st.st_nlink} hard links: it may be another file under a second name"
    return None


def _file_danger(st: os.stat_result) -> str:
    return _OWNER_DANGER if st.st_uid not in trusted_uids() else _NLINK_DANGER


def check_file_to_write(what: str, path: Path) -> None:
    """Raise UntrustedFileError unless beat may write the file at `path` (its pidfile,
    say) and the panel may later delete it: nothing there yet, or a trusted regular
    file, in a trusted folder."""
    if (why := folder_problem(path.parent)) is not None:
        raise UntrustedFileError(what, path, why, _FOLDER_DANGER, in_folder=True)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise UntrustedFileError(what, path, f"cannot be checked: {exc.strerror}") \
            from None
    if stat.S_ISLNK(st.st_mode):
        try:
            target = os.readlink(path)
        except OSError:
            target = "?"
        raise UntrustedFileError(what, path, f"is a symbolic link (to {target}), and "
                                 "links are not followed there", _LINK_DANGER)
    if not stat.S_ISREG(st.st_mode):
        raise UntrustedFileError(what, path, f"is {kind_of(st.st_mode)}, not a file")
    if (why := file_problem(st)) is not None:
        raise UntrustedFileError(what, path, why, _file_danger(st))


def open_log(path: Path) -> int:
    """A descriptor to append beat's output to the log at `path` (created if missing),
    opened without following a link; UntrustedFileError when it may not be used."""
    if (why := folder_problem(path.parent)) is not None:
        raise UntrustedFileError("log", path, why, _FOLDER_DANGER, in_folder=True)
    try:
        fd, st = open_regular(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    except NotRegularFileError as exc:
        danger = _LINK_DANGER if "symbolic link" in exc.strerror else None
        raise UntrustedFileError("log", path, exc.strerror.removeprefix("it "), danger) \
            from None
    if (why := file_problem(st)) is not None:
        os.close(fd)
        raise UntrustedFileError("log", path, why, _file_danger(st))
    return fd


def remove_pidfile(path: Path, pids: Iterable[int]) -> str | None:
    """Delete the pidfile at `path`, only when it is the file beat (or the panel) wrote
    for one of `pids`: a trusted regular file, reached without a link, whose whole
    content is that pid and a newline. None when it was removed or is not there; else
    why it was left in place."""
    wanted = {f"{pid}\n".encode() for pid in pids}
    if (why := folder_problem(path.parent)) is not None:
        return why
    try:
        folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"its folder cannot be opened: {exc.strerror}"
    try:
        # Everything below is relative to the folder opened above, so the checks and the
        # removal are about the same folder even if a name above it is swapped meanwhile.
        try:
            fd, st = open_regular(path.name, dir_fd=folder)
        except NotRegularFileError as exc:
            return exc.strerror
        try:
            content = os.read(fd, 64)
        finally:
            os.close(fd)
        if (why := file_problem(st)) is not None:
            return why
        if content not in wanted:
            return "it no longer names the beat that ended"
        now = os.stat(path.name, dir_fd=folder, follow_symlinks=False)
        if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
            return "it was replaced meanwhile"
        os.unlink(path.name, dir_fd=folder)
        return None
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"it cannot be removed: {exc.strerror}"
    finally:
        os.close(folder)
