"""`beat-panel schedule ...`: list, add, remove, enable, disable, import, history, restore.

Bad input exits 2 with a message that names the field, and leaves the file untouched.
Each workflow (save and wait for "applied", import, restore) is the schedule session's;
this module only turns arguments into calls and answers into text or JSON.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

from beat_panel import schedule
from beat_panel.celeryapp import appinfo, tasknames
from beat_panel.cli import exit_codes
from beat_panel.config import Config
from beat_panel.control import activity
from beat_panel.control.status import check_status
from beat_panel.errors import PanelError
from beat_panel.schedule import Document, ScheduleError, transfer
from beat_panel.schedule.session import ImportPlan, ScheduleSession, changes, plan_import
from beat_panel.schedule.source import source_for
from beat_panel.schedule.store import ScheduleStore, read_saved_bytes
from beat_panel.schedule.views import build_views, clock_for


class UsageError(PanelError):
    """Bad input from the command line (exit 2)."""


def add_parser(sub: argparse._SubParsersAction,
               with_json: Callable[[argparse.ArgumentParser], argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("schedule", help="list and edit the periodic schedule")
    actions = parser.add_subparsers(dest="schedule_command", metavar="ACTION",
                                    parser_class=type(parser))
    actions.required = True
    with_json(actions.add_parser("list", help="every entry with its next run"))

    add = with_json(actions.add_parser("add", help="add an entry"))
    add.add_argument("name")
    add.add_argument("--task", required=True, help="the task name, e.g. proj.tasks.cleanup")
    when = add.add_mutually_exclusive_group(required=True)
    when.add_argument("--every", type=float, metavar="SECONDS", help="run every N seconds")
    when.add_argument("--cron", metavar='"m h dom mon dow"', help="a crontab schedule")
    when.add_argument("--solar", metavar="EVENT", help="a solar event, e.g. sunset "
                      "(needs --lat and --lon)")
    when.add_argument("--at", metavar="ISO-8601", help="run once at this date and time")
    add.add_argument("--lat", type=float, help="latitude for --solar")
    add.add_argument("--lon", type=float, help="longitude for --solar")
    add.add_argument("--args", default="[]", metavar="JSON", help="positional args, a JSON list")
    add.add_argument("--kwargs", default="{}", metavar="JSON",
                     help="keyword args, a JSON object")
    add.add_argument("--queue")
    add.add_argument("--priority", type=int)
    add.add_argument("--expires", type=float, metavar="SECONDS")
    add.add_argument("--one-off", action="store_true", help="run once, then never again")
    add.add_argument("--disabled", action="store_true", help="add it switched off")
    add.add_argument("--description", default="")

    export = with_json(actions.add_parser(
        "export", help="write the schedule (file or Redis) to a schedule file, with each "
                       "entry's run state"))
    export.add_argument("file", type=Path)
    export.add_argument("--force", action="store_true", help="replace an existing file")
    take = with_json(actions.add_parser(
        "import-file", help="bring the entries of a schedule file into this project's "
                            "schedule (file or Redis), with their run state"))
    take.add_argument("file", type=Path)
    take.add_argument("--replace", action="store_true",
                      help="replace entries of the same name")

    for name, text in (("remove", "remove entries"), ("enable", "switch entries on"),
                       ("disable", "switch entries off")):
        p = with_json(actions.add_parser(name, help=text))
        p.add_argument("names", nargs="+", metavar="NAME")

    imp = with_json(actions.add_parser("import", help="bring in an app's own beat_schedule"))
    imp.add_argument("--app", help="the Celery app (default: [beat] app of the config)")
    imp.add_argument("--replace", action="store_true",
                     help="replace entries that already exist under the same name")

    run_now = with_json(actions.add_parser(
        "run", help="send an entry's task once, now, through the app's broker"))
    run_now.add_argument("name")

    with_json(actions.add_parser("history", help="earlier saved versions"))
    restore = with_json(actions.add_parser("restore", help="go back to an earlier version"))
    restore.add_argument("revision", type=int)


def _parse_json(text: str, flag: str) -> object:
    field = flag.lstrip("-")
    shown = text if len(text) <= 80 else text[:77] + "..."
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{field}: {flag} is not valid JSON ({exc.msg} at column "
                         f"{exc.colno}): {shown}") from None
    except RecursionError:
        raise UsageError(f"{field}: {flag} is nested too deeply to read; keep it a few "
                         "levels deep") from None
    except ValueError:  # only a number with thousands of digits gets here
        raise UsageError(f"{field}: {flag} holds a number with more digits than can be "
                         "read; use a shorter one") from None


def entry_from_args(args: argparse.Namespace) -> schedule.Entry:
    """The entry `schedule add` describes, checked (a date in the past is refused)."""
    if args.every is not None:
        spec: dict = {"kind": "interval", "every": args.every, "period": "seconds"}
    elif args.cron is not None:
        spec = {"kind": "crontab", **schedule.cron_fields(args.cron)}
    elif args.solar is not None:
        spec = {"kind": "solar", "event": args.solar, "latitude": args.lat,
                "longitude": args.lon}
    else:
        spec = {"kind": "clocked", "at": args.at}
    options = {k: v for k, v in (("queue", args.queue), ("priority", args.priority),
                                 ("expires", args.expires)) if v is not None}
    return schedule.parse_entry({
        "name": args.name, "task": args.task, "schedule": spec,
        "args": _parse_json(args.args, "--args"), "kwargs": _parse_json(args.kwargs, "--kwargs"),
        "options": options, "enabled": not args.disabled, "one_off": args.one_off,
        "description": args.description,
    }, check_past=True)


def run(args: argparse.Namespace, config: Config, as_json: bool) -> int:
    source = source_for(config)
    if source is None:
        return _fail(as_json, "No schedule is configured. Add to beat-panel.toml:\n"
                              '[schedule]\nfile = "schedule.json"\n(or redis_url = '
                              '"redis://host:6379/0" for a RedBeat schedule)', exit_codes.USAGE)
    try:
        return _run(args, config, ScheduleSession(source), as_json)
    except (ScheduleError, UsageError) as exc:
        return _fail(as_json, str(exc), exit_codes.USAGE)
    except PanelError as exc:  # a conflict, an app that cannot be inspected
        return _fail(as_json, str(exc), exit_codes.FAILED)
    except OSError as exc:
        return _fail(as_json, f"Cannot write {source.where}: {exc}", exit_codes.FAILED)


def _fail(as_json: bool, message: str, code: int) -> int:
    if as_json:
        print(json.dumps({"success": False, "message": message}))
    print(f"beat-panel: {message}", file=sys.stderr)
    return code


def _run(args: argparse.Namespace, config: Config, session: ScheduleSession,
         as_json: bool) -> int:
    action = args.schedule_command
    if action == "restore":
        # Without loading first: a damaged file is what a restore is for.
        restored = session.restore(args.revision)
        return _report_saved(config, restored, f"Restored revision {args.revision} as "
                                               f"revision {restored.revision}.", as_json, {})
    if action == "history":
        return _history(session, as_json)
    if action in ("export", "import-file"):
        return _transfer(args, session, as_json)
    session = ScheduleSession.open(session.source)
    doc = session.document
    if action == "list":
        return _list(session, config, as_json)
    if action == "run":
        entry = doc.require(args.name)
        task_id = appinfo.send_now(config, entry)
        _print(as_json, {"success": True, "name": entry.name, "task": entry.task,
                         "task_id": task_id},
               f"Sent {entry.task} for {entry.name!r} now (task id {task_id}).")
        return exit_codes.OK

    extra: dict = {}
    task_check: Future[tasknames.TaskCheck] | None = None
    if action == "add":
        entry = entry_from_args(args)
        new_doc, message = doc.adding(entry), f"Added {entry.name!r}."
        for given, kept, what in ((args.name, entry.name, "name"),
                                  (args.task, entry.task, "task")):
            if given != kept:
                message += (f" The {what} was given as {given!r}; the spaces around it were "
                            "removed.")
        task_check = _check_task_meanwhile(config, entry.task)
    elif action == "remove":
        new_doc, message = doc.removing(args.names), f"Removed {', '.join(args.names)}."
    elif action in ("enable", "disable"):
        new_doc = doc.enabling(args.names, action == "enable")
        message = f"{action.capitalize()}d {', '.join(args.names)}."
    elif action == "import":
        info = appinfo.inspect_app(config, args.app)
        plan = plan_import(doc, info, args.replace)
        new_doc, message, extra = plan.document, _import_message(plan), plan.to_json()
        if info.python is not None:  # which Python looked at the app, and why that one
            message += f" The app was read by {info.python.describe()}."
            extra["python"] = info.python.path
    else:  # pragma: no cover - argparse allows only the actions above
        raise UsageError(f"unknown action {action}")
    edited = session.editing(new_doc)
    if not edited.dirty:
        # Writing the same schedule again would only add a revision and a history file.
        note = "Nothing changed, so nothing was saved."
        _print(as_json, {"success": True, "message": message, "revision": session.revision,
                         "saved": False, "applied": None, "note": note, **extra},
               f"{message} {note}")
        return exit_codes.OK
    static = edited.static_note
    saved = edited.save()
    if static:
        print(f"beat-panel: note: {static}", file=sys.stderr)
        extra["static_note"] = static
    if task_check is not None:
        extra["warnings"] = _task_warnings(task_check.result())
    return _report_saved(config, saved, message, as_json, extra)


def _check_task_meanwhile(config: Config, task: str) -> Future[tasknames.TaskCheck]:
    """Ask the app whether it registers `task`, in the background while the entry is
    saved (reading the app takes a subprocess: the save need not wait for it)."""
    pool = ThreadPoolExecutor(max_workers=1)  # not `with`: that would wait here
    future = pool.submit(tasknames.check_task_in_app, config, task)
    pool.shutdown(wait=False)
    return future


def _task_warnings(check: tasknames.TaskCheck) -> list[str]:
    """The warning for a task the app does not register, on stderr (the entry is saved
    all the same); a short note when the app's tasks could not be read."""
    if check.warning:
        print(f"beat-panel: warning (saved all the same): {check.warning}", file=sys.stderr)
        return [check.warning]
    if check.registered is None and check.reason and check.app:
        first = check.reason.splitlines()[0]
        print(f"beat-panel: note: {check.task!r} was not checked against the app's tasks "
              f"({first[:200]})", file=sys.stderr)
    return []


