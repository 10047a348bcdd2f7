"""File → Choose Celery project…, driven as a person does: the app is checked in its own
Python as it is typed, an app that does not load is named and not saved, an app's own
beat_schedule is offered for import, the current project is prefilled, and the window
for a config that cannot be used leads through the same dialog to a working panel."""

from __future__ import annotations

import json
import os
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QPushButton

from beat_panel import config as config_module
from beat_panel.config import ConfigError, demo_config
from beat_panel.control.states import Action
from beat_panel.ui.app import Panel
from beat_panel.ui.config_error import ask_until_usable
from beat_panel.ui.jobs import JobRunner
from beat_panel.ui.window.project_dialog import ProjectDialog, ProjectFields, check_project

from conftest import run_cli
from scripted_dialogs import ScriptedDialogs

CHECK_MS = 30000

SHOP = """
from celery import Celery

app = Celery("shop", broker="memory://")
app.conf.timezone = "Europe/Berlin"
app.conf.beat_schedule = {
    "send-invoices": {"task": "shop.send_invoices", "schedule": 3600.0},
    "ping": {"task": "shop.ping", "schedule": 30.0, "args": [1]},
}

@app.task(name="shop.send_invoices")
def send_invoices():
    pass

@app.task(name="shop.ping")
def ping(n):
    return n
"""


def make_shop(root: Path) -> Path:
    """A real Celery project folder: an app with two tasks and a beat_schedule of two."""
    root.mkdir(parents=True)
    (root / "shop.py").write_text(textwrap.dedent(SHOP))
    return root


def user_config() -> Path:
    return Path(os.environ["XDG_CONFIG_HOME"]) / "beat-panel" / "beat-panel.toml"


def type_into(qtbot, field, text: str) -> None:
    """Select what the field holds and type over it, as a person does."""
    field.setFocus()
    qtbot.keyClick(field, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    if text:
        qtbot.keyClicks(field, text)
    else:
        qtbot.keyClick(field, Qt.Key.Key_Delete)


def click(qtbot, widget) -> None:
    assert widget.isEnabled(), f"{widget.text()} is disabled"
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)


def checked(qtbot, dialog: ProjectDialog, expected: str) -> None:
    qtbot.waitUntil(lambda: expected in dialog.status.text(), timeout=CHECK_MS)


@pytest.fixture
def open_dialog(qtbot):
    runner = JobRunner()
    dialogs = ScriptedDialogs()

    def make(current=None) -> ProjectDialog:
        dialog = ProjectDialog(runner, dialogs, current)
        qtbot.addWidget(dialog)
        dialog.show()
        return dialog

    yield make
    runner.wait()


def when_the_dialog_opens(qtbot, person: Callable[[ProjectDialog], None]) -> dict:
    """Answer the next modal project dialog as `person` does (it opens inside a call that
    waits for it); the dialog is closed if the person fails, so a test never hangs."""
    seen: dict = {}

    def look() -> None:
        dialog = next((w for w in QApplication.topLevelWidgets()
                       if isinstance(w, ProjectDialog) and w.isVisible()), None)
        if dialog is None:
            QTimer.singleShot(50, look)
            return
        seen["dialog"] = dialog
        try:
            person(dialog)
        except BaseException as exc:
            seen["error"] = exc
        finally:
            if dialog.isVisible() and not dialog._saving:
                dialog.reject()

    QTimer.singleShot(0, look)
    return seen


def save_and_wait(qtbot, dialog: ProjectDialog) -> None:
    click(qtbot, dialog.save_button)
    qtbot.waitUntil(lambda: dialog.saved is not None, timeout=CHECK_MS)


@pytest.mark.parametrize("field, value, expected", [
    ("app", "no_such_module_xyz", "No module named 'no_such_module_xyz'"),
    ("folder", "/no/such/project/folder", "/no/such/project/folder ([beat] workdir) "
                                          "does not exist"),
    ("command", "/no/such/venv/bin/celery", "'/no/such/venv/bin/celery' ([beat] command), "
                                            "was not found"),
])
def test_an_app_that_does_not_load_is_named_and_not_saved(open_dialog, qtbot, tmp_path,
                                                           field, value, expected):
    make_shop(tmp_path / "shop")
    dialog = open_dialog()
    type_into(qtbot, dialog.folder, str(tmp_path / "shop"))
    type_into(qtbot, dialog.app, "shop")
    type_into(qtbot, getattr(dialog, field), value)
    checked(qtbot, dialog, expected)
    assert dialog.status.text().startswith("✗")

    click(qtbot, dialog.save_button)  # the person is asked, and goes back
    (question,) = dialog.dialogs.shown
    assert question.title == "The app does not load" and expected in question.text
    assert [k for k, _ in question.buttons] == ["back", "save"] and question.default == "back"
    assert dialog.isVisible() and dialog.saved is None
    assert not user_config().exists()
    assert not any(p.title == "Project saved" for p in dialog.dialogs.shown)


