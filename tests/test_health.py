"""`beat-panel health` and the core's health checks against real brokers: a real
redis-server (with a password, stopped, hung with SIGSTOP), an amqp URL to a port that
refuses and to one that accepts and never answers, and the filesystem transport with a
folder missing. Every answer comes within its deadline."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import psutil
import pytest

from beat_panel.control.states import Phase
from beat_panel.control.status import Status
from beat_panel.health import HealthChecker, WorkersHealth
from beat_panel.health.beat_node import remote_control
from beat_panel.health.check import _beat
from beat_panel.health.deadline import PROBE_SCRIPT
from beat_panel.process import BeatProcess
from beat_panel.schedule import Entry, Interval

from conftest import run_cli
from health_world import make_project
from redis_server import RedisServer, SilentListener, free_port

# A generous bound for a command that would otherwise hang: not a timing assert.
HANG_GUARD = 10


def check(project, **kwargs):
    return HealthChecker(project.load(), **kwargs).check()


def probes_left() -> list[psutil.Process]:
    """Probe processes of this test still alive (they must all be ended and reaped)."""
    left = []
    for child in psutil.Process().children(recursive=True):
        try:
            if str(PROBE_SCRIPT) in child.cmdline():
                left.append(child)
        except psutil.NoSuchProcess:
            continue
    return left


def test_a_reachable_redis_reports_its_latency_and_masks_the_password(
        tmp_path: Path, redis_with_password: RedisServer):
    project = make_project(tmp_path / "proj", redis_with_password.url())
    done = project.cli("health", "--json", timeout=HANG_GUARD)
    assert done.code == 0, done.stderr
    assert redis_with_password.password not in done.stdout + done.stderr
    broker = done.json["broker"]
    assert broker["ok"] is True, broker
    assert broker["error"] is None
    assert isinstance(broker["latency_ms"], float) and broker["latency_ms"] >= 0
    assert broker["url"] == f"redis://:**@127.0.0.1:{redis_with_password.port}/0"
    assert set(done.json) >= {"broker", "workers", "beat", "problems"}
    assert done.json["beat"]["running"] is False
    assert "Beat is not running" in " ".join(done.json["problems"])


def test_a_wrong_redis_password_is_unreachable_and_masked_in_every_message(
        tmp_path: Path, redis_with_password: RedisServer):
    wrong = "Wr0ng-Secret-99"
    project = make_project(tmp_path / "proj", redis_with_password.url(password=wrong))
    done = project.cli("health", "--json", timeout=HANG_GUARD)
    assert done.code == 0, done.stderr
    assert wrong not in done.stdout + done.stderr
    broker = done.json["broker"]
    assert broker["ok"] is False and broker["error"], broker
    assert "**" in broker["url"]
    text = project.cli("health", timeout=HANG_GUARD)
    assert wrong not in text.stdout + text.stderr
    assert "Broker   ✗" in text.stdout


def test_a_stopped_redis_is_unreachable(tmp_path: Path, redis_server: RedisServer):
    project = make_project(tmp_path / "proj", redis_server.url())
    assert check(project).broker.ok
    redis_server.stop()
    health = check(project)
    assert health.broker.ok is False
    assert "refused" in (health.broker.error or "").lower(), health.broker
    assert not health.workers.checked
    assert "broker_unreachable" in [p.code for p in health.problems]


def test_a_hung_redis_is_unreachable_within_the_deadline(
        tmp_path: Path, redis_server: RedisServer):
    """SIGSTOP: the kernel still accepts the connection; without socket timeouts kombu's
    Redis transport would wait forever."""
    project = make_project(tmp_path / "proj", redis_server.url())
    redis_server.hang()
    done = project.cli("health", "--json", timeout=HANG_GUARD)  # raises if it hangs
    assert done.code == 0, done.stderr
    broker = done.json["broker"]
    assert broker["ok"] is False
    assert "no answer" in broker["error"], broker
    assert broker["url"] == f"redis://127.0.0.1:{redis_server.port}/0"
    assert done.json["workers_checked"] is False
    assert any("cannot be reached" in p for p in done.json["problems"])


def test_an_amqp_port_that_refuses_is_unreachable(tmp_path: Path):
    project = make_project(tmp_path / "proj", f"amqp://guest:Amqp-Pw-1@127.0.0.1:{free_port()}//")
    health = check(project)
    assert health.broker.ok is False
    assert health.broker.transport == "amqp"
    assert "refused" in (health.broker.error or "").lower()
    assert "Amqp-Pw-1" not in json.dumps(health.to_json())


def test_an_amqp_listener_that_never_answers_is_unreachable_within_the_deadline(
        tmp_path: Path, silent_listener: SilentListener):
    url = f"amqp://guest:Amqp-Pw-2@127.0.0.1:{silent_listener.port}//"
    project = make_project(tmp_path / "proj", url)
    done = project.cli("health", "--json", timeout=HANG_GUARD)
    assert done.code == 0, done.stderr
    broker = done.json["broker"]
    assert broker["ok"] is False and "no answer" in broker["error"], broker
    assert "Amqp-Pw-2" not in done.stdout
    assert silent_listener.accepted, "the probe did connect to the listener"


def test_a_filesystem_broker_with_a_missing_folder_is_not_ok(tmp_path: Path):
    missing = tmp_path / "proj" / "broker" / "in"
    out = tmp_path / "proj" / "broker" / "out"
    out.mkdir(parents=True)
    project = make_project(tmp_path / "proj", "filesystem://",
                           {"data_folder_in": str(missing), "data_folder_out": str(out)})
    health = check(project)
    assert health.broker.ok is False
    assert str(missing) in (health.broker.error or "")
    assert "does not exist" in (health.broker.error or "")
    missing.mkdir()
    assert check(project).broker.ok is True


def test_a_probe_that_hangs_is_killed_at_its_deadline_and_the_others_still_answer(
        tmp_path: Path, redis_server: RedisServer):
    """An app whose import blocks (a connect at import time, say): each probe is ended
    by its pid at the deadline, reaped, and beat's status is still given."""
    project = make_project(tmp_path / "proj", redis_server.url(),
                           before="import time\ntime.sleep(120)\n")
    health = check(project, deadline=1.0)
    assert health.broker.ok is False and health.broker.timed_out
    assert health.broker.error == "no answer within 1 s"
    assert not health.workers.checked and health.workers.timed_out
    assert health.workers.error == "no answer within 1 s"
    assert health.beat.status.error is None and health.beat.status.running is False
    assert probes_left() == []


