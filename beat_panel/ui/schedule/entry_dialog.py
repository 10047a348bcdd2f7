"""Add or edit one schedule entry: a page per schedule kind, the next runs as you type,
JSON fields checked as you type, and Save enabled only when everything is valid."""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone

from PySide6.QtCore import QDate, QDateTime, Qt, QTime, QTimeZone
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QCompleter,
    QDateTimeEdit,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from beat_panel import schedule
from beat_panel.celeryapp import tasknames
from beat_panel.schedule import Entry, ScheduleError
from beat_panel.schedule.timing import BeatClock, beat_clock
from beat_panel.schedule.validation import cron_allowed

KINDS = (("interval", "Every…"), ("crontab", "Crontab"), ("solar", "Sun event"),
         ("clocked", "Once, at a time"))
SHOWN_OPTIONS = ("queue", "priority")  # and expires, when it is a number of seconds
_ERROR_STYLE = "border: 2px solid #c5221f; border-radius: 3px;"
_HINT_STYLE = "color: #80868b;"
# The crontab fields as the dialog labels them.
CRON_LABELS = {"minute": "Minute", "hour": "Hour", "day_of_month": "Day of month",
               "month_of_year": "Month", "day_of_week": "Day of week"}
# (label, smallest, largest, what the ends are) of the two coordinates of a sun event.
COORDINATES = {"latitude": ("Latitude", -90, 90, "negative south of the equator"),
               "longitude": ("Longitude", -180, 180, "negative west of Greenwich")}
# Every field a problem can be about, by the label the person sees beside it.
FIELD_LABELS = {"name": "Name", "task": "Task", "description": "Description",
                "schedule.kind": "When", "schedule.every": "Every",
                "schedule.period": "Every", "schedule.relative": "Every",
                "schedule.event": "Event", "schedule.at": "At",
                **{f"schedule.{k}": label for k, (label, *_) in COORDINATES.items()},
                **{f"schedule.{k}": label for k, label in CRON_LABELS.items()},
                "args": "args", "kwargs": "kwargs", "options.queue": "queue",
                "options.priority": "priority", "options.expires": "expires after",
                "enabled": "Enabled", "one_off": "Only the first run"}


def _signed(number: float) -> str:
    """A number with a true minus sign, as a range is printed: −90."""
    return f"{number:g}".replace("-", "−")