def test_save_anyway_saves_an_app_that_does_not_load(open_dialog, qtbot, tmp_path):
    dialog = open_dialog()
    type_into(qtbot, dialog.folder, str(tmp_path))
    type_into(qtbot, dialog.app, "not_written_yet")
    checked(qtbot, dialog, "No module named 'not_written_yet'")
    dialog.dialogs.answers = ["save"]
    save_and_wait(qtbot, dialog)
    assert config_module.load_file(user_config()).beat.app == "not_written_yet"


def test_an_apps_beat_schedule_is_offered_and_imported_with_its_time_zone(
        open_dialog, qtbot, tmp_path):
    shop = make_shop(tmp_path / "shop")
    dialog = open_dialog()
    type_into(qtbot, dialog.folder, str(shop))
    type_into(qtbot, dialog.app, "shop")
    checked(qtbot, dialog, "✓ The app loads: 2 registered tasks, 2 entries in its "
                           "beat_schedule, time zone Europe/Berlin.")
    assert f"The panel's schedule, {shop / 'schedule.json'}, does not exist yet" in \
        dialog.status.text()
    assert dialog.import_box.isVisible() and dialog.import_box.isChecked()
    assert "(2 new)" in dialog.import_box.text()

    save_and_wait(qtbot, dialog)
    assert dialog.result() == dialog.DialogCode.Accepted
    saved = json.loads((shop / "schedule.json").read_text())
    assert {e["name"] for e in saved["entries"]} == {"send-invoices", "ping"}
    assert saved.get("timezone") == "Europe/Berlin"
    config = config_module.load_file(user_config())
    assert (config.beat.app, config.beat.workdir) == ("shop", shop)
    assert dialog.saved.plan.added == ("send-invoices", "ping")


def test_a_schedule_of_ones_own_is_offered_the_import_unticked(open_dialog, qtbot, tmp_path):
    shop = make_shop(tmp_path / "shop")
    (shop / "beat-panel.toml").write_text('[beat]\napp = "shop"\n[schedule]\n'
                                          'file = "schedule.json"\n')
    added = run_cli("--config", str(shop / "beat-panel.toml"), "schedule", "add", "mine",
                    "--task", "shop.ping", "--every", "5", "--args", "[2]")
    assert added.code == 0, added.stderr
    dialog = open_dialog()
    type_into(qtbot, dialog.folder, str(shop))
    type_into(qtbot, dialog.app, "shop")
    checked(qtbot, dialog, "has 1 entry: beat runs only what it holds")
    assert dialog.import_box.isVisible() and not dialog.import_box.isChecked()
    save_and_wait(qtbot, dialog)
    names = [e["name"] for e in json.loads((shop / "schedule.json").read_text())["entries"]]
    assert names == ["mine"]  # not ticked: not imported


def test_choosing_the_same_project_again_keeps_its_other_settings(tmp_path):
    shop = make_shop(tmp_path / "shop")
    path = shop / "beat-panel.toml"
    path.write_text('[beat]\napp = "shop"\nargs = ["--loglevel=DEBUG"]\nstop_timeout = 4\n'
                    'pidfile = "var/beat.pid"\n[beat.env]\nSHOP_MODE = "test"\n'
                    '[schedule]\nfile = "var/plan.json"\n')
    current = config_module.load_file(path)
    check = check_project(ProjectFields(str(shop), "shop"), current)
    assert check.loads, check.error
    kept = check.config
    assert kept.beat.args == ("--loglevel=DEBUG",) and kept.beat.stop_timeout == 4
    assert kept.beat.env == {"SHOP_MODE": "test"}
    assert kept.beat.pidfile == shop / "var" / "beat.pid"
    assert kept.schedule_file == shop / "var" / "plan.json"


def test_a_saved_project_keeps_the_settings_it_replaces_beside_them(tmp_path):
    first = config_module.project_config_text(tmp_path / "a", "a")
    second = config_module.project_config_text(tmp_path / "b", "b")
    path = config_module.write_user_config(first)
    assert not config_module.previous_config_path().exists()
    assert config_module.write_user_config(second) == path == user_config()
    assert config_module.previous_config_path().read_text() == first
    assert path.read_text() == second


def test_the_window_saves_imports_and_reopens_prefilled(qtbot, tmp_path):
    shop = make_shop(tmp_path / "shop")
    panel = Panel(demo_config(), QApplication.instance(), 30, dialogs=ScriptedDialogs())
    try:
        window = panel.show_window()
        qtbot.addWidget(window)
        assert window.demo_banner.isVisible()

        def choose_shop(dialog: ProjectDialog) -> None:
            type_into(qtbot, dialog.folder, str(shop))
            type_into(qtbot, dialog.app, "shop")
            checked(qtbot, dialog, "✓ The app loads")
            save_and_wait(qtbot, dialog)

        seen = when_the_dialog_opens(qtbot, choose_shop)
        click(qtbot, window.demo_banner.findChild(QPushButton))  # Choose your project…
        assert "error" not in seen, seen.get("error")
        assert window.monitor.config.beat.app == "shop"
        assert window.monitor.config.schedule_file == shop / "schedule.json"
        assert not window.demo_banner.isVisible()
        told = window.dialogs.shown[-1]
        assert told.title == "Project saved"
        assert "Imported 2 entries: send-invoices, ping" in told.text
        assert str(user_config()) in told.informative
        qtbot.waitUntil(lambda: window.editor.loaded and
                        window.editor.document.get("ping") is not None, timeout=15000)
        assert len(window.editor.document.entries) == 2
        assert run_cli("status", "--json").code == 0

        def look_and_cancel(dialog: ProjectDialog) -> None:
            seen["fields"] = (dialog.folder.text(), dialog.app.text(), dialog.command.text())
            checked(qtbot, dialog, "the app's entries among them")
            seen["offered"] = dialog.import_box.isVisible()
            click(qtbot, dialog.cancel_button)

        seen = when_the_dialog_opens(qtbot, look_and_cancel)
        window.choose_project()
        assert "error" not in seen, seen.get("error")
        assert seen["fields"] == (str(shop), "shop", "")
        assert seen["offered"] is False
        assert window.monitor.config.beat.app == "shop"
    finally:
        panel.shutdown()