def said_twice(text: str) -> list[str]:
    """The openings a message says twice in a row ("X could not be asked: X could not
    be asked: ..."), case aside."""
    heads = [part.strip().lower() for part in text.split(":")]
    return [a for a, b in itertools.pairwise(heads) if a and a == b] + \
        [head for head in ("could not be asked", "cannot be reached", "did not answer")
         if text.lower().count(head) > 1]


def test_a_workers_check_stopped_at_its_deadline_is_said_once_in_every_face(
        tmp_path: Path):
    """The broker answers, the workers' check is stopped at its deadline: each face puts
    its own opening before the reason, once (never "could not be asked: The workers
    could not be asked: ..."), and none says the broker could not be reached."""
    folder = tmp_path / "proj" / "broker"
    folder.mkdir(parents=True)
    project = make_project(tmp_path / "proj", "filesystem://",
                           {"data_folder_in": str(folder), "data_folder_out": str(folder)},
                           before="import sys, time\nif 'workers' in sys.argv:\n"
                                  "    time.sleep(120)\n")
    health = check(project, deadline=1.5)
    assert health.broker.ok, health.broker
    assert not health.workers.checked and health.workers.timed_out
    assert health.workers.error == "no answer within 1.5 s"
    from beat_panel.cli.health import health_text
    from beat_panel.health.why import Code, _delivery_reasons

    (unknown,) = [p.message for p in health.problems if p.code == "workers_unknown"]
    assert unknown == "The workers could not be asked: no answer within 1.5 s"
    facts = SimpleNamespace(health=health, report=None)
    reasons = _delivery_reasons(Entry("e", "t", Interval(60)), None, facts)
    assert [r.code for r in reasons] == [Code.WORKERS_UNKNOWN]
    messages = [p.message for p in health.problems] + health_text(health).splitlines() \
        + [r.message for r in reasons]
    for message in messages:
        assert said_twice(message) == [], message
        assert "broker could not be reached" not in message
    assert probes_left() == []


