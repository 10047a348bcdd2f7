"""One Beat Panel per user: a second one asks the first to show itself, then exits.

The first panel listens on a local socket in a folder only its user may enter: the
user's runtime folder (`$XDG_RUNTIME_DIR`, when it is theirs and 0700), else a folder made
0700 in their state folder, else one in the temp folder. Never a name another user could
take first: a socket whose other end (SO_PEERCRED) is another user is not this user's
panel: a new panel starts anyway and says so in the log, and a panel ignores a request
from another user."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import socket
import stat
import struct
import tempfile
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

from beat_panel import paths

log = logging.getLogger(__name__)

_TIMEOUT_MS = 1000
# A Unix socket's path must fit in sockaddr_un.sun_path (108 bytes with its NUL).
_MAX_SOCKET_PATH = 107
_PRIVATE_NAME = "run"


def _private_folder_problem(folder: Path, create: bool) -> str | None:
    """Why `folder` cannot hold the socket (None: it can): it must be a real folder
    (not a link), owned by this user, that no one else may enter. One this user made and
    owns is made private again."""
    if create:
        try:
            folder.mkdir(mode=0o700, parents=True)
        except FileExistsError:
            pass
        except OSError as exc:
            return f"cannot be made ({exc.strerror})"
    try:
        info = folder.lstat()
    except OSError as exc:
        return f"cannot be used ({exc.strerror})"
    if stat.S_ISLNK(info.st_mode):
        return "is a symbolic link"
    if not stat.S_ISDIR(info.st_mode):
        return "is not a folder"
    if info.st_uid != os.geteuid():
        return f"belongs to uid {info.st_uid}"
    if stat.S_IMODE(info.st_mode) & 0o077:
        if not create:
            return f"is open to others (mode {stat.S_IMODE(info.st_mode):04o})"
        try:
            os.chmod(folder, 0o700, follow_symlinks=False)
        except OSError as exc:
            return f"cannot be made private ({exc.strerror})"
    return None


def _candidates() -> list[tuple[Path, bool, str]]:
    """(folder, made by the panel, what it is), in the order they are tried."""
    found = []
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    if runtime and os.path.isabs(runtime):
        found.append((Path(runtime), False, "the runtime folder (XDG_RUNTIME_DIR)"))
    found.append((paths.state_dir() / _PRIVATE_NAME, True, "a folder in the state folder"))
    found.append((Path(tempfile.gettempdir()) / f"beat-panel-{os.geteuid()}", True,
                  "a folder in the temp folder"))
    return found


def socket_path() -> str | None:
    """Where this user's panel listens: per user, and per state folder (so isolated test
    runs do not meet). None when no folder is private to the user (each reason is
    logged); the panel then runs without keeping to one instance."""
    tag = hashlib.sha1(str(paths.state_dir()).encode()).hexdigest()[:8]
    name = f"beat-panel-{tag}.sock"
    for folder, create, what in _candidates():
        path = str(folder / name)
        if len(os.fsencode(path)) > _MAX_SOCKET_PATH:
            log.info("Not using %s %s for the single-instance socket: the path is too long",
                     what, folder)
            continue
        problem = _private_folder_problem(folder, create)
        if problem is None:
            return path
        log.warning("Not using %s %s for the single-instance socket: it %s", what, folder,
                    problem)
    log.warning("No folder private to this user for the single-instance socket: this "
                "panel does not keep to one instance")
    return None


def peer_uid(descriptor: int) -> int | None:
    """The user id of the process at the other end of a connected Unix socket."""
    if descriptor < 0:
        return None
    try:
        with socket.fromfd(descriptor, socket.AF_UNIX, socket.SOCK_STREAM) as sock:  # a dup
            size = struct.calcsize("3i")
            _pid, uid, _gid = struct.unpack("3i", sock.getsockopt(
                socket.SOL_SOCKET, socket.SO_PEERCRED, size))
    except OSError:
        return None
    return uid


class SingleInstance(QObject):
    """Listens for later instances; `request` is emitted with what they asked for."""

    request = Signal(str)

    def __init__(self, name: str | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name or socket_path()
        self.server: QLocalServer | None = None

    def _connect(self) -> tuple[QLocalSocket | None, str | None]:
        """A connection to the panel listening at our name, if it is this user's: (the
        socket, None); or (None, why not)."""
        if self.name is None:
            return None, "no socket"
        connection = QLocalSocket()
        connection.connectToServer(self.name)
        if not connection.waitForConnected(_TIMEOUT_MS):
            return None, "none listens"
        uid = peer_uid(int(connection.socketDescriptor()))
        if uid != os.geteuid():
            connection.abort()
            return None, f"held by {'an unknown user' if uid is None else f'uid {uid}'}"
        return connection, None

    def hand_over(self, message: str) -> bool:
        """If this user's panel runs, send it `message` and return True."""
        connection, why = self._connect()
        if connection is None:
            if why not in ("no socket", "none listens"):
                log.warning("The single-instance socket %s is %s, not this user's Beat Panel: "
                            "starting a panel anyway", self.name, why)
            return False
        connection.write(message.encode() + b"\n")
        connection.waitForBytesWritten(_TIMEOUT_MS)
        connection.disconnectFromServer()
        return True

    def listen(self) -> bool:
        """Become the instance others hand over to (after `hand_over` found none of this
        user's): a socket left at the name, by a panel that crashed or by another user,
        is replaced."""
        if self.name is None:
            return False
        with contextlib.suppress(OSError):
            if stat.S_ISSOCK(os.lstat(self.name).st_mode):
                os.unlink(self.name)
        self.server = QLocalServer(self)
        # Only this user may connect (the folder is theirs alone already).
        self.server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        self.server.newConnection.connect(self._connection)
        if self.server.listen(self.name):
            return True
        log.warning("Cannot listen at %s (%s): this panel does not keep to one instance",
                    self.name, self.server.errorString())
        return False

    def _connection(self) -> None:
        assert self.server is not None
        while (connection := self.server.nextPendingConnection()) is not None:
            self._accept(connection)

    def _accept(self, connection: QLocalSocket) -> None:
        uid = peer_uid(int(connection.socketDescriptor()))
        if uid != os.geteuid():
            log.warning("Ignored a request on %s from %s", self.name,
                        "an unknown user" if uid is None else f"uid {uid}")
            connection.abort()
            connection.deleteLater()
            return

        def read() -> None:
            for line in bytes(connection.readAll()).decode(errors="replace").splitlines():
                if line.strip():
                    self.request.emit(line.strip())

        connection.readyRead.connect(read)
        connection.disconnected.connect(connection.deleteLater)
        if connection.bytesAvailable():
            read()
