"""The periodic schedule: the model and its validation, the file format, next run times,
the store on disk, what the running beat reports, and the editing session both faces use.

The names below are the model's public face; the store, the beat report and the session
are imported from their own modules (they touch files and locks, the model does not).
"""

from beat_panel.schedule.fileformat import loads
from beat_panel.schedule.model import (
    CRON_FIELDS,
    FORMAT_NAME,
    FORMAT_VERSION,
    MAX_INTERVAL,
    MAX_PRIORITY,
    MIN_INTERVAL,
    PERIODS,
    SOLAR_EVENTS,
    SOLAR_WORDS,
    Clocked,
    Crontab,
    Document,
    Entry,
    Interval,
    Options,
    ScheduleError,
    ScheduleSpec,
    Solar,
    cron_fields,
)
from beat_panel.schedule.timing import next_runs, zone
from beat_panel.schedule.validation import (
    check_unique_names,
    parse_entry,
    parse_options,
    parse_schedule,
)

__all__ = ["CRON_FIELDS", "FORMAT_NAME", "FORMAT_VERSION", "MAX_INTERVAL", "MAX_PRIORITY",
           "MIN_INTERVAL", "PERIODS", "SOLAR_EVENTS", "SOLAR_WORDS", "Clocked", "Crontab",
           "Document", "Entry", "Interval", "Options", "ScheduleError", "ScheduleSpec", "Solar",
           "check_unique_names", "cron_fields", "loads", "next_runs", "parse_entry",
           "parse_options", "parse_schedule", "zone"]
