"""Which Celery project should the panel work on? The dialog checks the app as it is typed
(in the project's own Python, in a subprocess run by a job: never in the panel, never on
the GUI thread), says what it found or exactly why the app does not load, refuses to save
an app that does not load unless the person says so, and offers to import the app's own
beat_schedule into the panel's schedule through the same `plan_import` as every import.

The project is saved as the user's default config (`config.user_config_path()`); the
config it replaces is kept beside it.
"""

from __future__ import annotations

import copy
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLayout,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from beat_panel import config as config_module
from beat_panel.celeryapp import appinfo
from beat_panel.config import Config, ConfigError
from beat_panel.errors import PanelError
from beat_panel.schedule import Document, ScheduleError
from beat_panel.schedule.session import ImportPlan, ScheduleSession, plan_import
from beat_panel.ui.dialogs import Dialogs
from beat_panel.ui.jobs import JobRunner

CHECK_DELAY_MS = 500  # after the last key press, so typing does not start a check per key
CHECK_TIMEOUT = 30.0  # a Django project's import can be slow; the dialog stays usable
_RED = "#b3261e"


@dataclass(frozen=True)
class ProjectFields:
    """What the person typed: the key of a check (a check of other values is stale)."""

    folder: str
    app: str
    command: str = ""  # empty: the celery of the panel's own Python


@dataclass(frozen=True)
class ProjectCheck:
    """What checking the typed project found. `error` is why the app does not load (or
    why the config cannot be made); then `info` is None."""

    fields: ProjectFields
    text: str = ""  # the beat-panel.toml that Save writes
    config: Config | None = None
    info: appinfo.AppInfo | None = None
    error: str | None = None
    document: Document | None = None  # the panel's schedule as it is on disk
    schedule_exists: bool = False
    schedule_error: str | None = None  # the panel's schedule file cannot be read
    plan: ImportPlan | None = None  # importing the app's beat_schedule, nothing replaced

    @property
    def loads(self) -> bool:
        return self.info is not None

    @property
    def import_offered(self) -> bool:
        """The app has a beat_schedule the panel's schedule does not hold as it is."""
        return bool(self.info and self.info.beat_schedule and self.plan
                    and (self.plan.added or self.plan.conflicting))


def _same_project(current: Config | None, folder: Path) -> Config | None:
    if current is None or current.is_demo or current.beat.workdir != folder:
        return None
    return current


def check_project(fields: ProjectFields, current: Config | None,
                  timeout: float = CHECK_TIMEOUT) -> ProjectCheck:
    """Make the config the fields describe and look at its app and schedule. Runs
    subprocesses and reads files: call it in a job. The current project's other settings
    (environment, args, files, times) are kept when the folder is the same."""
    folder = (Path.cwd() / Path(fields.folder).expanduser()).resolve()
    try:
        command = shlex.split(fields.command)
    except ValueError as exc:
        return ProjectCheck(fields, error=f"The Celery command cannot be read: {exc}.")
    same = _same_project(current, folder)
    # The user's other settings in the file the dialog replaces ([alerts]) stay.
    others = config_module.tables_besides_the_project(config_module.user_config_path())
    if same is not None:
        text = config_module.project_config_text(
            folder, fields.app, same.schedule_file, same.beat.pidfile, same.beat.logfile,
            command=command, keep=same.beat, other_tables=others)
    else:
        text = config_module.project_config_text(folder, fields.app, command=command,
                                                 other_tables=others)
    try:
        config = config_module.config_from_text(text, config_module.user_config_path())
    except ConfigError as exc:
        return ProjectCheck(fields, text, error=str(exc))
    try:
        info = appinfo.inspect_app(config, timeout=timeout)
    except PanelError as exc:
        return ProjectCheck(fields, text, config, error=str(exc))
    if config.schedule_file is None:
        return ProjectCheck(fields, text, config, info)
    try:
        session = ScheduleSession.open(config.schedule_file)
    except (ScheduleError, OSError) as exc:
        return ProjectCheck(fields, text, config, info, schedule_error=str(exc))
    return ProjectCheck(fields, text, config, info, document=session.document,
                        schedule_exists=session.base_sha is not None,
                        plan=plan_import(session.document, info, replace=False))


