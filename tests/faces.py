"""The faces as tests open them: a panel (monitor, window, tray) on a project, ended at the
end; a schedule editor on a config (loaded, shown, wide enough for every toolbar button),
its jobs waited for at the end; and a click on a toolbar action's button as a person
makes it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from beat_panel.config import Config
from beat_panel.ui.app import Panel
from beat_panel.ui.jobs import JobRunner
from beat_panel.ui.schedule.editor import ScheduleEditor

from scripted_dialogs import ScriptedDialogs


@pytest.fixture
def open_editor(qtbot) -> Iterator[Callable[[Config], ScheduleEditor]]:
    """`open_editor(config)`: an editor on that config, its schedule loaded."""
    editors: list[ScheduleEditor] = []

    def make(config: Config) -> ScheduleEditor:
        editor = ScheduleEditor(config, JobRunner(), ScriptedDialogs())
        qtbot.addWidget(editor)
        editor.resize(1400, 600)  # every toolbar button visible, none in an overflow menu
        editor.show()
        qtbot.waitExposed(editor)
        editor.reload()
        qtbot.waitUntil(lambda: editor.loaded, timeout=15000)
        editors.append(editor)
        return editor

    yield make
    for editor in editors:
        editor.runner.wait()


def click_action(qtbot, editor: ScheduleEditor, key: str) -> None:
    """Click the toolbar button of action `key` ("save", "why", …)."""
    button = editor.toolbar.widgetForAction(editor.actions[key])
    assert button.isVisible() and button.isEnabled(), key
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


@pytest.fixture
def make_panel(qtbot) -> Iterator[Callable[..., Panel]]:
    """`make_panel(project, refresh_seconds=30)`: a Panel on the project whose first
    status check has landed; its window closed and the panel shut down at the end."""
    panels: list[Panel] = []
    app = QApplication.instance()

    def make(project, refresh_seconds: int = 30) -> Panel:
        panel = Panel(project.load(), app, refresh_seconds, dialogs=ScriptedDialogs())
        panels.append(panel)
        qtbot.waitUntil(lambda: panel.monitor.status is not None, timeout=15000)
        return panel

    yield make
    for panel in panels:
        if panel.window is not None:
            panel.window.close()
        panel.shutdown()
    app.setQuitOnLastWindowClosed(True)


def keep_alive_gives_up(project, make_panel, qtbot):
    """A panel with keep-alive on (two restarts at most) on a project whose every start
    fails, its running beat killed: returns once keep-alive has given up."""
    from beat_panel.control.keepalive import KeepAlive

    beat = project.spawn_fake("-A", project.app, "beat")  # this one runs, for now
    panel = make_panel(project)
    panel.monitor.keep_alive = KeepAlive(max_restarts=2)
    panel.settings.set_keep_alive(True)
    qtbot.waitUntil(lambda: panel.monitor.running, timeout=15000)
    beat.kill()
    beat.wait()
    qtbot.waitUntil(lambda: not panel.settings.keep_alive, timeout=30000)
    return panel


def open_tab(qtbot, window, title: str):
    """Click the window's tab titled `title`, as a person does; its page."""
    bar = window.tabs.tabBar()
    index = next(i for i in range(bar.count()) if bar.tabText(i) == title)
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(index).center())
    assert window.tabs.currentIndex() == index
    return window.tabs.widget(index)
