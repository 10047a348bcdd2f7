"""Shared fixtures: an isolated home, projects with fake or real celery, and a process
tracker that ends (by pid) everything a test started."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from beat_panel import config as config_module
from beat_panel import process
from beat_panel.process import argv as argv_parser

pytest_plugins = ("desktop", "faces", "redis_server")

HELPERS = Path(__file__).parent / "helpers"
REPO = Path(__file__).resolve().parent.parent


def wait_until(predicate: Callable[[], object], timeout: float = 15.0, what: str = "") -> None:
    """Poll until predicate() is true; fail the test with `what` after timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}")


# The fake `celery` scripts written for this session: a process running one is not slow.
_FAKE_CELERIES: set[str] = set()


def _runs_real_celery(argv: object) -> bool:
    """True when argv is a real celery beat or worker (not the fake `celery`)."""
    if not isinstance(argv, list | tuple):
        return False  # a shell string: the tests here never start celery that way
    words = [os.fspath(word) for word in argv]
    return (argv_parser.parse(words) is not None
            and not any(word in _FAKE_CELERIES for word in words))


def _same_process(pid: int, created: float) -> psutil.Process | None:
    """The process (pid, create_time) if it still exists, else None (pid reused or gone)."""
    try:
        proc = psutil.Process(pid)
        return proc if abs(proc.create_time() - created) < 0.01 else None
    except psutil.NoSuchProcess:
        return None


def _has_ended(pid: int, created: float) -> bool:
    """Gone, reused, or a zombie: a zombie is dead, only waiting for its parent (here
    often init) to collect it."""
    proc = _same_process(pid, created)
    try:
        return proc is None or proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


class ProcessTracker:
    """Starts processes for a test and ends every one of them by pid at teardown."""

    def __init__(self) -> None:
        self.popens: list[subprocess.Popen] = []
        self.adopted: list[tuple[int, float]] = []
        self.apps: set[str] = set()
        self.pidfiles: set[str] = set()
        self.started_real_celery = False

    def popen(self, argv: list[str], **kwargs: object) -> subprocess.Popen:
        kwargs.setdefault("stdout", subprocess.DEVNULL)
        kwargs.setdefault("stderr", subprocess.DEVNULL)
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        proc = subprocess.Popen(argv, **kwargs)
        self.popens.append(proc)
        self.started_real_celery |= _runs_real_celery(argv)
        return proc

    def adopt(self, pid: int) -> None:
        """Track a process the panel started for this test (not our child)."""
        with contextlib.suppress(psutil.NoSuchProcess):
            self.adopted.append((pid, psutil.Process(pid).create_time()))

    def own_beats_of(self, app: str | None = None, pidfile: Path | None = None) -> None:
        """At teardown, also end beats whose argv names this test's unique app or
        pidfile: they were started by the panel on the test's behalf."""
        if app:
            self.apps.add(app)
        if pidfile:
            self.pidfiles.add(str(pidfile))

    def _targets(self) -> dict[int, float]:
        """pid -> create_time of everything this test started that may still run."""
        targets = dict(self.adopted)
        if self.apps or self.pidfiles:
            for beat in process.scan():
                if beat.app in self.apps or (beat.pidfile in self.pidfiles):
                    targets[beat.pid] = beat.create_time
        for proc in self.popens:
            if proc.poll() is None:
                with contextlib.suppress(psutil.NoSuchProcess):
                    targets[proc.pid] = psutil.Process(proc.pid).create_time()
        return targets

    def cleanup(self) -> None:
        """SIGKILL by pid (checked against its create time) each process this test
        started and its children, reap our own, and fail if any of them still runs."""
        targets = self._targets()
        for pid, created in list(targets.items()):
            victim = _same_process(pid, created)
            if victim is None:
                continue
            with contextlib.suppress(psutil.NoSuchProcess):
                self.started_real_celery |= _runs_real_celery(victim.cmdline())
            # Its children too (a worker's pool, the beat child of `worker -B`).
            with contextlib.suppress(psutil.NoSuchProcess):
                for child in victim.children(recursive=True):
                    with contextlib.suppress(psutil.NoSuchProcess):
                        targets[child.pid] = child.create_time()
                        child.kill()
            with contextlib.suppress(psutil.NoSuchProcess):
                victim.kill()
        for proc in self.popens:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
        deadline = time.monotonic() + 10
        left = dict(targets)
        while left and time.monotonic() < deadline:
            left = {pid: c for pid, c in left.items() if not _has_ended(pid, c)}
            if left:
                time.sleep(0.02)
        assert not left, f"still running after the test's cleanup: pids {sorted(left)}"


