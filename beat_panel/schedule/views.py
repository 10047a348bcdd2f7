"""An entry as people see it: its schedule in words, next run, last run and run count,
every time in the one zone beat uses (`clock_for`)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timezone

from beat_panel import schedule
from beat_panel.schedule.beat_report import BeatReport
from beat_panel.schedule.timing import BeatClock, beat_clock


@dataclass(frozen=True)
class EntryView:
    entry: schedule.Entry
    words: str
    next_run: datetime | None  # None: disabled, a one-off that already ran, or missed
    last_run: datetime | None
    run_count: int
    missed: bool = False  # a one-off whose time passed with no beat to send it
    last_error: tuple[datetime, str] | None = None  # the latest send failed: when, why

    def to_json(self) -> dict:
        data = self.entry.to_json()
        data.update({
            "schedule_spec": data.pop("schedule"),
            "schedule": self.words,
            "next_run": self.next_run.isoformat() if self.next_run else None,
            "last_run": self.last_run.isoformat() if self.last_run else None,
            "total_run_count": self.run_count,
            "missed": self.missed,
            "last_error": ({"at": self.last_error[0].isoformat(), "error": self.last_error[1]}
                           if self.last_error else None),
        })
        return data


def clock_for(document: schedule.Document, report: BeatReport | None,
              beat_pids: Collection[int] | None = None) -> BeatClock:
    """The zone beat uses for this schedule: the one answer the table, the entry dialog
    and `schedule list` all show.

    `beat_pids` are the running beats' pids when a status check has them; the report
    then counts as the running beat's only when its pid is one of them. None: not known,
    and a report counts as the running beat's."""
    reported = report.timezone if report else None
    running = report is not None and (beat_pids is None or report.pid in beat_pids)
    return beat_clock(document.timezone, reported, running)


def is_missed(entry: schedule.Entry, state: BeatReport | None, now: datetime) -> bool:
    """A one-off whose time passed while no beat had it installed: no beat will send it
    (Celery counts an entry that never ran from its own start), so a person must decide
    to run it now. One a stopped beat had installed is not missed: the next start sends
    it, once."""
    spec = entry.schedule
    if not entry.enabled or not isinstance(spec, schedule.Clocked) or spec.at > now:
        return False
    if state is not None and state.run_count(entry.name):
        return False
    basis = state.timing_basis(entry.name) if state else None
    return basis is None or basis >= spec.at


def build_views(document: schedule.Document, state: BeatReport | None,
                now: datetime | None = None, clock: BeatClock | None = None
                ) -> list[EntryView]:
    """Views of every entry, with next and last runs computed and given in the zone beat
    uses (`clock`, by default `clock_for(document, state)`)."""
    now = now or datetime.now(timezone.utc)
    clock = clock or clock_for(document, state)
    views = []
    for entry in document.entries:
        last = state.last_run(entry.name) if state else None
        count = state.run_count(entry.name) if state else 0
        upcoming = None
        missed = is_missed(entry, state, now)
        if entry.enabled and not missed and not (entry.one_off and count > 0):
            basis = state.timing_basis(entry.name) if state else None
            runs = schedule.next_runs(entry.schedule, now, 1, last_run_at=basis,
                                      tz_name=clock.name)
            upcoming = runs[0] if runs else None
        failed = state.last_error(entry.name) if state else None
        views.append(EntryView(entry, clock.describe(entry.schedule),
                               clock.local(upcoming) if upcoming else None,
                               clock.local(last) if last else None, count, missed,
                               (clock.local(failed[0]), failed[1]) if failed else None))
    return views
