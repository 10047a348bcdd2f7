"""Who owns a file, in words: the names of users and groups, for the messages that say
whose a file is and for the `chown`/`chgrp` commands in them. Standard library only
(`atomic` uses it inside beat)."""

from __future__ import annotations

import grp
import os
import pwd


def user_name(uid: int | None = None) -> str:
    """The name of user `uid` (default: the effective user), or `uid N` when it has none:
    for a sentence ("belongs to nobody", "run any command as alice")."""
    uid = os.geteuid() if uid is None else uid
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def group_name(gid: int) -> str:
    """The name of group `gid`, or `gid N` when it has none: for a sentence."""
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return f"gid {gid}"


def user_arg(uid: int | None = None) -> str:
    """User `uid` (default: the effective user) as `chown` takes it: its name, or its
    number when it has none."""
    uid = os.geteuid() if uid is None else uid
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def group_arg(gid: int) -> str:
    """Group `gid` as `chgrp` takes it: its name, or its number when it has none."""
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def owner_arg(st: os.stat_result) -> str:
    """The owner and group of a file (its stat) as `chown` takes them: `alice:staff`."""
    return f"{user_arg(st.st_uid)}:{group_arg(st.st_gid)}"
