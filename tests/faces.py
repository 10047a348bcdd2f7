"""The schedule editor as tests open and drive it: one fixture that opens an editor on a
config (loaded, shown, wide enough for every toolbar button) and waits for its jobs at the
end, and a click on a toolbar action's button as a person makes it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from PySide6.QtCore import Qt

from beat_panel.config import Config
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