@pytest.fixture
def procs(request: pytest.FixtureRequest) -> Iterator[ProcessTracker]:
    tracker = ProcessTracker()
    yield tracker
    tracker.cleanup()
    if tracker.started_real_celery and request.node.get_closest_marker("slow") is None:
        pytest.fail(f"{request.node.nodeid} starts a real celery beat or worker: mark it "
                    "@pytest.mark.slow so that `-m 'not slow'` leaves it out")


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own XDG folders and working directory."""
    home = tmp_path / "home"
    for var, sub in (("XDG_CONFIG_HOME", "config"), ("XDG_DATA_HOME", "data"),
                     ("XDG_STATE_HOME", "state")):
        (home / sub).mkdir(parents=True)
        monkeypatch.setenv(var, str(home / sub))
    monkeypatch.delenv("BEAT_PANEL_CONFIG", raising=False)
    monkeypatch.delenv("BEAT_PANEL_DEMO_DIR", raising=False)
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    return home


AS_NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]


def skip_unless_nobody_can_import(module: str) -> None:
    """Skip the test unless this runs as root and user nobody can import `module` with
    this Python (tests that run the panel or beat as another user)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to run a command as another user (setpriv)")
    probe = subprocess.run([*AS_NOBODY, sys.executable, "-c", f"import {module}"],
                           capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"user nobody cannot import {module} here: {probe.stderr[-200:]!r}")


def beat_sends(project: Project, name: str) -> int:
    """How often beat logged sending entry `name` (its log's "Sending due task" lines)."""
    log = project.logfile.read_text() if project.logfile.exists() else ""
    return len(re.findall(rf"Sending due task {re.escape(name)} ", log))