@dataclass(frozen=True)
class SavedProject:
    """A project the dialog saved, and what became of the import it was asked for."""

    config: Config
    path: Path  # the config file written
    previous: Path | None = None  # where the config it replaced is kept
    plan: ImportPlan | None = None
    import_error: str | None = None


def save_project(check: ProjectCheck, imported: appinfo.AppInfo | None,
                 replace: bool) -> SavedProject:
    """Write the checked config as the user's default and, when asked, import the app's
    beat_schedule into the project's schedule and save it. Writes files: call it in a
    job. The config is saved even when the import cannot be (the reason is kept)."""
    target = config_module.user_config_path()
    try:
        before = target.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        before = None
    path = config_module.write_user_config(check.text)
    config = config_module.load_file(path)
    previous = config_module.previous_config_path() \
        if before is not None and before != check.text else None
    if imported is None or config.schedule_file is None:
        return SavedProject(config, path, previous)
    try:
        session = ScheduleSession.open(config.schedule_file)
        plan = plan_import(session.document, imported, replace)
        edited = session.editing(plan.document)
        if edited.dirty:  # an import that changes nothing saves no revision
            edited.save()
    except (PanelError, OSError) as exc:
        return SavedProject(config, path, previous, import_error=str(exc))
    return SavedProject(config, path, previous, plan)


