"""Beat under a process manager is controlled through the manager.

supervisord runs for real here. systemd cannot (no systemd as PID 1 in this sandbox), so
its cgroup parsing is checked on real-world cgroup texts and `systemctl` is a stand-in
script on PATH that answers as the real one does.
"""

import os
import sys
from pathlib import Path

import pytest

from beat_panel import process
from beat_panel.process.managers import Manager, parse_cgroup, run_action

from conftest import is_alive, wait_until


@pytest.mark.parametrize(("text", "expected"), [
    ("0::/system.slice/celerybeat.service\n", ("celerybeat.service", False)),
    ("0::/user.slice/user-1000.slice/user@1000.service/app.slice/beat.service\n",
     ("beat.service", True)),
    ("0::/user.slice/user-1000.slice/session-3.scope\n", None),
    ("0::/user.slice/user-1000.slice/user@1000.service/init.scope\n", None),
    ("0::/\n", None),
    ("12:pids:/docker/abc\n1:name=systemd:/system.slice/beat@prod.service\n0::/\n",
     ("beat@prod.service", False)),
    ("", None),
])
def test_systemd_unit_is_read_from_the_cgroup(text, expected):
    assert parse_cgroup(text) == expected


@pytest.fixture
def fake_systemctl(tmp_path, monkeypatch):
    """A `systemctl` on PATH that records its arguments and answers like systemd."""
    folder = tmp_path / "fakebin"
    folder.mkdir()
    record = tmp_path / "systemctl.args"
    script = folder / "systemctl"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$@" > {record}\n'
        'case "$FAKE_SYSTEMCTL" in\n'
        '  denied) echo "Failed to restart celerybeat.service: Access denied" >&2; exit 4 ;;\n'
        '  broken) echo "Job for celerybeat.service failed." >&2; exit 1 ;;\n'
        "esac\n"
        "exit 0\n"
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}:{os.environ['PATH']}")
    return record


def test_systemd_restart_goes_through_systemctl(fake_systemctl, monkeypatch):
    monkeypatch.setenv("FAKE_SYSTEMCTL", "ok")
    outcome = run_action(Manager("systemd", "celerybeat.service"), "restart")
    assert outcome.success
    assert fake_systemctl.read_text().split() == [
        "--no-ask-password", "restart", "celerybeat.service"]


def test_systemd_user_unit_is_restarted_with_dash_dash_user(fake_systemctl, monkeypatch):
    monkeypatch.setenv("FAKE_SYSTEMCTL", "ok")
    outcome = run_action(Manager("systemd", "beat.service", user_scope=True), "restart")
    assert outcome.success
    assert fake_systemctl.read_text().split() == [
        "--user", "--no-ask-password", "restart", "beat.service"]


def test_systemd_access_denied_is_permission_denied_with_the_command(fake_systemctl,
                                                                    monkeypatch):
    monkeypatch.setenv("FAKE_SYSTEMCTL", "denied")
    manager = Manager("systemd", "celerybeat.service")
    outcome = run_action(manager, "restart")
    assert not outcome.success and outcome.permission_denied
    assert "Access denied" in outcome.message
    assert manager.command("restart") == "sudo systemctl restart celerybeat.service"
    assert Manager("systemd", "b.service", user_scope=True).command("stop") == \
        "systemctl --user stop b.service"


def test_systemd_failure_is_a_plain_failure(fake_systemctl, monkeypatch):
    monkeypatch.setenv("FAKE_SYSTEMCTL", "broken")
    outcome = run_action(Manager("systemd", "celerybeat.service"), "restart")
    assert not outcome.success and not outcome.permission_denied
    assert "Job for celerybeat.service failed" in outcome.message


@pytest.fixture
def supervised(fake_project, procs, tmp_path):
    """A real supervisord running the fake beat as program `beat`."""
    supervisord = Path(sys.executable).with_name("supervisord")
    if not supervisord.exists():
        pytest.skip("supervisor is not installed (pip install -e .[test])")
    project = fake_project(pidfile=None)
    sock = tmp_path / "supervisor.sock"
    conf = tmp_path / "supervisord.conf"
    conf.write_text(f"""
[unix_http_server]
file = {sock}

[supervisord]
nodaemon = true
logfile = {tmp_path / 'supervisord.log'}
pidfile = {tmp_path / 'supervisord.pid'}

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[program:beat]
command = {project.celery} -A {project.app} beat
directory = {project.root}
startsecs = 1
stopwaitsecs = 5
stdout_logfile = {tmp_path / 'beat.log'}
redirect_stderr = true
""")
    daemon = procs.popen([str(supervisord), "-c", str(conf)])

    def beat_is_up():
        assert daemon.poll() is None, "supervisord exited"
        return [b for b in process.scan() if b.app == project.app]

    wait_until(beat_is_up, timeout=30, what="supervisord to start beat")
    return project, daemon, beat_is_up


def test_beat_under_supervisord_is_reported_and_restarted_through_it(supervised):
    project, daemon, beats = supervised
    status = project.cli("status", "--json").json
    (proc,) = status["processes"]
    assert proc["manager"] == {"kind": "supervisord", "name": "beat", "user": False}
    old = proc["pid"]

    result = project.cli("restart", "--json")
    assert result.code == 0, result.stdout
    data = result.json
    assert data["manager"]["kind"] == "supervisord"
    (new,) = data["new_pids"]
    assert new != old and not is_alive(old)
    assert [b.pid for b in beats()] == [new], "exactly one beat, the one supervisord started"
    assert is_alive(daemon)


def test_beat_under_supervisord_is_stopped_through_it(supervised):
    project, daemon, beats = supervised
    result = project.cli("stop", "--json")
    assert result.code == 0, result.stdout
    assert "supervisord" in result.json["message"]
    wait_until(lambda: not beats(), what="beat to be gone")
    assert is_alive(daemon), "supervisord itself is never signalled"
