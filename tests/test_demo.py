"""The demo project as a new user meets it: the panel's demo beat, and a worker started
as the panel advises, from any folder, that the health checks and `why` then see."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from beat_panel import config as config_module
from beat_panel.demo.app import broker_options

from conftest import ProcessTracker, run_cli, wait_until
from faces import open_tab

DEMO_APP = config_module.DEMO_APP


def demo_cli(*args: str, timeout: float = 60) -> dict:
    """`beat-panel ARGS --json` with no --config: on the built-in demo project."""
    done = run_cli(*args, "--json", timeout=timeout)
    assert done.code == 0, done.stdout + done.stderr
    return done.json


def reasons(answer: dict) -> dict[str, str]:
    return {r["code"]: r["message"] for r in answer["reasons"]}


def advised_worker(message: str) -> list[str]:
    """The command after "Start one: " in a reason, as a shell would split it."""
    assert "Start one: " in message, message
    return shlex.split(message.split("Start one: ", 1)[1])


def test_the_demo_broker_folders_are_absolute_whatever_the_current_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A relative demo folder still gives absolute folders: a worker started elsewhere
    must find the same exchange tables (remote control) and messages."""
    monkeypatch.chdir(tmp_path)
    options = broker_options(Path("demo"))
    for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
        assert Path(options[key]).is_absolute(), (key, options[key])
        assert Path(options[key]).is_dir(), key
    assert options["control_folder"] == str(tmp_path / "demo" / "control")


def test_a_demo_folder_of_an_earlier_version_keeps_its_folders(tmp_path: Path):
    """Earlier versions made broker/queue and broker/processed, and their beat and
    probes (run inside the demo folder) kept the exchange tables in ./control: the same
    folders are used, and what is in them is kept."""
    old = tmp_path / "demo"
    for sub in ("broker/queue", "broker/processed", "control"):
        (old / sub).mkdir(parents=True)
    waiting = old / "broker" / "queue" / "1_x.celery.msg"
    waiting.write_text("{}")
    table = old / "control" / "celery.exchange"
    table.write_text('[["celery", "", "celery"]]')
    options = broker_options(old)
    assert options["data_folder_in"] == options["data_folder_out"] == str(waiting.parent)
    assert options["control_folder"] == str(table.parent)
    assert waiting.read_text() == "{}" and table.read_text() == '[["celery", "", "celery"]]'


def start_advised_worker(procs: ProcessTracker, tmp_path: Path, command: list[str],
                         name: str = "demo") -> tuple[str, Path]:
    """Run the advised worker command from a folder of its own (not the demo's), as
    advised plus a solo pool (no pool children), its own name and its log level; return
    its name (before the @) and its folder once it is ready."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    log = tmp_path / "worker.log"
    node = f"{name}-{uuid.uuid4().hex[:6]}"
    env = {k: v for k, v in os.environ.items() if k != "BEAT_PANEL_DEMO_DIR"}
    with open(log, "wb") as out:
        worker = procs.popen([*command, "--pool=solo", "-n", f"{node}@%h", "-l", "INFO"],
                             cwd=elsewhere, env=env, stdout=out, stderr=subprocess.STDOUT)

    def ready() -> bool:
        assert worker.poll() is None, log.read_text()
        return " ready." in log.read_text()

    wait_until(ready, timeout=60, what="the demo worker to be ready")
    return node, elsewhere


@pytest.mark.slow
def test_a_worker_started_as_advised_from_another_folder_answers_the_demos_health(
        tmp_path: Path, procs: ProcessTracker):
    """The demo's beat started by the panel; `why` says no worker consumes 'celery' and
    how to start one; that command, run from another folder than the demo's, starts a
    worker that `health` lists and that `why` no longer misses."""
    demo = config_module.demo_config()
    procs.own_beats_of(pidfile=demo.beat.pidfile)
    started = demo_cli("start")
    assert started["success"], started
    for pid in started.get("new_pids", []):
        procs.adopt(pid)
    procs.started_real_celery = True

    before = reasons(demo_cli("why", "say-hello"))
    assert "no_worker_for_queue" in before, before
    command = advised_worker(before["no_worker_for_queue"])
    assert command[0] == demo.beat.command[0], command  # the panel's celery, not PATH's
    assert command[1:] == ["-A", DEMO_APP, "worker", "-Q", "celery"], command

    node, elsewhere = start_advised_worker(procs, tmp_path, command)
    assert elsewhere.resolve() != demo.beat.workdir.resolve()
    assert not (elsewhere / "control").exists(), "the worker made a ./control of its own"

    health = demo_cli("health")
    names = [w["name"] for w in health["workers"]]
    assert any(name.startswith(f"{node}@") for name in names), health
    assert [w["queues"] for w in health["workers"]] == [["celery"]], health
    codes = [p["code"] for p in health["problem_details"]]
    assert "no_workers" not in codes and "workers_unknown" not in codes, health
    assert health["beat"]["running"] is True, health

    after = reasons(demo_cli("why", "say-hello"))
    assert "no_worker_for_queue" not in after and "workers_unknown" not in after, after


def test_the_advice_names_plain_celery_when_the_command_is_no_celery(tmp_path: Path):
    """A [beat] command that is a wrapper script, not celery: the advice says `celery`."""
    from beat_panel.health.check import worker_command

    assert worker_command("proj", ("/srv/bin/run-beat.sh",), "q") == \
        "celery -A proj worker -Q q"
    assert worker_command("proj", (sys.executable, "-m", "celery")) == \
        f"{shlex.quote(sys.executable)} -m celery -A proj worker"
    assert worker_command(None, ("/opt/my venv/bin/celery",), "a b") == \
        "'/opt/my venv/bin/celery' -A APP worker -Q 'a b'"


class DemoProject:
    """The built-in demo project, for the panel fixture (`load()` gives its config)."""

    def load(self) -> config_module.Config:
        return config_module.demo_config()


@pytest.mark.slow
def test_the_health_tabs_workers_table_gives_name_and_queues_the_room(
        tmp_path: Path, procs: ProcessTracker, make_panel, qtbot):
    """A worker with a long name on the demo: on the Health tab, clicked as a person
    would, its name, pid and queues are shown whole in a roomy window and a narrow one;
    the room left goes to the queues, not to "Last seen"."""
    demo = config_module.demo_config()
    command = [*demo.beat.command, "-A", DEMO_APP, "worker", "-Q", "celery"]
    node, _ = start_advised_worker(procs, tmp_path, command,
                                   name="demo-worker-with-a-rather-long-name")
    panel = make_panel(DemoProject(), refresh_seconds=1)
    window = panel.show_window()
    qtbot.addWidget(window)
    view = open_tab(qtbot, window, "Health")
    table = view.workers
    qtbot.waitUntil(lambda: table.rowCount() == 1 and table.item(0, 1) is not None
                    and table.item(0, 1).text().startswith(node), timeout=20000)
    columns = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
    narrowest = window.minimumSizeHint().width()
    for width in (900, narrowest):  # roomy, and narrow: the name stays whole in both
        window.resize(width, 700)
        qtbot.waitUntil(lambda w=width: window.width() == w, timeout=5000)
        window.grab().save(str(tmp_path / f"health-tab-{width}.png"))
        widths = {name: table.columnWidth(c) for c, name in enumerate(columns)}
        for c, name in enumerate(columns):
            text = table.item(0, c).text()
            assert table.fontMetrics().horizontalAdvance(text) <= widths[name], \
                (width, name, text, widths)
        assert widths["Last seen"] < widths["Queues"], (width, widths)