class ProjectDialog(QDialog):
    """Asks for the project folder, the Celery app (the -A value) and, when it is not
    the panel's own, the celery command that runs beat; checks them as they are typed."""

    def __init__(self, runner: JobRunner, dialogs: Dialogs, current: Config | None = None,
                 parent: QWidget | None = None,
                 before_save: Callable[[], bool] | None = None) -> None:
        super().__init__(parent)
        self.runner = runner
        # Questions are asked over this dialog (the answers, in tests, stay shared).
        self.dialogs = copy.copy(dialogs)
        self.dialogs.parent = self
        self.current = current
        self.before_save = before_save
        self.saved: SavedProject | None = None
        self.check: ProjectCheck | None = None  # the latest check that landed
        self._checking: ProjectFields | None = None
        self._save_when_checked = False
        self._saving = False
        self._finished = False

        shown = current if current is not None and not current.is_demo else None
        prefill = shown is not None
        self.setWindowTitle("Celery project" if prefill else "Choose your Celery project")
        self.folder = QLineEdit(str(shown.beat.workdir) if shown else str(Path.cwd()))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        self.app = QLineEdit((shown.beat.app or "") if shown else "")
        self.app.setPlaceholderText("the -A value, e.g. proj or proj.celery:app")
        self.command = QLineEdit()
        self.command.setPlaceholderText("celery of Beat Panel's own Python")
        self.command.setToolTip("How beat is run, e.g. /srv/proj/.venv/bin/celery. The app "
                                "is checked in that celery's Python, as beat runs it.")
        if shown and shown.beat.command != config_module.default_celery_command():
            self.command.setText(shlex.join(shown.beat.command))
        row = QHBoxLayout()
        row.addWidget(self.folder, 1)
        row.addWidget(browse)

        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setMinimumWidth(460)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.import_box = QCheckBox()
        self.import_box.setVisible(False)
        note = QLabel(f"Beat Panel saves the project in {config_module.user_config_path()} "
                      "and keeps its schedule in schedule.json in the project folder.")
        note.setWordWrap(True)
        note.setStyleSheet("color: palette(mid);")

        # The form holds the fields only: the word-wrapped texts below it are laid out
        # by a box, which gives them the height their lines need.
        form = QFormLayout()
        form.addRow("Project folder", row)
        form.addRow("Celery app", self.app)
        form.addRow("Celery command", self.command)
        page = QVBoxLayout(self)
        page.setSizeConstraint(QLayout.SizeConstraint.SetMinimumSize)
        page.addLayout(form)
        page.addWidget(self.status)
        page.addWidget(self.import_box)
        page.addWidget(note)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.save)
        self.buttons.rejected.connect(self.reject)
        self.save_button = self.buttons.button(QDialogButtonBox.StandardButton.Save)
        self.cancel_button = self.buttons.button(QDialogButtonBox.StandardButton.Cancel)
        page.addWidget(self.buttons)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(CHECK_DELAY_MS)
        self._timer.timeout.connect(self.start_check)
        for field in (self.folder, self.app, self.command):
            field.textChanged.connect(self._changed)
        self._changed()
        if prefill:
            self.start_check()

    # -- checking --------------------------------------------------------------------

    def fields(self) -> ProjectFields:
        return ProjectFields(self.folder.text().strip(), self.app.text().strip(),
                             self.command.text().strip())

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Project folder", self.folder.text())
        if folder:
            self.folder.setText(folder)

    def _changed(self) -> None:
        fields = self.fields()
        self._save_when_checked = False
        self.import_box.setVisible(False)
        complete = bool(fields.folder and fields.app)
        self.save_button.setEnabled(complete and not self._saving)
        if not complete:
            self._timer.stop()
            self._say("Name the project folder and the Celery app (the -A value); Beat "
                      "Panel then checks that the app loads.")
            return
        self._say("Checking the app…")
        self._timer.start()

    def start_check(self) -> None:
        """Check the typed project now, in a job (a check already running for the same
        values is not started twice)."""
        self._timer.stop()
        fields = self.fields()
        if not (fields.folder and fields.app) or fields == self._checking:
            return
        self._checking = fields
        self._say(f"Checking the app {fields.app}…")
        self.runner.submit(check_project, fields, self.current, on_done=self._checked,
                           on_error=lambda exc: self._checked(
                               ProjectCheck(fields, error=f"The check failed: {exc}")))

    def _checked(self, check: ProjectCheck) -> None:
        if self._finished:
            return
        if check.fields == self._checking:
            self._checking = None
        if check.fields != self.fields():
            return  # typed on meanwhile: a newer check is on its way
        self.check = check
        self._show(check)
        if self._save_when_checked:
            self._save_when_checked = False
            self.save()

    def _say(self, text: str, error: bool = False) -> None:
        palette = self.palette()
        if error:
            palette.setColor(QPalette.ColorRole.WindowText, QColor(_RED))
        self.status.setPalette(palette)
        self.status.setText(text)
        self._fit()

    def _fit(self) -> None:
        """Show every line of the word-wrapped status: the layout's minimum size (which
        the dialog follows) grows with it."""
        label = self.status
        label.ensurePolished()
        label.setMinimumHeight(label.heightForWidth(max(label.width(), label.minimumWidth())))
        layout = self.layout()
        layout.activate()
        needed = layout.totalSizeHint().height()
        if needed > self.height():
            self.resize(self.width(), needed)

    def _show(self, check: ProjectCheck) -> None:
        info = check.info
        if info is None:
            self._say(f"✗ {check.error}", error=True)
            self.import_box.setVisible(False)
            return
        count, entries = len(info.tasks), len(info.beat_schedule)
        lines = [f"✓ The app loads: {count} registered task{'' if count == 1 else 's'}, "
                 f"{entries} entr{'y' if entries == 1 else 'ies'} in its beat_schedule, "
                 f"time zone {info.timezone or 'not set'}."]
        if info.python is not None:
            lines.append(f"Python: {info.python.describe()}.")
        lines.append(_schedule_line(check))
        self._say("\n".join(line for line in lines if line))
        offered = check.import_offered
        self.import_box.setVisible(offered)
        if offered and check.plan is not None:
            added, differ = len(check.plan.added), len(check.plan.conflicting)
            parts = [f"{added} new"] if added else []
            if differ:
                parts.append(f"{differ} that differ{'s' if differ == 1 else ''}")
            self.import_box.setText("Import the app's beat_schedule into the panel's "
                                    f"schedule ({', '.join(parts)})")
            # Offered ticked into an empty schedule; a schedule of one's own is left as it
            # is unless the person ticks it.
            self.import_box.setChecked(check.document is None or not check.document.entries)
        self._fit()

    # -- saving ----------------------------------------------------------------------

    def save(self) -> None:
        """Save: once the typed values are checked; an app that does not load only when
        the person says so; the import when it is ticked."""
        fields = self.fields()
        if self._saving or not (fields.folder and fields.app):
            return
        if self.check is None or self.check.fields != fields:
            self._save_when_checked = True
            self.save_button.setEnabled(False)
            self.start_check()
            self._say(f"Checking the app {fields.app} before saving…")
            return
        check = self.check
        self.save_button.setEnabled(True)
        if not check.text:  # no config could even be made of the values
            self.dialogs.tell("error", "This project cannot be saved", check.error or "")
            return
        if not check.loads:
            answer = self.dialogs.ask(
                "The app does not load", check.error or "",
                (("back", "Go back"), ("save", "Save anyway")), "back",
                "Beat will not start with this project until the app loads. Save anyway "
                "only if you are about to fix that (e.g. install what it needs).",
                level="warning")
            if answer != "save":
                return
        if self.before_save is not None and not self.before_save():
            return
        imported, replace = None, False
        if check.loads and check.import_offered and self.import_box.isChecked() and \
                check.document is not None and check.info is not None:
            from beat_panel.ui.schedule import importing

            chosen = importing.choose_plan(self.dialogs, check.document, check.info)
            imported, replace = check.info, bool(chosen.replaced)
        self._saving = True
        for widget in (self.save_button, self.cancel_button, self.folder, self.app,
                       self.command, self.import_box):
            widget.setEnabled(False)
        self._say("Saving…")
        self.runner.submit(save_project, check, imported, replace, on_done=self._saved,
                           on_error=self._save_failed)

    def _saved(self, saved: SavedProject) -> None:
        self._saving = False
        self.saved = saved
        if not self._finished:
            self.accept()

    def _save_failed(self, error: Exception) -> None:
        self._saving = False
        if self._finished:
            return
        for widget in (self.cancel_button, self.folder, self.app, self.command,
                       self.import_box):
            widget.setEnabled(True)
        self._changed()
        if self.check is not None:
            self._show(self.check)
        self._timer.stop()
        self.dialogs.tell("error", "Could not save the project", str(error))

    def reject(self) -> None:
        if not self._saving:  # a save under way ends by itself, in a moment
            super().reject()

    def done(self, result: int) -> None:
        self._finished = True
        self._timer.stop()
        super().done(result)


