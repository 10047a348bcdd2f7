"""Finding beat among real processes: fakes, decoys, pidfiles and zombies."""

import os
import subprocess
import sys
import time

import psutil
import pytest

from beat_panel import process

from conftest import is_alive, wait_until


def _pids(beats):
    return {b.pid for b in beats}


def test_scan_finds_a_fake_beat_and_none_of_the_decoys(fake_project, procs, tmp_path):
    project = fake_project()
    beat = project.spawn_fake("-A", project.app, "beat")
    worker = project.spawn_fake("-A", project.app, "worker", "-l", "info")
    log = tmp_path / "celerybeat.log"
    log.write_text("beat: Starting...\n")
    tail = procs.popen(["tail", "-f", str(log)])
    script = tmp_path / "celery_beat.py"
    script.write_text("import time\ntime.sleep(600)\n")
    editor_like = procs.popen([sys.executable, str(script), "beat"])
    wrapper = procs.popen(["sh", "-c", f"sleep 600 # celery -A {project.app} beat"])
    wait_until(lambda: all(is_alive(p) for p in (tail, editor_like, wrapper)))

    everything = process.scan()

    # Not filtered by app: a decoy misread as a beat of any app (or none) shows here.
    assert _pids(everything) & {worker.pid, tail.pid, editor_like.pid, wrapper.pid} == set()
    (only,) = [b for b in everything if b.app == project.app]
    assert only.pid == beat.pid and not only.embedded
    assert only.owner == psutil.Process().username()
    assert only.cwd == str(project.root)


def test_a_zombie_beat_is_not_running(fake_project):
    project = fake_project()
    beat = project.spawn_fake("-A", project.app, "beat")
    created = psutil.Process(beat.pid).create_time()
    os.kill(beat.pid, 9)
    # Not reaped yet: the process is a zombie.
    wait_until(lambda: psutil.Process(beat.pid).status() == psutil.STATUS_ZOMBIE)
    assert beat.pid not in _pids(process.scan())
    assert not process.is_alive(beat.pid, created)


def test_pidfile_naming_a_live_beat_is_trusted(fake_project):
    project = fake_project()
    beat = project.spawn_fake("-A", project.app, "beat", f"--pidfile={project.pidfile}")
    state = process.read_pidfile(project.pidfile)
    assert state.problem is None
    assert state.beat is not None and state.beat.pid == beat.pid


def test_pidfile_naming_an_unrelated_live_process_is_stale(procs, tmp_path):
    sleeper = procs.popen(["sleep", "600"])
    pidfile = tmp_path / "beat.pid"
    pidfile.write_text(f"{sleeper.pid}\n")
    state = process.read_pidfile(pidfile)
    assert state.beat is None and state.pid == sleeper.pid
    assert state.problem == f"stale: pid {sleeper.pid} is not celery beat"


def test_partial_pidfile_is_not_trusted(fake_project):
    project = fake_project()
    beat = project.spawn_fake("-A", project.app, "beat")
    project.pidfile.parent.mkdir(parents=True, exist_ok=True)
    project.pidfile.write_text(str(beat.pid))  # no newline: a write cut short
    state = process.read_pidfile(project.pidfile)
    assert state.beat is None and state.problem == "partial or invalid content"


def test_pidfile_older_than_the_process_it_names_was_reused(fake_project):
    project = fake_project()
    beat = project.spawn_fake("-A", project.app, "beat")
    project.pidfile.parent.mkdir(parents=True, exist_ok=True)
    project.pidfile.write_text(f"{beat.pid}\n")
    an_hour_ago = time.time() - 3600
    os.utime(project.pidfile, (an_hour_ago, an_hour_ago))
    state = process.read_pidfile(project.pidfile)
    assert state.beat is None and "reused" in state.problem


def test_missing_pidfile_is_no_problem(tmp_path):
    state = process.read_pidfile(tmp_path / "nope.pid")
    assert state.beat is None and state.problem is None


@pytest.mark.slow
def test_real_celery_beat_is_found_in_its_setproctitle_form(demo_project, procs):
    result = demo_project.cli("start", "--json")
    assert result.code == 0, result.stdout + result.stderr
    (pid,) = result.json["new_pids"]
    # Celery renames itself once setproctitle is installed: `[celery beat] -A ... beat`.
    wait_until(lambda: (process.read_cmdline(pid) or b"").startswith(b"[celery beat]"),
               what="celery to set its process title")
    found = [b for b in process.scan() if b.pid == pid]
    assert len(found) == 1 and found[0].app == demo_project.app
    state = process.read_pidfile(demo_project.pidfile)
    assert state.beat is not None and state.beat.pid == pid


@pytest.mark.slow
def test_worker_with_embedded_beat_is_reported_once_as_embedded(demo_project, procs):
    env = dict(os.environ, BEAT_PANEL_DEMO_DIR=str(demo_project.root / "demo-data"))
    with open(demo_project.root / "worker.log", "wb") as log:
        worker = procs.popen(
            [sys.executable, "-m", "celery", "-A", demo_project.app, "worker", "-B",
             "--concurrency=1", "--loglevel=INFO",
             f"--schedule={demo_project.root / 'wsched'}"],
            cwd=demo_project.root, env=env, stdout=log, stderr=subprocess.STDOUT,
        )

    def beat_child() -> int | None:
        # The worker forks its beat child, which renames itself to a bare `[celery beat]`.
        for child in psutil.Process(worker.pid).children():
            if (process.read_cmdline(child.pid) or b"").startswith(b"[celery beat]"):
                return child.pid
        return None

    wait_until(beat_child, timeout=60, what="the worker's beat child to take its title")
    child = beat_child()
    found = {b.pid: b for b in process.scan()}
    assert child not in found, "the beat child of a worker is not a beat of its own"
    assert found[worker.pid].embedded and found[worker.pid].app == demo_project.app


def test_waiting_for_an_exit_is_woken_by_the_exit_and_times_out_otherwise(procs):
    from beat_panel.process.waiting import wait_any_exit

    quick = procs.popen([sys.executable, "-c", "import time; time.sleep(0.3)"])
    slow = procs.popen([sys.executable, "-c", "import time; time.sleep(60)"])
    assert wait_any_exit([slow.pid], 0.05) is False
    assert wait_any_exit([slow.pid, quick.pid], 30) is True
    assert quick.wait(timeout=5) == 0
    assert wait_any_exit([quick.pid], 30) is True  # reaped: gone at once