def _import_message(plan: ImportPlan) -> str:
    if plan.conflicting:
        return (f"{plan.summary} Run again with --replace to overwrite "
                f"{', '.join(plan.conflicting)} with the app's.")
    return plan.summary


def _report_saved(config: Config, saved: ScheduleSession, message: str, as_json: bool,
                  extra: dict) -> int:
    activity.record(config.project_id, activity.Kind.SAVE, True,
                    f"Schedule revision {saved.revision}: {message}")
    status = check_status(config)
    check = saved.wait_applied([p.pid for p in status.processes if not p.embedded],
                               embedded_pids=[p.pid for p in status.processes if p.embedded])
    note = check.note + (" Run: beat-panel restart" if check.restart_needed else "")
    _print(as_json, {"success": True, "message": message, "revision": saved.revision,
                     "saved": True, "applied": check.applied, "apply_state": str(check.state),
                     "note": note, **extra}, f"{message} {note}")
    return exit_codes.OK


def _history(session: ScheduleSession, as_json: bool) -> int:
    """The saved versions, without loading the file first: a damaged file is exactly when
    a person needs this list."""
    try:
        current, damaged = ScheduleSession.open(session.source).revision, None
    except ScheduleError as exc:
        current, damaged = None, str(exc)
    except OSError as exc:
        current, damaged = None, f"cannot read {session.where}: {exc.strerror}"
    history = session.history()
    unusable = ScheduleStore(session.path).unusable_history() if session.path else []
    documents = [_read_saved(i.path) for i in history]
    items = []
    for n, i in enumerate(history):
        newer = documents[n]
        # The first version ever saved changed an empty schedule.
        older = documents[n + 1] if n + 1 < len(documents) else \
            Document() if i.revision == 1 else None
        changed = changes(older, newer) if newer is not None and older is not None else None
        items.append({"revision": i.revision, "saved_at": i.saved_at.isoformat(),
                      "current": i.revision == current and n == 0, "path": str(i.path),
                      "changes": changed.to_json() if changed is not None else None,
                      "words": changed.words() if changed is not None else None})
    lines = [f"revision {i['revision']}  saved {i['saved_at']}"
             + ("  (current)" if i["current"] else "")
             + (f"\n    {i['words']}" if i["words"] else "") for i in items]
    skipped = [{"path": str(path), "why": why} for path, why in unusable]
    if unusable:
        lines.append("Left out (not saved versions): " + "; ".join(
            f"{path.name}: {why}" for path, why in unusable[:20])
            + (f"; and {len(unusable) - 20} more" if len(unusable) > 20 else ""))
        print(f"beat-panel: note: {len(unusable)} name(s) in the history folder are not "
              "saved versions and were left out", file=sys.stderr)
    if damaged:
        lines.insert(0, f"The schedule file cannot be used: {damaged}\nRestore one of "
                        "these with: beat-panel schedule restore REVISION")
    empty = "No saved versions yet." if session.path is not None else \
        "A schedule in Redis keeps no saved versions; `beat-panel schedule export FILE` keeps one."
    _print(as_json, {"success": True, "current_revision": current, "damaged": damaged,
                     "history": items, "skipped": skipped}, "\n".join(lines) or empty)
    return exit_codes.OK


