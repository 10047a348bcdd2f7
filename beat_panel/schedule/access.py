"""Can the user a beat runs as read the schedule file? Worked out from the file's and its
folders' modes, owners and groups, with the command that would fix it when not.

A beat under a service user that cannot read the panel's file runs nothing while the
person who saved it sees a file that looks fine; this names the cause and the fix.
"""

from __future__ import annotations

import grp
import os
import pwd
import shlex
import stat
from dataclasses import dataclass
from pathlib import Path

from beat_panel.files.owners import group_arg, owner_arg
from beat_panel.files.regular import kind_of

# The fix for something at the schedule's path that no beat can read as a file.
_REPLACE = ("remove it (rm {path}), then restore a saved version (beat-panel schedule "
            "history; beat-panel schedule restore REVISION) or save the schedule again")


@dataclass(frozen=True)
class AccessProblem:
    """Why user `user` cannot read `path`, and what would fix it."""

    path: Path
    user: str
    why: str
    fix: str

    @property
    def message(self) -> str:
        return (f"Beat runs as {self.user} and cannot read the schedule file {self.path}: "
                f"{self.why}. Fix: {self.fix}")


def _groups_of(uid: int) -> tuple[str, set[int]]:
    try:
        entry = pwd.getpwuid(uid)
    except KeyError:
        return str(uid), set()
    gids = {entry.pw_gid}
    gids.update(g.gr_gid for g in grp.getgrall() if entry.pw_name in g.gr_mem)
    return entry.pw_name, gids


def _allows(info: os.stat_result, uid: int, gids: set[int], owner_bit: int, group_bit: int,
            other_bit: int) -> bool:
    if uid == 0:
        return True
    if info.st_uid == uid:
        return bool(info.st_mode & owner_bit)
    if info.st_gid in gids:
        return bool(info.st_mode & group_bit)
    return bool(info.st_mode & other_bit)


def _fix(path: Path, info: os.stat_result, gids: set[int], primary_gid: int, bit: str) -> str:
    target = shlex.quote(str(path))
    if info.st_gid in gids:
        return f"chmod g+{bit} {target}"
    group = shlex.quote(group_arg(primary_gid))
    return (f"chgrp {group} {target} && chmod g+{bit} {target}   (or, for everyone: "
            f"chmod o+{bit} {target})")


def process_groups(pid: int) -> set[int] | None:
    """The groups a running process really has (its gid and supplementary groups, as a
    service manager gave them), or None when they cannot be read."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as fh:
            fields = dict(line.split(":", 1) for line in fh if ":" in line)
        groups = {int(g) for g in fields.get("Groups", "").split()}
        groups.update(int(g) for g in fields["Gid"].split()[:2])
    except (OSError, KeyError, ValueError):
        return None
    return groups


def read_problem(path: Path, uid: int, groups: set[int] | None = None) -> AccessProblem | None:
    """None when user `uid` (with `groups`, when known: else the user's groups from the
    system's group database) can reach and read `path`, or it cannot be told; else what
    stops it and the fix (a device, a FIFO, a folder or a loop of links at the path stops
    every user). An ACL may still let it read: callers that know beat read the
    file (its report says so) should not ask."""
    name, gids = _groups_of(uid)
    if groups is not None:
        gids = groups
    try:
        primary = pwd.getpwuid(uid).pw_gid
    except KeyError:
        primary = next(iter(gids), 0)
    path = Path(os.path.abspath(path))
    for folder in reversed(path.parents):
        try:
            info = folder.stat()
        except OSError:
            return None
        if not _allows(info, uid, gids, stat.S_IXUSR, stat.S_IXGRP, stat.S_IXOTH):
            return AccessProblem(path, name, f"it may not enter the folder {folder} (mode "
                                 f"{stat.S_IMODE(info.st_mode):04o}, owner "
                                 f"{owner_arg(info)})", _fix(folder, info, gids, primary, "x"))
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    except OSError as exc:  # a loop of links, say: no beat can read it
        return AccessProblem(path, name, f"it cannot be opened ({exc.strerror})",
                             _REPLACE.format(path=shlex.quote(str(path))))
    if not stat.S_ISREG(info.st_mode):
        return AccessProblem(path, name, f"it is {kind_of(info.st_mode)}, not a file",
                             _REPLACE.format(path=shlex.quote(str(path))))
    if _allows(info, uid, gids, stat.S_IRUSR, stat.S_IRGRP, stat.S_IROTH):
        return None
    return AccessProblem(path, name, f"the file's mode is {stat.S_IMODE(info.st_mode):04o} "
                         f"and its owner {owner_arg(info)}", _fix(path, info, gids, primary, "r"))