def _number_text(value: float) -> str:
    """A coordinate as a person writes it: 51.5074, -90 (and read back the same)."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class EntryDialog(QDialog):
    """Returns the edited entry from `entry()` after `exec()` accepted."""

    def __init__(self, parent: QWidget | None, entry: Entry | None, taken: set[str],
                 tasks: list[str], clock: BeatClock | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Edit entry" if entry else "Add entry")
        self.setMinimumWidth(560)
        self.taken = taken
        # The zone beat runs the schedule in: the preview and the one-off time use it.
        self.clock = clock or beat_clock(None)
        self._result: Entry | None = None

        self.name = QLineEdit()
        self.task = QLineEdit()
        self.task.setPlaceholderText("proj.tasks.cleanup")
        completer = QCompleter(sorted(tasks), self)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self.task.setCompleter(completer)
        # The app's registered tasks, when the editor could learn them (empty: unknown).
        self.tasks = sorted(tasks)
        self.task_note = QLabel()
        self.task_note.setObjectName("taskNote")
        self.task_note.setWordWrap(True)
        self.task_note.setStyleSheet("color: #8a5a00;")
        self.suggestion_buttons = [QPushButton() for _ in range(tasknames.SUGGESTIONS)]
        self.task_help = QWidget()
        help_layout = QVBoxLayout(self.task_help)
        help_layout.setContentsMargins(0, 0, 0, 0)
        help_layout.addWidget(self.task_note)
        buttons_row = QHBoxLayout()
        for button in self.suggestion_buttons:
            button.clicked.connect(lambda _=False, b=button: self._use_suggestion(b))
            buttons_row.addWidget(button)
        buttons_row.addStretch()
        help_layout.addLayout(buttons_row)
        self.task_help.hide()
        self.description = QLineEdit()

        self.kind = QComboBox()
        for key, label in KINDS:
            self.kind.addItem(label, key)
        self.pages = QStackedWidget()
        self.pages.addWidget(self._interval_page())
        self.pages.addWidget(self._crontab_page())
        self.pages.addWidget(self._solar_page())
        self.pages.addWidget(self._clocked_page())
        self.kind.currentIndexChanged.connect(self._kind_changed)
        self.words = QLabel()
        self.words.setWordWrap(True)
        self.preview = QLabel()
        self.preview.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # The description and the next runs keep their room when they are empty (the
        # schedule is not valid yet), so the fields above and below them stay put.
        self.outlook = QWidget()
        outlook_layout = QVBoxLayout(self.outlook)
        outlook_layout.setContentsMargins(0, 0, 0, 0)
        outlook_layout.addWidget(self.words)
        outlook_layout.addWidget(self.preview)
        outlook_layout.addStretch(1)
        lines = self.fontMetrics().lineSpacing()
        self.outlook.setMinimumHeight(8 * lines + outlook_layout.spacing())
        self.preview.setToolTip(f"Times in {self.clock.name}: {self.clock.why}.")
        # Said when the running beat's zone is not the one the schedule file records.
        # A sentence a line, not word-wrapped: the dialog grows to fit it (a wrapped label
        # would squeeze the preview above it).
        self.zone_note = QLabel((self.clock.note or "").replace(". ", ".\n"))
        self.zone_note.setStyleSheet("color: #80868b;")
        self.zone_note.setVisible(bool(self.clock.note))

        self.args = QLineEdit("[]")
        self.kwargs = QLineEdit("{}")
        self.queue = QLineEdit()
        self.queue.setPlaceholderText("default queue")
        self.priority = QSpinBox()
        self.priority.setRange(-1, schedule.MAX_PRIORITY)
        self.priority.setSpecialValueText("default")
        self.priority.setValue(-1)
        self.expires = QDoubleSpinBox()
        self.expires.setRange(0, 10**9)
        self.expires.setSpecialValueText("never")
        self.expires.setSuffix(" s")
        self.kept_options = schedule.Options()
        self.relative = False
        self.other_label = QLabel("other options")
        self.other_options = QLabel()
        self.other_options.setWordWrap(True)
        self.other_options.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.other_options.setToolTip("Options this form has no field for (imported from the "
                                      "app or set in the file); they are kept as they are.")
        self.other_label.hide()
        self.other_options.hide()
        self.enabled = QCheckBox("Enabled")
        self.enabled.setChecked(True)
        # Not shown for a one-off time, which runs once whatever this says.
        self.one_off = QCheckBox("Only the first run, then never again")
        self.one_off.setToolTip("Beat sends it the first time it falls due and never after; "
                                "the entry stays in the schedule, marked done.")

        self.errors = QLabel()
        self.errors.setObjectName("entryErrors")
        self.errors.setStyleSheet("color: #c5221f;")
        self.errors.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self._accept)
        self.buttons.rejected.connect(self.reject)
        self.save_button = self.buttons.button(QDialogButtonBox.StandardButton.Save)

        self._layout()
        if entry is not None:
            self._fill(entry)
        self._kind_changed(self.kind.currentIndex())
        for widget in self._inputs():
            signal = getattr(widget, "textChanged", None) or getattr(widget, "valueChanged",
                                                                     None)
            if isinstance(widget, QComboBox):
                signal = widget.currentIndexChanged
            elif isinstance(widget, QCheckBox):
                signal = widget.toggled
            elif isinstance(widget, QDateTimeEdit):
                signal = widget.dateTimeChanged
            signal.connect(self.validate)
        for edit in self.cron.values():
            edit.textEdited.connect(self._split_expression)
        self.validate()

    # -- building ------------------------------------------------------------------

    @staticmethod
    def _page(row: QHBoxLayout | QGridLayout) -> QWidget:
        """A page of the When box: its fields at the top, whatever page is tallest."""
        page = QWidget()
        column = QVBoxLayout(page)
        column.setContentsMargins(0, 0, 0, 0)
        column.addLayout(row)
        column.addStretch(1)
        return page

    def _interval_page(self) -> QWidget:
        row = QHBoxLayout()
        self.every = QDoubleSpinBox()
        self.every.setDecimals(1)
        self.every.setRange(0, 10**7)
        self.every.setValue(60)
        self.period = QComboBox()
        self.period.addItems(list(schedule.PERIODS))
        every = QLabel("Every")
        every.setBuddy(self.every)
        row.addWidget(every)
        row.addWidget(self.every)
        row.addWidget(self.period)
        row.addStretch()
        return self._page(row)

    def _crontab_page(self) -> QWidget:
        grid = QGridLayout()
        self.cron: dict[str, QLineEdit] = {}
        for column, field in enumerate(schedule.CRON_FIELDS):
            allowed = cron_allowed(field)
            edit = QLineEdit("*")
            edit.setObjectName(f"cron_{field}")
            edit.setToolTip(f"{CRON_LABELS[field]}: {allowed}, as a number, a list (1,15), "
                            "a range (1-5), a step (*/5) or * for every one. Paste a whole "
                            "crontab line (30 2 * * 1-5) into any field to fill all five.")
            self.cron[field] = edit
            label = QLabel(CRON_LABELS[field])
            label.setBuddy(edit)
            hint = QLabel(allowed)
            hint.setStyleSheet(_HINT_STYLE)
            grid.addWidget(label, 0, column)
            grid.addWidget(edit, 1, column)
            grid.addWidget(hint, 2, column)
            grid.setColumnStretch(column, 1)  # a marked field does not shift the others
        return self._page(grid)

    def _solar_page(self) -> QWidget:
        grid = QGridLayout()
        self.event = QComboBox()
        for event in sorted(schedule.SOLAR_EVENTS, key=list(schedule.SOLAR_WORDS).index):
            self.event.addItem(schedule.SOLAR_WORDS[event], event)
        self.event.setCurrentIndex(self.event.findData("sunrise"))
        # No place is assumed: Save waits until both coordinates are given.
        self.latitude = QLineEdit()
        self.longitude = QLineEdit()
        hints = {"event": ""}
        for field, edit in (("latitude", self.latitude), ("longitude", self.longitude)):
            label, low, high, ends = COORDINATES[field]
            edit.setObjectName(field)
            edit.setPlaceholderText("such as 51.5074" if field == "latitude"
                                    else "such as −0.1278")
            edit.setToolTip(f"{label} in degrees, from {_signed(low)} to {high} ({ends}).")
            hints[field] = f"{_signed(low)} to {high}"
        for column, (field, widget) in enumerate((("event", self.event),
                                                  ("latitude", self.latitude),
                                                  ("longitude", self.longitude))):
            label = QLabel(FIELD_LABELS[f"schedule.{field}"])
            label.setBuddy(widget)
            hint = QLabel(hints[field])
            hint.setStyleSheet(_HINT_STYLE)
            grid.addWidget(label, 0, column)
            grid.addWidget(widget, 1, column)
            grid.addWidget(hint, 2, column)
            grid.setColumnStretch(column, 1)
        return self._page(grid)

    def _clocked_page(self) -> QWidget:
        row = QHBoxLayout()
        self.at = QDateTimeEdit()
        # The time typed is a time in beat's zone, not this machine's: Qt shows and reads
        # it in that zone, or (a zone Qt does not know) as a wall time read in Python.
        qt_zone = QTimeZone(self.clock.name.encode())
        self._qt_knows_zone = qt_zone.isValid()
        self.at.setTimeZone(qt_zone if self._qt_knows_zone else QTimeZone.utc())
        self.at.setDateTime(QDateTime.currentDateTime().addSecs(3600))
        self.at.setCalendarPopup(True)
        self.at.setDisplayFormat("yyyy-MM-dd HH:mm:ss")
        self.at_zone = QLabel(self.clock.name)
        self.at_zone.setToolTip(f"The time is in {self.clock.name}: {self.clock.why}.")
        at = QLabel("At")
        at.setBuddy(self.at)
        row.addWidget(at)
        row.addWidget(self.at)
        row.addWidget(self.at_zone)
        row.addStretch()
        return self._page(row)

    def _show_at(self, when: datetime) -> None:
        """Put `when` in the date-time editor, as a time in beat's zone."""
        if self._qt_knows_zone:
            self.at.setDateTime(QDateTime.fromSecsSinceEpoch(int(when.timestamp()),
                                                             self.at.timeZone()))
            return
        wall = self.clock.local(when)
        self.at.setDateTime(QDateTime(QDate(wall.year, wall.month, wall.day),
                                      QTime(wall.hour, wall.minute, wall.second),
                                      QTimeZone.utc()))

    def chosen_at(self) -> datetime:
        """The date-time editor's time, read in beat's zone."""
        shown = self.at.dateTime()
        if self._qt_knows_zone:
            return datetime.fromtimestamp(shown.toSecsSinceEpoch(), self.clock.tzinfo)
        day, time = shown.date(), shown.time()
        wall = datetime(day.year(), day.month(), day.day(), time.hour(), time.minute(),
                        time.second(), tzinfo=self.clock.tzinfo)
        return self.clock.local(wall.astimezone(timezone.utc))  # a wall time that exists

    def _layout(self) -> None:
        form = QFormLayout()
        form.addRow("Name", self.name)
        form.addRow("Task", self.task)
        form.addRow("", self.task_help)
        form.addRow("Description", self.description)

        when = QGroupBox("When")
        when_layout = QVBoxLayout(when)
        when_layout.addWidget(self.kind)
        when_layout.addWidget(self.pages)
        when_layout.addWidget(self.outlook)
        when_layout.addWidget(self.zone_note)

        call = QGroupBox("Arguments and options")
        call_form = QFormLayout(call)
        call_form.addRow("args (JSON list)", self.args)
        call_form.addRow("kwargs (JSON object)", self.kwargs)
        call_form.addRow("queue", self.queue)
        call_form.addRow("priority", self.priority)
        call_form.addRow("expires after", self.expires)
        call_form.addRow(self.other_label, self.other_options)

        flags = QHBoxLayout()
        flags.addWidget(self.enabled)
        flags.addWidget(self.one_off)
        flags.addStretch()

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(when)
        layout.addWidget(call)
        layout.addLayout(flags)
        layout.addWidget(self.errors)
        layout.addStretch(1)  # room the dialog has to spare goes below, moving nothing
        layout.addWidget(self.buttons)

    def _inputs(self) -> list[QWidget]:
        return [self.name, self.task, self.description, self.kind, self.every, self.period,
                *self.cron.values(), self.event, self.latitude, self.longitude, self.at,
                self.args, self.kwargs, self.queue, self.priority, self.expires,
                self.enabled, self.one_off]

    def _fill(self, entry: Entry) -> None:
        self.name.setText(entry.name)
        self.task.setText(entry.task)
        self.description.setText(entry.description)
        spec = entry.schedule
        self.kind.setCurrentIndex([k for k, _ in KINDS].index(spec.kind))
        if isinstance(spec, schedule.Interval):
            self.every.setValue(spec.every)
            self.period.setCurrentText(spec.period)
        elif isinstance(spec, schedule.Crontab):
            for field, edit in self.cron.items():
                edit.setText(getattr(spec, field))
        elif isinstance(spec, schedule.Solar):
            self.event.setCurrentIndex(self.event.findData(spec.event))
            self.latitude.setText(_number_text(spec.latitude))
            self.longitude.setText(_number_text(spec.longitude))
        elif isinstance(spec, schedule.Clocked):
            self._show_at(spec.at)
        self.args.setText(json.dumps(list(entry.args)))
        self.kwargs.setText(json.dumps(entry.kwargs))
        self.queue.setText(entry.options.queue or "")
        self.priority.setValue(-1 if entry.options.priority is None else entry.options.priority)
        expires = entry.options.expires
        self.expires.setValue(expires if isinstance(expires, float) else 0)
        # What the form has no field for is kept as it is, and shown.
        self.kept_options = entry.options.without(
            *SHOWN_OPTIONS, *(("expires",) if isinstance(expires, float) else ()))
        self.relative = isinstance(spec, schedule.Interval) and spec.relative
        kept = self.kept_options.to_json()
        self.other_options.setText(", ".join(f"{k}={json.dumps(v)}" for k, v in kept.items()))
        self.other_options.setVisible(bool(kept))
        self.other_label.setVisible(bool(kept))
        self.enabled.setChecked(entry.enabled)
        self.one_off.setChecked(entry.one_off)

    # -- checking ------------------------------------------------------------------

    def _kind_changed(self, index: int) -> None:
        self.pages.setCurrentIndex(index)
        # A one-off time runs once whatever the box says: it is not offered there.
        self.one_off.setVisible(self.kind.itemData(index) != "clocked")

    def _split_expression(self, text: str) -> None:
        """A whole crontab line pasted or typed into one field goes into the five."""
        parts = text.split()
        if len(parts) != len(self.cron):
            return
        for edit, part in zip(self.cron.values(), parts, strict=True):
            edit.setText(part)
        last = self.cron["day_of_week"]  # where typing the line goes on
        last.setFocus()
        last.end(False)

    def _coordinate(self, field: str, problems: list[tuple[str, str]]) -> float | None:
        """The latitude or longitude typed, or None with the problem said (nothing typed,
        not a number, out of range): never a place the person did not give."""
        _, low, high, _ = COORDINATES[field]
        typed = getattr(self, field).text().strip()
        span = f"a {field} is from {_signed(low)} to {high}"
        try:
            number: float | None = float(typed.replace("−", "-").replace(",", "."))
        except ValueError:
            number = None
        if not typed:
            problem = f"give the place's {field}; {span}"
        elif number is None or not math.isfinite(number):
            problem = f"{typed!r} is not a number; {span}"
        elif not low <= number <= high:
            problem = f"{typed} is out of range; {span}"
        else:
            return number
        problems.append((f"schedule.{field}", problem))
        return None

    def _schedule_data(self, problems: list[tuple[str, str]]) -> dict:
        kind = self.kind.currentData()
        if kind == "interval":
            return {"kind": kind, "every": self.every.value(),
                    "period": self.period.currentText(), "relative": self.relative}
        if kind == "crontab":
            return {"kind": kind, **{f: e.text() for f, e in self.cron.items()}}
        if kind == "solar":
            return {"kind": kind, "event": self.event.currentData(),
                    "latitude": self._coordinate("latitude", problems),
                    "longitude": self._coordinate("longitude", problems)}
        at = self.chosen_at()
        if at <= datetime.now(timezone.utc):  # said as shown, not as the file's ISO text
            problems.append(("schedule.at", f"{self.clock.text(at, '%Y-%m-%d %H:%M:%S %Z')} "
                                            "is in the past; a one-off runs once, at a time "
                                            "still to come"))
        return {"kind": kind, "at": at.isoformat()}

    def _data(self) -> tuple[dict, list[tuple[str, str]]]:
        problems: list[tuple[str, str]] = []
        parsed = {}
        for field, widget in (("args", self.args), ("kwargs", self.kwargs)):
            try:
                parsed[field] = json.loads(widget.text() or ("[]" if field == "args" else "{}"))
            except json.JSONDecodeError as exc:
                problems.append((field, f"not valid JSON: {exc.msg} at column {exc.colno}"))
                parsed[field] = [] if field == "args" else {}
        options: dict = self.kept_options.to_json()
        if self.queue.text().strip():
            options["queue"] = self.queue.text().strip()
        if self.priority.value() >= 0:
            options["priority"] = self.priority.value()
        if self.expires.value() > 0:
            options["expires"] = self.expires.value()
        data = {"name": self.name.text(), "task": self.task.text(),
                "schedule": self._schedule_data(problems), "args": parsed["args"],
                "kwargs": parsed["kwargs"], "options": options,
                "enabled": self.enabled.isChecked(), "one_off": self.one_off.isChecked(),
                "description": self.description.text()}
        return data, problems

    def _widget_for(self, field: str) -> QWidget | None:
        if field.startswith("schedule."):
            name = field.split(".", 1)[1]
            return {"every": self.every, "period": self.period, "event": self.event,
                    "latitude": self.latitude, "longitude": self.longitude,
                    "at": self.at}.get(name) or self.cron.get(name)
        return {"name": self.name, "task": self.task, "args": self.args,
                "kwargs": self.kwargs, "options.queue": self.queue,
                "options.priority": self.priority,
                "options.expires": self.expires}.get(field)

    def validate(self) -> bool:
        """Check everything; mark bad fields; enable Save only when all is well."""
        data, problems = self._data()
        entry = None
        try:
            entry = schedule.parse_entry(data, check_past=True)
        except ScheduleError as exc:
            said = {field for field, _ in problems}  # by the dialog, in its own words
            problems += [p for p in exc.problems if p[0] not in said]
        if entry is not None and entry.name in self.taken:
            problems.append(("name", f"an entry named {entry.name!r} already exists"))
            entry = None
        for widget in self._inputs():
            widget.setStyleSheet("")
        for field, _ in problems:
            widget = self._widget_for(field)
            if widget is not None:
                widget.setStyleSheet(_ERROR_STYLE)
        self.errors.setText("\n".join(f"{FIELD_LABELS.get(f, f)}: {m}" if f else m
                                      for f, m in problems))
        # No next runs beside a problem with the schedule: they would not happen.
        self._show_preview(data, not any(f.startswith("schedule") for f, _ in problems))
        self._show_task_note(data["task"].strip())
        self._result = entry if not problems else None
        self.save_button.setEnabled(self._result is not None)
        return self._result is not None

    def _show_task_note(self, task: str) -> None:
        """A name the app does not register is allowed (a worker built from other code
        may register it) but said, with the closest registered names to pick from."""
        check = tasknames.check_task(task, self.tasks or None) if task else None
        if check is None or check.registered is not False:
            self.task_help.hide()
            return
        self.task_note.setText("⚠ The app registers no task of that name. Did you mean:"
                               if check.suggestions else
                               "⚠ The app registers no task of that name, nor a similar one.")
        self.task_note.setToolTip(f"{task!r} is not among the {len(self.tasks)} tasks the "
                                  "app registers. Beat sends it all the same, and a worker "
                                  "that does not register it drops it; a worker built from "
                                  "other code may register it.")
        for button, name in zip(self.suggestion_buttons,
                                [*check.suggestions, *[None] * tasknames.SUGGESTIONS],
                                strict=False):
            button.setVisible(name is not None)
            button.setText(name or "")
            button.setToolTip(f"Use {name}" if name else "")
            button.setProperty("task", name)
        self.task_help.show()

    def _use_suggestion(self, button: QPushButton) -> None:
        self.task.setText(button.property("task"))
        self.task.setFocus()

    def _show_preview(self, data: dict, valid: bool) -> None:
        try:
            if not valid:
                raise ScheduleError([])
            spec = schedule.parse_schedule(data["schedule"])
        except ScheduleError:
            self.words.setText("")
            self.preview.setText("")
            return
        clock = self.clock
        if isinstance(spec, schedule.Solar):  # the event in the words the list gives it
            self.words.setText(f"Runs at {schedule.SOLAR_WORDS[spec.event]}, at latitude "
                               f"{_number_text(spec.latitude)}, longitude "
                               f"{_number_text(spec.longitude)}.")
        else:
            self.words.setText(f"Runs {clock.describe(spec)}.")
        now = datetime.now(timezone.utc)
        runs = schedule.next_runs(spec, now, 5, tz_name=clock.name)
        if not runs:
            self.preview.setText("No upcoming run.")
            return
        lines = [clock.text(r, "%a %Y-%m-%d %H:%M:%S %Z") for r in runs]
        self.preview.setText(f"Next runs ({clock.name}):\n  " + "\n  ".join(lines))

    def _accept(self) -> None:
        if self.validate():
            self.accept()

    def entry(self) -> Entry | None:
        return self._result
