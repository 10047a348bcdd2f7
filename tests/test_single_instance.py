"""One panel per user, and no other user can stand in for it: the socket lives in a folder
only the user may enter, a socket another user holds (at the old predictable place in
/tmp, or planted where ours goes) is not taken for the user's panel, and a request from
another user is ignored."""

import hashlib
import logging
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from beat_panel import paths
from beat_panel.ui import single_instance
from beat_panel.ui.single_instance import SingleInstance, socket_path

from conftest import run_cli, wait_until

AS_NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]

needs_root = pytest.mark.skipif(os.geteuid() != 0,
                                reason="needs root to act as another user (setpriv)")


def private_dir(prefix: str) -> Path:
    # 0700, short enough for a socket path, in /tmp whatever tempfile.tempdir says.
    return Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))


@pytest.fixture
def folders(monkeypatch):
    """A runtime folder (XDG_RUNTIME_DIR), a short state folder and a temp folder of
    this test's own."""
    made = {name: private_dir(f"bp-{name}-") for name in ("runtime", "state", "temp")}
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(made["runtime"]))
    monkeypatch.setenv("XDG_STATE_HOME", str(made["state"]))
    monkeypatch.setattr(tempfile, "tempdir", str(made["temp"]))
    yield made
    for folder in made.values():
        shutil.rmtree(folder, ignore_errors=True)


def nobody() -> pwd.struct_passwd:
    return pwd.getpwnam("nobody")


def test_the_socket_is_in_the_users_runtime_folder(folders):
    path = Path(socket_path())
    assert path.parent == folders["runtime"]
    assert path.name.startswith("beat-panel-")


@needs_root
@pytest.mark.parametrize(("spoil", "reason"), [
    ("owner", "belongs to uid"),
    ("mode", "is open to others (mode 0755)"),
    ("link", "is a symbolic link"),
])
def test_a_runtime_folder_that_is_not_the_users_alone_is_not_used(folders, monkeypatch,
                                                                   caplog, spoil, reason):
    runtime = folders["runtime"]
    if spoil == "owner":
        os.chown(runtime, nobody().pw_uid, nobody().pw_gid)
    elif spoil == "mode":
        runtime.chmod(0o755)
    else:
        link = folders["temp"] / "runtime-link"
        link.symlink_to(runtime)
        monkeypatch.setenv("XDG_RUNTIME_DIR", str(link))
    with caplog.at_level(logging.WARNING, logger="beat_panel.ui.single_instance"):
        path = Path(socket_path())
    assert reason in caplog.text
    # A folder of its own in the state folder instead, made private.
    assert path.parent == paths.state_dir() / "run"
    assert (path.parent.stat().st_mode & 0o777) == 0o700
    assert path.parent.stat().st_uid == os.geteuid()


@needs_root
def test_with_every_folder_spoiled_the_panel_runs_without_the_guard(folders, monkeypatch,
                                                                    caplog, qtbot):
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    elsewhere = private_dir("bp-elsewhere-")
    try:
        paths.state_dir().mkdir(parents=True)
        (paths.state_dir() / "run").symlink_to(elsewhere)  # planted: never followed
        planted = folders["temp"] / f"beat-panel-{os.geteuid()}"
        planted.mkdir(mode=0o700)
        os.chown(planted, nobody().pw_uid, nobody().pw_gid)  # taken by another user
        with caplog.at_level(logging.WARNING, logger="beat_panel.ui.single_instance"):
            instance = SingleInstance()
            assert instance.name is None
            assert not instance.hand_over("show") and not instance.listen()
        assert "is a symbolic link" in caplog.text and "belongs to uid" in caplog.text
        assert "does not keep to one instance" in caplog.text
        assert list(elsewhere.iterdir()) == []
    finally:
        shutil.rmtree(elsewhere)


# A Unix socket server of another user: prints "listening", then what each client sent.
SERVER = textwrap.dedent("""
    import os, socket, sys
    server = socket.socket(socket.AF_UNIX)
    server.bind(sys.argv[1])
    os.chmod(sys.argv[1], 0o777)
    server.listen()
    print("listening", flush=True)
    while True:
        client, _ = server.accept()
        data = b""
        while chunk := client.recv(1024):
            data += chunk
        print("got", repr(data), flush=True)
        client.close()
""")


