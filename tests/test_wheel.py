"""A non-editable wheel installed in a fresh virtual environment, run from outside the
checkout: it finds its icon and start script, a real `celery beat` it starts in a
project's own environment imports the panel's scheduler but nothing else of the checkout
or of the panel's environment (`tests`, `bench`, `packaging`), and with the default
`command` (its own celery) it runs a project on a real Redis broker. The README's recipes
work as written: the scheduler in a server's venv without the GUI, and `[beat.env]`
pointing a project with a hard-coded broker at another."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from conftest import REPO, ProcessTracker, wait_until
from redis_server import RedisServer, free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

PROBE_APP = '''
"""A throwaway Celery app that writes, as beat imports it, what beat could import."""
import importlib.util
import json
import os
import sys

from celery import Celery


def _where(name):
    spec = importlib.util.find_spec(name)
    if spec is None:
        return None
    return spec.origin or list(spec.submodule_search_locations or [])


with open(os.environ["PROBE_OUT"], "w") as out:
    json.dump({"sys_path": sys.path, "executable": sys.executable,
               "found": {name: _where(name) for name in
                         ("tests", "bench", "packaging", "conftest", "beat_panel")}}, out)

app = Celery("probeapp", broker="filesystem://")
app.conf.update(broker_transport_options={
    "data_folder_in": os.environ["PROBE_BROKER"], "data_folder_out": os.environ["PROBE_BROKER"],
}, broker_connection_retry_on_startup=True, task_ignore_result=True, timezone="UTC")


@app.task
def noop():
    return None
'''


REDIS_APP = """
from celery import Celery

app = Celery("{name}", broker="{broker}")
app.conf.update(broker_connection_retry_on_startup=True, task_ignore_result=True,
                timezone="UTC")


@app.task
def noop():
    return None
"""

SERVER_APP = """
import os

from celery import Celery

app = Celery("{name}", broker="filesystem://")
app.conf.update(broker_transport_options={{
    "data_folder_in": os.environ["BROKER_DIR"], "data_folder_out": os.environ["BROKER_DIR"],
}}, broker_connection_retry_on_startup=True, task_ignore_result=True, timezone="UTC",
    beat_scheduler="beat_panel.plugin:PanelScheduler",
    beat_panel_schedule=os.environ["SCHEDULE_FILE"])


@app.task
def noop():
    return None
"""


def run(argv: list[str | Path], **kwargs: object) -> subprocess.CompletedProcess:
    kwargs.setdefault("timeout", 600)
    done = subprocess.run([str(a) for a in argv], capture_output=True, text=True,
                          check=False, **kwargs)
    assert done.returncode == 0, f"{argv}\n{done.stdout}\n{done.stderr}"
    return done


def copy_checkout(target: Path) -> None:
    """The files a fresh checkout has, with the working tree's contents (links kept)."""
    listed = run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                 cwd=REPO).stdout.split("\0")
    for name in filter(None, listed):
        source = REPO / name
        if not os.path.lexists(source):
            continue  # deleted in the working tree
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            (target / name).symlink_to(os.readlink(source))
        else:
            shutil.copy2(source, target / name)


