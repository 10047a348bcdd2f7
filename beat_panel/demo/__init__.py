"""A small Celery project that runs with no server: the panel's demo and test subject."""

from __future__ import annotations

from pathlib import Path

from beat_panel.schedule import Crontab, Document, Entry, Interval

_TASKS = "beat_panel.demo.app"


def default_document() -> Document:
    """The demo's schedule, as a person would have written it in the panel."""
    return Document(
        entries=(
            Entry("say-hello", f"{_TASKS}.say_hello", Interval(30),
                  kwargs={"name": "Beat Panel"}, description="Greets in the worker log."),
            Entry("add-numbers", f"{_TASKS}.add", Interval(1, "minutes"), args=(2, 3),
                  description="Adds two numbers once a minute."),
            Entry("tidy-up", f"{_TASKS}.tidy_up", Crontab.from_expression("0 * * * *"),
                  description="Hourly clean-up, on the hour."),
            Entry("weekly-report", f"{_TASKS}.tidy_up",
                  Crontab.from_expression("0 9 * * mon"), enabled=False,
                  description="Disabled: shows how an entry is switched off."),
        ),
        timezone="UTC",
    )


def ensure_schedule(path: Path) -> None:
    """Write the demo schedule the first time; never touch an existing file."""
    if path.exists():
        return
    from beat_panel.schedule.store import ScheduleStore

    ScheduleStore(path).save(default_document(), base_sha=None)
