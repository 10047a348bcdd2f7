"""A Redis schedule in the faces, with a real redis-server: the editor lists what is in
Redis (RedBeat's own entries and other tools' too), adds, edits and saves there, reports
a damaged key without touching it, and says when another panel changed the same entry;
the badge and the tray read RedBeat's lock (a beat on another machine, a stale lock)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from beat_panel.control.states import Action
from beat_panel.schedule import Document, Entry, Interval
from beat_panel.schedule.redbeat.store import RedisStore
from beat_panel.schedule.redbeat.target import RedisTarget
from beat_panel.ui import state_style
from beat_panel.ui.schedule.table import NAME

from conftest import ProcessTracker
from faces import click_action, open_tab
from redis_server import RedisServer, start_redis

PREFIX = "rb:"


@pytest.fixture
def redis_project(tmp_path: Path, procs: ProcessTracker):
    redis = start_redis(procs, tmp_path / "redis", password="Pa55-w0rd")
    root = tmp_path / "proj"
    root.mkdir()
    (root / "beat-panel.toml").write_text(
        f'[beat]\napp = "rbproj_{uuid.uuid4().hex[:6]}"\nworkdir = "."\n\n'
        f'[schedule]\nredis_url = "{redis.url()}"\nkey_prefix = "{PREFIX}"\n')
    project = Project(root, redis)
    RedisStore(project.target).save(Document((
        Entry("nightly", "proj.report", Interval(1, "days"), description="the report"),
        Entry("often", "proj.ping", Interval(30)),
    )), Document())
    return project


class Project:
    def __init__(self, root: Path, redis: RedisServer) -> None:
        self.root, self.redis = root, redis
        self.target = RedisTarget(redis.url(), PREFIX)

    @property
    def config_path(self) -> Path:
        return self.root / "beat-panel.toml"

    def load(self):
        from beat_panel.config import load_file

        return load_file(self.config_path)


def test_the_editor_lists_adds_and_saves_in_redis_and_leaves_a_damaged_key_alone(
        redis_project, open_editor, qtbot):
    client = redis_project.target.client()
    client.hset(f"{PREFIX}broken", "definition", "{not json")  # another tool's mistake
    client.sadd(f"{PREFIX}:statics", "nightly")  # from the app's beat_schedule
    editor = open_editor(redis_project.load())
    assert editor.document.names() == ["nightly", "often"]
    model = editor.model
    name_of = {e.name: model.index(row, NAME) for row, e in enumerate(model.entries)}
    assert model.data(name_of["nightly"]) == "nightly (app)"
    assert "rewrites it from the app" in model.data(name_of["nightly"],
                                                    Qt.ItemDataRole.ToolTipRole)
    assert model.data(name_of["often"]) == "often"
    assert "in Redis, redis://:**@127.0.0.1" in editor.notice.text()

    assert "Pa55-w0rd" not in editor.notice.text()

    def fill(dialog):
        dialog.name.setText("fresh")
        dialog.task.setText("proj.fresh")
        dialog.every.setValue(90)
        assert dialog.validate()
        return dialog.entry()

    editor.run_dialog = fill
    click_action(qtbot, editor, "add")
    editor.select(["often"])
    click_action(qtbot, editor, "disable")
    with qtbot.waitSignal(editor.saved, timeout=15000):
        click_action(qtbot, editor, "save")
    qtbot.waitUntil(lambda: "Saved to Redis." in editor.notice.text(), timeout=10000)
    assert "next tick" in editor.notice.text()
    stored = RedisStore(redis_project.target).load()
    assert stored.document.names() == ["fresh", "nightly", "often"]
    assert stored.document.require("often").enabled is False
    assert stored.document.require("nightly").description == "the report"
    assert [key for key, _ in stored.skipped] == [f"{PREFIX}broken"]
    assert client.hget(f"{PREFIX}broken", "definition") == "{not json"  # untouched


def test_two_panels_conflict_only_on_the_same_entry_and_neither_change_is_lost(
        redis_project, open_editor, qtbot):
    first = open_editor(redis_project.load())
    second = open_editor(redis_project.load())
    first.select(["often"])
    click_action(qtbot, first, "disable")
    with qtbot.waitSignal(first.saved, timeout=15000):
        click_action(qtbot, first, "save")
    # Another entry: no conflict, both changes kept.
    second.select(["nightly"])
    click_action(qtbot, second, "disable")
    with qtbot.waitSignal(second.saved, timeout=15000):
        click_action(qtbot, second, "save")
    stored = RedisStore(redis_project.target).load().document
    assert not stored.require("often").enabled and not stored.require("nightly").enabled
    # The same entry: the first panel, loaded before the second's save, may not delete it.
    first.select(["nightly"])
    first.dialogs.answers = ["delete"]
    click_action(qtbot, first, "delete")
    click_action(qtbot, first, "save")
    qtbot.waitUntil(first.conflict_bar.merge.isVisible, timeout=15000)
    text = first.conflict_text.text()
    assert "There, someone edited nightly" in text and "Here, you removed nightly" in text
    assert "Both changed nightly" in text
    assert first.dirty and first.document.get("nightly") is None  # the edit is kept
    assert RedisStore(redis_project.target).load().document.get("nightly") is not None


def lock_token(node: int) -> str:
    return uuid.uuid1(node=node).hex


@pytest.mark.parametrize(("whose", "look", "text"), [
    ("another machine", "remote", "✓ Active elsewhere"),
    ("this machine", "stale_lock", "! Stale lock"),
])
def test_the_badge_and_tray_read_redbeats_lock(redis_project, make_panel, qtbot, whose,
                                               look, text):
    node = uuid.getnode() if whose == "this machine" else 0x0A0B0C0D0E0F
    redis_project.target.client().set(f"{PREFIX}:lock", lock_token(node), px=60000)
    panel = make_panel(redis_project, refresh_seconds=1)
    window = panel.show_window()
    qtbot.addWidget(window)
    tray = panel.add_tray()
    qtbot.waitUntil(lambda: window.badge.text() == text, timeout=15000)
    assert tray.state_key == look
    assert state_style.LOOKS[look].colour in window.badge.styleSheet()
    tip = tray.icon.toolTip()
    if whose == "another machine":
        assert "0a:0b:0c:0d:0e:0f" in tip and "holds RedBeat's lock" in tip
    else:
        assert "stale" in tip and "expires in" in tip
    # Restart is for a beat on this machine only.
    assert not window.buttons[Action.RESTART].isEnabled()
    assert not window.buttons[Action.STOP].isEnabled()
    qtbot.mouseClick(window.header.check_now, Qt.MouseButton.LeftButton)


def test_the_health_tab_shows_the_schedules_redis(redis_project, make_panel, qtbot):
    panel = make_panel(redis_project, refresh_seconds=1)
    window = panel.show_window()
    qtbot.addWidget(window)
    view = open_tab(qtbot, window, "Health")
    qtbot.waitUntil(lambda: view.store_state.key == "broker_ok", timeout=20000)
    assert view.store_state.isVisible() and " ms" in view.store_detail.text()
    assert ":**@" in view.store_detail.text() and "Pa55-w0rd" not in view.store_detail.text()
    redis_project.redis.stop()
    qtbot.waitUntil(lambda: view.store_state.key == "broker_unreachable", timeout=20000)
    assert "cannot be reached" in view.problems.text()


def test_the_health_tab_names_an_app_whose_beat_reads_other_keys(redis_project, make_panel,
                                                                 qtbot):
    """The app's RedBeat beat falls back to its broker's Redis and the default prefix,
    while the panel edits keys rb:*: the badge turns red and the Health tab says so."""
    config = redis_project.config_path.read_text()
    app = config.split('app = "', 1)[1].split('"', 1)[0]
    (redis_project.root / f"{app}.py").write_text(
        f"from celery import Celery\n\napp = Celery({app!r}, broker="
        f"{redis_project.redis.url()!r})\n")
    panel = make_panel(redis_project, refresh_seconds=1)
    window = panel.show_window()
    qtbot.addWidget(window)
    view = open_tab(qtbot, window, "Health")
    qtbot.waitUntil(lambda: "never runs these entries" in view.problems.text(),
                    timeout=20000)
    assert "redbeat:*" in view.problems.text() and f"{PREFIX}*" in view.problems.text()
    assert "The app's RedBeat beat reads redis://:**@" in view.store_detail.text()
    assert "Pa55-w0rd" not in view.problems.text() + view.store_detail.text()
