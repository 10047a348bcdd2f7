"""The entry dialog checks as you type: the bad field is marked, the problem is said,
and Save stays disabled until it is fixed."""

from datetime import datetime, timedelta, timezone

import pytest
from PySide6.QtCore import QDateTime

from beat_panel.schedule import Crontab, Entry, Interval
from beat_panel.ui.schedule.entry_dialog import EntryDialog


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


def use_crontab(dialog, expression: str) -> None:
    dialog.kind.setCurrentIndex(1)
    for field, value in zip(("minute", "hour", "day_of_month", "month_of_year", "day_of_week"),
                            expression.split(), strict=True):
        dialog.cron[field].setText(value)


@pytest.mark.parametrize(("expression", "field"), [
    ("61 * * * *", "minute"),
    ("*/0 * * * *", "minute"),
    ("daily * * * *", "minute"),
    ("0 24 * * *", "hour"),
    ("0 9 * * funday", "day_of_week"),
    ("0 0 31 2 *", "day_of_month"),
])
def test_bad_crontab_fields_are_marked_and_block_save(dialog, expression, field):
    use_crontab(dialog, expression)
    assert not dialog.save_button.isEnabled()
    assert marked(dialog.cron[field])
    assert f"schedule.{field}" in dialog.errors.text()
    use_crontab(dialog, "*/5 9-17 * * mon-fri")
    assert dialog.save_button.isEnabled() and not marked(dialog.cron[field])


def test_crontab_page_describes_it_and_shows_the_next_five_runs(dialog):
    use_crontab(dialog, "*/5 9-17 * * mon-fri")
    assert "every 5 minutes" in dialog.words.text().lower()
    lines = dialog.preview.text().splitlines()
    assert lines[0] == "Next runs (local time):" and len(lines) == 6


@pytest.mark.parametrize(("field", "text", "message"), [
    ("args", '{"a": 1}', "must be a JSON list"),
    ("args", "[1, 2", "not valid JSON"),
    ("kwargs", "[1]", "must be a JSON object"),
    ("kwargs", "{x: 1}", "not valid JSON"),
])
def test_json_fields_are_checked_as_you_type(dialog, field, text, message):
    getattr(dialog, field).setText(text)
    assert not dialog.save_button.isEnabled()
    assert marked(getattr(dialog, field))
    assert message in dialog.errors.text()


def test_duplicate_and_empty_names_are_refused(dialog):
    dialog.name.setText("hello")
    assert not dialog.save_button.isEnabled() and "already exists" in dialog.errors.text()
    dialog.name.setText("")
    assert not dialog.save_button.isEnabled() and marked(dialog.name)
    assert "name: must not be empty" in dialog.errors.text()


def test_zero_interval_is_refused(dialog):
    dialog.every.setValue(0)
    assert not dialog.save_button.isEnabled() and marked(dialog.every)


def test_clocked_time_in_the_past_is_refused(dialog):
    dialog.kind.setCurrentIndex(3)
    dialog.at.setDateTime(QDateTime.currentDateTime().addSecs(-3600))
    assert not dialog.save_button.isEnabled() and "in the past" in dialog.errors.text()
    dialog.at.setDateTime(QDateTime.currentDateTime().addSecs(3600))
    assert dialog.save_button.isEnabled()


def test_solar_coordinates_cannot_be_typed_out_of_range(dialog):
    # The spin boxes hold latitude to -90..90 and longitude to -180..180; the file's
    # values are checked by the model (see test_schedule_store).
    dialog.kind.setCurrentIndex(2)
    dialog.latitude.setValue(95)
    dialog.longitude.setValue(-200)
    assert dialog.latitude.value() == 90 and dialog.longitude.value() == -180
    assert dialog.validate()


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


def test_interval_entry_round_trip(qtbot):
    entry = Entry("tick", "t", Interval(2, "hours"), one_off=True)
    made = EntryDialog(None, entry, taken=set(), tasks=[])
    qtbot.addWidget(made)
    assert made.validate() and made.entry() == entry


def test_clocked_entry_keeps_its_time(qtbot):
    at = (datetime.now(timezone.utc) + timedelta(days=2)).replace(microsecond=0)
    from beat_panel.schedule import Clocked

    made = EntryDialog(None, Entry("once", "t", Clocked(at)), taken=set(), tasks=[])
    qtbot.addWidget(made)
    assert made.validate() and made.entry().schedule.at == at