def _schedule_line(check: ProjectCheck) -> str:
    """What the panel's schedule holds, against the app's beat_schedule."""
    config = check.config
    if config is None or config.schedule_file is None:
        return ("No [schedule] file is set: beat runs the app's own beat_schedule."
                if config is not None else "")
    where = f"The panel's schedule, {config.schedule_file},"
    if check.schedule_error:
        return f"{where} cannot be read, so nothing is offered for import: " \
               f"{check.schedule_error}"
    doc, info = check.document, check.info
    held = len(doc.entries) if doc is not None else 0
    if not check.schedule_exists:
        state = "does not exist yet"
    elif held == 0:
        state = "is empty"
    else:
        state = f"has {held} entr{'y' if held == 1 else 'ies'}"
    if info is None or not info.beat_schedule:
        return f"{where} {state}."
    if not check.import_offered:
        return f"{where} {state}, the app's entries among them."
    return f"{where} {state}: beat runs only what it holds, not the app's beat_schedule."


def choose(runner: JobRunner, dialogs: Dialogs, current: Config | None = None,
           parent: QWidget | None = None,
           before_save: Callable[[], bool] | None = None) -> SavedProject | None:
    """Open the project dialog; the project it saved, or None when cancelled."""
    dialog = ProjectDialog(runner, dialogs, current, parent, before_save)
    try:
        return dialog.saved if dialog.exec() else None
    finally:
        dialog.deleteLater()


def tell_saved(dialogs: Dialogs, saved: SavedProject, started_with: Path | None) -> None:
    """Say the project is saved, what the import did, where the settings are, and when
    another settings file would still be found first (`started_with`, the file in use
    before)."""
    beat = saved.config.beat
    text = f"Beat Panel now works on {beat.app} in {beat.workdir}."
    level = "info"
    if saved.plan is not None:
        text += f" {saved.plan.summary}"
    if saved.import_error:
        level = "warning"
        text += f" The app's beat_schedule was not imported: {saved.import_error}"
    informative = [f"The settings are in {saved.path}."]
    if saved.previous is not None:
        informative.append(f"The settings they replace are kept in {saved.previous}.")
    if started_with is not None and started_with != saved.path:
        informative.append(
            f"Beat Panel was started with {started_with}, which it finds before this file "
            "(--config, BEAT_PANEL_CONFIG or the current folder): started the same way, it "
            "uses that file again. Remove or fix it to open this project next time.")
    dialogs.tell(level, "Project saved", text, " ".join(informative),
                 details="\n".join(saved.plan.lines()) if saved.plan else "")
