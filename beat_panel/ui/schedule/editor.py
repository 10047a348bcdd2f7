"""The schedule editor: the table, search, add / edit / duplicate / delete, enable or
disable several at once, save with conflict handling, and "Applied ✓" once beat has it.

Files and subprocesses are only touched from jobs; the GUI thread edits a copy.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QVBoxLayout, QWidget

from beat_panel import schedule
from beat_panel.celeryapp import appinfo
from beat_panel.config import Config
from beat_panel.control import activity
from beat_panel.control.status import Status
from beat_panel.schedule import Document, Entry, ScheduleError, beat_report, store
from beat_panel.schedule.store import ConflictError, ScheduleStore
from beat_panel.ui.dialogs import Dialogs
from beat_panel.ui.jobs import JobRunner
from beat_panel.ui.schedule.conflict_bar import ConflictBar
from beat_panel.ui.schedule.entry_dialog import EntryDialog
from beat_panel.ui.schedule.table import EntryFilter, EntryTable, EntryTableModel
from beat_panel.ui.schedule.toolbar import EditorState, EditorToolbar

APPLY_WAIT = 5.0


def _load(path: Path) -> tuple[store.Loaded, beat_report.BeatReport | None]:
    return ScheduleStore(path).load(), beat_report.read_beat_report(path)


class ScheduleEditor(QWidget):
    """Edits the config's schedule file."""

    dirty_changed = Signal(bool)
    restart_requested = Signal()
    saved = Signal(int)  # revision
    load_finished = Signal()  # a load landed, good or not

    def __init__(self, config: Config, runner: JobRunner, dialogs: Dialogs,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.config = config
        self.runner = runner
        self.dialogs = dialogs
        self.document = Document()
        self.base_sha: str | None = None
        self.loaded = False
        self.dirty = False
        self.saving = False
        self.tasks: list[str] = []
        self.status: Status | None = None
        self.beat_state: beat_report.BeatReport | None = None

        self.model = EntryTableModel()
        self.model.enabled_toggled.connect(self._toggle_one)
        self.proxy = EntryFilter()
        self.proxy.setSourceModel(self.model)
        self.table = EntryTable(self.proxy)
        self.table.doubleClicked.connect(lambda _: self.edit_selected())

        self.search = QLineEdit()
        self.search.setPlaceholderText("Search name, task or description…")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self.proxy.set_needle)

        self.toolbar = EditorToolbar(self, self.table, {
            "add": self.add_entry, "edit": self.edit_selected,
            "duplicate": self.duplicate_selected, "delete": self.delete_selected,
            "enable": lambda: self.set_selected_enabled(True),
            "disable": lambda: self.set_selected_enabled(False),
            "run": self.run_selected_now, "import": self.import_from_app,
            "reload": self.reload, "save": self.save,
        })
        self.actions = self.toolbar.actions

        self.notice = QLabel()
        self.notice.setObjectName("scheduleNotice")
        self.notice.setWordWrap(True)
        self.conflict_bar = ConflictBar()
        self.conflict_bar.reload_requested.connect(self.reload)
        self.conflict_bar.keep_mine_requested.connect(lambda: self.save(force=True))
        self.conflict_text = self.conflict_bar.text

        top = QHBoxLayout()
        top.addWidget(self.toolbar, 1)
        top.addWidget(self.search)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.conflict_bar)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.notice)
        self.table.selectionModel().selectionChanged.connect(self._update_actions)
        self._update_actions()

    # -- state -----------------------------------------------------------------------

    @property
    def path(self) -> str | None:
        return str(self.config.schedule_file) if self.config.schedule_file else None

    def _set_document(self, document: Document, dirty: bool) -> None:
        names = set(self.selected_names())
        self.document = document
        self.model.set_entries(list(document.entries), self.beat_state, document.timezone)
        self.table.add_to_selection(names)
        self._set_dirty(dirty)

    def _set_dirty(self, dirty: bool) -> None:
        if dirty != self.dirty:
            self.dirty = dirty
            self.dirty_changed.emit(dirty)
        self._update_actions()

    def _update_actions(self) -> None:
        self.toolbar.update_enabled(EditorState(
            editable=self.loaded and not self.saving, selected=len(self.selected_names()),
            dirty=self.dirty, reloadable=self.path is not None and not self.saving))

    def selected_names(self) -> list[str]:
        return self.table.selected_names()

    def select(self, names: list[str]) -> None:
        self.table.select_names(names)

    # -- loading and saving ------------------------------------------------------------

    def reload(self) -> None:
        """Load the file from disk (in a job)."""
        if self.path is None:
            self.notice.setText("No schedule file is configured: add [schedule] file = "
                                "\"schedule.json\" to beat-panel.toml.")
            return
        self.runner.submit(_load, self.config.schedule_file, on_done=self._loaded,
                           on_error=self._load_failed)

    def _loaded(self, result: tuple[store.Loaded, beat_report.BeatReport | None]) -> None:
        loaded, state = result
        self.beat_state = state
        self.base_sha = loaded.sha
        self.loaded = True
        self.conflict_bar.hide()
        self._set_document(loaded.document, dirty=False)
        count = len(loaded.document.entries)
        self.notice.setText(f"{count} entr{'y' if count == 1 else 'ies'}, revision "
                            f"{loaded.document.revision}.")
        self.load_finished.emit()

    def _load_failed(self, error: Exception) -> None:
        self.loaded = False
        self.model.set_entries([], None, None)
        self.notice.setText(
            f"<b>The schedule file cannot be used.</b> {error}<br>Beat Panel will not "
            "overwrite it. Fix it by hand, or restore a saved version "
            "(<code>beat-panel schedule history</code>).")
        self._update_actions()
        self.load_finished.emit()

    def save(self, force: bool = False) -> None:
        if not self.loaded or self.saving or (not self.dirty and not force):
            return
        self.saving = True
        self._update_actions()
        self.notice.setText("Saving…")
        document, base = self.document, self.base_sha
        path = self.config.schedule_file
        assert path is not None
        self.runner.submit(lambda: ScheduleStore(path).save(document, base, force=force),
                           on_done=self._saved, on_error=self._save_failed)

    def _saved(self, loaded: store.Loaded) -> None:
        self.saving = False
        self.base_sha = loaded.sha
        self.document = loaded.document
        self.conflict_bar.hide()
        self._set_dirty(False)
        revision = loaded.document.revision
        self.saved.emit(revision)
        self.runner.submit(activity.record, self.config.project_id, "save", True,
                           f"Schedule saved as revision {revision} "
                           f"({len(loaded.document.entries)} entries).")
        self._after_save(loaded)

    def _save_failed(self, error: Exception) -> None:
        self.saving = False
        self._update_actions()
        if isinstance(error, ConflictError):
            self._show_conflict("The schedule file was changed by someone else since you "
                                "loaded it. Reload to see their change (yours are lost), "
                                "or keep yours and save over theirs.")
            self.notice.setText("Not saved: the file changed on disk.")
            return
        self.notice.setText(f"Not saved: {error}")
        self.dialogs.tell("error", "Could not save the schedule", str(error),
                          "Nothing was written; your changes are still here.")

    def _show_conflict(self, text: str) -> None:
        self.conflict_bar.show_conflict(text)

    def _after_save(self, loaded: store.Loaded) -> None:
        status = self.status
        pids = [p.pid for p in status.processes if not p.embedded] if status else []
        revision = loaded.document.revision
        if not pids:
            self.notice.setText(f"Saved revision {revision}. Beat is not running; it will "
                                "use this schedule when it starts.")
            return
        state = self.beat_state
        if state is None or state.pid not in pids:
            self.notice.setText(f"Saved revision {revision}. The running beat loads its "
                                "schedule only at start.")
            answer = self.dialogs.ask(
                "Restart beat now?", "The running beat does not follow the schedule file, "
                "so it applies this change only after a restart.",
                (("restart", "Restart now"), ("later", "Later")), "restart")
            if answer == "restart":
                self.restart_requested.emit()
            return
        self.notice.setText(f"Saved revision {revision}. Waiting for beat to apply it…")
        path = self.config.schedule_file
        self.runner.submit(lambda: (beat_report.wait_applied(path, loaded.sha, APPLY_WAIT),
                                    beat_report.read_beat_report(path)),
                           on_done=lambda r: self._applied(revision, *r))

    def _applied(self, revision: int, ok: bool, state: beat_report.BeatReport | None) -> None:
        self.beat_state = state
        self.model.refresh_times(state)
        if ok:
            self.notice.setText(f"Saved revision {revision}. Applied ✓ by the running beat "
                                f"(pid {state.pid if state else '?'}).")
        else:
            why = f" It reports: {state.error}" if state and state.error else ""
            self.notice.setText(f"Saved revision {revision}, but beat has not applied it "
                                f"within {APPLY_WAIT:g} s.{why}")

    def on_status(self, status: Status) -> None:
        """Each status refresh: note beat's state and look for changes on disk."""
        self.status = status
        if self.path is None or self.saving:
            return
        path = self.config.schedule_file
        self.runner.submit(lambda: (ScheduleStore(path).current_sha(),
                                    beat_report.read_beat_report(path)),
                           on_done=self._disk_checked, on_error=lambda _: None)

    def _disk_checked(self, result: tuple[str | None, beat_report.BeatReport | None]) -> None:
        sha, state = result
        self.beat_state = state
        self.model.refresh_times(state)
        if not self.loaded or self.saving or sha == self.base_sha:
            return
        if not self.dirty:
            self.reload()
            self.notice.setText("The schedule file changed on disk; reloaded.")
        else:
            self._show_conflict("The schedule file changed on disk while you were editing. "
                                "Reload to take their version, or keep yours and save.")

    # -- editing -----------------------------------------------------------------------

    def _edit(self, change: Document) -> None:
        self._set_document(change, dirty=True)

    def _toggle_one(self, name: str, enabled: bool) -> None:
        if self.loaded and not self.saving:
            self._edit(self.document.enabling([name], enabled))

    def set_selected_enabled(self, enabled: bool) -> None:
        names = self.selected_names()
        if names:
            self._edit(self.document.enabling(names, enabled))

    def _dialog(self, entry: Entry | None, taken: set[str]) -> EntryDialog:
        return EntryDialog(self, entry, taken, self.tasks, self.document.timezone)

    def run_dialog(self, dialog: EntryDialog) -> Entry | None:
        """Show an entry dialog; tests replace this to fill it in instead."""
        return dialog.entry() if dialog.exec() else None

    def add_entry(self) -> None:
        entry = self.run_dialog(self._dialog(None, set(self.document.names())))
        if entry is not None:
            self._edit(self.document.adding(entry))
            self.select([entry.name])

    def edit_selected(self) -> None:
        names = self.selected_names()
        if len(names) != 1:
            return
        current = self.document.require(names[0])
        taken = set(self.document.names()) - {current.name}
        entry = self.run_dialog(self._dialog(current, taken))
        if entry is not None and entry != current:
            self._edit(self.document.replacing(current.name, entry))
            self.select([entry.name])

    def duplicate_selected(self) -> None:
        names = self.selected_names()
        if len(names) != 1:
            return
        original = self.document.require(names[0])
        copy_name = _free_name(f"{original.name} copy", set(self.document.names()))
        entry = self.run_dialog(self._dialog(original.with_changes(name=copy_name),
                                             set(self.document.names())))
        if entry is not None:
            self._edit(self.document.adding(entry))
            self.select([entry.name])

    def delete_selected(self) -> None:
        names = self.selected_names()
        if not names:
            return
        what = f"'{names[0]}'" if len(names) == 1 else f"{len(names)} entries"
        answer = self.dialogs.ask("Delete entries?", f"Delete {what}?",
                                  (("delete", "Delete"), ("cancel", "Cancel")), "cancel",
                                  "Nothing is written until you save.")
        if answer == "delete":
            self._edit(self.document.removing(names))

    def run_selected_now(self) -> None:
        names = self.selected_names()
        if len(names) != 1:
            return
        entry = self.document.require(names[0])
        self.notice.setText(f"Sending {entry.task} now…")
        self.runner.submit(appinfo.send_now, self.config, entry,
                           on_done=lambda task_id: self.notice.setText(
                               f"Sent {entry.task} now (task id {task_id})."),
                           on_error=lambda err: self.dialogs.tell(
                               "error", "Could not send the task", str(err)))

    def import_from_app(self) -> None:
        self.notice.setText("Reading the app's beat_schedule…")
        self.runner.submit(appinfo.inspect_app, self.config, on_done=self._import_read,
                           on_error=lambda err: self.dialogs.tell(
                               "error", "Could not read the app", str(err)))

    def _import_read(self, info: appinfo.AppInfo) -> None:
        self.tasks = info.tasks
        document, added, skipped = self.document, [], []
        for raw in info.beat_schedule:
            try:
                entry = schedule.parse_entry({k: v for k, v in raw.items() if k != "problem"})
                document = document.adding(entry)
                added.append(entry.name)
            except ScheduleError as exc:
                skipped.append(f"{raw.get('name')}: {exc}")
        if added:
            self._edit(document)
        self.notice.setText(f"Imported {len(added)} entries from the app"
                            + (f"; skipped {len(skipped)}." if skipped else ".")
                            + (" Save to keep them." if added else ""))
        if skipped:
            self.dialogs.tell("warning", "Some entries were not imported",
                              f"{len(skipped)} entries were skipped.", details="\n".join(skipped))

    def load_tasks(self) -> None:
        """Learn the app's registered task names for the task field (in a job)."""
        if self.config.beat.app:
            self.runner.submit(appinfo.inspect_app, self.config,
                               on_done=lambda info: setattr(self, "tasks", info.tasks),
                               on_error=lambda _: None)

    def maybe_discard(self) -> bool:
        """Before closing: True when there is nothing unsaved or the person chose."""
        if not self.dirty:
            return True
        answer = self.dialogs.ask("Unsaved changes", "The schedule has changes that are "
                                  "not saved.", (("save", "Save"), ("discard", "Discard"),
                                                 ("cancel", "Cancel")), "save")
        if answer == "save":
            self.save()
            return False  # close again once the save landed
        return answer == "discard"


def _free_name(base: str, taken: set[str]) -> str:
    name, n = base, 2
    while name in taken:
        name, n = f"{base} {n}", n + 1
    return name