def world_readable_dir(prefix: str) -> Path:
    """A folder other users can read (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> dict:
        return json.loads(self.stdout)


def run_cli(*args: str, env: dict | None = None, user: str | None = None,
            timeout: float = 90) -> CliResult:
    """Run `beat-panel ARGS` as a real subprocess (optionally as another user)."""
    argv = [sys.executable, "-m", "beat_panel", *args]
    if user is not None:
        import pwd

        gid = pwd.getpwnam(user).pw_gid
        argv = ["setpriv", f"--reuid={user}", f"--regid={gid}", "--clear-groups", *argv]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                          env=env, cwd=os.getcwd(), check=False)
    return CliResult(done.returncode, done.stdout, done.stderr)


@dataclass
class Project:
    """A project folder with a beat-panel.toml and (for fakes) a fake `celery`."""

    root: Path
    app: str
    celery: Path | None
    tracker: ProcessTracker

    @property
    def config_path(self) -> Path:
        return self.root / "beat-panel.toml"

    @property
    def pidfile(self) -> Path:
        return self.root / "run" / "beat.pid"

    @property
    def logfile(self) -> Path:
        return self.root / "run" / "beat.log"

    def load(self) -> config_module.Config:
        return config_module.load_file(self.config_path)

    def cli(self, *args: str, **kwargs: object) -> CliResult:
        result = run_cli("--config", str(self.config_path), *args, **kwargs)
        try:
            new_pids = result.json.get("new_pids", [])
        except ValueError:
            new_pids = []
        for pid in new_pids:
            self.tracker.adopt(pid)
        if new_pids and self.celery is None:  # the demo project runs the real celery
            self.tracker.started_real_celery = True
        return result

    def write_config(self, schedule_file: str | None = None, **beat: object) -> None:
        lines = []
        if schedule_file is not None:
            lines += ["[schedule]", f"file = {json.dumps(schedule_file)}", ""]
        lines.append("[beat]")
        for key, value in beat.items():
            if value is None:
                continue
            if isinstance(value, dict):
                continue
            lines.append(f"{key} = {json.dumps(value)}")
        for key, value in beat.items():
            if isinstance(value, dict):
                lines.append(f"[beat.{key}]")
                lines += [f"{k} = {json.dumps(v)}" for k, v in value.items()]
        self.config_path.write_text("\n".join(lines) + "\n")

    def spawn_fake(self, *args: str, mode: str = "term", cwd: Path | None = None,
                   env: dict | None = None) -> subprocess.Popen:
        """Start the fake celery directly (as a user would by hand) and wait until ready."""
        assert self.celery is not None
        ready = self.root / f"ready-{uuid.uuid4().hex[:6]}"
        full_env = dict(os.environ, FAKE_BEAT_MODE=mode, FAKE_BEAT_READY=str(ready))
        full_env.update(env or {})
        self.pidfile.parent.mkdir(parents=True, exist_ok=True)
        proc = self.tracker.popen([str(self.celery), *args], cwd=cwd or self.root, env=full_env)

        def ready_or_dead() -> bool:
            assert proc.poll() is None, f"fake celery {args} exited with {proc.returncode}"
            return ready.exists()

        wait_until(ready_or_dead, what=f"fake celery {args} to be ready")
        return proc


def make_fake_celery(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "celery"
    source = (HELPERS / "fake_celery.py").read_text()
    target.write_text(f"#!{sys.executable}\n{source}")
    target.chmod(0o755)
    _FAKE_CELERIES.add(str(target))
    return target


@pytest.fixture
def fake_project(tmp_path: Path, procs: ProcessTracker) -> Callable[..., Project]:
    """make(mode="term", **beat_keys): a project whose `celery` is the fake."""

    def make(mode: str = "term", root: Path | None = None, **beat: object) -> Project:
        base = root or tmp_path / f"project-{uuid.uuid4().hex[:6]}"
        base.mkdir(parents=True, exist_ok=True)
        celery = make_fake_celery(base / "bin")
        app = f"proj_{uuid.uuid4().hex[:8]}"
        project = Project(base, app, celery, procs)
        keys: dict[str, object] = {
            "app": app, "workdir": ".", "command": [str(celery)],
            "pidfile": "run/beat.pid", "logfile": "run/beat.log",
            "stop_timeout": 5, "start_settle": 0.5, "env": {"FAKE_BEAT_MODE": mode},
        }
        keys.update(beat)
        project.write_config(**keys)
        procs.own_beats_of(app=app, pidfile=project.pidfile)
        return project

    return make


def _demo_project(base: Path, procs: ProcessTracker, schedule_file: str | None) -> Project:
    base.mkdir()
    project = Project(base, config_module.DEMO_APP, None, procs)
    project.write_config(
        schedule_file=schedule_file,
        app=config_module.DEMO_APP, workdir=".", pidfile="run/beat.pid",
        logfile="run/beat.log", stop_timeout=15, start_settle=2.0,
        args=["--loglevel=INFO", f"--schedule={base / 'run' / 'celerybeat-schedule'}"],
        env={"BEAT_PANEL_DEMO_DIR": str(base / "demo-data")},
    )
    procs.own_beats_of(pidfile=project.pidfile)
    return project


@pytest.fixture
def demo_project(tmp_path: Path, procs: ProcessTracker) -> Project:
    """A project running the real demo Celery app with the real `celery beat` and
    Celery's own scheduler (the app's beat_schedule)."""
    return _demo_project(tmp_path / "demo-project", procs, None)


@pytest.fixture
def panel_project(tmp_path: Path, procs: ProcessTracker) -> Project:
    """The real demo app whose beat runs a Beat Panel schedule file with the plugin."""
    return _demo_project(tmp_path / "panel-project", procs, "schedule.json")


def celery_executable() -> str:
    found = Path(sys.executable).with_name("celery")
    return str(found) if found.exists() else shutil.which("celery") or "celery"


def is_alive(proc: subprocess.Popen | int) -> bool:
    pid = proc if isinstance(proc, int) else proc.pid
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def send(pid: int, sig: int = signal.SIGKILL) -> None:
    """Signal a process this test started (by pid)."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


@pytest.fixture
def schedule_project(fake_project: Callable[..., Project]) -> Project:
    """A project (fake celery) with a schedule of two entries, beat not running."""
    from beat_panel.schedule import Document, Entry, Interval
    from beat_panel.schedule.store import ScheduleStore

    project = fake_project(schedule_file="schedule.json")
    project.schedule_path = project.root / "schedule.json"  # type: ignore[attr-defined]
    ScheduleStore(project.schedule_path).save(Document((  # type: ignore[attr-defined]
        Entry("hello", "proj.hello", Interval(30)),
        Entry("report", "proj.report", Interval(1, "hours")),
    )), None)
    return project