def _read_saved(path: Path) -> Document | None:
    """A saved version from the history folder; None if it cannot be read."""
    try:
        return schedule.loads(read_saved_bytes(path).decode("utf-8"), str(path))
    except (OSError, ValueError, ScheduleError):
        return None


def _transfer(args: argparse.Namespace, session: ScheduleSession, as_json: bool) -> int:
    if args.schedule_command == "export":
        done = transfer.export_to_file(session.source, args.file.absolute(), args.force)
        message = (f"Exported {len(done.written)} entr{'y' if len(done.written) == 1 else 'ies'}"
                   f" from {session.where} to {done.where}, with their run state.")
    else:
        done = transfer.import_from_file(session.source, args.file.absolute(), args.replace)
        message = (f"Imported {len(done.written)} entr{'y' if len(done.written) == 1 else 'ies'}"
                   f" from {args.file} into {done.where}"
                   + (f"; kept {', '.join(done.kept)} as they were (--replace replaces them)"
                      if done.kept else "") + ".")
        if not done.saved:
            message += " Nothing changed, so nothing was saved."
        for note in done.notes:
            print(f"beat-panel: note: {note}", file=sys.stderr)
    _print(as_json, {"success": True, "message": message, **done.to_json()}, message)
    return exit_codes.OK


def _list(session: ScheduleSession, config: Config, as_json: bool) -> int:
    doc, state = session.document, session.report
    # Times are in the zone beat uses; whether the beat that reported still runs decides
    # between its zone and the one the file records.
    pids = None
    if state is not None and state.pid is not None:
        pids = [p.pid for p in check_status(config).processes if not p.embedded]
    clock = clock_for(doc, state, pids)
    views = build_views(doc, state, datetime.now(timezone.utc), clock)
    skipped = [{"key": key, "why": why} for key, why in session.skipped]
    if session.skipped:
        print(f"beat-panel: note: {session.skipped_note}", file=sys.stderr)
    statics = session.statics  # a RedBeat schedule's entries from the app's beat_schedule
    if as_json:
        entries = [{**v.to_json(), **({"from_app": True} if v.entry.name in statics else {})}
                   for v in views]
        print(json.dumps({"success": True, "revision": doc.revision,
                          "timezone": clock.to_json(), "entries": entries,
                          "skipped": skipped}))
        return exit_codes.OK
    if not views:
        print("The schedule is empty. Add an entry: beat-panel schedule add NAME --task T "
              "--every 60")
        return exit_codes.OK
    rows = [("", "NAME", "TASK", "SCHEDULE", f"NEXT RUN ({clock.name})")]
    for v in views:
        nxt = v.next_run.strftime("%Y-%m-%d %H:%M:%S %Z") if v.next_run else \
            f"missed (run it: beat-panel schedule run {shlex.quote(v.entry.name)})" \
            if v.missed else "—"
        name = f"{v.entry.name} *" if v.entry.name in statics else v.entry.name
        rows.append(("on" if v.entry.enabled else "off", name, v.entry.task, v.words, nxt))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    note = f" {clock.note}" if clock.note else ""
    print(f"\nTimes are in {clock.name}: {clock.why}.{note}")
    if statics & {v.entry.name for v in views}:
        print("* from the app's beat_schedule: a RedBeat beat rewrites it from the app at its "
              "next start, so change it in the app's code to keep a change.")
    return exit_codes.OK


def _print(as_json: bool, payload: dict, text: str) -> None:
    print(json.dumps(payload) if as_json else text)
