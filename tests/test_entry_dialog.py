"""The entry dialog checks as you type: the bad field is marked, the problem is said
with the label the field has on screen, and Save stays disabled until it is fixed."""

from datetime import datetime, timedelta, timezone

import pytest
from PySide6.QtCore import QDateTime, Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication

from beat_panel.schedule import Crontab, Entry, Interval
from beat_panel.ui.schedule.entry_dialog import EntryDialog

from faces import click_action


@pytest.fixture
def dialog(qtbot):
    made = EntryDialog(None, None, taken={"hello"}, tasks=["proj.tasks.cleanup",
                                                           "proj.tasks.report"])
    qtbot.addWidget(made)
    made.name.setText("nightly")
    made.task.setText("proj.tasks.cleanup")
    assert made.validate() and made.save_button.isEnabled()
    return made


def marked(widget) -> bool:
    return "c5221f" in widget.styleSheet()


def type_into(qtbot, widget, text: str) -> None:
    """Replace what the field holds by typing, as a person does: select all, then keys."""
    qtbot.keyClick(widget, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    if text:
        qtbot.keyClicks(widget, text)
    else:
        qtbot.keyClick(widget, Qt.Key.Key_Delete)


def paste_into(qtbot, widget, text: str) -> None:
    """Replace what the field holds by pasting, as a person does: select all, Ctrl+V."""
    QGuiApplication.clipboard().setText(text)
    qtbot.keyClick(widget, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(widget, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    assert widget.text() == text


def use_crontab(qtbot, dialog, expression: str) -> None:
    # Pasted whole: typed key by key, "*/5" passes through "*/", which the model does not
    # survive yet (see test_typing_a_crontab_field_key_by_key_never_raises).
    dialog.kind.setCurrentIndex(1)
    for field, value in zip(("minute", "hour", "day_of_month", "month_of_year", "day_of_week"),
                            expression.split(), strict=True):
        paste_into(qtbot, dialog.cron[field], value)


@pytest.mark.parametrize(("expression", "field"), [
    ("61 * * * *", "minute"),
    ("*/0 * * * *", "minute"),
    ("daily * * * *", "minute"),
    ("0 24 * * *", "hour"),
    ("0 9 * * funday", "day_of_week"),
    ("0 0 31 2 *", "day_of_month"),
])
def test_bad_crontab_fields_are_marked_and_block_save(qtbot, dialog, expression, field):
    use_crontab(qtbot, dialog, expression)
    assert not dialog.save_button.isEnabled()
    assert marked(dialog.cron[field])
    assert f"schedule.{field}" in dialog.errors.text()
    use_crontab(qtbot, dialog, "*/5 9-17 * * mon-fri")
    assert dialog.save_button.isEnabled() and not marked(dialog.cron[field])


@pytest.mark.parametrize(("field", "text"), [("minute", "0,30"), ("hour", "*/2")])
def test_typing_a_crontab_field_key_by_key_never_raises(qtbot, dialog, field, text):
    dialog.kind.setCurrentIndex(1)
    type_into(qtbot, dialog.cron[field], text)
    assert dialog.cron[field].text() == text
    assert dialog.save_button.isEnabled() and not marked(dialog.cron[field])


def test_crontab_page_describes_it_and_shows_the_next_five_runs(qtbot, dialog):
    use_crontab(qtbot, dialog, "*/5 9-17 * * mon-fri")
    assert "every 5 minutes" in dialog.words.text().lower()
    lines = dialog.preview.text().splitlines()
    assert lines[0] == "Next runs (UTC):" and len(lines) == 6  # no zone known: Celery's UTC


@pytest.mark.parametrize(("field", "text", "message"), [
    ("args", '{"a": 1}', "must be a JSON list"),
    ("args", "[1, 2", "not valid JSON"),
    ("kwargs", "[1]", "must be a JSON object"),
    ("kwargs", "{x: 1}", "not valid JSON"),
])
def test_json_fields_are_checked_as_you_type(qtbot, dialog, field, text, message):
    type_into(qtbot, getattr(dialog, field), text)
    assert not dialog.save_button.isEnabled()
    assert marked(getattr(dialog, field))
    assert message in dialog.errors.text()


def test_duplicate_and_empty_names_are_refused(qtbot, dialog):
    type_into(qtbot, dialog.name, "hello")
    assert not dialog.save_button.isEnabled() and "already exists" in dialog.errors.text()
    type_into(qtbot, dialog.name, "")
    assert not dialog.save_button.isEnabled() and marked(dialog.name)
    assert "name: must not be empty" in dialog.errors.text()


def test_zero_interval_is_refused(qtbot, dialog):
    type_into(qtbot, dialog.every, "0")
    assert dialog.every.value() == 0
    assert not dialog.save_button.isEnabled() and marked(dialog.every)
    assert "schedule.every" in dialog.errors.text()


def test_clocked_time_in_the_past_is_refused(dialog):
    dialog.kind.setCurrentIndex(3)
    dialog.at.setDateTime(QDateTime.currentDateTime().addSecs(-3600))
    assert not dialog.save_button.isEnabled() and "in the past" in dialog.errors.text()
    dialog.at.setDateTime(QDateTime.currentDateTime().addSecs(3600))
    assert dialog.save_button.isEnabled()


def test_solar_coordinates_reach_the_poles_and_the_date_line_and_no_further(qtbot, dialog):
    # Whatever a person types, the entry stays inside what the model accepts (the file's
    # values are checked by the model: see test_schedule_store).
    dialog.kind.setCurrentIndex(2)
    type_into(qtbot, dialog.latitude, "-90")
    type_into(qtbot, dialog.longitude, "180")
    assert dialog.validate()
    spec = dialog.entry().schedule
    assert (spec.latitude, spec.longitude) == (-90, 180)
    type_into(qtbot, dialog.latitude, "95")
    type_into(qtbot, dialog.longitude, "-200")
    assert dialog.validate() and dialog.save_button.isEnabled()
    spec = dialog.entry().schedule
    assert -90 <= spec.latitude <= 90 and -180 <= spec.longitude <= 180


def test_duplicate_opens_a_dialog_titled_duplicate_entry(schedule_project, open_editor,
                                                         qtbot):
    editor = open_editor(schedule_project.load())
    seen = []

    def answer() -> None:  # the modal dialog as the person sees it: read, then Esc
        shown = QApplication.activeModalWidget()
        seen.append((shown.windowTitle(), shown.name.text()))
        qtbot.keyClick(shown, Qt.Key.Key_Escape)

    table = editor.table
    for action in ("duplicate", "edit"):
        row = next(r for r in range(editor.proxy.rowCount())
                   if editor.proxy.data(editor.proxy.index(r, 0),
                                        Qt.ItemDataRole.UserRole) == "report")
        cell = table.visualRect(editor.proxy.index(row, 0)).center()
        qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=cell)
        QTimer.singleShot(0, answer)
        click_action(qtbot, editor, action)  # returns once the dialog is closed
    assert seen == [("Duplicate entry", "report copy"), ("Edit entry", "report")]
    assert not editor.dirty


def test_editing_fills_every_field_and_gives_back_the_same_entry(qtbot):
    entry = Entry("report", "proj.tasks.report", Crontab.from_expression("0 9 * * mon"),
                  args=(1, "a"), kwargs={"to": "ops"}, enabled=False, description="weekly")
    made = EntryDialog(None, entry, taken=set(), tasks=[])
    qtbot.addWidget(made)
    assert made.validate()
    assert made.entry() == entry


def test_options_are_validated_and_kept(dialog):
    dialog.queue.setText("periodic")
    dialog.priority.setValue(5)
    dialog.expires.setValue(120)
    assert dialog.validate()
    options = dialog.entry().options
    assert (options.queue, options.priority, options.expires) == ("periodic", 5, 120)


def test_editing_an_interval_entry_gives_back_the_same_entry(qtbot):
    entry = Entry("tick", "t", Interval(2, "hours"), one_off=True)
    made = EntryDialog(None, entry, taken=set(), tasks=[])
    qtbot.addWidget(made)
    assert made.validate() and made.entry() == entry


def test_editing_a_clocked_entry_keeps_its_time(qtbot):
    at = (datetime.now(timezone.utc) + timedelta(days=2)).replace(microsecond=0)
    from beat_panel.schedule import Clocked

    made = EntryDialog(None, Entry("once", "t", Clocked(at)), taken=set(), tasks=[])
    qtbot.addWidget(made)
    assert made.validate() and made.entry().schedule.at == at


def test_options_the_form_has_no_field_for_are_shown_and_kept_through_an_edit(qtbot):
    from beat_panel.schedule import parse_options

    options = parse_options({"queue": "reports", "exchange": "reports",
                             "routing_key": "r.nightly", "countdown": 5,
                             "expires": "2030-01-01T08:00:00+01:00"})
    entry = Entry("ping", "proj.tasks.report", Interval(5, "minutes", relative=True),
                  options=options)
    made = EntryDialog(None, entry, taken=set(), tasks=[])
    qtbot.addWidget(made)
    made.show()
    assert made.other_options.isVisible()
    shown = made.other_options.text()
    for text in ('exchange="reports"', 'routing_key="r.nightly"', "countdown=5",
                 'expires="2030-01-01T08:00:00+01:00"'):
        assert text in shown
    assert "aligned to the clock" in made.words.text()
    type_into(qtbot, made.kwargs, '{"to": "ops"}')
    qtbot.mouseClick(made.save_button, Qt.MouseButton.LeftButton)
    edited = made.entry()
    assert edited.kwargs == {"to": "ops"}
    assert edited.options == options and edited.schedule == entry.schedule


def test_a_task_the_app_does_not_register_is_said_with_the_closest_names_to_pick(qtbot):
    made = EntryDialog(None, None, taken=set(), tasks=["proj.tasks.cleanup",
                                                       "proj.tasks.report"])
    qtbot.addWidget(made)
    made.show()
    qtbot.keyClicks(made.name, "nightly")
    qtbot.keyClicks(made.task, "proj.tasks.cleanp")
    assert made.task_help.isVisible()
    assert "registers no task of that name" in made.task_note.text()
    assert "'proj.tasks.cleanp' is not among the 2 tasks" in made.task_note.toolTip()
    assert made.save_button.isEnabled(), "a warning, not a refusal"
    first = made.suggestion_buttons[0]
    assert first.isVisible() and first.text() == "proj.tasks.cleanup"
    qtbot.mouseClick(first, Qt.MouseButton.LeftButton)
    assert made.task.text() == "proj.tasks.cleanup"
    assert not made.task_help.isVisible()


def test_no_task_warning_when_the_apps_tasks_are_not_known(qtbot):
    made = EntryDialog(None, None, taken=set(), tasks=[])
    qtbot.addWidget(made)
    made.show()
    qtbot.keyClicks(made.task, "anything.at.all")
    assert not made.task_help.isVisible()
