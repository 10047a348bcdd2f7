"""Which files Beat Panel trusts: only those no one but the user and root can change.

One rule for every file that decides what the panel runs (the config, the program
`[beat] command` runs) and every file it or beat writes or deletes (the pidfile, the
log, the action lock). The file, every folder on the way to it and every symbolic link
followed on the way belong to the user or to root, and none of them can be written by
anyone else:

- not by everyone (the world write bit), except a folder with the sticky bit (`/tmp`):
  there others may add entries but not replace the user's or root's;
- not by a group, except the user's personal group (the group named like the user with
  no other members, as `useradd` makes them; a umask of 002 gives files that group). A
  file writable by a shared group is writable by each of its members.

The folders count because whoever can write a folder can put another file in the place
of the one that was checked. The path is walked as the kernel walks it: each link is
followed where it points and `..` goes up from where a link led, so the folders are
checked both as written and as resolved. Access control lists are not read.

A file the panel writes or deletes must also be a regular file (not a FIFO, a folder or
a device), not a link at its own path (never followed there: whoever made it could point
it at any file), and have one name (through a second hard link, writing it would change
another file too). A folder on its way that does not exist yet is judged by the folders
above it: whoever makes it (the panel, or beat) is the user. Standard library only.
"""

from __future__ import annotations

import errno
import grp
import os
import pwd
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from beat_panel.errors import PanelError
from beat_panel.files.owners import group_name, user_arg, user_name
from beat_panel.files.regular import NotRegularFileError, kind_of, open_regular

_MAX_LINKS = 40  # as the kernel's limit on links followed in one lookup

_LINK_DANGER = ("Beat Panel never writes or deletes through a link there: whoever made it "
                "could point it at any file.")
_FOLDER_DANGER = ("Whoever can change that folder could swap the file for a link to any "
                  "file.")
_OWNER_DANGER = "Beat Panel does not write into or delete another user's file."
_NLINK_DANGER = "Writing it would change that other file too."


class UntrustedPathError(PanelError):
    """Someone other than the user and root can change the file, it is not a file the
    panel may write, or it cannot be checked.

    `path` is the file, folder or link at fault (`kind`: "file", "folder" or "link"),
    `problem` what was found there, `fix` the step that makes it trusted, `danger` what
    using it anyway could do (None when the problem says it). `reason` says it of the
    file checked: "it belongs to ..." for the file itself, "the folder F on the way to
    it ..." for one on its way; `predicate` says it after the file's name. A file the
    panel writes is named in the text: `what` ("pidfile", "log") and `file` its path,
    "its pidfile P is a symbolic link (to T), ..."."""

    def __init__(self, path: str, kind: str, problem: str, fix: str,
                 danger: str | None = None) -> None:
        self.path = path
        self.kind = kind
        self.problem = problem
        self.fix = fix
        self.danger = danger
        self.what: str | None = None
        self.file: str | None = None
        super().__init__(self._text())

    @property
    def reason(self) -> str:
        if self.kind == "file":  # only the last step of a path can be a file
            return f"it {self.problem}"
        return f"the {self.kind} {self.path} on the way to it {self.problem}"

    @property
    def predicate(self) -> str:
        """What is wrong, said after the checked file's name: "is a named pipe (FIFO),
        not a file", "cannot be trusted: the folder F on the way to it ..."."""
        if self.kind == "file":
            return self.problem
        return f"cannot be trusted: {self.reason}"

    @property
    def in_folder(self) -> bool:
        """Whether a folder or link on the way is at fault rather than the file."""
        return self.kind != "file"

    def _naming(self, what: str, file: str | os.PathLike[str]) -> UntrustedPathError:
        self.what, self.file = what, os.fspath(file)
        self.args = (self._text(),)
        return self

    def _text(self) -> str:
        said = (f"its {self.what} {self.file} {self.predicate}" if self.what is not None
                else self.reason)
        return " ".join(filter(None, (f"{said}.", self.danger, self.fix)))