def clean_env(**extra: str) -> dict[str, str]:
    """The test's environment (its XDG folders) without anything pointing at the checkout
    or at the test's own virtual environment."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "PYTHONSTARTUP")}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                  if not Path(p).resolve().is_relative_to(REPO))
    env.update(extra)
    return env


def make_venv(folder: Path, *requirements: str | Path) -> tuple[Path, float]:
    """A fresh virtual environment with `requirements` installed from the package index
    (pip's cache kept, so a second run is fast); returns it and the install's seconds."""
    base = getattr(sys, "_base_executable", sys.executable)
    run([base, "-m", "venv", folder])
    began = time.monotonic()
    run([folder / "bin" / "python", "-m", "pip", "install", "-q", *requirements],
        env=clean_env())
    return folder, time.monotonic() - began


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    # Outside pytest's tmp_path (and outside the checkout), removed at the end.
    folder = Path(tempfile.mkdtemp(prefix="beat-panel-wheel-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def wheel(scratch: Path) -> Path:
    tree = scratch / "checkout"
    copy_checkout(tree)
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", scratch / "dist", tree],
        env=clean_env())
    (built,) = (scratch / "dist").glob("beat_panel-*.whl")
    return built


@pytest.fixture(scope="module")
def panel_venv(scratch: Path, wheel: Path) -> Path:
    venv, seconds = make_venv(scratch / "panel-venv", wheel)
    print(f"\nwheel and its dependencies installed in {seconds:.1f} s")
    return venv


@pytest.fixture(scope="module")
def project_venv(scratch: Path) -> Path:
    """The project's own environment: celery and nothing of the panel's."""
    venv, seconds = make_venv(scratch / "project-venv", "celery>=5.3")
    print(f"\nthe project's celery installed in {seconds:.1f} s")
    return venv


@pytest.fixture(scope="module")
def server_venv(scratch: Path, wheel: Path) -> Path:
    """A server's project environment (celery) with the panel's wheel installed as the
    README says, without its dependencies: the scheduler without the GUI."""
    venv, _ = make_venv(scratch / "server-venv", "celery[redis]>=5.3")
    run([venv / "bin" / "python", "-m", "pip", "install", "-q", "--no-deps", wheel],
        env=clean_env())
    return venv


def site_packages(venv: Path) -> Path:
    (found,) = venv.glob("lib/python*/site-packages")
    return found


def test_the_installed_panel_finds_its_icon_and_start_script_inside_its_venv(
        panel_venv: Path, tmp_path: Path):
    outside = tmp_path / "outside"
    outside.mkdir()
    code = ("import json, beat_panel; from beat_panel import paths;"
            "print(json.dumps({'package': beat_panel.__file__,"
            " 'icon': str(paths.resource('icons/beat-panel.svg')),"
            " 'desktop': str(paths.resource('io.github.beatpanel.BeatPanel.desktop')),"
            " 'script': str(paths.resource('start_celery_beat.sh'))}))")
    found = json.loads(run([panel_venv / "bin" / "python", "-c", code], cwd=outside,
                           env=clean_env()).stdout)
    installed = site_packages(panel_venv) / "beat_panel"
    assert Path(found["package"]) == installed / "__init__.py"
    for key in ("icon", "desktop", "script"):
        path = Path(found[key])
        assert path.is_file() and not path.is_symlink(), key
        assert path.is_relative_to(installed / "resources"), path
    assert "<svg" in Path(found["icon"]).read_text()
    script = Path(found["script"])
    assert os.access(script, os.X_OK)
    usage = run([script, "--help"], cwd=outside, env=clean_env()).stdout
    assert "Usage: start_celery_beat.sh --app APP" in usage


def installed_cli(panel: Path, config: Path, project: Path,
                  procs: ProcessTracker) -> Callable[..., dict]:
    """`cli("start")`: the installed `beat-panel --config CONFIG start --json`, run in the
    project folder with a clean environment; new beats are the tracker's to end."""
    env = clean_env()

    def cli(*args: str) -> dict:
        done = subprocess.run([str(panel), "--config", str(config), *args, "--json"],
                              capture_output=True, text=True, timeout=120, cwd=project,
                              env=env, check=False)
        result = json.loads(done.stdout)
        for pid in result.get("new_pids", []):
            procs.adopt(pid)
        return result

    return cli


def start_with_a_tick(panel_venv: Path, config: Path, project: Path, app: str,
                      procs: ProcessTracker, every: int) -> tuple[Callable[..., dict], dict]:
    """Through the installed panel: add an entry `tick` ({app}.noop every `every` s) and
    start beat, asserting it started. Returns the `cli` to go on with and the start's
    result."""
    procs.own_beats_of(app=app, pidfile=project / "run" / "beat.pid")
    panel = panel_venv / "bin" / "beat-panel"
    run([panel, "--config", config, "schedule", "add", "tick", "--task", f"{app}.noop",
         "--every", str(every)], cwd=project, env=clean_env())
    cli = installed_cli(panel, config, project, procs)
    started = cli("start")
    log = project / "run" / "beat.log"
    assert started["success"], json.dumps(started, indent=1) + (
        log.read_text() if log.exists() else "")
    return cli, started


def test_a_beat_started_by_the_installed_panel_cannot_import_the_checkout(
        panel_venv: Path, project_venv: Path, tmp_path: Path, procs: ProcessTracker):
    project = tmp_path / "project"
    (project / "broker").mkdir(parents=True)
    app = f"probeapp_{uuid.uuid4().hex[:8]}"  # ours alone, for the tracker to end
    (project / f"{app}.py").write_text(PROBE_APP)
    probe = project / "probe.json"
    config = project / "beat-panel.toml"
    config.write_text(
        f'[beat]\napp = "{app}"\nworkdir = "."\n'
        f'command = [{json.dumps(str(project_venv / "bin" / "celery"))}]\n'
        'pidfile = "run/beat.pid"\nlogfile = "run/beat.log"\nstop_timeout = 10\n'
        'args = ["--loglevel=INFO", "--schedule=run/celerybeat-schedule"]\n'
        f'[beat.env]\nPROBE_OUT = {json.dumps(str(probe))}\n'
        f'PROBE_BROKER = {json.dumps(str(project / "broker"))}\n'
        '[schedule]\nfile = "schedule.json"\n')
    env = clean_env()
    cli, _ = start_with_a_tick(panel_venv, config, project, app, procs, every=60)
    # The plugin runs in the project's environment and has loaded the saved schedule.
    wait_until(lambda: cli("status")["schedule_applied"] is True, timeout=30,
               what="beat to apply the schedule through the plugin")

    seen = json.loads(probe.read_text())
    assert Path(seen["executable"]).parent == project_venv / "bin"
    # The one entry of the panel's: its link folder, in the state folder.
    (import_dir,) = [Path(p) for p in seen["sys_path"]
                     if Path(p).is_relative_to(Path(os.environ["XDG_STATE_HOME"]))]
    print("beat's sys.path:", *seen["sys_path"], sep="\n  ")
    assert sorted(p.name for p in import_dir.iterdir()) == ["beat_panel"]
    assert (import_dir / "beat_panel").resolve() == site_packages(panel_venv) / "beat_panel"
    found = seen["found"]
    assert found["beat_panel"] == str(import_dir / "beat_panel" / "__init__.py")
    assert found["tests"] is None and found["bench"] is None and found["conftest"] is None
    # `packaging` is whatever the project's own environment has (today: none), never the
    # checkout's folder nor the panel's copy.
    own = run([project_venv / "bin" / "python", "-c", "import importlib.util as u;"
               "s = u.find_spec('packaging'); print(s.origin if s else None)"],
              cwd=project, env=env).stdout.strip()
    assert str(found["packaging"]) == own
    for entry in seen["sys_path"]:
        assert not Path(entry or ".").resolve().is_relative_to(REPO), entry
        assert not Path(entry or ".").resolve().is_relative_to(panel_venv), entry

    stopped = cli("stop")
    assert stopped["success"], stopped


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """A real Redis server of the test's own (tests/redis_server.py), killed by pid."""
    return redis_server.url()


def test_the_installed_panel_runs_a_project_on_redis_with_its_own_celery(
        panel_venv: Path, redis_url: str, tmp_path: Path, procs: ProcessTracker):
    """No `command`: beat runs with the panel's own celery, whose kombu needs `packaging`
    for its Redis transport (celery[redis]). Beat is confirmed started and sends into
    Redis."""
    project = tmp_path / "project"
    project.mkdir()
    app = f"redisapp_{uuid.uuid4().hex[:8]}"
    (project / f"{app}.py").write_text(REDIS_APP.format(name=app, broker=redis_url))
    config = project / "beat-panel.toml"
    config.write_text(
        f'[beat]\napp = "{app}"\nworkdir = "."\n'
        'pidfile = "run/beat.pid"\nlogfile = "run/beat.log"\nstop_timeout = 10\n'
        'args = ["--loglevel=INFO", "--schedule=run/celerybeat-schedule"]\n'
        '[schedule]\nfile = "schedule.json"\n')
    cli, started = start_with_a_tick(panel_venv, config, project, app, procs, every=1)
    log = project / "run" / "beat.log"
    # Confirmed on the plugin's first tick, not merely still alive after a wait.
    assert "has not shown" not in started["message"], started["message"]
    (pid,) = started["new_pids"]
    # The default command: the celery of the panel's own environment.
    assert f"--celery {panel_venv / 'bin' / 'celery'}" in started["manual_start_command"]

    client = redis.Redis.from_url(redis_url, socket_timeout=5)
    try:
        wait_until(lambda: client.llen("celery") >= 2, timeout=30,
                   what="beat to send the task into Redis twice")
        message = json.loads(client.lindex("celery", 0))
        assert message["headers"]["task"] == f"{app}.noop"
    finally:
        client.close()
    assert "No module named" not in log.read_text()
    assert cli("status")["pids"] == [pid]
    stopped = cli("stop")
    assert stopped["success"], stopped


@pytest.mark.parametrize("recipe", ["pip install --no-deps", "PYTHONPATH to a link"])
def test_the_readme_recipes_put_the_scheduler_in_a_server_venv_without_the_gui(
        recipe: str, server_venv: Path, project_venv: Path, wheel: Path, scratch: Path,
        tmp_path: Path, procs: ProcessTracker):
    """The app names the panel's scheduler in its own config (as under systemd); beat,
    started by hand in the project's environment, loads the file, ticks and sends.
    (`wheel` also made the checkout copy in `scratch` that the link points into.)"""
    env = clean_env()
    if recipe == "pip install --no-deps":
        venv = server_venv
    else:  # a folder holding only a link to a checkout's package (the wheel's source)
        venv = project_venv
        (tmp_path / "beat-panel-path").mkdir()
        (tmp_path / "beat-panel-path" / "beat_panel").symlink_to(
            scratch / "checkout" / "beat_panel")
        env["PYTHONPATH"] = str(tmp_path / "beat-panel-path")
    run_beat_on_a_panel_schedule(venv, tmp_path / "project", env, procs)


def run_beat_on_a_panel_schedule(venv: Path, project: Path, env: dict[str, str],
                                 procs: ProcessTracker) -> None:
    """In `project`, an app that names the panel's scheduler in its own config and a panel
    schedule with one entry every second; the venv's `celery beat`, started by hand with
    `env`, must have no PySide6 to import, load the file through the plugin, tick and
    send. Beat is stopped after."""
    from beat_panel.schedule import Document, Entry, Interval
    from beat_panel.schedule.beat_report import has_ticked
    from beat_panel.schedule.store import ScheduleStore

    broker = project / "broker"
    broker.mkdir(parents=True)
    app = f"serverapp_{uuid.uuid4().hex[:8]}"
    (project / f"{app}.py").write_text(SERVER_APP.format(name=app))
    schedule = project / "schedule.json"
    ScheduleStore(schedule).save(Document((Entry("tick", f"{app}.noop", Interval(1)),)), None)
    env = dict(env, BROKER_DIR=str(broker), SCHEDULE_FILE=str(schedule))
    python = venv / "bin" / "python"
    gui = run([python, "-c", "import importlib.util as u; print(u.find_spec('PySide6'))"],
              env=env).stdout.strip()
    assert gui == "None"  # the GUI's libraries are not in the server's environment
    log = project / "beat.log"
    with open(log, "wb") as out:
        beat = procs.popen([str(venv / "bin" / "celery"), "-A", app, "beat", "--loglevel=INFO",
                            f"--schedule={project / 'celerybeat-schedule'}"],
                           cwd=project, env=env, stdout=out, stderr=subprocess.STDOUT)

    def ticked() -> bool:
        assert beat.poll() is None, log.read_text()
        return has_ticked(schedule, beat.pid)

    wait_until(ticked, timeout=60, what="beat to load the schedule through the plugin")
    wait_until(lambda: any(broker.iterdir()), timeout=30, what="beat to send the task")
    assert "Sending due task tick" in log.read_text()
    beat.terminate()
    beat.wait(timeout=30)


def test_beat_env_points_a_project_with_a_hard_coded_broker_at_another(
        panel_venv: Path, redis_url: str, tmp_path: Path, procs: ProcessTracker):
    """The app names a broker in code that does not answer; CELERY_BROKER_URL in
    [beat.env] wins over it, and beat sends into the other broker."""
    project = tmp_path / "project"
    project.mkdir()
    app = f"hardcoded_{uuid.uuid4().hex[:8]}"
    (project / f"{app}.py").write_text(REDIS_APP.format(
        name=app, broker=f"redis://127.0.0.1:{free_port()}/0"))
    config = project / "beat-panel.toml"
    config.write_text(
        f'[beat]\napp = "{app}"\nworkdir = "."\n'
        'pidfile = "run/beat.pid"\nlogfile = "run/beat.log"\n'
        'args = ["--loglevel=INFO", "--schedule=run/celerybeat-schedule"]\n'
        f'[beat.env]\nCELERY_BROKER_URL = "{redis_url}"\n'
        '[schedule]\nfile = "schedule.json"\n')
    procs.own_beats_of(app=app, pidfile=project / "run" / "beat.pid")
    panel = panel_venv / "bin" / "beat-panel"
    env = clean_env()
    run([panel, "--config", config, "schedule", "add", "tick", "--task", f"{app}.noop",
         "--every", "1"], cwd=project, env=env)
    done = subprocess.run([str(panel), "--config", str(config), "start", "--json"],
                          capture_output=True, text=True, timeout=120, cwd=project, env=env,
                          check=False)
    started = json.loads(done.stdout)
    for pid in started.get("new_pids", []):
        procs.adopt(pid)
    assert started["success"], started
    client = redis.Redis.from_url(redis_url, socket_timeout=5)
    try:
        wait_until(lambda: client.llen("celery") >= 2, timeout=30,
                   what="beat to send into the broker named in [beat.env]")
    finally:
        client.close()
    (banner,) = [line for line in (project / "run" / "beat.log").read_text().splitlines()
                 if ". broker ->" in line]
    assert banner.endswith(redis_url.removeprefix("redis://")), banner
    run([panel, "--config", config, "stop"], cwd=project, env=env)
