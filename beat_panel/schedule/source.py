"""Where a project's schedule lives: a file the panel's scheduler runs, or Redis in the
format a stock RedBeat beat runs. Both answer the same few questions, so the editing
session, the CLI and the editor work on either without knowing which.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from beat_panel.schedule.beat_report import BeatReport, read_beat_report
from beat_panel.schedule.model import Document, ScheduleError
from beat_panel.schedule.store import HistoryItem, Loaded, ScheduleStore

if TYPE_CHECKING:
    from beat_panel.config import Config
    from beat_panel.schedule.redbeat.store import Listing, RedisStore
    from beat_panel.schedule.redbeat.target import RedisTarget


class ScheduleSource(Protocol):
    @property
    def where(self) -> str:
        """For a person: the file's path, or the masked Redis URL and prefix."""

    @property
    def path(self) -> Path | None:
        """The schedule file; None for Redis."""

    def open(self) -> tuple[Loaded, BeatReport | None]:
        """The schedule as stored now and what the beats report of its runs."""

    def look(self) -> tuple[str | None, BeatReport | None]:
        """Only the version's hash and the run report (cheap enough for each refresh)."""

    def save(self, document: Document, base: Document, base_sha: str | None,
             force: bool) -> Loaded:
        """Write `document`, made from `base` (whose hash was `base_sha`)."""

    def history(self) -> list[HistoryItem]: ...

    def restore(self, revision: int) -> Loaded: ...


@dataclass(frozen=True)
class FileSource:
    """A schedule file, run by the panel's scheduler (`beat_panel.plugin`)."""

    file: Path

    @property
    def where(self) -> str:
        return str(self.file)

    @property
    def path(self) -> Path | None:
        return self.file

    def open(self) -> tuple[Loaded, BeatReport | None]:
        return ScheduleStore(self.file).load(), read_beat_report(self.file)

    def look(self) -> tuple[str | None, BeatReport | None]:
        return ScheduleStore(self.file).current_sha(), read_beat_report(self.file)

    def save(self, document: Document, base: Document, base_sha: str | None,
             force: bool) -> Loaded:
        return ScheduleStore(self.file).save(document, base_sha, force=force)

    def history(self) -> list[HistoryItem]:
        return ScheduleStore(self.file).history()

    def restore(self, revision: int) -> Loaded:
        store = ScheduleStore(self.file)
        items = store.history()
        match = next((i for i in items if i.revision == revision), None)
        if match is None:
            kept = ", ".join(str(i.revision) for i in items) or "none yet"
            raise ScheduleError([("revision", f"no saved version has revision {revision} "
                                              f"(saved versions: {kept})")])
        return store.restore(match)


@dataclass(frozen=True)
class RedisSource:
    """A RedBeat schedule in Redis, run by a stock `redbeat.RedBeatScheduler` beat."""

    target: RedisTarget

    @property
    def where(self) -> str:
        return self.target.shown

    @property
    def path(self) -> Path | None:
        return None

    def _store(self) -> RedisStore:
        from beat_panel.schedule.redbeat.store import RedisStore

        return RedisStore(self.target)

    def open(self) -> tuple[Loaded, BeatReport | None]:
        listing = self._store().load()
        return (Loaded(listing.document, listing.sha, listing.statics, listing.skipped),
                run_report(listing))

    def look(self) -> tuple[str | None, BeatReport | None]:
        listing = self._store().load()
        return listing.sha, run_report(listing)

    def save(self, document: Document, base: Document, base_sha: str | None,
             force: bool) -> Loaded:
        listing = self._store().save(document, base, force=force)
        return Loaded(listing.document, listing.sha, listing.statics, listing.skipped)

    def history(self) -> list[HistoryItem]:
        return []  # Redis keeps no earlier versions: export to a file to keep one

    def restore(self, revision: int) -> Loaded:
        raise ScheduleError([("revision", "a schedule in Redis keeps no saved versions; "
                                          "`beat-panel schedule export FILE` keeps one")])


def run_report(listing: Listing) -> BeatReport:
    """RedBeat's run state of each entry, as the plugin's report gives it for a file."""
    runs = {}
    for name, state in listing.runs.items():
        when = state.last_run_at.isoformat() if state.last_run_at else None
        runs[name] = {"last_run_at": when, "last_sent_at": when if state.total_run_count
                      else None, "total_run_count": state.total_run_count,
                      "sent_count": state.total_run_count}
    return BeatReport(pid=None, applied_sha=None, applied_revision=None, applied_at=None,
                      error=None, timezone=listing.document.timezone, runs=runs, version=2)


def source_for(config: Config) -> ScheduleSource | None:
    """The project's schedule: its file, its Redis, or None when it has neither."""
    if config.schedule_redis is not None:
        return RedisSource(config.schedule_redis)
    if config.schedule_file is not None:
        return FileSource(config.schedule_file)
    return None
