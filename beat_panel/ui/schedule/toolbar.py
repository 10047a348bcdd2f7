"""The schedule editor's toolbar: its actions, their shortcuts, and one table of when
each is enabled."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QToolBar, QWidget


@dataclass(frozen=True)
class EditorState:
    """What decides which actions can be used."""

    editable: bool  # loaded and not saving
    selected: int  # how many entries are selected
    dirty: bool
    reloadable: bool  # a file is configured and no save is under way


# key, label, shortcut
ACTIONS: tuple[tuple[str, str, QKeySequence.StandardKey | str | None], ...] = (
    ("add", "Add…", "Ctrl+N"),
    ("edit", "Edit…", "Return"),  # in the table only: Return in the search box is not Edit
    ("duplicate", "Duplicate", "Ctrl+D"),
    ("delete", "Delete", QKeySequence.StandardKey.Delete),
    ("enable", "Enable", None),
    ("disable", "Disable", None),
    ("run", "Run now", None),
    ("why", "Why?…", None),
    ("import", "Import from app…", None),
    ("reload", "Reload", "F5"),
    ("save", "Save", QKeySequence.StandardKey.Save),
)
SEPARATOR_BEFORE = ("run", "reload")
TABLE_ONLY = ("edit",)

ENABLED: dict[str, Callable[[EditorState], bool]] = {
    "add": lambda s: s.editable,
    "import": lambda s: s.editable,
    "delete": lambda s: s.editable and s.selected > 0,
    "enable": lambda s: s.editable and s.selected > 0,
    "disable": lambda s: s.editable and s.selected > 0,
    "edit": lambda s: s.editable and s.selected == 1,
    "duplicate": lambda s: s.editable and s.selected == 1,
    "run": lambda s: s.editable and s.selected == 1,
    "why": lambda s: s.reloadable and s.selected == 1,
    "save": lambda s: s.editable and s.dirty,
    "reload": lambda s: s.reloadable,
}


class EditorToolbar(QToolBar):
    """The actions by key (`actions["save"]`). They are added to `owner` (or to `table`)
    as well as to the bar: a shortcut of an action that only the bar holds works only
    while the bar itself has the focus, never while the person is in the table. Their
    shortcuts work anywhere in the window; the window lists them in its Schedule menu."""

    def __init__(self, owner: QWidget, table: QWidget,
                 slots: dict[str, Callable[[], object]]) -> None:
        super().__init__(owner)
        self.actions: dict[str, QAction] = {}
        for key, label, shortcut in ACTIONS:
            action = QAction(label, owner)
            action.triggered.connect(lambda _checked=False, slot=slots[key]: slot())
            if shortcut is not None:
                action.setShortcut(QKeySequence(shortcut))
                # Anywhere in the window (the window's Schedule menu holds them too), but
                # Return edits only from the table, never from the search box.
                action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut
                                          if key in TABLE_ONLY
                                          else Qt.ShortcutContext.WindowShortcut)
            self.addAction(action)
            (table if key in TABLE_ONLY else owner).addAction(action)
            self.actions[key] = action
        for key in SEPARATOR_BEFORE:
            self.insertSeparator(self.actions[key])

    def update_enabled(self, state: EditorState) -> None:
        for key, action in self.actions.items():
            action.setEnabled(ENABLED[key](state))