class UncheckablePathError(UntrustedPathError):
    """Part of the way to a file the panel writes cannot be looked at (a file where a
    folder should be, no permission to enter one), so the rule cannot be applied."""

    @property
    def predicate(self) -> str:
        if self.kind == "file":
            return self.problem
        return f"cannot be checked: {self.reason}"


@dataclass(frozen=True)
class Checked:
    """A trusted file: its physical path (every link resolved) and what `lstat` said of it."""

    real_path: str
    stat: os.stat_result


def _personal_group(gid: int, uid: int) -> bool:
    """True when group `gid` is user `uid`'s own: named like the user, the user's primary
    group, and listing no other member."""
    try:
        group, user = grp.getgrgid(gid), pwd.getpwuid(uid)
    except KeyError:
        return False
    return (group.gr_name == user.pw_name and user.pw_gid == gid
            and set(group.gr_mem) <= {user.pw_name})


def _where(key: str, in_folder: bool) -> str:
    """The config key's part of a fix: "set [beat] pidfile in beat-panel.toml to ..."."""
    place = "a path in a folder only you or root can write" if in_folder else "another path"
    return f"set {key} in beat-panel.toml to {place}"


def _owner_problem(path: str, st: os.stat_result, uid: int, kind: str,
                   key: str | None = None) -> UntrustedPathError | None:
    if st.st_uid in (uid, 0):
        return None
    you, owner = user_arg(uid), user_name(st.st_uid)
    owner_text = owner if owner.startswith("uid ") else f"{owner} (uid {st.st_uid})"
    who = f"you ({user_name(uid)}) or root" if uid != 0 else "root"
    flag = "-h " if kind == "link" else ""
    take_over = f"`chown {flag}{you} {path}`"
    if kind == "folder":
        place = (f"keep the file in a folder that belongs to {who}" if key is None
                 else _where(key, True))
        fix = f"Fix: {place}, or, if {owner} is to be trusted, {take_over}."
    elif key is None:
        fix = f"Fix: if you trust it, take it over with {take_over}, or use a copy of your own."
    else:
        fix = (f"Fix: if you trust it, take it over with {take_over}; else remove it if it "
               f"is a leftover, or {_where(key, False)}.")
    danger = None if key is None else {"folder": _FOLDER_DANGER, "file": _OWNER_DANGER}.get(kind)
    return UntrustedPathError(path, kind, f"belongs to {owner_text}, not to {who}", fix,
                              danger)


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
        return f"everyone (and the group {group_name(st.st_gid)})", "go-w"
    if others:
        return "everyone", "o-w"
    if group:
        return f"the group {group_name(st.st_gid)}", "g-w"
    return None


def _write_problem(path: str, st: os.stat_result, uid: int, kind: str,
                   key: str | None = None) -> UntrustedPathError | None:
    mode = stat.S_IMODE(st.st_mode)
    if kind == "folder" and mode & stat.S_ISVTX:
        return None  # others may add entries, but not replace the user's or root's
    writers = other_writers(st, uid)
    if writers is None:
        return None
    who, bits = writers
    if kind == "folder":
        also = (" (or keep the file in a folder only you can write)" if key is None
                else f", or {_where(key, True)}")
        fix = f"Fix: `chmod {bits} {path}`{also}."
        problem = (f"can be written by {who} (mode {mode:04o}), so they could put another "
                   "file in its place")
    else:
        fix = f"Fix: `chmod {bits} {path}`."
        problem = f"can be written by {who} (mode {mode:04o})"
    danger = None if key is None or kind != "folder" else _FOLDER_DANGER
    return UntrustedPathError(path, kind, problem, fix, danger)


