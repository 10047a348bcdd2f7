"""The schedule being edited, and each workflow on it written once for the CLI and the
editor: load, save with conflict detection, restore, import from the app, and "did the
running beat apply the save?".

`ScheduleSession` is a frozen value, not an object that changes: the editor hands it to a
worker thread, which returns a new session (loaded, saved, restored) for the GUI thread to
adopt, so no state is shared between threads. The CLI uses the same values in one thread.
The methods that read or write files say so; the others are pure and cheap.
`plan_import` is a pure function for the same reason: the editor runs it on the GUI
thread against the document as it is when the app's answer lands, so edits made while the
app was being inspected are not lost.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from beat_panel import schedule
from beat_panel.schedule import Document, ScheduleError
from beat_panel.schedule.beat_report import BeatReport, read_beat_report
from beat_panel.schedule.source import FileSource, ScheduleSource
from beat_panel.schedule.store import ConflictError, HistoryItem
from beat_panel.schedule.timing import known_zone

if TYPE_CHECKING:  # the type only: the session never runs the app's inspection itself
    from beat_panel.celeryapp.appinfo import AppInfo

__all__ = ["APPLY_WAIT", "ApplyCheck", "ApplyState", "Changes", "ConflictError", "ImportPlan",
           "Merge", "OnDisk", "ScheduleSession", "SkipReason", "Skipped", "changes", "merge",
           "plan_import"]

# How long a save waits for the running beat to acknowledge it. The plugin looks at the
# file every 0.5 s (plugin.RELOAD_INTERVAL) and acknowledges at once, so an idle beat
# answers within a second; 5 s leaves room for a beat busy sending tasks on a loaded
# machine, and is still short enough for a command line that waits for the answer.
APPLY_WAIT = 5.0
_POLL = 0.05


# -- the session -----------------------------------------------------------------------


@dataclass(frozen=True)
class OnDisk:
    """What a quick look at the disk found: the file's hash and what beat reports."""

    sha: str | None
    report: BeatReport | None


