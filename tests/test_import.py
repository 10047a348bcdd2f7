"""Bringing an app's own `beat_schedule` into the panel, read in a subprocess."""

import json
import sys

import pytest

from beat_panel.celeryapp import appinfo

from conftest import run_cli


def test_import_brings_in_the_apps_beat_schedule(panel_project):
    config = str(panel_project.config_path)
    result = run_cli("--config", config, "schedule", "import", "--json")
    assert result.code == 0, result.stderr
    assert "Imported 3 entries" in result.json["message"]
    entries = {e["name"]: e for e in
               run_cli("--config", config, "schedule", "list", "--json").json["entries"]}
    assert set(entries) == {"say-hello-every-30s", "add-numbers-every-minute",
                            "tidy-up-hourly"}
    assert entries["add-numbers-every-minute"]["args"] == [2, 3]
    assert entries["say-hello-every-30s"]["schedule_spec"] == {
        "kind": "interval", "every": 30, "period": "seconds"}

    again = run_cli("--config", config, "schedule", "import", "--json")
    assert again.code == 0 and "Imported 0 entries" in again.json["message"]
    assert "already in the schedule" in again.json["message"]


def test_the_app_is_inspected_without_importing_it_here(panel_project, monkeypatch):
    # Whatever ran before in this process, the app module is not loaded here now.
    monkeypatch.delitem(sys.modules, "beat_panel.demo.app", raising=False)
    info = appinfo.inspect_app(panel_project.load())
    assert "beat_panel.demo.app.say_hello" in info.tasks
    assert info.timezone == "UTC" and info.broker.startswith("filesystem://")
    assert "beat_panel.demo.app" not in sys.modules


def test_an_app_that_cannot_be_loaded_is_a_clear_error(panel_project):
    with pytest.raises(appinfo.AppInfoError, match="No module named 'nonexistent_app'"):
        appinfo.inspect_app(panel_project.load(), app="nonexistent_app")
    result = run_cli("--config", str(panel_project.config_path), "schedule", "import",
                     "--app", "nonexistent_app")
    assert result.code == 1 and "Could not load the app" in result.stderr


def test_broker_passwords_are_masked(tmp_path, panel_project, monkeypatch):
    module = tmp_path / "secretapp.py"
    module.write_text("from celery import Celery\n"
                      "app = Celery('s', broker='redis://user:hunter2@localhost:6379/0')\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    info = appinfo.inspect_app(panel_project.load(), app="secretapp")
    assert info.broker == "redis://user:**@localhost:6379/0"


def test_run_now_sends_the_task_through_the_apps_broker(panel_project):
    from beat_panel.schedule import Entry, Interval

    queue = panel_project.root / "demo-data" / "broker" / "queue"
    before = set(queue.glob("*")) if queue.exists() else set()
    entry = Entry("hello", "beat_panel.demo.app.say_hello", Interval(30),
                  kwargs={"name": "now"})
    task_id = appinfo.send_now(panel_project.load(), entry)
    sent = set(queue.glob("*")) - before
    assert len(sent) == 1
    assert task_id in sent.pop().read_text()


DJANGO_STYLE = '''
import os
from datetime import datetime, timedelta, timezone

from celery import Celery
from celery.schedules import crontab, schedule

# Like a Django project: settings chosen by DJANGO_SETTINGS_MODULE, read at import.
settings = __import__(os.environ["DJANGO_SETTINGS_MODULE"])
app = Celery("shop", broker="memory://")
app.conf.timezone = settings.TIME_ZONE


@app.task(name="shop.report")
def report():
    return 1


app.conf.beat_schedule = {
    "report-nightly": {"task": "shop.report", "schedule": crontab(minute=30, hour=2),
                       "options": {"queue": "reports",
                                   "expires": datetime(2030, 1, 1, tzinfo=timezone.utc),
                                   "exchange": "reports", "routing_key": "r.nightly",
                                   "countdown": 5,
                                   "link": report.s()}},
    "weekly-naive-expiry": {"task": "shop.report", "schedule": crontab(minute=0, hour=7),
                            "options": {"expires": datetime(2030, 1, 1, 8, 0)}},
    "ping-relative": {"task": "shop.report",
                      "schedule": schedule(timedelta(minutes=5), relative=True)},
    "broken": "not a dict",
}
'''


def test_a_django_style_app_imports_entry_by_entry_saying_what_was_not_kept(tmp_path):
    project = tmp_path / "shop"
    project.mkdir()
    (project / "shop.py").write_text(DJANGO_STYLE)
    (project / "shop_settings.py").write_text("TIME_ZONE = 'Europe/Berlin'\n")
    config = tmp_path / "beat-panel.toml"
    config.write_text(f'[beat]\napp = "shop"\nworkdir = "{project}"\n\n[beat.env]\n'
                      'DJANGO_SETTINGS_MODULE = "shop_settings"\n\n[schedule]\n'
                      f'file = "{project / "schedule.json"}"\n')
    result = run_cli("--config", str(config), "schedule", "import", "--json")
    assert result.code == 0, result.stderr
    data = result.json
    assert data["added"] == ["report-nightly", "weekly-naive-expiry", "ping-relative"]
    assert [(s["name"], s["reason"]) for s in data["skipped"]] == [("broken", "unusable")]
    notes = " ".join(data["notes"])
    # Only what the schedule cannot hold is named, per entry.
    assert "report-nightly: options.link=" in notes and "dropped" in notes
    for kept in ("expires", "exchange", "routing_key", "countdown", "relative"):
        assert kept not in notes
    listed = {e["name"]: e for e in run_cli("--config", str(config), "schedule", "list",
                                            "--json").json["entries"]}
    assert listed["report-nightly"]["options"] == {
        "queue": "reports", "exchange": "reports", "routing_key": "r.nightly",
        "expires": "2030-01-01T00:00:00+00:00", "countdown": 5}
    # A naive expiry is read as Celery reads it: in the app's time zone.
    assert listed["weekly-naive-expiry"]["options"] == {
        "expires": "2030-01-01T08:00:00+01:00"}
    saved = json.loads((project / "schedule.json").read_text())
    relative = next(e for e in saved["entries"] if e["name"] == "ping-relative")
    assert relative["schedule"] == {"kind": "interval", "every": 300, "period": "seconds",
                                    "relative": True}
    # An import that changes nothing saves no revision.
    before = (project / "schedule.json").read_bytes()
    again = run_cli("--config", str(config), "schedule", "import", "--json")
    assert again.code == 0 and again.json["added"] == []
    assert (project / "schedule.json").read_bytes() == before


def test_import_keeps_the_same_options_the_schedule_model_holds():
    """introspect.py runs in the project's Python without beat_panel, so it lists the
    options itself; the two lists must not drift apart."""
    from beat_panel.celeryapp import introspect
    from beat_panel.schedule.model import OPTION_NAMES

    assert introspect._KEPT_OPTIONS == OPTION_NAMES