def check_entry(path: str, st: os.stat_result, uid: int | None = None,
                key: str | None = None) -> None:
    """Raise UntrustedPathError unless the file or folder `path` (its `lstat` is `st`)
    belongs to the user or root and no one else can write it. Its folders are not looked
    at: see `check_path` for that. With `key` (the config key that names the file), the
    fix says to set it."""
    uid = os.geteuid() if uid is None else uid
    kind = "folder" if stat.S_ISDIR(st.st_mode) else "file"
    problem = (_owner_problem(path, st, uid, kind, key)
               or _write_problem(path, st, uid, kind, key))
    if problem is not None:
        raise problem


def check_path(path: str | os.PathLike[str], uid: int | None = None) -> Checked:
    """Check that no one but the user (`uid`, default the effective user) and root can
    change what `path` names: the file, each folder from `/` down to it, and each link on
    the way (followed as the kernel would). Returns the file's physical path and `lstat`,
    to compare with what is then opened; raises UntrustedPathError saying which part is
    at fault and how to fix it (OSError when part of the path cannot be looked at)."""
    uid = os.geteuid() if uid is None else uid
    found = _walk_from_root(path, uid)
    if found is None:  # only a walk that may stop short stops
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), os.fspath(path))
    return found


def _walk_from_root(path: str | os.PathLike[str], uid: int, key: str | None = None,
                    may_stop: bool = False) -> Checked | None:
    # Not os.path.abspath: it drops `x/..` before `x` is looked at, and when `x` is a
    # link the kernel goes up from where the link leads instead.
    absolute = os.path.join(os.getcwd(), os.fspath(path))
    check_entry("/", os.lstat("/"), uid, key)
    return _walk(absolute, uid, [0], key, may_stop)


def _walk(path: str, uid: int, links: list[int], key: str | None = None,
          may_stop: bool = False) -> Checked | None:
    """Follow the absolute `path` from `/` (already checked), checking each step. With
    `may_stop`, a step that does not exist ends the walk (None): nothing below it does."""
    current = "/"
    st = os.lstat(current)
    names = [name for name in path.split("/") if name not in ("", ".")]
    for index, name in enumerate(names):
        if not stat.S_ISDIR(st.st_mode):
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), current)
        if name == "..":
            # `current` is physical (links resolved), so its parent is what `..` names;
            # it was checked on the way down.
            current = os.path.dirname(current)
            st = os.lstat(current)
            continue
        step = os.path.join(current, name)
        try:
            st = os.lstat(step)
        except FileNotFoundError:
            if may_stop:
                return None
            raise
        if stat.S_ISLNK(st.st_mode):
            links[0] += 1
            if links[0] > _MAX_LINKS:
                raise UntrustedPathError(step, "link", f"is one of more than {_MAX_LINKS} "
                                         "links in a row", "Fix: name the file itself.")
            # The link's folder is trusted; in a sticky one the link's owner could still
            # replace it, so the link must be the user's or root's too.
            problem = _owner_problem(step, st, uid, "link", key)
            if problem is not None:
                raise problem
            target = os.readlink(step)
            found = _walk(os.path.join(current, target), uid, links, key, may_stop)
            if found is None:
                return None
            current, st = found.real_path, found.stat
        else:
            kind_here = "folder" if stat.S_ISDIR(st.st_mode) or index < len(names) - 1 \
                else "file"
            problem = (_owner_problem(step, st, uid, kind_here, key)
                       or _write_problem(step, st, uid, kind_here, key))
            if problem is not None:
                raise problem
            current = step
    return Checked(current, st)


# --- Files the panel or beat writes: the pidfile, the log, the action lock ----------------


def _check_folder(what: str, path: Path, key: str | None) -> None:
    """Raise UntrustedPathError unless the folders on the way to `path` (a file the panel
    writes) follow the rule; a folder that does not exist yet is left to its parents."""
    folder = path.parent
    try:
        _walk_from_root(folder, os.geteuid(), key, may_stop=True)
    except UntrustedPathError as exc:
        raise exc._naming(what, path) from None
    except OSError as exc:
        place = exc.filename or str(folder)
        fix = f"Fix: {_where(key, True)}." if key else ""
        raise UncheckablePathError(place, "folder", f"cannot be looked at ({exc.strerror})",
                                   fix)._naming(what, path) from None