@dataclass(frozen=True)
class ScheduleSession:
    """One schedule being edited (a file, or Redis in RedBeat's format): the edited
    document, the stored version it was made from (`base`, `base_sha`), and what the
    running beat last reported."""

    source: ScheduleSource
    document: Document = field(default_factory=Document)
    base: Document = field(default_factory=Document)
    base_sha: str | None = None  # None: the file did not exist when loaded
    report: BeatReport | None = None
    statics: frozenset[str] = frozenset()  # see `static_edits`
    skipped: tuple[tuple[str, str], ...] = ()  # Redis keys that hold no readable entry

    def __post_init__(self) -> None:
        if isinstance(self.source, Path):  # a schedule file given by its path
            object.__setattr__(self, "source", FileSource(self.source))

    @classmethod
    def open(cls, source: ScheduleSource | Path) -> ScheduleSession:
        """Read the schedule (a missing file: an empty schedule) and beat's report.
        Reads files or Redis.

        A damaged file raises ScheduleError with its line and column; a Redis that
        cannot be read, RedisUnavailable."""
        if isinstance(source, Path):
            source = FileSource(source)
        loaded, report = source.open()
        return cls(source, loaded.document, loaded.document, loaded.sha, report,
                   loaded.statics, loaded.skipped)

    @property
    def path(self) -> Path | None:
        """The schedule file (None for a schedule in Redis)."""
        return self.source.path

    @property
    def where(self) -> str:
        return self.source.where

    @property
    def dirty(self) -> bool:
        """The edited document differs from the version on disk it was made from."""
        return self.document is not self.base and self.document != self.base

    @property
    def revision(self) -> int:
        return self.base.revision

    def static_edits(self) -> list[str]:
        """Edited entries that come from the app's `beat_schedule` in Redis: a RedBeat
        beat rewrites them from the app at its next start, so the edit lasts until then."""
        before = {e.name: e for e in self.base.entries}
        after = {e.name: e for e in self.document.entries}
        return sorted(n for n in self.statics if before.get(n) != after.get(n))

    @property
    def skipped_note(self) -> str:
        """The keys under the prefix that are not shown, and why (never changed)."""
        if not self.skipped:
            return ""
        shown = "; ".join(f"{key}: {why}" for key, why in self.skipped[:5])
        more = f"; and {len(self.skipped) - 5} more" if len(self.skipped) > 5 else ""
        return (f"{len(self.skipped)} key(s) under the prefix hold no entry the panel can "
                f"read and are left as they are: {shown}{more}.")

    @property
    def static_note(self) -> str:
        names = self.static_edits()
        if not names:
            return ""
        return (f"{', '.join(names)} come{'s' if len(names) == 1 else ''} from the app's "
                "beat_schedule: a RedBeat beat rewrites "
                f"{'it' if len(names) == 1 else 'them'} from the app at its next start. "
                "Change the app's beat_schedule to keep the change.")

    def editing(self, document: Document) -> ScheduleSession:
        """The session with `document` as the edited version (nothing is written)."""
        return replace(self, document=document)

    def with_report(self, report: BeatReport | None) -> ScheduleSession:
        return replace(self, report=report)

    def save(self, force: bool = False) -> ScheduleSession:
        """Write the edited document as the next revision; the new session is based on
        it. Writes files or Redis.

        ConflictError (RedisConflict) when what is stored is no longer the version this
        session was based on, unless `force` (the person chose to keep theirs). A
        damaged file (a key that holds no entry) is never overwritten (ScheduleError)."""
        saved = self.source.save(self.document, self.base, self.base_sha, force)
        return replace(self, document=saved.document, base=saved.document,
                       base_sha=saved.sha, statics=saved.statics, skipped=saved.skipped)

    def history(self) -> list[HistoryItem]:
        """Earlier saved versions, newest first. Reads the history folder."""
        return self.source.history()

    def restore(self, revision: int) -> ScheduleSession:
        """Make the saved version `revision` the current one, as a new revision.
        Reads and writes files.

        Works on a damaged file too (it is kept aside, never lost), so this session need
        not have loaded. ScheduleError when no saved version has that revision."""
        saved = self.source.restore(revision)
        _, report = self.source.look()
        return replace(self, document=saved.document, base=saved.document,
                       base_sha=saved.sha, report=report)

    def look(self) -> OnDisk:
        """The stored version's hash and beat's report. Reads files or Redis."""
        sha, report = self.source.look()
        return OnDisk(sha, report)

    def changed_on_disk(self, on_disk: OnDisk) -> bool:
        """Someone else saved since this session's base was read or written."""
        return on_disk.sha != self.base_sha

    def wait_applied(self, beat_pids: list[int], timeout: float = APPLY_WAIT,
                     embedded_pids: list[int] | tuple[int, ...] = ()) -> ApplyCheck:
        """After a save: wait (up to `timeout`) until the running beat acknowledges this
        session's version. Reads beat's report file; sleeps.

        `beat_pids` are the pids of the running beats that are not embedded in a worker,
        `embedded_pids` those of workers running beat inside (`worker -B`), from a status
        check the caller already has: no process scan here."""
        sha = self.base_sha
        if self.path is None:
            # RedBeat acknowledges nothing: it reads each due entry at its next tick.
            return ApplyCheck(ApplyState.NEXT_TICK, self.revision)
        if not beat_pids:
            if embedded_pids:
                return ApplyCheck(ApplyState.EMBEDDED, self.revision, embedded_pids[0])
            return ApplyCheck(ApplyState.NOT_RUNNING, self.revision)
        path = self.path
        report = read_beat_report(path)
        if report is None or report.pid not in beat_pids:
            # Without the plugin beat never writes a report for its pid: it read its
            # schedule once at start and will not see the file change.
            return ApplyCheck(ApplyState.RESTART_NEEDED, self.revision, report=report)
        deadline = time.monotonic() + timeout
        while True:
            if sha is not None and report is not None and report.applied_sha == sha:
                return ApplyCheck(ApplyState.APPLIED, self.revision, report.pid,
                                  report=report)
            if time.monotonic() >= deadline:
                break
            time.sleep(_POLL)
            report = read_beat_report(path)
        return ApplyCheck(ApplyState.NOT_APPLIED, self.revision,
                          report.pid if report else None,
                          report.error if report else None, timeout, report)


