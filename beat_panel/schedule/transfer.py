"""Moving a schedule between a file and Redis, either way, with its run state: the
entries, the time zone, and when each entry last ran and how often, so that the beat on
the other side neither sends everything at once nor starts counting afresh.

A file's run state is the report its beat plugin keeps beside it; Redis's is RedBeat's
`meta` of each entry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from beat_panel.files.atomic import atomic_write
from beat_panel.files.regular import MAX_FILE_BYTES, read_regular
from beat_panel.schedule.beat_report import BeatReport, read_beat_report, report_path
from beat_panel.schedule.model import Document, ScheduleError
from beat_panel.schedule.redbeat.codec import RunState, redbeat_problem
from beat_panel.schedule.session import ScheduleSession
from beat_panel.schedule.source import RedisSource, ScheduleSource
from beat_panel.schedule.store import ScheduleStore, history_dir, sha256


@dataclass(frozen=True)
class Transfer:
    """What was moved: the entries written, those kept as they were (same name, not
    replaced), and where."""

    written: tuple[str, ...]
    kept: tuple[str, ...]
    where: str
    notes: tuple[str, ...] = ()  # what a person must know (a crontab's zone changed)
    saved: bool = True  # False: nothing changed, so nothing was written

    def to_json(self) -> dict:
        return {"written": list(self.written), "kept": list(self.kept), "where": self.where,
                "notes": list(self.notes), "saved": self.saved}


def runs_of(report: BeatReport | None, names: list[str]) -> dict[str, RunState]:
    """The run state a report gives for each of `names` (those it knows)."""
    runs: dict[str, RunState] = {}
    if report is None:
        return runs
    for name in names:
        last = report.timing_basis(name)
        count = report.run_count(name)
        if last is not None or count:
            runs[name] = RunState(last, count)
    return runs


def export_to_file(source: ScheduleSource, file: Path, force: bool = False) -> Transfer:
    """Write the project's schedule (file or Redis) to `file`, a schedule file the panel's
    scheduler runs, with each entry's run state in its beat report (only when there is
    run state to carry). An existing file is replaced only with `force`, and only when
    it is a regular file (never written into a FIFO or a device). Nothing else is
    written beside it, unless `file` is itself a schedule the panel keeps saved versions
    of: then its old version is kept in its history, as any save does."""
    if not file.parent.is_dir():
        raise ScheduleError([("file", f"the folder {file.parent} does not exist")])
    current = _target_sha(file)
    if current is not None and not force:
        raise ScheduleError([("file", f"{file} exists; export replaces it only when asked "
                                      "(--force)")])
    session = ScheduleSession.open(source)
    store = ScheduleStore(file)
    document = Document(session.document.entries, 0, session.document.timezone)
    if history_dir(file).is_dir():
        store.save(document, current, force=True)
    else:
        atomic_write(file, Document(document.entries, _revision_of(store) + 1,
                                    document.timezone).dumps().encode("utf-8"))
    runs = runs_of(session.report, session.document.names())
    if runs:
        state = {"format": "beat-panel-beat-state", "version": 2,
                 "runs": {name: {"last_run_at": r.last_run_at.isoformat() if r.last_run_at
                                 else None, "total_run_count": r.total_run_count,
                                 "sent_count": r.total_run_count}
                          for name, r in runs.items()}}
        atomic_write(report_path(file), json.dumps(state).encode("utf-8"))
    return Transfer(tuple(session.document.names()), (), str(file))


def _target_sha(file: Path) -> str | None:
    """The hash of what is at an export's target (None: nothing). Only a regular file
    there may be replaced: a FIFO, a device, a folder or a symbolic link (/dev/stdout,
    say) is refused, checked on what was opened, without waiting and without following
    the link, whose rename would replace the link itself."""
    try:
        data = read_regular(file, limit=MAX_FILE_BYTES, follow=False)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ScheduleError([("file", f"{file} cannot be replaced: {exc.strerror}; export "
                                      "writes a new or a regular file")]) from None
    return sha256(data)


def _revision_of(store: ScheduleStore) -> int:
    """The revision of the schedule file being replaced (0: none, or not one)."""
    try:
        return store.load().document.revision
    except ScheduleError:
        return 0


def import_from_file(source: ScheduleSource, file: Path, replace: bool = False) -> Transfer:
    """Bring the entries of schedule file `file` into the project's schedule, with their
    run state. Entries of the same name are replaced only with `replace`. Into Redis,
    every entry is checked first: one RedBeat cannot run stops the import before
    anything is written."""
    incoming = ScheduleStore(file).load().document
    if not incoming.entries and not file.exists():
        raise ScheduleError([("file", f"{file} does not exist")])
    session = ScheduleSession.open(source)
    have = {e.name: e for e in session.document.entries}
    take = [e for e in incoming.entries if e.name not in have or (replace and have[e.name] != e)]
    # Kept: of the same name and different, not replaced (an identical one is no news).
    kept = tuple(e.name for e in incoming.entries
                 if e.name in have and have[e.name] != e and e not in take)
    runs = runs_of(read_beat_report(file), [e.name for e in take])
    zone = session.document.timezone or incoming.timezone
    # Nothing new and the same zone: nothing is written (no revision, no history).
    changed = bool(take) or zone != session.document.timezone
    if isinstance(source, RedisSource):
        problems = [p for e in take if (p := redbeat_problem(e)) is not None]
        if problems:
            raise ScheduleError(problems, str(file))
        from beat_panel.schedule.redbeat.store import RedisStore

        if changed:
            RedisStore(source.target).import_document(Document(tuple(take), 0, zone), runs,
                                                       expected=session.document)
    elif changed:
        entries = [e for e in session.document.entries if e.name not in {t.name for t in take}]
        document = Document((*entries, *take), session.document.revision, zone)
        session.editing(document).save()
    notes: tuple[str, ...] = ()
    crontabs = [e.name for e in take if e.schedule.kind == "crontab"]
    if crontabs and incoming.timezone and zone != incoming.timezone:
        notes = (f"{', '.join(crontabs)} were written for {incoming.timezone}; this schedule "
                 f"runs in {zone or 'UTC'}, so their times now mean {zone or 'UTC'} time. "
                 "Change them if they should keep their hours.",)
    return Transfer(tuple(e.name for e in take), kept, source.where, notes, saved=changed)