def _file_problem(path: Path, st: os.stat_result, key: str | None
                  ) -> UntrustedPathError | None:
    """Why the existing regular file at `path` (its stat `st`) may not be written or
    deleted by the panel, or None."""
    uid = os.geteuid()
    if (problem := _owner_problem(str(path), st, uid, "file", key)) is not None:
        return problem
    if st.st_nlink > 1:
        fix = f"Fix: remove it if it is a leftover, or {_where(key, False)}." if key else ""
        return UntrustedPathError(str(path), "file", f"has {st.st_nlink} hard links: it may "
                                  "be another file under a second name", fix, _NLINK_DANGER)
    return _write_problem(str(path), st, uid, "file", key)


def _not_a_file(path: Path, said: str, key: str | None) -> UntrustedPathError:
    """The error for something other than a regular file at `path`; `said` is what
    open_regular said of it ("it is a symbolic link (to T), ...")."""
    danger = _LINK_DANGER if "symbolic link" in said else None
    fix = f"Fix: remove it if it is a leftover, or {_where(key, False)}." if key else ""
    return UntrustedPathError(str(path), "file", said.removeprefix("it "), fix, danger)


def check_file_to_write(what: str, path: Path, key: str | None = None) -> None:
    """Raise UntrustedPathError unless beat may write the file at `path` (`what`: its
    "pidfile", its "log") and the panel may later delete it: nothing there yet, or a
    trusted regular file of one name, in trusted folders. `key` is the config key that
    names the file (`[beat] pidfile`), for the fix."""
    _check_folder(what, path, key)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise UncheckablePathError(str(path), "file", f"cannot be checked: {exc.strerror}",
                                   "")._naming(what, path) from None
    if stat.S_ISLNK(st.st_mode):
        try:
            target = os.readlink(path)
        except OSError:
            target = "?"
        said = f"it is a symbolic link (to {target}), and links are not followed there"
        raise _not_a_file(path, said, key)._naming(what, path)
    if not stat.S_ISREG(st.st_mode):
        raise _not_a_file(path, f"it is {kind_of(st.st_mode)}, not a file",
                          key)._naming(what, path)
    if (problem := _file_problem(path, st, key)) is not None:
        raise problem._naming(what, path)


def open_to_write(what: str, path: Path, flags: int, mode: int = 0o644,
                  key: str | None = None) -> tuple[int, os.stat_result]:
    """Open the file the panel writes at `path` (`what`: "log", "action lock") with
    `flags` (O_WRONLY, O_APPEND, O_CREAT...; a new file gets `mode`): its descriptor and
    stat. Never through a link at its path, never waiting on a FIFO; UntrustedPathError
    when it or a folder on its way breaks the rule (see `check_file_to_write`)."""
    _check_folder(what, path, key)
    try:
        fd, st = open_regular(path, flags, mode)
    except NotRegularFileError as exc:
        raise _not_a_file(path, exc.strerror, key)._naming(what, path) from None
    if (problem := _file_problem(path, st, key)) is not None:
        os.close(fd)
        raise problem._naming(what, path)
    return fd, st


def remove_pidfile(path: Path, pids: Iterable[int]) -> str | None:
    """Delete the pidfile at `path`, only when it is the file beat (or the panel) wrote
    for one of `pids`: a trusted regular file in trusted folders, reached without a link,
    whose whole content is that pid and a newline. None when it was removed or is not
    there; else why it was left in place ("it is a symbolic link ...", "it belongs to
    ...")."""
    wanted = {f"{pid}\n".encode() for pid in pids}
    try:
        _check_folder("pidfile", path, None)
    except UntrustedPathError as exc:
        return f"it {exc.predicate}"
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
        if (problem := _file_problem(path, st, None)) is not None:
            return f"it {problem.predicate}"
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