# -- was the save applied? -------------------------------------------------------------


class ApplyState(str, enum.Enum):
    """What became of a save in the running beat."""

    APPLIED = "applied"
    NOT_APPLIED = "not_applied"  # beat follows the file but did not acknowledge in time
    NOT_RUNNING = "not_running"  # it will use the file when it starts
    RESTART_NEEDED = "restart_needed"  # beat runs but does not follow the panel's file
    EMBEDDED = "embedded"  # only a worker's embedded beat runs: it runs the app's schedule
    NEXT_TICK = "next_tick"  # in Redis: a RedBeat beat reads it at its next tick

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class ApplyCheck:
    """The answer to "did the running beat apply the save?"."""

    state: ApplyState
    revision: int
    pid: int | None = None
    error: str | None = None  # what beat itself reported, when it did
    waited: float = 0.0
    report: BeatReport | None = None  # beat's latest report, for last/next run times

    @property
    def applied(self) -> bool | None:
        """True or False when beat follows the file; None when it cannot be known yet
        (beat not running, or running without the panel's scheduler)."""
        return _APPLIED[self.state]

    @property
    def restart_needed(self) -> bool:
        return self.state is ApplyState.RESTART_NEEDED

    @property
    def note(self) -> str:
        """One sentence for a person; each face adds its own way to restart."""
        if self.state is ApplyState.APPLIED:
            return f"Applied ✓ by the running beat (pid {self.pid})."
        if self.state is ApplyState.NOT_APPLIED:
            why = f" It reports: {self.error}" if self.error else ""
            return f"The running beat has not applied it within {self.waited:g} s.{why}"
        if self.state is ApplyState.NEXT_TICK:
            return ("Saved in Redis: a RedBeat beat reads it at its next tick (at the "
                    "latest after its --max-interval).")
        if self.state is ApplyState.NOT_RUNNING:
            return "Beat is not running; it will use this schedule when it starts."
        if self.state is ApplyState.EMBEDDED:
            return (f"Beat runs embedded in a worker (pid {self.pid}, `worker -B`), which runs "
                    "the app's own schedule, not the panel's file: this change is not sent "
                    "by it. Run beat on its own to use this schedule.")
        return ("The running beat does not follow the panel's schedule file, so it applies "
                "this change only after a restart.")


_APPLIED = {ApplyState.APPLIED: True, ApplyState.NOT_APPLIED: False,
            ApplyState.NOT_RUNNING: None, ApplyState.RESTART_NEEDED: None,
            ApplyState.EMBEDDED: None, ApplyState.NEXT_TICK: None}


# -- import from the app ---------------------------------------------------------------


class SkipReason(str, enum.Enum):
    """Why an entry of the app's beat_schedule was not imported."""

    UNUSABLE = "unusable"  # the inspection could not carry it over (e.g. non-JSON args)
    INVALID = "invalid"  # our validation refused it
    EXISTS = "exists"  # an entry of that name exists, differs, and replace was not asked
    UNCHANGED = "unchanged"  # an identical entry of that name exists already
    DUPLICATE = "duplicate"  # another entry sends the same task the same way already

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Skipped:
    name: str
    reason: SkipReason
    detail: str  # why, for a person

    def __str__(self) -> str:
        # A name that is not text (bytes that are not UTF-8) is shown escaped, so that
        # printing it cannot fail.
        shown = self.name.encode("utf-8", "backslashreplace").decode("utf-8")
        return f"{shown} ({self.detail})"

    def to_json(self) -> dict:
        return {"name": self.name, "reason": self.reason.value, "detail": self.detail}