@pytest.mark.parametrize(("workers", "says", "never"), [
    (WorkersHealth(False, error="no answer within 2.5 s", timed_out=True),
     "workers' check, which pings beat too, got no answer within 2.5 s", "broker"),
    (WorkersHealth(False, error="OperationalError: [Errno 111] Connection refused",
                   broker_unreachable=True),
     "could not reach the broker", "no answer"),
    (WorkersHealth(False, error="the probe ended with exit code 1: boom"),
     "could not be asked (the probe ended with exit code 1: boom)", "broker"),
])
def test_beats_own_ping_unasked_says_what_happened_to_the_workers_check(
        workers, says, never):
    """A running beat whose ping could not be sent or answered: the note says why as it
    happened (a workers' check stopped at its deadline says nothing of the broker)."""
    beat = BeatProcess(pid=4242, create_time=0.0, owner="me", uid=0, embedded=False,
                       app="proj", argv=("celery", "-A", "proj", "beat"), cwd="/p",
                       pidfile=None, manager=None)
    status = Status(state=Phase.RUNNING, processes=[beat])
    found = _beat(status, remote_control(beat), None, None, [], workers)
    assert found.ping is None and says in (found.ping_note or ""), found.ping_note
    assert never not in (found.ping_note or "").replace(says, ""), found.ping_note


def test_an_app_that_cannot_be_loaded_is_reported_not_raised(tmp_path: Path):
    project = make_project(tmp_path / "proj", "redis://127.0.0.1:1/0",
                           before="raise RuntimeError('settings missing')\n")
    done = project.cli("health", "--json", timeout=HANG_GUARD)
    assert done.code == 0, done.stderr
    assert done.json["broker"]["ok"] is False
    assert "settings missing" in done.json["broker"]["error"]


def test_health_without_an_app_still_exits_0_and_says_why(tmp_path: Path):
    root = tmp_path / "noapp"
    root.mkdir()
    (root / "beat-panel.toml").write_text('[beat]\nworkdir = "."\n')
    done = run_cli("--config", str(root / "beat-panel.toml"), "health", "--json",
                   timeout=HANG_GUARD)
    assert done.code == 0, done.stderr
    assert "No Celery app is configured" in done.json["broker"]["error"]


@pytest.mark.parametrize(("argv", "mode", "hostname"), [
    (["celery", "-A", "proj", "beat"], "app", None),
    (["celery", "-A", "proj", "beat", "--enable-remote-control"], "on", None),
    (["celery", "-A", "proj", "beat", "--no-enable-remote-control"], "off", None),
    (["celery", "-A", "proj", "beat", "--enable-remote-control", "-n", "b1@%h"], "on",
     "b1@%h"),
    (["celery", "-A", "proj", "beat", "--hostname=b2@host"], "app", "b2@host"),
    (["/v/bin/python", "-m", "celery", "-A", "proj", "beat", "-nb3@h",
      "--enable-remote-control"], "on", "b3@h"),
    (["[celery", "beat]", "-A", "proj", "beat", "--enable-remote-control"], "on", None),
])
def test_beat_remote_control_is_read_from_its_command_line(argv, mode, hostname):
    beat = BeatProcess(pid=1, create_time=0.0, owner="me", uid=0, embedded=False,
                       app="proj", argv=tuple(argv), cwd=None, pidfile=None, manager=None)
    found = remote_control(beat)
    assert found is not None
    assert (found.mode, found.hostname) == (mode, hostname)


def test_a_beat_inside_a_worker_is_never_pinged_on_its_own():
    beat = BeatProcess(pid=1, create_time=0.0, owner="me", uid=0, embedded=True, app="p",
                       argv=("celery", "-A", "p", "worker", "-B"), cwd=None, pidfile=None,
                       manager=None)
    assert remote_control(beat) is None


def test_the_probe_script_runs_alone_and_shadows_none_of_the_apps_modules(tmp_path: Path):
    """`probe.py` runs as a script with the project's Python and prints JSON; its own
    folder (which holds modules such as `beat_node.py`) is taken off sys.path, so an app
    importing a module of that name gets its own or none."""
    shadow_check = ("try:\n    import beat_node\nexcept ImportError:\n    pass\nelse:\n"
                    "    raise SystemExit('the probe folder is on sys.path')\n")
    project = make_project(tmp_path / "proj", "redis://127.0.0.1:1/0", before=shadow_check)
    done = subprocess.run([sys.executable, str(PROBE_SCRIPT), project.app, "routes",
                           json.dumps({"entries": [{"task": project.task("routed")}]})],
                          cwd=project.root, capture_output=True, text=True,
                          timeout=HANG_GUARD, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    answer = json.loads(done.stdout.splitlines()[-1])
    assert answer["routes"][0]["queue"] == "unconsumed"
    bad = subprocess.run([sys.executable, str(PROBE_SCRIPT)], capture_output=True,
                         text=True, timeout=HANG_GUARD, check=False)
    assert bad.returncode == 2 and "usage" in bad.stderr
