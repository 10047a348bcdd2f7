"""A real redis-server of a test's own: on a free port, its files in a temp folder,
stopped by its pid (never by name), optionally with a password; it can be hung with
SIGSTOP, and is always continued before it is killed."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

from conftest import ProcessTracker, wait_until

REDIS_SERVER = Path("/usr/bin/redis-server")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class RedisServer:
    port: int
    folder: Path
    process: subprocess.Popen
    argv: list[str]
    password: str | None = None
    hung: bool = False

    def url(self, db: int = 0, password: str | None = None) -> str:
        secret = password if password is not None else self.password
        auth = f":{secret}@" if secret else ""
        return f"redis://{auth}127.0.0.1:{self.port}/{db}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def hang(self) -> None:
        """Stop the server with SIGSTOP: it accepts connections (the kernel does) and
        never answers."""
        os.kill(self.pid, signal.SIGSTOP)
        self.hung = True

    def resume(self) -> None:
        if self.hung:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGCONT)
            self.hung = False

    def stop(self) -> None:
        """Kill it by its pid and reap it."""
        self.resume()
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def restart(self, tracker: ProcessTracker) -> None:
        """After `stop`: a new redis-server on the same port (its data is gone, as after
        a crash without persistence); returns once it answers."""
        assert self.process.poll() is not None, "stop it first"
        self.process = tracker.popen(self.argv)
        self.wait_until_it_answers()

    def wait_until_it_answers(self) -> None:
        client = redis.Redis(port=self.port, password=self.password, socket_timeout=1)

        def answers() -> bool:
            assert self.process.poll() is None, self.log()
            try:
                return bool(client.ping())
            except redis.ConnectionError:
                return False

        try:
            wait_until(answers, timeout=15, what="redis-server to answer")
        finally:
            client.close()

    def log(self) -> str:
        path = self.folder / "redis.log"
        return path.read_text() if path.exists() else ""


def start_redis(tracker: ProcessTracker, folder: Path, password: str | None = None
                ) -> RedisServer:
    """Start redis-server on a free port and wait until it answers a ping."""
    if not REDIS_SERVER.exists():
        pytest.skip(f"{REDIS_SERVER} is not installed")
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    argv = [str(REDIS_SERVER), "--port", str(port), "--bind", "127.0.0.1",
            "--dir", str(folder), "--save", "", "--appendonly", "no",
            "--logfile", str(folder / "redis.log")]
    if password:
        argv += ["--requirepass", password]
    server = RedisServer(port, folder, tracker.popen(argv), argv, password)
    server.wait_until_it_answers()
    return server


@pytest.fixture
def redis_server(tmp_path: Path, procs: ProcessTracker) -> Iterator[RedisServer]:
    """A Redis of the test's own, no password; continued (if hung) and killed by pid."""
    server = start_redis(procs, tmp_path / "redis")
    yield server
    server.resume()


@pytest.fixture
def redis_with_password(tmp_path: Path, procs: ProcessTracker) -> Iterator[RedisServer]:
    """The same, started with --requirepass."""
    server = start_redis(procs, tmp_path / "redis-auth", password="s3cret-Pa55")
    yield server
    server.resume()


@dataclass
class SilentListener:
    """A TCP port on loopback that accepts connections and never says a word: what a
    hung broker looks like from outside."""

    sock: socket.socket
    accepted: list[socket.socket] = field(default_factory=list)
    closed: threading.Event = field(default_factory=threading.Event)

    @property
    def port(self) -> int:
        return self.sock.getsockname()[1]

    def close(self) -> None:
        self.closed.set()
        for conn in self.accepted:
            conn.close()
        self.sock.close()


@pytest.fixture
def silent_listener() -> Iterator[SilentListener]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.settimeout(0.2)
    listener = SilentListener(sock)

    def serve() -> None:
        while not listener.closed.is_set():
            try:
                conn, _ = sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            listener.accepted.append(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener
    listener.closed.set()
    thread.join(timeout=5)
    listener.close()
