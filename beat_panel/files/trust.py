"""Whether a file may decide what Beat Panel runs: only when no one but the user and root
can change it.

A file is trusted when it, every folder on the way to it and every symbolic link followed
on the way belong to the user or to root, and none of them can be written by anyone else:

- not by everyone (the world write bit), except a folder with the sticky bit (`/tmp`):
  there others may add entries but not replace the user's or root's;
- not by a group, except the user's personal group (the group named like the user with
  no other members, as `useradd` makes them; a umask of 002 gives files that group). A
  file writable by a shared group is writable by each of its members.

The folders count because whoever can write a folder can put another file in the place
of the one that was checked. Access control lists are not read.

The files the panel and beat write for a project (the pidfile and the log) are checked
before anything is written or deleted through them (`check_file_to_write`, `open_log`,
`remove_pidfile`): a root panel with its pidfile in a shared folder would else write or
delete any file a link there points to. Standard library only.
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from beat_panel.errors import PanelError
from beat_panel.files.regular import NotRegularFileError, kind_of, open_regular

_MAX_LINKS = 40  # as the kernel's limit on links followed in one lookup


class UntrustedPathError(PanelError):
    """Someone other than the user and root can change the file, or it cannot be checked.

    `path` is the file, folder or link at fault (`kind`), `problem` what was found there,
    `fix` the command or step that makes it trusted. `reason` says it of the file checked:
    "it belongs to ..." for the file itself, "the folder F ... " for one on its way."""

    def __init__(self, path: str, kind: str, problem: str, fix: str) -> None:
        self.path = path
        self.kind = kind
        self.problem = problem
        self.fix = fix
        super().__init__(f"{self.reason}. {fix}")

    @property
    def reason(self) -> str:
        if self.kind == "file":  # only the last step of a path can be a file
            return f"it {self.problem}"
        return f"the {self.kind} {self.path} on the way to it {self.problem}"


@dataclass(frozen=True)
class Checked:
    """A trusted file: its physical path (every link resolved) and what `lstat` said of it."""

    real_path: str
    stat: os.stat_result


def user_name(uid: int | None = None) -> str:
    """The name of user `uid` (default: the effective user), or `uid N`."""
    uid = os.geteuid() if uid is None else uid
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return f"gid {gid}"


def _personal_group(gid: int, uid: int) -> bool:
    """True when group `gid` is user `uid`'s own: named like the user, the user's primary
    group, and listing no other member."""
    try:
        group, user = grp.getgrgid(gid), pwd.getpwuid(uid)
    except KeyError:
        return False
    return (group.gr_name == user.pw_name and user.pw_gid == gid
            and set(group.gr_mem) <= {user.pw_name})


def _owner_problem(path: str, st: os.stat_result, uid: int, kind: str) -> UntrustedPathError | None:
    if st.st_uid in (uid, 0):
        return None
    you = user_name(uid)
    owner = user_name(st.st_uid)
    owner_text = owner if owner.startswith("uid ") else f"{owner} (uid {st.st_uid})"
    who = f"you ({you}) or root" if uid != 0 else "root"
    if kind == "folder":
        fix = (f"Fix: keep the file in a folder that belongs to {who}, or, if {owner} is to "
               f"be trusted, `chown {you} {path}`.")
    else:
        flag = "-h " if kind == "link" else ""
        fix = (f"Fix: if you trust it, take it over with `chown {flag}{you} {path}`, or "
               "use a copy of your own.")
    return UntrustedPathError(path, kind, f"belongs to {owner_text}, not to {who}", fix)


def other_writers(st: os.stat_result, uid: int | None = None) -> tuple[str, str] | None:
    """Who besides the user (`uid`, default the effective user) and root may write the
    file or folder whose stat is `st`, by its mode bits alone (a sticky bit is not taken
    into account here): ("everyone", "o-w"), ("the group G", "g-w"), both ("go-w"), or
    None. A group is left out when it is the user's personal group."""
    uid = os.geteuid() if uid is None else uid
    mode = stat.S_IMODE(st.st_mode)
    others = bool(mode & stat.S_IWOTH)
    group = bool(mode & stat.S_IWGRP) and not _personal_group(st.st_gid, uid)
    if others and group:
        return f"everyone (and the group {_group_name(st.st_gid)})", "go-w"
    if others:
        return "everyone", "o-w"
    if group:
        return f"the group {_group_name(st.st_gid)}", "g-w"
    return None


def _write_problem(path: str, st: os.stat_result, uid: int, kind: str
                   ) -> UntrustedPathError | None:
    mode = stat.S_IMODE(st.st_mode)
    if kind == "folder" and mode & stat.S_ISVTX:
        return None  # others may add entries, but not replace the user's or root's
    writers = other_writers(st, uid)
    if writers is None:
        return None
    who, bits = writers
    if kind == "folder":
        fix = (f"Fix: `chmod {bits} {path}` (or keep the file in a folder only you can "
               "write).")
        problem = (f"can be written by {who} (mode {mode:04o}), so they could put another "
                   "file in its place")
    else:
        fix = f"Fix: `chmod {bits} {path}`."
        problem = f"can be written by {who} (mode {mode:04o})"
    return UntrustedPathError(path, kind, problem, fix)


def check_entry(path: str, st: os.stat_result, uid: int | None = None) -> None:
    """Raise UntrustedPathError unless the file or folder `path` (its `lstat` is `st`)
    belongs to the user or root and no one else can write it. Its folders are not looked
    at: see `check_path` for that."""
    uid = os.geteuid() if uid is None else uid
    kind = "folder" if stat.S_ISDIR(st.st_mode) else "file"
    problem = _owner_problem(path, st, uid, kind) or _write_problem(path, st, uid, kind)
    if problem is not None:
        raise problem


def check_path(path: str | os.PathLike[str], uid: int | None = None) -> Checked:
    """Check that no one but the user (`uid`, default the effective user) and root can
    change what `path` names: the file, each folder from `/` down to it, and each link on
    the way (followed as the kernel would). Returns the file's physical path and `lstat`,
    to compare with what is then opened; raises UntrustedPathError saying which part is
    at fault and how to fix it (OSError when part of the path cannot be looked at)."""
    uid = os.geteuid() if uid is None else uid
    absolute = os.path.abspath(os.fspath(path))
    links = [0]
    root = os.lstat("/")
    check_entry("/", root, uid)
    return _walk(absolute, uid, links)


def _walk(path: str, uid: int, links: list[int]) -> Checked:
    """Follow the absolute `path` from `/` (already checked), checking each step."""
    current = "/"
    st = os.lstat(current)
    names = [name for name in path.split("/") if name not in ("", ".")]
    for name in names:
        if name == "..":
            # `current` is physical (links resolved), so its parent is what `..` names;
            # it was checked on the way down.
            current = os.path.dirname(current)
            st = os.lstat(current)
            continue
        step = os.path.join(current, name)
        st = os.lstat(step)
        if stat.S_ISLNK(st.st_mode):
            links[0] += 1
            if links[0] > _MAX_LINKS:
                raise UntrustedPathError(step, "link", f"is one of more than {_MAX_LINKS} "
                                         "links in a row", "Fix: name the file itself.")
            # The link's folder is trusted; in a sticky one the link's owner could still
            # replace it, so the link must be the user's or root's too.
            problem = _owner_problem(step, st, uid, "link")
            if problem is not None:
                raise problem
            target = os.readlink(step)
            found = _walk(os.path.join(current, target), uid, links)
            current, st = found.real_path, found.stat
        else:
            check_entry(step, st, uid)
            current = step
    return Checked(current, st)


# --- The pidfile and the log ------------------------------------------------------------


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
