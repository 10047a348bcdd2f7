"""One Beat Panel per user: a second one asks the first to show itself, then exits."""

from __future__ import annotations

import hashlib
import os

from PySide6.QtCore import QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

from beat_panel import paths

_TIMEOUT_MS = 1000


def server_name() -> str:
    """Per user, and per state folder (so isolated test runs do not meet)."""
    folder = hashlib.sha1(str(paths.state_dir()).encode()).hexdigest()[:8]
    return f"beat-panel-{os.getuid()}-{folder}"


class SingleInstance(QObject):
    """Listens for later instances; `request` is emitted with what they asked for."""

    request = Signal(str)

    def __init__(self, name: str | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name or server_name()
        self.server: QLocalServer | None = None

    def hand_over(self, message: str) -> bool:
        """If another instance runs, send it `message` and return True."""
        socket = QLocalSocket()
        socket.connectToServer(self.name)
        if not socket.waitForConnected(_TIMEOUT_MS):
            return False
        socket.write(message.encode() + b"\n")
        socket.waitForBytesWritten(_TIMEOUT_MS)
        socket.disconnectFromServer()
        return True

    def listen(self) -> bool:
        """Become the instance others hand over to."""
        QLocalServer.removeServer(self.name)  # a stale socket of a crashed instance
        self.server = QLocalServer(self)
        self.server.newConnection.connect(self._connection)
        return self.server.listen(self.name)

    def _connection(self) -> None:
        assert self.server is not None
        socket = self.server.nextPendingConnection()
        if socket is None:
            return

        def read() -> None:
            for line in bytes(socket.readAll()).decode(errors="replace").splitlines():
                if line.strip():
                    self.request.emit(line.strip())

        socket.readyRead.connect(read)
        socket.disconnected.connect(socket.deleteLater)
        if socket.bytesAvailable():
            read()
