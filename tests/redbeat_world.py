"""A RedBeat project for the tests: a real redis-server, and a stock
`celery beat -S redbeat.RedBeatScheduler` and worker from a virtual environment of their
own that holds Celery and celery-redbeat but not Beat Panel, so what the panel writes is
proved by RedBeat's code alone (the format, not shared code)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import celery
import pytest

from beat_panel import config as config_module

from conftest import CliResult, ProcessTracker, run_cli, wait_until
from redis_server import RedisServer

REDBEAT_VERSION = "2.4.2"
# Inside the panel's venv (ignored by git, gone with it); built once, reused after.
VENV = Path(__file__).resolve().parents[1] / ".venv" / "redbeat-venv"


def redbeat_python() -> Path:
    """The Python of the RedBeat venv, built on first use (celery as the panel's, and
    celery-redbeat, from PyPI); skipped where it cannot be built."""
    python = VENV / "bin" / "python"
    marker = VENV / f"ready-{celery.__version__}-{REDBEAT_VERSION}"
    if not marker.exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
        done = subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
             f"celery[redis]=={celery.__version__}", f"celery-redbeat=={REDBEAT_VERSION}"],
            capture_output=True, text=True, timeout=600, check=False)
        if done.returncode != 0:
            pytest.fail(f"cannot build the RedBeat venv: {done.stderr[-2000:]}")
        marker.write_text("")
    found = subprocess.run([str(python), "-c", "import beat_panel"], capture_output=True,
                           env=_clean_env(), check=False)
    assert found.returncode != 0, "the RedBeat venv must not hold Beat Panel"
    return python


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


APP_SOURCE = """\
from celery import Celery

URL = {url!r}
app = Celery({name!r}, broker=URL)
app.conf.update(
    redbeat_redis_url=URL, redbeat_key_prefix={prefix!r}, timezone="UTC",
    task_ignore_result=True, broker_connection_retry_on_startup=True,
)


@app.task
def noop(*args):
    return args
"""


@dataclass
class RedBeatProject:
    root: Path
    app: str
    redis: RedisServer
    prefix: str
    python: Path

    @property
    def config_path(self) -> Path:
        return self.root / "beat-panel.toml"

    @property
    def beat_log(self) -> Path:
        return self.root / "run" / "beat.log"

    def load(self) -> config_module.Config:
        return config_module.load_file(self.config_path)

    def cli(self, *args: str, timeout: float = 60) -> CliResult:
        return run_cli("--config", str(self.config_path), *args, timeout=timeout)

    def task(self, short: str = "noop") -> str:
        return f"{self.app}.{short}"

    def sends(self, name: str) -> list[datetime]:
        """When the beat logged sending entry `name` ("Sending due task NAME")."""
        text = self.beat_log.read_text() if self.beat_log.exists() else ""
        pattern = rf"\[(\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d,\d+): INFO/\w+\] Scheduler: " \
                  rf"Sending due task {re.escape(name)} "
        return [datetime.strptime(m, "%Y-%m-%d %H:%M:%S,%f")
                for m in re.findall(pattern, text)]

    def start_beat(self, procs: ProcessTracker) -> int:
        """Start the stock RedBeat beat through the panel (`beat-panel start`)."""
        started = self.cli("start", "--json")
        assert started.code == 0, started.stdout + started.stderr
        (pid,) = started.json["new_pids"]
        procs.adopt(pid)
        procs.started_real_celery = True
        return pid

    def start_worker(self, procs: ProcessTracker) -> subprocess.Popen:
        log = self.root / "worker.log"
        with open(log, "wb") as out:
            proc = procs.popen([str(self.python), "-m", "celery", "-A", self.app, "worker",
                                "--pool=solo", "-n", f"rb-{uuid.uuid4().hex[:6]}@%h",
                                "--without-mingle", "--without-gossip", "-l", "INFO"],
                               cwd=self.root, stdout=out, stderr=subprocess.STDOUT,
                               env=_clean_env())

        def ready() -> bool:
            assert proc.poll() is None, log.read_text()
            return " ready." in log.read_text()

        wait_until(ready, timeout=60, what="the RedBeat project's worker")
        return proc

    def worker_ran(self) -> int:
        log = self.root / "worker.log"
        text = log.read_text() if log.exists() else ""
        return len(re.findall(rf"Task {re.escape(self.task())}\[[^\]]+\] succeeded", text))


def make_redbeat_project(root: Path, redis: RedisServer, prefix: str = "redbeat:",
                         max_interval: int = 1) -> RedBeatProject:
    """A project whose beat is a stock RedBeat beat (`--max-interval` 1 s, so pickups
    and the lock's timeout, 5 × max-interval, are quick)."""
    python = redbeat_python()
    root.mkdir(parents=True, exist_ok=True)
    app = f"rbapp_{uuid.uuid4().hex[:8]}"
    url = redis.url()
    (root / f"{app}.py").write_text(APP_SOURCE.format(url=url, name=app, prefix=prefix))
    (root / "beat-panel.toml").write_text("\n".join([
        "[beat]", f'app = "{app}"', 'workdir = "."',
        f'command = ["{python.parent / "celery"}"]',
        'pidfile = "run/beat.pid"', 'logfile = "run/beat.log"', "start_settle = 1.0",
        f'args = ["--max-interval", "{max_interval}", "--loglevel", "INFO"]', "",
        "[schedule]", f'redis_url = "{url}"', f'key_prefix = "{prefix}"', ""]))
    return RedBeatProject(root, app, redis, prefix, python)
