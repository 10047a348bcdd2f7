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
of the one that was checked. Access control lists are not read. Standard library only.
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
from dataclasses import dataclass

from beat_panel.errors import PanelError

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