def bad_config_in_the_current_folder() -> tuple[Path, ConfigError]:
    path = Path.cwd() / "beat-panel.toml"
    path.write_text('[beat]\napp = "proj"\nstop_timout = 5\n')
    with pytest.raises(ConfigError) as caught:
        config_module.load()
    return path, caught.value


def choose_from_the_error_window(qtbot, shop: Path):
    """Choose another project… in the window for a config that cannot be used, fill in
    the project dialog it opens, save: the config it gives, and what was shown."""
    bad, error = bad_config_in_the_current_folder()
    dialogs = ScriptedDialogs()
    dialogs.answers = ["choose"]

    def choose_shop(dialog: ProjectDialog) -> None:
        assert dialog.app.text() == ""  # nothing to prefill from a file that cannot load
        type_into(qtbot, dialog.folder, str(shop))
        type_into(qtbot, dialog.app, "shop")
        checked(qtbot, dialog, "✓ The app loads")
        save_and_wait(qtbot, dialog)

    seen = when_the_dialog_opens(qtbot, choose_shop)
    config = ask_until_usable(error, None, dialogs)
    assert "error" not in seen, seen.get("error")
    first, told = dialogs.shown
    assert "Choose another project…" in dict(first.buttons).values()
    assert told.title == "Project saved"
    assert f"Beat Panel was started with {bad}" in told.informative
    return config


def test_choose_another_project_from_the_error_window_leads_to_a_working_panel(
        qtbot, tmp_path):
    shop = make_shop(tmp_path / "shop")
    config = choose_from_the_error_window(qtbot, shop)
    assert config is not None and config.path == user_config()
    panel = Panel(config, QApplication.instance(), 30, dialogs=ScriptedDialogs())
    try:
        window = panel.show_window()
        qtbot.addWidget(window)
        qtbot.waitUntil(lambda: window.status is not None, timeout=15000)
        assert window.status.error is None
        assert not window.status.running
        assert window.config_label.text() == f"Settings: {user_config()}"
        qtbot.waitUntil(lambda: window.editor.loaded, timeout=15000)
        assert {e.name for e in window.editor.document.entries} == {"send-invoices", "ping"}
    finally:
        panel.shutdown()


@pytest.mark.slow
def test_the_project_chosen_from_the_error_window_runs_beat(qtbot, tmp_path, procs):
    shop = make_shop(tmp_path / "shop")
    procs.own_beats_of(app="shop", pidfile=shop / "run" / "beat.pid")
    config = choose_from_the_error_window(qtbot, shop)
    panel = Panel(config, QApplication.instance(), 30, dialogs=ScriptedDialogs())
    try:
        window = panel.show_window()
        qtbot.addWidget(window)
        qtbot.waitUntil(lambda: window.status is not None, timeout=15000)
        with qtbot.waitSignal(window.monitor.action_finished, timeout=60000) as done:
            click(qtbot, window.buttons[Action.START])
        assert done.args[0].success, done.args[0].message
        for pid in done.args[0].new_pids:
            procs.adopt(pid)
        qtbot.waitUntil(lambda: bool(window.status and window.status.running
                                     and window.status.schedule_applied), timeout=30000)
    finally:
        panel.shutdown()


def test_choosing_a_project_keeps_the_alerts_of_the_config_it_replaces(open_dialog, qtbot,
                                                                       tmp_path):
    user_config().parent.mkdir(parents=True, exist_ok=True)
    user_config().write_text('[beat]\napp = "old"\n\n[alerts]\nemail_to = ["ops@example.com"]\n'
                             'smtp_host = "mail.example.com"\nevents = ["beat_died"]\n')
    shop = make_shop(tmp_path / "shop")
    dialog = open_dialog()
    type_into(qtbot, dialog.folder, str(shop))
    type_into(qtbot, dialog.app, "shop")
    checked(qtbot, dialog, "✓ The app loads")
    save_and_wait(qtbot, dialog)
    config = config_module.load_file(user_config())
    assert config.beat.app == "shop"
    assert config.alerts is not None
    assert config.alerts.email_to == ("ops@example.com",)
    assert config.alerts.smtp_host == "mail.example.com"
