"""The checkout never reaches a beat's PYTHONPATH, even when the panel itself runs with the
checkout on its own: its `packaging/` folder would stand in for the `packaging`
distribution (kombu's Redis transport then dies with "No module named
'packaging.version'"), and its `tests/` and `bench/` could shadow the project's modules."""

from __future__ import annotations

import json
import os
import sys
import uuid
from pathlib import Path

import pytest

from beat_panel import paths
from beat_panel.control.launch import configured_launch

from conftest import REPO, ProcessTracker, run_cli, wait_until

PROBE_APP = '''
"""Writes, as beat imports it, where beat finds `packaging` and what is on its path."""
import importlib.util
import json
import os
import sys

from celery import Celery

spec = importlib.util.find_spec("packaging.version")
with open(os.environ["PROBE_OUT"], "w") as out:
    json.dump({"sys_path": sys.path, "packaging_version": spec.origin if spec else None,
               "tests": importlib.util.find_spec("tests") is not None,
               "pythonpath": os.environ.get("PYTHONPATH")}, out)

app = Celery("pythonpathprobe", broker="filesystem://")
app.conf.update(broker_transport_options={
    "data_folder_in": os.environ["PROBE_BROKER"], "data_folder_out": os.environ["PROBE_BROKER"],
}, broker_connection_retry_on_startup=True, task_ignore_result=True, timezone="UTC")


@app.task
def noop():
    return None
'''


def entries(spec) -> list[str]:
    return spec.env.get("PYTHONPATH", "").split(os.pathsep)


@pytest.mark.parametrize("schedule_file", ["schedule.json", None])
def test_the_checkout_on_the_panels_pythonpath_is_left_out_of_beats(
        fake_project, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, schedule_file):
    other = tmp_path / "elsewhere"
    alias = tmp_path / "checkout-link"
    alias.symlink_to(REPO)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(REPO), str(other), str(alias), str(REPO / "beat_panel" / "..")]))
    project = fake_project()
    project.write_config(schedule_file=schedule_file, app=project.app,
                         command=[str(project.celery)])
    spec = configured_launch(project.load())
    # The link folder takes the checkout's place, so beat can still import the panel
    # (the demo app, the plugin) and nothing else of the checkout.
    assert entries(spec) == [str(paths.plugin_import_dir()), str(other)]


def test_a_pythonpath_without_the_checkout_is_passed_on_as_it_is(
        fake_project, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("PYTHONPATH", f"{tmp_path / 'a'}{os.pathsep}{tmp_path / 'b'}")
    project = fake_project()
    spec = configured_launch(project.load())
    assert spec.env["PYTHONPATH"] == f"{tmp_path / 'a'}{os.pathsep}{tmp_path / 'b'}"
    monkeypatch.delenv("PYTHONPATH")
    assert "PYTHONPATH" not in configured_launch(project.load()).env


def test_a_pythonpath_in_beat_env_keeps_the_plugin_importable_and_the_checkout_out(
        fake_project, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.delenv("PYTHONPATH", raising=False)
    project = fake_project()
    src = tmp_path / "src"
    project.write_config(schedule_file="schedule.json", app=project.app,
                         command=[str(project.celery)],
                         env={"PYTHONPATH": f"{src}{os.pathsep}{REPO}"})
    spec = configured_launch(project.load())
    assert entries(spec) == [str(paths.plugin_import_dir()), str(src)]


@pytest.mark.slow
def test_a_real_beat_started_by_a_panel_run_from_the_checkout_gets_the_real_packaging(
        tmp_path: Path, procs: ProcessTracker):
    """The panel run as `PYTHONPATH=<checkout> python -m beat_panel`: the beat it starts
    (the panel's own celery) finds `packaging.version` in the environment, not the
    checkout's `packaging/` folder, and loads the plugin."""
    project = tmp_path / "project"
    (project / "broker").mkdir(parents=True)
    app = f"pythonpathprobe_{uuid.uuid4().hex[:8]}"
    (project / f"{app}.py").write_text(PROBE_APP)
    probe = project / "probe.json"
    config = project / "beat-panel.toml"
    config.write_text(
        f'[beat]\napp = "{app}"\nworkdir = "."\n'
        'pidfile = "run/beat.pid"\nlogfile = "run/beat.log"\n'
        'args = ["--loglevel=INFO", "--schedule=run/celerybeat-schedule"]\n'
        f'[beat.env]\nPROBE_OUT = {json.dumps(str(probe))}\n'
        f'PROBE_BROKER = {json.dumps(str(project / "broker"))}\n'
        '[schedule]\nfile = "schedule.json"\n')
    procs.own_beats_of(app=app, pidfile=project / "run" / "beat.pid")
    procs.started_real_celery = True
    env = dict(os.environ, PYTHONPATH=str(REPO))

    started = run_cli("--config", str(config), "start", "--json", env=env)
    for pid in started.json.get("new_pids", []):
        procs.adopt(pid)
    assert started.code == 0, started.stdout + started.stderr
    wait_until(probe.exists, what="the probe app to report")
    seen = json.loads(probe.read_text())
    print("beat's PYTHONPATH:", seen["pythonpath"])
    for entry in seen["sys_path"]:
        assert (project / entry).resolve() != REPO, seen["sys_path"]
    assert seen["packaging_version"] is not None
    assert not Path(seen["packaging_version"]).is_relative_to(REPO / "packaging")
    assert Path(seen["packaging_version"]).is_relative_to(Path(sys.prefix))
    assert seen["tests"] is False
    stopped = run_cli("--config", str(config), "stop", "--json", env=env)
    assert stopped.code == 0, stopped.stdout