@dataclass(frozen=True)
class ImportPlan:
    """The schedule after an import, and every entry added, replaced or skipped (with
    why), and every other change made (the time zone), so a person sees each one."""

    document: Document
    added: tuple[str, ...] = ()
    replaced: tuple[str, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    changed: tuple[str, ...] = ()  # changes to the schedule beyond entries
    notes: tuple[str, ...] = ()  # things worth knowing that changed nothing

    @property
    def conflicting(self) -> list[str]:
        """Entries present under the same name that differ from the app's, kept because
        replace was not asked."""
        return [s.name for s in self.skipped if s.reason is SkipReason.EXISTS]

    @property
    def summary(self) -> str:
        """One paragraph: how many were imported, and everything else by name."""
        count = len(self.added)
        parts = [f"Imported {count} entr{'y' if count == 1 else 'ies'}"
                 + (f": {', '.join(self.added)}" if self.added else "")]
        if self.replaced:
            parts.append(f"replaced {', '.join(self.replaced)}")
        if self.skipped:
            parts.append(f"skipped {'; '.join(str(s) for s in self.skipped)}")
        parts += list(self.changed)
        text = "; ".join(parts) + "."
        return " ".join([text, *self.notes])

    def lines(self) -> list[str]:
        """One line per entry and per change, for a details pane."""
        return ([f"added {n}" for n in self.added]
                + [f"replaced {n}" for n in self.replaced]
                + [f"skipped {s.name}: {s.detail}" for s in self.skipped]
                + [f"changed: {c}" for c in self.changed]
                + [f"note: {n}" for n in self.notes])

    def to_json(self) -> dict:
        return {"added": list(self.added), "replaced": list(self.replaced),
                "skipped": [s.to_json() for s in self.skipped], "changed": list(self.changed),
                "notes": list(self.notes)}


def plan_import(document: Document, app_info: AppInfo, replace: bool) -> ImportPlan:
    """Bring the app's own beat_schedule into `document`. Pure: reads no file.

    Entries the inspection flagged as unusable and entries our validation refuses are
    skipped with why. An entry whose name exists already is replaced only when `replace`
    and it differs. The schedule records the app's time zone: beat runs the schedule in
    it, so every face shows next runs in it."""
    entries = list(document.entries)
    where = {e.name: i for i, e in enumerate(entries)}
    added: list[str] = []
    replaced: list[str] = []
    skipped: list[Skipped] = []
    dropped_notes: list[str] = []  # parts of imported entries the schedule cannot keep
    for raw in app_info.beat_schedule:
        name = str(raw.get("name") or "?")
        if raw.get("problem"):
            # introspect.py emptied its arguments to send it at all: importing it would
            # run the task with arguments nobody wrote.
            skipped.append(Skipped(name, SkipReason.UNUSABLE, str(raw["problem"])))
            continue
        try:
            entry = schedule.parse_entry({k: v for k, v in raw.items() if k != "dropped"})
        except ScheduleError as exc:
            skipped.append(Skipped(name, SkipReason.INVALID, str(exc)))
            continue
        lost = [f"{name}: {what} was not kept" for what in raw.get("dropped") or ()]
        at = where.get(entry.name)
        twin = None if at is not None else next(
            (e for e in entries if _sends_the_same(e, entry)), None)
        if twin is not None:
            skipped.append(Skipped(entry.name, SkipReason.DUPLICATE,
                                   f"entry {twin.name!r} sends the same task with the same "
                                   "arguments on the same schedule already; both would "
                                   "send it twice"))
            continue
        if at is None or (replace and entries[at] != entry):
            dropped_notes.extend(lost)
        if at is None:
            where[entry.name] = len(entries)
            entries.append(entry)
            added.append(entry.name)
        elif entries[at] == entry:
            skipped.append(Skipped(entry.name, SkipReason.UNCHANGED,
                                   "already in the schedule, the same as the app's"))
        elif replace:
            entries[at] = entry
            replaced.append(entry.name)
        else:
            skipped.append(Skipped(entry.name, SkipReason.EXISTS,
                                   "already in the schedule, different from the app's"))
    timezone, changed, notes = _timezone(document.timezone, app_info.timezone)
    notes = (*dropped_notes, *notes)
    new = document
    if added or replaced or timezone != document.timezone:
        new = Document(tuple(entries), document.revision, timezone)
    return ImportPlan(new, tuple(added), tuple(replaced), tuple(skipped), changed, notes)


def _sends_the_same(ours: schedule.Entry, theirs: schedule.Entry) -> bool:
    """Whether two entries send the same task, arguments and options on the same
    schedule (an interval by its length, however it is written)."""
    if (ours.task, ours.args, ours.kwargs, ours.options) != \
            (theirs.task, theirs.args, theirs.kwargs, theirs.options):
        return False
    a, b = ours.schedule, theirs.schedule
    if isinstance(a, schedule.Interval) and isinstance(b, schedule.Interval):
        return a.seconds == b.seconds and a.relative == b.relative
    return a == b


def _timezone(ours: str | None, apps: str | None
              ) -> tuple[str | None, tuple[str, ...], tuple[str, ...]]:
    """The schedule's time zone after an import, with the change or note to show.

    The app's zone replaces the one recorded: beat runs the schedule in the app's zone
    whatever the file says, so a stale record would only show wrong times."""
    if not apps or apps == ours:
        return ours, (), ()
    if not known_zone(apps):
        kept = f"keeps {ours}" if ours else "keeps none"
        return ours, (), (f"The app's time zone {apps!r} is not known here; the schedule "
                          f"{kept}.",)
    if ours is not None:
        return apps, (f"time zone changed from {ours} to {apps} (the app's, which beat runs "
                      "the schedule in)",), ()
    return apps, (f"time zone set to {apps} (the app's)",), ()



# -- what changed, and a merge of two people's changes ------------------------------------


@dataclass(frozen=True)
class Changes:
    """The entries one side added, removed and edited, by name."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    edited: tuple[str, ...] = ()

    @property
    def names(self) -> set[str]:
        return {*self.added, *self.removed, *self.edited}

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.edited)

    def words(self) -> str:
        """"added a, b; edited c" (or "nothing")."""
        parts = [f"{what} {', '.join(names)}" for what, names in
                 (("added", self.added), ("removed", self.removed), ("edited", self.edited))
                 if names]
        return "; ".join(parts) or "nothing"

    def to_json(self) -> dict:
        return {"added": list(self.added), "removed": list(self.removed),
                "edited": list(self.edited)}


def changes(before: Document, after: Document) -> Changes:
    """What `after` changed of `before`, entry by entry (a rename is a removal and an
    addition)."""
    old = {e.name: e for e in before.entries}
    new = {e.name: e for e in after.entries}
    return Changes(tuple(n for n in new if n not in old),
                   tuple(n for n in old if n not in new),
                   tuple(n for n in new if n in old and old[n] != new[n]))


@dataclass(frozen=True)
class Merge:
    """Mine and theirs, both made from `base`: the document that keeps both where they
    touch different entries, and the entries both changed (where mine is kept)."""

    document: Document
    mine: Changes
    theirs: Changes
    both: tuple[str, ...]


def merge(base: Document, mine: Document, theirs: Document) -> Merge:
    """Their document with my changes laid over it: each entry I added, edited or removed
    that they did not touch goes in as I left it; an entry we both changed (and not to
    the same thing) is kept as mine and named in `both`. Pure."""
    my_changes, their_changes = changes(base, mine), changes(base, theirs)
    mine_by_name = {e.name: e for e in mine.entries}
    theirs_by_name = {e.name: e for e in theirs.entries}
    both = tuple(sorted(n for n in my_changes.names & their_changes.names
                        if mine_by_name.get(n) != theirs_by_name.get(n)))
    entries = [mine_by_name.get(e.name, e) if e.name in my_changes.names else e
               for e in theirs.entries if e.name not in my_changes.removed]
    entries += [mine_by_name[n] for n in my_changes.added if n not in theirs_by_name]
    zone = mine.timezone if mine.timezone != base.timezone else theirs.timezone
    return Merge(Document(tuple(entries), theirs.revision, zone), my_changes, their_changes,
                 both)
