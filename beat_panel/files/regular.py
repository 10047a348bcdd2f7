"""Reading a file that must be a regular file: a FIFO, a device or a folder planted at
its path is an error, never a read that hangs. Standard library only (the plugin inside
beat uses it)."""

from __future__ import annotations

import errno
import fcntl
import os
import stat

# The most any schedule, saved version, beat report or last good copy may hold: far above
# what 50,000 entries take (some 10 MB), far below what would exhaust memory.
MAX_FILE_BYTES = 64 << 20


class NotRegularFileError(OSError):
    """Something other than a regular file is at the path."""


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a device"),
                       (stat.S_ISBLK, "a device")):
        if test(mode):
            return name
    return "not a regular file"


def kind_of(mode: int) -> str:
    """What is at a path, in words, from its st_mode: "a folder", "a symbolic link"..."""
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    return _kind(mode)


def _refuse_link(path: str | os.PathLike[str], exc: OSError, dir_fd: int | None) -> OSError:
    """The error for an open with O_NOFOLLOW that failed: a link at `path` is said as such
    (with where it points), anything else is `exc` unchanged."""
    if exc.errno not in (errno.ELOOP, errno.EMLINK):
        return exc
    try:
        st = os.lstat(path, dir_fd=dir_fd)
    except OSError:
        return exc
    if not stat.S_ISLNK(st.st_mode):
        return exc
    try:
        target = os.readlink(path, dir_fd=dir_fd)
    except OSError:
        target = "?"
    return NotRegularFileError(errno.ELOOP, f"it is a symbolic link (to {target}), and "
                               "links are not followed there", str(path))


def open_regular(path: str | os.PathLike[str], flags: int = os.O_RDONLY, mode: int = 0o666,
                 dir_fd: int | None = None) -> tuple[int, os.stat_result]:
    """Open the regular file at `path` itself, never through a symbolic link: the
    descriptor and its stat.

    Opened with O_NOFOLLOW and O_NONBLOCK (cleared once it is known to be a file), so a
    link planted at the path is refused instead of followed and a FIFO cannot hang the
    caller; anything but a regular file raises NotRegularFileError saying what is there.
    `flags` may add O_WRONLY, O_RDWR, O_CREAT, O_APPEND... Links in the folders above
    `path` are followed: check those with the folder's own rules.
    """
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, mode,
                     dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # a FIFO with no reader, opened to write
            raise NotRegularFileError(errno.ENXIO, "it is a named pipe (FIFO), not a file",
                                      str(path)) from None
        if exc.errno == errno.EISDIR:
            raise NotRegularFileError(errno.EISDIR, "it is a folder, not a file",
                                      str(path)) from None
        raise _refuse_link(path, exc, dir_fd) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFileError(errno.EINVAL, f"it is {_kind(st.st_mode)}, not a file",
                                      str(path))
        if not flags & os.O_NONBLOCK:
            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def read_regular(path: str | os.PathLike[str], limit: int | None = None,
                 follow: bool = True) -> bytes:
    """The bytes of the regular file at `path` (symlinks followed unless `follow` is
    False: then a link at `path` raises NotRegularFileError, see `open_regular`).

    Opened without blocking, so a FIFO cannot hang the caller; anything but a regular
    file raises NotRegularFileError saying what is there. With `limit`, a bigger file
    (or one that grows past it while it is read) raises OSError(EFBIG) instead of being
    read.
    """
    if follow:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    else:
        fd, _ = open_regular(path)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFileError(errno.EINVAL, f"it is {_kind(st.st_mode)}, not a file",
                                      str(path))
        too_big = OSError(errno.EFBIG, f"it is larger than {limit} bytes, the most Beat "
                          "Panel reads", str(path))
        if limit is not None and st.st_size > limit:
            raise too_big
        chunks = []
        total = 0
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
            total += len(chunk)
            if limit is not None and total > limit:
                raise too_big
        return b"".join(chunks)
    finally:
        os.close(fd)