def another_users_server(procs, path: Path) -> subprocess.Popen:
    server = procs.popen([*AS_NOBODY, sys.executable, "-c", SERVER, str(path)],
                         stdout=subprocess.PIPE, text=True)
    assert server.stdout.readline() == "listening\n", f"exited {server.wait()}"
    return server


def what_it_got(procs, server: subprocess.Popen) -> str:
    server.kill()
    server.wait()
    out = server.stdout.read()
    server.stdout.close()
    return out


@needs_root
def test_gui_starts_its_own_panel_beside_another_users_sockets_and_a_second_one_hands_over(
        folders, fake_project, procs, tmp_path):
    project = fake_project()
    # Another user binds the name the panel used to take in /tmp...
    old_name = f"beat-panel-{os.getuid()}-" + hashlib.sha1(
        str(paths.state_dir()).encode()).hexdigest()[:8]
    old_place = Path("/tmp") / old_name
    # ...and, somehow, the very path in our own folder (a socket moved in by root).
    ours = Path(socket_path())
    theirs = private_dir("bp-theirs-")
    os.chown(theirs, nobody().pw_uid, nobody().pw_gid)
    try:
        at_old_place = another_users_server(procs, old_place)
        planted = another_users_server(procs, theirs / "s")
        os.rename(theirs / "s", ours)
        assert ours.stat().st_uid == nobody().pw_uid

        log = tmp_path / "first.err"
        with open(log, "w") as err:
            first = procs.popen([sys.executable, "-m", "beat_panel", "--config",
                                 str(project.config_path), "gui"], stderr=err)
        # It starts: its own socket replaces the planted one.
        wait_until(lambda: (ours.is_socket() and ours.stat().st_uid == os.geteuid())
                   or first.poll() is not None, timeout=60, what="the first panel to listen")
        assert first.poll() is None, log.read_text()

        second = run_cli("--config", str(project.config_path), "gui")
        assert second.code == 0, second
        assert "Beat Panel is already running; showed its window." in second.stderr
        assert first.poll() is None

        panel_log = (paths.state_dir() / "panel.log").read_text()
        assert (f"The single-instance socket {ours} is held by uid {nobody().pw_uid}, not "
                "this user's Beat Panel: starting a panel anyway") in panel_log
        # Neither of the other user's servers was ever asked for anything.
        assert "show" not in what_it_got(procs, at_old_place)
        assert "show" not in what_it_got(procs, planted)
    finally:
        old_place.unlink(missing_ok=True)
        shutil.rmtree(theirs, ignore_errors=True)


CLIENT = textwrap.dedent("""
    import socket, sys
    client = socket.socket(socket.AF_UNIX)
    client.connect(sys.argv[1])
    try:
        client.sendall(b"show\\n")
        while client.recv(1024):
            pass
    except (BrokenPipeError, ConnectionResetError):
        pass  # closed before, or while, it was read
    print("closed by the panel", flush=True)
""")


@needs_root
def test_a_panel_ignores_a_request_from_another_user(procs, qtbot):
    shared = Path(tempfile.mkdtemp(prefix="bp-shared-"))
    shared.chmod(0o755)
    try:
        name = str(shared / "panel.sock")
        first = SingleInstance(name=name)
        assert first.listen()
        os.chmod(name, 0o777)  # as if anyone could reach it
        requests = []
        first.request.connect(requests.append)

        client = procs.popen([*AS_NOBODY, sys.executable, "-c", CLIENT, name],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        qtbot.waitUntil(lambda: client.poll() is not None, timeout=30000)
        out, err = client.communicate()
        assert out == "closed by the panel\n", err
        assert requests == []

        # The user's own request still gets through.
        assert SingleInstance(name=name).hand_over("show")
        qtbot.waitUntil(lambda: requests == ["show"], timeout=5000)
        first.server.close()
    finally:
        shutil.rmtree(shared, ignore_errors=True)


def test_peer_uid_is_read_from_the_connected_socket():
    import socket

    left, right = socket.socketpair()
    with left, right:
        assert single_instance.peer_uid(left.fileno()) == os.geteuid()
        assert left.fileno() >= 0  # the descriptor itself was not closed
        left.sendall(b"x")
        assert right.recv(1) == b"x"
