"""An entry as people see it: its schedule in words, next run, last run and run count."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from beat_panel import schedule
from beat_panel.schedule.beat_report import BeatReport


@dataclass(frozen=True)
class EntryView:
    entry: schedule.Entry
    words: str
    next_run: datetime | None  # None: disabled, or a one-off that already ran
    last_run: datetime | None
    run_count: int

    def to_json(self) -> dict:
        data = self.entry.to_json()
        data.update({
            "schedule_spec": data.pop("schedule"),
            "schedule": self.words,
            "next_run": self.next_run.isoformat() if self.next_run else None,
            "last_run": self.last_run.isoformat() if self.last_run else None,
            "total_run_count": self.run_count,
        })
        return data


def build_views(document: schedule.Document, state: BeatReport | None,
                now: datetime | None = None) -> list[EntryView]:
    """Views of every entry, with next runs in the time zone beat uses."""
    now = now or datetime.now(timezone.utc)
    tz_name = (state.timezone if state and state.timezone else None) or document.timezone
    views = []
    for entry in document.entries:
        last = state.last_run(entry.name) if state else None
        count = state.run_count(entry.name) if state else 0
        upcoming = None
        if entry.enabled and not (entry.one_off and count > 0):
            basis = state.timing_basis(entry.name) if state else None
            runs = schedule.next_runs(entry.schedule, now, 1, last_run_at=basis,
                                      tz_name=tz_name)
            upcoming = runs[0] if runs else None
        views.append(EntryView(entry, entry.schedule.describe(), upcoming, last, count))
    return views
