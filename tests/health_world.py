"""A small Celery project for the health tests: an app module on a broker of the test's
choosing, with a task routed to a queue no worker consumes; a schedule naming it, a task
nobody registers and a disabled entry; and real workers started for it."""

from __future__ import annotations

import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

from beat_panel import config as config_module
from beat_panel.schedule import Document, Entry, Interval, Options
from beat_panel.schedule.store import ScheduleStore

from conftest import CliResult, ProcessTracker, celery_executable, run_cli, wait_until

UNCONSUMED = "unconsumed"


def app_source(name: str, broker: str, transport_options: dict | None = None,
               before: str = "") -> str:
    return "\n".join([
        before,
        "from celery import Celery",
        "",
        f"app = Celery({name!r}, broker={broker!r})",
        "app.conf.update(",
        "    broker_connection_retry_on_startup=True, task_ignore_result=True,",
        f"    timezone='UTC', broker_transport_options={transport_options or {}!r},",
        f"    task_routes={{{name + '.routed'!r}: {{'queue': {UNCONSUMED!r}}}}},",
        ")",
        "",
        "",
        "@app.task",
        "def noop():",
        "    return None",
        "",
        "",
        "@app.task",
        "def routed():",
        "    return None",
        "",
    ])


@dataclass
class HealthProject:
    root: Path
    app: str

    @property
    def config_path(self) -> Path:
        return self.root / "beat-panel.toml"

    @property
    def schedule_path(self) -> Path:
        return self.root / "schedule.json"

    def load(self) -> config_module.Config:
        return config_module.load_file(self.config_path)

    def cli(self, *args: str, timeout: float = 30) -> CliResult:
        return run_cli("--config", str(self.config_path), *args, timeout=timeout)

    def task(self, short: str) -> str:
        return f"{self.app}.{short}"


def make_project(root: Path, broker: str, transport_options: dict | None = None,
                 before: str = "", beat_args: tuple[str, ...] = ()) -> HealthProject:
    """A project folder with the app module, beat-panel.toml and a schedule:
    `noop` (runs on the default queue), `routed` (the app routes it to a queue no worker
    consumes), `elsewhere` (its options name such a queue), `ghost` (a task nobody
    registers) and `off` (disabled)."""
    root.mkdir(parents=True, exist_ok=True)
    app = f"healthapp_{uuid.uuid4().hex[:8]}"
    (root / f"{app}.py").write_text(app_source(app, broker, transport_options, before))
    lines = ['[schedule]', 'file = "schedule.json"', "", "[beat]", f'app = "{app}"',
             'workdir = "."', f'command = ["{celery_executable()}"]',
             'pidfile = "run/beat.pid"', 'logfile = "run/beat.log"', "start_settle = 1.0"]
    if beat_args:
        lines.append("args = [" + ", ".join(f'"{a}"' for a in beat_args) + "]")
    (root / "beat-panel.toml").write_text("\n".join(lines) + "\n")
    project = HealthProject(root, app)
    every = Interval(1, "hours")
    ScheduleStore(project.schedule_path).save(Document((
        Entry("noop", project.task("noop"), every),
        Entry("routed", project.task("routed"), every),
        Entry("elsewhere", project.task("noop"), every, options=Options(queue=UNCONSUMED)),
        Entry("ghost", project.task("ghost"), every),
        Entry("off", project.task("noop"), every, enabled=False),
    )), None)
    return project


def start_worker(tracker: ProcessTracker, project: HealthProject, name: str,
                 queues: str = "celery") -> tuple[subprocess.Popen, str]:
    """A real `celery worker` (solo pool) for the project; returns it and its node name
    once it is ready."""
    log = project.root / f"worker-{name}.log"
    node = f"{name}-{uuid.uuid4().hex[:6]}@%h"
    with open(log, "wb") as out:
        proc = tracker.popen([sys.executable, "-m", "celery", "-A", project.app, "worker",
                              "--pool=solo", "-n", node, "-Q", queues, "--without-mingle",
                              "--without-gossip", "-l", "INFO"],
                             cwd=project.root, stdout=out, stderr=subprocess.STDOUT)

    def ready() -> bool:
        assert proc.poll() is None, log.read_text()
        return " ready." in log.read_text()

    wait_until(ready, timeout=60, what=f"worker {name} to be ready")
    expanded = next(line for line in log.read_text().splitlines() if " ready." in line)
    return proc, expanded.rsplit(" ", 2)[-2]
