"""The schedule editor: the table, search, add / edit / duplicate / delete, enable or
disable several at once, save with conflict handling, and "Applied ✓" once beat has it.

The workflows are the core's schedule session (the CLI runs the same ones); this widget
runs the ones that touch files or subprocesses in jobs and edits on the GUI thread.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QHideEvent, QShowEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QVBoxLayout, QWidget

from beat_panel.celeryapp import appinfo
from beat_panel.config import Config
from beat_panel.control import activity
from beat_panel.control.status import Status
from beat_panel.schedule import Document, Entry
from beat_panel.schedule.beat_report import BeatReport
from beat_panel.schedule.session import (
    ApplyCheck,
    ApplyState,
    Merge,
    OnDisk,
    ScheduleSession,
    merge,
)
from beat_panel.schedule.source import ScheduleSource, source_for
from beat_panel.schedule.store import ConflictError
from beat_panel.schedule.timing import BeatClock
from beat_panel.schedule.views import clock_for
from beat_panel.ui.dialogs import Dialogs
from beat_panel.ui.jobs import JobRunner
from beat_panel.ui.schedule.conflict_bar import ConflictBar
from beat_panel.ui.schedule.table import EntryFilter, EntryTable, EntryTableModel
from beat_panel.ui.schedule.toolbar import EditorState, EditorToolbar

if TYPE_CHECKING:  # the dialogs load when first opened, not with the window
    from beat_panel.health import Health, HealthChecker, WhyAnswer
    from beat_panel.ui.schedule.entry_dialog import EntryDialog

log = logging.getLogger(__name__)

REPORT_POLL_MS = 5000  # how often beat's report is read while beat runs and the editor shows
TICK_MS = 1000  # how often the relative times ("in 10 s") move on

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
        self.session: ScheduleSession | None = None  # None until a load landed
        self._static_note = ""  # a saved edit RedBeat will undo at its next start
        self._applied_by: int | None = None  # the beat that acknowledged the last save
        self._merge: tuple[ScheduleSession, Merge] | None = None  # theirs, and the merge
        self.dirty = False
        self.saving = False
        self.tasks: list[str] = []
        self.status: Status | None = None

        self._answering = False  # a "will it run?" job is under way
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
            "run": self.run_selected_now, "why": self.explain_selected,
            "import": self.import_from_app,
            "reload": self.reload, "save": self.save,
        })
        self.actions = self.toolbar.actions

        self.notice = QLabel()
        self.notice.setObjectName("scheduleNotice")
        self.notice.setWordWrap(True)
        self.conflict_bar = ConflictBar()
        self.conflict_bar.reload_requested.connect(self.reload)
        self.conflict_bar.keep_mine_requested.connect(lambda: self.save(force=True))
        self.conflict_bar.merge_requested.connect(self.merge_theirs)

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
        # "in 10 s" counts down between status checks, while the editor is on screen.
        self._ticker = QTimer(self)
        self._ticker.setInterval(TICK_MS)
        self._ticker.timeout.connect(self.model.tick)
        # Beat's report of a schedule file (last runs, run counts) is read this often
        # while beat runs and the editor is on screen, not only at each status check.
        self._report_poll = QTimer(self)
        self._report_poll.setInterval(REPORT_POLL_MS)
        self._report_poll.timeout.connect(self._poll_report)
        self._looking = False  # a look at the schedule and beat's report is under way

    # -- state -----------------------------------------------------------------------

    @property
    def source(self) -> ScheduleSource | None:
        """The project's schedule: its file, or Redis in RedBeat's format."""
        return source_for(self.config)

    @property
    def path(self) -> str | None:
        """Where the schedule is, for a person (the file, or the masked Redis URL)."""
        source = self.source
        return source.where if source is not None else None

    @property
    def loaded(self) -> bool:
        return self.session is not None

    @property
    def document(self) -> Document:
        return self.session.document if self.session else Document()

    @property
    def base_sha(self) -> str | None:
        return self.session.base_sha if self.session else None

    @property
    def beat_state(self) -> BeatReport | None:
        return self.session.report if self.session else None

    @property
    def conflict_text(self) -> QLabel:
        return self.conflict_bar.text

    @property
    def clock(self) -> BeatClock:
        """The zone beat uses, in which the table and the entry dialog show times: the
        running beat's (from its report), else the one the file records, else UTC."""
        status = self.status
        pids = [p.pid for p in status.processes if not p.embedded] if status else None
        return clock_for(self.document, self.beat_state, pids)

    def _refresh_times(self) -> None:
        """New run state or zone: the time columns are recomputed, lazily."""
        clock = self.clock
        self.model.refresh_times(self.beat_state, clock)
        note = clock.note
        if note and note not in self.notice.text():
            self.notice.setText(f"{self.notice.text()} {note}".strip())

    def _set_session(self, session: ScheduleSession) -> None:
        """Show `session`'s document, keeping the selection by name."""
        names = set(self.selected_names())
        self.session = session
        self.model.set_entries(list(session.document.entries), session.report, self.clock,
                               session.statics)
        self.table.add_to_selection(names)
        self._set_dirty(session.dirty)

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
        source = self.source
        if source is None:
            self.session = None  # the schedule shown belonged to another project
            self.model.set_entries([], None, None)
            self._update_actions()
            self.notice.setText("No schedule file is configured: add [schedule] file = "
                                "\"schedule.json\" to beat-panel.toml.")
            return
        self.runner.submit(ScheduleSession.open, source,
                           on_done=self._loaded, on_error=self._load_failed)

    def _loaded(self, session: ScheduleSession) -> None:
        self.conflict_bar.hide()
        self._set_session(session)
        count = len(session.document.entries)
        note = f" {self.clock.note}" if self.clock.note else ""
        where = f"revision {session.revision}" if session.path is not None else \
            f"in Redis, {session.where}"
        skipped = f" {session.skipped_note}" if session.skipped else ""
        self.notice.setText(f"{count} entr{'y' if count == 1 else 'ies'}, {where}.{note}"
                            f"{skipped}")
        self.load_finished.emit()

    def _load_failed(self, error: Exception) -> None:
        self.session = None
        self.model.set_entries([], None, None)
        if self.config.schedule_redis is not None:
            from html import escape

            self.notice.setText(f"<b>The schedule in Redis cannot be read.</b> "
                                f"{escape(str(error))}<br>Nothing was changed; Reload "
                                "tries again.")
            self._update_actions()
            self.load_finished.emit()
            return
        self.notice.setText(
            f"<b>The schedule file cannot be used.</b> {error}<br>Beat Panel will not "
            "overwrite it. Fix it by hand, or restore a saved version "
            "(<code>beat-panel schedule history</code>).")
        self._update_actions()
        self.load_finished.emit()

    def save(self, force: bool = False) -> None:
        """Save the edited schedule (in a job); `force` saves over a change on disk."""
        session = self.session
        if session is None or self.saving or (not self.dirty and not force):
            return
        self.saving = True
        self._update_actions()
        self.notice.setText("Saving…")
        self._static_note = session.static_note  # said with the outcome
        self.runner.submit(session.save, force, on_done=self._saved,
                           on_error=self._save_failed)

    def _saved(self, saved: ScheduleSession) -> None:
        self.saving = False
        self.conflict_bar.hide()
        # The entries are the ones shown: no model reset, so the view keeps its place.
        self.session = saved
        self._set_dirty(False)
        revision = saved.revision
        self.saved.emit(revision)
        self.runner.submit(activity.record, self.config.project_id, activity.Kind.SAVE, True,
                           f"Schedule saved as revision {revision} "
                           f"({len(saved.document.entries)} entries).")
        status = self.status
        pids = [p.pid for p in status.processes if not p.embedded] if status else []
        if not pids:
            # With no beat of its own the session answers at once and reads no file.
            embedded = [p.pid for p in status.processes if p.embedded] if status else []
            self._applied(saved.wait_applied(pids, embedded_pids=embedded))
            return
        self.notice.setText(f"{self._saved_words(revision)} Waiting for beat to apply it…")
        self.runner.submit(saved.wait_applied, pids, on_done=self._applied)

    def _saved_words(self, revision: int) -> str:
        return f"Saved revision {revision}." if self.config.schedule_redis is None else \
            "Saved to Redis."

    def _save_failed(self, error: Exception) -> None:
        self.saving = False
        self._update_actions()
        if isinstance(error, ConflictError):
            where = "in Redis" if self.config.schedule_redis is not None else "on disk"
            self.notice.setText(f"Not saved: the schedule changed {where} since you loaded "
                                "it.")
            self._look_at_theirs()
            return
        self.notice.setText(f"Not saved: {error}")
        self.dialogs.tell("error", "Could not save the schedule", str(error),
                          "Nothing was written; your changes are still here.")

    def _applied(self, check: ApplyCheck) -> None:
        if self.session is not None and self.session.revision != check.revision:
            return  # a later save or load landed meanwhile; its own answer follows
        if check.report is not None and self.session is not None:
            self.session = self.session.with_report(check.report)
            self._refresh_times()
        static = f" {self._static_note}" if self._static_note else ""
        self.notice.setText(f"{self._saved_words(check.revision)} {check.note}{static}")
        # "Applied ✓ by the running beat (pid N)" holds only while that beat runs.
        self._applied_by = check.pid if check.state is ApplyState.APPLIED else None
        if check.restart_needed:
            answer = self.dialogs.ask(
                "Restart beat now?", "The running beat does not follow the schedule file, "
                "so it applies this change only after a restart.",
                (("restart", "Restart now"), ("later", "Later")), "restart")
            if answer == "restart":
                self.restart_requested.emit()

    def showEvent(self, event: QShowEvent) -> None:
        self._ticker.start()
        self._report_poll.start()
        super().showEvent(event)

    def hideEvent(self, event: QHideEvent) -> None:
        self._ticker.stop()
        self._report_poll.stop()
        super().hideEvent(event)

    def _poll_report(self) -> None:
        # A file's report is one small file; a Redis schedule's look lists every entry,
        # so it is left to the status checks.
        if self.model.beat_running and self.config.schedule_file is not None:
            self._look()

    def on_status(self, status: Status) -> None:
        """Each status refresh: note beat's state and look for changes on disk."""
        running = status.running or status.redbeat in ("remote", "standby")
        if running != self.model.beat_running:
            # "Will run?" was answered for the beat as it was: asked again at the next
            # health check, blank until then rather than wrong.
            self.model.set_answers({})
        self.model.set_beat_running(running)
        self.status = status
        if self._applied_by is not None and self._applied_by not in status.pids:
            gone, self._applied_by = self._applied_by, None
            if "Applied ✓" in self.notice.text():
                self.notice.setText(f"The beat that applied the last save (pid {gone}) is no "
                                    "longer running.")
        self._look()

    def _look(self) -> None:
        """Look (in a job) for a change of the schedule on disk and for beat's report."""
        session = self.session
        if session is None or self.saving or self._looking:
            return  # a file that could not be loaded is reloaded by a person, not here
        self._looking = True

        def failed(error: Exception) -> None:
            self._looking = False  # logged; the next refresh looks again
            log.warning("Could not look at the schedule: %s", error)

        self.runner.submit(session.look, on_done=lambda found: self._looked(session, found),
                           on_error=failed)

    def _looked(self, asked: ScheduleSession, on_disk: OnDisk) -> None:
        self._looking = False
        current = self.session
        if current is None or self.saving or current.base_sha != asked.base_sha:
            return  # not loaded, or a load or save landed since: this look is stale
        self.session = current.with_report(on_disk.report)
        self._refresh_times()
        if not current.changed_on_disk(on_disk):
            return
        if not self.dirty:
            self.reload()
            self.notice.setText("The schedule file changed on disk; reloaded.")
        else:
            self._look_at_theirs()

    # -- a change made elsewhere while editing -------------------------------------------

    def _look_at_theirs(self) -> None:
        """The stored schedule changed under an edit: read it (in a job) and show what
        each side changed, with a merge that keeps both."""
        source = self.source
        if source is None:
            return
        self.conflict_bar.show_conflict("The schedule changed elsewhere since you loaded "
                                        "it; looking at what changed…")
        self.runner.submit(ScheduleSession.open, source, on_done=self._theirs_landed,
                           on_error=lambda error: self.conflict_bar.show_conflict(
                               f"The schedule changed elsewhere and cannot be read now: "
                               f"{error}. Reload when it can, or keep yours."))

    def _theirs_landed(self, theirs: ScheduleSession) -> None:
        mine = self.session
        if mine is None or not self.dirty:
            return
        planned = merge(mine.base, mine.document, theirs.document)
        self._merge = (theirs, planned)
        text = (f"The schedule changed elsewhere since you loaded it. There, someone "
                f"{planned.theirs.words()}. Here, you {planned.mine.words()}.")
        if planned.both:
            text += (f" Both changed {', '.join(planned.both)}: Merge keeps yours of "
                     f"{'it' if len(planned.both) == 1 else 'them'}.")
        text += " Merge keeps both sides' other changes; Keep mine saves over theirs."
        self.conflict_bar.show_conflict(text, can_merge=True)

    def merge_theirs(self) -> None:
        """Take their stored version with my changes laid over it, and save that."""
        if self._merge is None:
            return
        theirs, planned = self._merge
        self._merge = None
        self._set_session(theirs.editing(planned.document))
        self.save()

    # -- editing -----------------------------------------------------------------------

    def _edit(self, change: Document) -> None:
        assert self.session is not None  # editing is enabled only once loaded
        self._set_session(self.session.editing(change))

    def _toggle_one(self, name: str, enabled: bool) -> None:
        if self.loaded and not self.saving:
            self._edit(self.document.enabling([name], enabled))

    def set_selected_enabled(self, enabled: bool) -> None:
        names = self.selected_names()
        if names:
            self._edit(self.document.enabling(names, enabled))

    def _dialog(self, entry: Entry | None, taken: set[str]) -> EntryDialog:
        from beat_panel.ui.schedule.entry_dialog import EntryDialog

        return EntryDialog(self, entry, taken, self.tasks, self.clock)

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
        dialog = self._dialog(original.with_changes(name=copy_name), set(self.document.names()))
        dialog.setWindowTitle("Duplicate entry")
        entry = self.run_dialog(dialog)
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

    def set_health(self, checker: HealthChecker, health: Health) -> None:
        """A health check landed: answer "will it run?" for every saved entry (in a job:
        it asks the app's routes once, then works from `health`)."""
        if self.source is None or self._answering:
            return
        from beat_panel import health as core  # not at start: the window opens without it

        self._answering = True
        config = self.config
        self.runner.submit(core.explain_all, config, checker, health,
                           on_done=lambda answers: self._answered(config, answers),
                           on_error=self._not_answered)

    def _answered(self, config: Config, answers: list[WhyAnswer]) -> None:
        self._answering = False
        if config is self.config:  # not an answer about the project before
            self.model.set_answers({a.name: a for a in answers})

    def _not_answered(self, error: Exception) -> None:
        self._answering = False
        log.warning("Could not tell which entries will run: %s", error)

    def explain_selected(self) -> None:
        """Why the selected entry runs or not, as saved: beat, the schedule, the entry,
        the broker, the workers of its queue, its task, its last send (in a job: it asks
        the broker and the workers, a second or two)."""
        names = self.selected_names()
        if len(names) != 1:
            return
        from beat_panel import health  # not at start: the window opens without it

        self.notice.setText(f"Looking at why {names[0]!r} runs or not: beat, the broker "
                            "and the workers…")
        self.runner.submit(health.explain, self.config, names[0], on_done=self._show_why,
                           on_error=lambda err: self.dialogs.tell(
                               "error", "Could not look into it", str(err)))

    def _show_why(self, answer: WhyAnswer) -> None:
        self.notice.setText("")
        title = f"Why {answer.name!r} runs or not"
        when = (f" Next run: {answer.next_run.strftime('%Y-%m-%d %H:%M:%S %Z')}."
                if answer.next_run else "")
        # As `beat-panel why` marks them: ✗ stops the next run, · only explains.
        lines = [f"{'✗' if reason.blocking else '·'} {reason.message}"
                 for reason in answer.reasons]
        if answer.will_run:
            text = f"✓ {answer.name} will run as saved.{when}"
            level = "warning" if answer.reasons else "info"
        else:
            count = len(answer.blocking)
            text = (f"✗ {answer.name} will not run: {count} reason{'' if count == 1 else 's'}"
                    " (marked ✗ below) stop it.")
            level = "warning"
        self.dialogs.tell(level, title, text, "\n".join(lines),
                          "The saved schedule is what beat runs; edits not yet saved are "
                          "not looked at.")

    def import_from_app(self) -> None:
        """Read the app's beat_schedule (in a job), then import it like
        `beat-panel schedule import` does."""
        self.notice.setText("Reading the app's beat_schedule…")
        self.runner.submit(appinfo.inspect_app, self.config, on_done=self._import_read,
                           on_error=lambda err: self.dialogs.tell(
                               "error", "Could not read the app", str(err)))

    def _import_read(self, info: appinfo.AppInfo) -> None:
        from beat_panel.ui.schedule import importing

        self.tasks = info.tasks
        if not self.loaded or self.saving:
            # Importing now would be lost under the save or the failed load that landed.
            self.notice.setText("The app's schedule was not imported: the schedule was "
                                "being saved or could not be loaded. Import again.")
            return
        # Planned against the document as it is now, so edits made meanwhile are kept.
        plan = importing.choose_plan(self.dialogs, self.document, info)
        if plan.document is not self.document:
            self._edit(plan.document)
        self.notice.setText(plan.summary + (" Save to keep the changes." if self.dirty
                                            else ""))
        importing.tell_outcome(self.dialogs, plan)

    def load_tasks(self) -> None:
        """Learn the app's registered task names for the task field (in a job)."""
        if self.config.beat.app:
            self.runner.submit(appinfo.inspect_app, self.config,
                               on_done=lambda info: setattr(self, "tasks", info.tasks),
                               on_error=self._tasks_unknown)

    def _tasks_unknown(self, error: Exception) -> None:
        # The editor works without the list (it only helps typing task names); the
        # reason is kept where a person can find it.
        self.tasks = []
        log.info("The app's task names are not known: %s", error)

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

