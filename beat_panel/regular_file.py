"""Reading a file that must be a regular file: a FIFO, a device or a folder planted at
its path is an error, never a read that hangs. Standard library only (the plugin inside
beat uses it)."""

from __future__ import annotations

import errno
import os
import stat


class NotRegularFileError(OSError):
    """Something other than a regular file is at the path."""


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a device"),
                       (stat.S_ISBLK, "a device")):
        if test(mode):
            return name
    return "not a regular file"


def read_regular(path: str | os.PathLike[str], limit: int | None = None) -> bytes:
    """The bytes of the regular file at `path` (symlinks followed).

    Opened without blocking, so a FIFO cannot hang the caller; anything but a regular
    file raises NotRegularFileError saying what is there. With `limit`, a bigger file
    raises OSError(EFBIG) instead of being read.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFileError(errno.EINVAL, f"it is {_kind(st.st_mode)}, not a file",
                                      str(path))
        if limit is not None and st.st_size > limit:
            raise OSError(errno.EFBIG, f"it is larger than {limit} bytes", str(path))
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)

