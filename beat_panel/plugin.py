"""The beat scheduler that runs a Beat Panel schedule file, inside the user's `celery beat`.

    celery -A proj beat -S beat_panel.plugin:PanelScheduler

with the file named by `app.conf.beat_panel_schedule`, `$BEAT_PANEL_SCHEDULE`, or
`--schedule FILE.json`. Each tick costs one stat() of the file; a saved change is applied
within a second without a restart, and entries that did not change keep their timing (no
re-fire). Run state survives restarts. A corrupt file leaves the last good schedule
running. Only celery and the schedule model are imported here.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import signal
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from celery.beat import ScheduleEntry, Scheduler
from celery.exceptions import ImproperlyConfigured

from beat_panel import schedule
from beat_panel.files.atomic import atomic_write
from beat_panel.files.regular import MAX_FILE_BYTES, read_regular
from beat_panel.schedule import beat_report, fileformat

logger = logging.getLogger("beat_panel.plugin")

# Beat wakes at least this often to look at the file (celery's default is 5 minutes),
# so a save is applied well within a second.
RELOAD_INTERVAL = 0.5
STATE_WRITE_INTERVAL = 1.0
STATE_WRITE_SHARE = 20  # at least this many times as long between writes as one takes
# A file this big or bigger is read in a thread (50,000 entries take some 0.6 s to check);
# a smaller one in the tick, so an edit is applied without waiting for the next tick.
INLINE_PARSE_BYTES = 1 << 20
PARSED_LOOK_INTERVAL = 0.05  # how soon beat looks again while a big file is read aside
# A problem that lasts (a folder at the file's path, say) is logged again at most this
# often; the state file is rewritten only when the problem changes.
ERROR_REPEAT_INTERVAL = 60.0


def schedule_file_for(app: Any, schedule_filename: str | None) -> Path:
    """Which schedule file this beat runs (see the module docstring for the order)."""
    configured = app.conf.get("beat_panel_schedule") or os.environ.get("BEAT_PANEL_SCHEDULE")
    if not configured and schedule_filename and str(schedule_filename).endswith(".json"):
        configured = schedule_filename
    if not configured:
        raise ImproperlyConfigured(
            "Beat Panel's scheduler needs a schedule file: set app.conf.beat_panel_schedule "
            "= '/path/to/schedule.json', or BEAT_PANEL_SCHEDULE, or pass "
            "--schedule /path/to/schedule.json."
        )
    path = Path(configured).expanduser()
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        # A loop of links at the path: beat starts all the same, says why it cannot use
        # the file and runs the last good schedule, as for a folder or a FIFO there.
        return Path(os.path.abspath(path))


class PanelScheduler(Scheduler):
    """Runs the enabled entries of a Beat Panel schedule file and follows its changes."""

    max_interval = RELOAD_INTERVAL

    def __init__(self, app: Any, *args: Any, schedule_filename: str | None = None,
                 **kwargs: Any) -> None:
        self.path = schedule_file_for(app, schedule_filename)
        self.state_file = beat_report.report_path(self.path)
        self._file_key: tuple | None = None
        self._sha: str | None = None
        self._revision: int | None = None
        self._error: str | None = None
        self._error_logged = 0.0  # time.monotonic() when the current problem was logged
        self._models: dict[str, schedule.Entry] = {}
        self._entry_cache = fileformat.EntryCache()
        self._parser: threading.Thread | None = None  # a big file being read aside
        self._parsed: tuple[bytes, str, schedule.Document | BaseException] | None = None
        self._fingerprints: dict[str, str] = {}
        self._runs: dict[str, dict] = {}
        self._dirty = False
        self._state_written = 0.0  # time.monotonic() of the last state write
        self._write_every = STATE_WRITE_INTERVAL  # grows with the state's size
        self._state_write_failed = False
        self._ticked_at: float | None = None  # the panel counts a start from this
        self._broker_error: tuple[str, float] | None = None  # why, and since when
        self._in_tick = False
        self._held_signal: int | None = None
        self._stop_handlers: dict[int, Any] = {}
        super().__init__(app, *args, **kwargs)
        self.max_interval = min(self.max_interval or RELOAD_INTERVAL, RELOAD_INTERVAL)

    # -- celery's Scheduler hooks -------------------------------------------------

    def setup_schedule(self) -> None:
        self._hold_stop_signals()
        self._load_runs()
        self._check_file(force=True)
        if self._sha is None and self._error is not None:
            self._run_last_good()
        ignored = self.app.conf.beat_schedule or {}
        if ignored:
            logger.info("beat-panel: the app's own beat_schedule (%d entries) is not used; "
                        "this beat runs %s. Bring them over with `beat-panel schedule "
                        "import`.", len(ignored), self.path)

    def tick(self, *args: Any, **kwargs: Any) -> float:
        self._in_tick = True
        try:
            self._check_file()
            delay = super().tick(*args, **kwargs)
            if self._parser is not None:
                delay = min(delay, PARSED_LOOK_INTERVAL)
            if self._ticked_at is None:
                # Loaded, and one whole tick done: the sign of life the panel waits for.
                self._ticked_at = time.time()
                self._write_state()
            # Run counts are written at most once a second, not after every send: a big
            # schedule sending often would otherwise spend its time rewriting the file.
            if self._dirty and time.monotonic() - self._state_written >= self._write_every:
                self._write_state()
        finally:
            self._in_tick = False
            self._act_on_held_signal()
        return delay

    # -- stopping between sends, never in one -------------------------------------

    def _hold_stop_signals(self) -> None:
        """Celery's beat answers SIGTERM and SIGINT by saving and raising SystemExit
        wherever its main thread is: in the middle of a send, that can leave a
        half-written message, or a run counted that was never sent. A tick sends at most
        one entry, so the signal is held while a tick runs and acted on right after it;
        while beat sleeps between ticks it acts at once, as before."""
        if threading.current_thread() is not threading.main_thread():
            return  # an embedded beat in a thread: its worker owns the signals
        for signum in (signal.SIGTERM, signal.SIGINT):
            handler = signal.getsignal(signum)
            if callable(handler):
                self._stop_handlers[signum] = handler
                signal.signal(signum, self._on_stop_signal)

    def _on_stop_signal(self, signum: int, frame: Any) -> None:
        if self._in_tick:
            self._held_signal = signum
            return
        self._stop_handlers[signum](signum, frame)

    def _act_on_held_signal(self) -> None:
        if self._held_signal is not None:
            signum, self._held_signal = self._held_signal, None
            self._stop_handlers[signum](signum, None)

    def reserve(self, entry: ScheduleEntry) -> ScheduleEntry:
        new_entry = super().reserve(entry)
        run = self._runs.setdefault(entry.name, {})
        run["last_run_at"] = new_entry.last_run_at.isoformat()
        run["total_run_count"] = new_entry.total_run_count
        model = self._models.get(entry.name)
        if model is not None and _runs_once(model):
            # Sent now, never again (until the entry is edited).
            run["done"] = model.fingerprint()
            self.schedule.pop(entry.name, None)
            self._fingerprints.pop(entry.name, None)
            self._heap = None  # so the tick does not put it back on the heap
        self._dirty = True
        return new_entry

    def apply_async(self, entry: ScheduleEntry, producer: Any = None, advance: bool = True,
                    **kwargs: Any) -> Any:
        """Send as Celery does, and record whether the send reached the broker: a run
        counted by the timing is not a task sent (a broker that is down, say)."""
        try:
            result = super().apply_async(entry, producer, advance, **kwargs)
        except Exception as exc:
            self._record_send(entry.name, error=exc)
            raise  # Celery logs it ("Message Error") as before
        self._record_send(entry.name)
        return result

    def _record_send(self, name: str, error: BaseException | None = None) -> None:
        run = self._runs.setdefault(name, {})
        now = self.app.now().isoformat()
        if error is None:
            run["last_sent_at"] = now
            run["sent_count"] = _count(run.get("sent_count")) + 1
            run.pop("last_error", None)
        else:
            run["failed_count"] = _count(run.get("failed_count")) + 1
            run["last_error"] = {"at": now, "error": _masked(str(error))[:500]}
        self._dirty = True

    def _ensure_connected(self) -> Any:
        """Celery's wait for the broker, which blocks beat's loop while it retries: the
        same wait, but the report says why beat is not sending meanwhile."""
        def retrying(exc: BaseException, interval: float) -> None:
            logger.error("beat: Connection error: %s. Trying again in %s seconds...",
                         _masked(str(exc)), interval)
            if self._broker_error is None:
                self._broker_error = (_masked(str(exc))[:500], time.time())
                self._write_state()

        connection = self.connection.ensure_connection(
            retrying, self.app.conf.broker_connection_max_retries)
        if self._broker_error is not None:
            self._broker_error = None
            logger.info("beat-panel: connected to the broker again")
            self._write_state()
        return connection

    def schedules_equal(self, *args: Any, **kwargs: Any) -> bool:
        """Celery compares the whole schedule with a copy at every tick to notice
        changes, which costs a few milliseconds per thousand entries at each send. This
        scheduler changes its schedule only in `_apply` and `reserve`, and both reset
        the heap, so the comparison is not needed."""
        return True

    def sync(self) -> None:
        if self._dirty:
            self._write_state()

    def close(self) -> None:
        self.sync()
        super().close()

    @property
    def info(self) -> str:
        return f"    . schedule file -> {self.path}"

    # -- following the file -------------------------------------------------------

    def _check_file(self, force: bool = False) -> None:
        """One stat() per tick; read and apply the file only when it changed. A big file
        is parsed and checked in a thread while beat goes on sending; the tick after
        that applies it (the part that must run in beat's loop, and is quick)."""
        self._use_parsed()
        if self._parser is not None and not force:
            return  # one read at a time; the key is left, so the next tick looks again
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            if force or self._file_key is not None:
                self._file_key = None
                self._fail(f"{self.path} does not exist")
            return
        except OSError as exc:
            self._fail(f"cannot stat {self.path}: {exc.strerror}")
            return
        # ctime too: an atomic rename can reuse an inode within one mtime tick.
        key = (st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino)
        if key == self._file_key and not force:
            return
        try:
            data = read_regular(self.path, limit=MAX_FILE_BYTES)
        except OSError as exc:
            self._fail(f"cannot read {self.path}: {exc.strerror}")
            return  # the key stays old, so the next tick tries again
        self._file_key = key
        sha = hashlib.sha256(data).hexdigest()
        if sha == self._sha and not force:
            if self._error is not None:  # back to the version beat runs
                self._error = None
                logger.info("beat-panel: %s is usable again (revision %s)", self.path,
                            self._revision)
                self._write_state()
            return
        if force or len(data) < INLINE_PARSE_BYTES:
            self._use(data, sha, self._parse(data))
            return
        self._parser = threading.Thread(target=self._parse_aside, args=(data, sha),
                                        name="beat-panel-parse", daemon=True)
        self._parser.start()

    def _parse(self, data: bytes) -> schedule.Document | BaseException:
        # Whatever the bytes are, beat keeps running: any failure to parse, check or
        # apply them keeps the last good schedule and says why.
        try:
            return fileformat.loads(data.decode("utf-8"), str(self.path), self._entry_cache)
        except Exception as exc:
            return exc

    def _parse_aside(self, data: bytes, sha: str) -> None:
        self._parsed = (data, sha, self._parse(data))

    def _use_parsed(self) -> None:
        parsed = self._parsed
        if parsed is not None:
            self._parsed, self._parser = None, None
            self._use(*parsed)

    def _use(self, data: bytes, sha: str, outcome: schedule.Document | BaseException) -> None:
        if isinstance(outcome, BaseException):
            self._fail(_unusable(outcome))
            return
        document = outcome
        try:
            self._apply(document)
        except Exception as exc:  # never let one bad entry stop beat
            self._fail(f"cannot apply revision {document.revision}: {_unusable(exc)}")
            return
        self._sha, self._revision, self._error = sha, document.revision, None
        logger.info("beat-panel: applied %s revision %s (%d entries enabled)", self.path,
                    document.revision, len(self.schedule))
        self._write_state()
        self._keep_last_good(data)

    def _keep_last_good(self, data: bytes) -> None:
        try:
            atomic_write(beat_report.last_good_path(self.path), data)
        except OSError as exc:
            logger.warning("beat-panel: cannot keep a copy of the schedule it runs (%s); a "
                           "restart while the file is damaged would run nothing.",
                           exc.strerror)

    def _run_last_good(self) -> None:
        """At start, with a file beat cannot use: run the last schedule a beat applied
        from it (kept beside it), instead of nothing."""
        copy = beat_report.last_good_path(self.path)
        try:
            data = read_regular(copy, limit=MAX_FILE_BYTES)
            document = schedule.loads(data.decode("utf-8"), str(copy))
            self._apply(document)
        except FileNotFoundError:
            return
        except Exception as exc:
            logger.warning("beat-panel: cannot use the copy of the last good schedule %s "
                           "either: %s", copy, _unusable(exc))
            return
        self._sha, self._revision = hashlib.sha256(data).hexdigest(), document.revision
        logger.warning("beat-panel: running the last good schedule, revision %s (%d entries "
                       "enabled), kept from before this start, until %s can be used.",
                       document.revision, len(self.schedule), self.path)
        self._write_state()

    def _fail(self, why: str) -> None:
        now = time.monotonic()
        if why == self._error and now - self._error_logged < ERROR_REPEAT_INTERVAL:
            return
        changed, self._error, self._error_logged = why != self._error, why, now
        running = (f"revision {self._revision}" if self._sha is not None
                   else "no entries (nothing was loaded yet)")
        logger.error("beat-panel: cannot use the schedule file: %s. Still running the last "
                     "good schedule: %s.", why, running)
        if changed:
            self._write_state()

    def _apply(self, document: schedule.Document) -> None:
        """Install the document's entries; all new entries are built before anything
        changes, so a failure leaves the running schedule whole."""
        wanted = {e.name: e for e in document.entries if e.enabled and not self._is_done(e)}
        built: dict[str, ScheduleEntry] = {}
        for name, model in wanted.items():
            if self._fingerprints.get(name) == model.fingerprint() and name in self.schedule:
                continue  # unchanged: keep its timing, so it does not fire again
            old = self.schedule.get(name)
            run = self._runs.get(name, {})
            # An entry that never ran counts from when a beat installed it ("since"), as
            # that beat did: a run due while beat was down is then sent once at start,
            # as for entries that have run, instead of the count starting afresh.
            last_run_at = old.last_run_at if old else (
                _parse_time(run.get("last_run_at")) or _parse_time(run.get("since")))
            count = old.total_run_count if old else int(run.get("total_run_count", 0))
            built[name] = ScheduleEntry(
                name=name, task=model.task, schedule=model.schedule.celery(app=self.app),
                args=tuple(model.args), kwargs=dict(model.kwargs),
                options=model.options.celery(), last_run_at=last_run_at,
                total_run_count=count, app=self.app,
            )
        for name in list(self.schedule):
            if name not in wanted:
                del self.schedule[name]
                self._fingerprints.pop(name, None)
        for name, entry in built.items():
            self.schedule[name] = entry
            self._fingerprints[name] = wanted[name].fingerprint()
            run = self._runs.setdefault(name, {})
            if not run.get("last_run_at"):
                # Never ran: its timing counts from now, which the panel needs to know.
                run["since"] = entry.last_run_at.isoformat()
        self._models = {e.name: e for e in document.entries}
        self._heap = None  # rebuild the timing heap from the new entries

    def _is_done(self, model: schedule.Entry) -> bool:
        return _runs_once(model) and self._runs.get(model.name, {}).get("done") == \
            model.fingerprint()

    # -- the state file the panel reads -------------------------------------------

    def _load_runs(self) -> None:
        try:
            # Never waiting on a FIFO, never reading a device without end.
            data = json.loads(read_regular(self.state_file, limit=MAX_FILE_BYTES)
                              .decode("utf-8"))
            runs = data.get("runs", {})
            self._runs = {name: run for name, run in runs.items()
                          if isinstance(name, str) and isinstance(run, dict)}
        except Exception:  # any state file, even a planted one: start counting afresh
            self._runs = {}

    def _write_state(self) -> None:
        state = {
            "format": "beat-panel-beat-state",
            # 2: runs also say what was sent (last_sent_at, sent_count) and what failed
            # (last_error, failed_count); last_run_at and total_run_count are the timing.
            "version": 2,
            "timezone": str(self.app.timezone),
            "applied": {
                "pid": os.getpid(), "sha256": self._sha, "revision": self._revision,
                "at": time.time(), "error": self._error, "entries": len(self.schedule),
                "ticked_at": self._ticked_at,
                "broker_error": self._broker_error[0] if self._broker_error else None,
                "broker_error_since": self._broker_error[1] if self._broker_error else None,
            },
            "runs": self._runs,
        }
        began = time.monotonic()
        try:
            atomic_write(self.state_file, json.dumps(state, separators=(",", ":"))
                         .encode("utf-8"))
        except OSError as exc:
            if not self._state_write_failed:
                logger.warning("beat-panel: cannot write %s (%s); the panel will not see "
                               "what this beat applied.", self.state_file, exc.strerror)
            self._state_write_failed = True
        else:
            self._state_write_failed = False
            self._dirty = False
        self._state_written = time.monotonic()
        # A big schedule's run counts take a while to write: write them no more often
        # than keeps the writing under 5% of beat's time.
        self._write_every = max(STATE_WRITE_INTERVAL,
                                (self._state_written - began) * STATE_WRITE_SHARE)


_URL_PASSWORD = re.compile(r"(\w+://[^:/@\s]*:)[^@\s]+@")


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _masked(text: str) -> str:
    """`text` with the password of any URL in it masked."""
    return _URL_PASSWORD.sub(r"\1**@", text)


def _unusable(exc: BaseException) -> str:
    """Why a file cannot be used, in words, whatever went wrong reading it."""
    if isinstance(exc, schedule.ScheduleError):
        return str(exc)
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text (byte {exc.start})"
    if isinstance(exc, RecursionError):
        return "nested too deeply to read"
    return f"{type(exc).__name__}: {str(exc)[:200]}"


def _runs_once(model: schedule.Entry) -> bool:
    return model.one_off or isinstance(model.schedule, schedule.Clocked)


def _parse_time(raw: object) -> datetime | None:
    if not isinstance(raw, str):
        return None
    try:
        return datetime.fromisoformat(raw)
    except ValueError:
        return None


def beat_schedule_from_file(path: str | os.PathLike[str]) -> dict:
    """The file's enabled entries as a `beat_schedule` dict, for setups that load the
    schedule at start (`app.conf.beat_schedule = beat_schedule_from_file(...)`)."""
    document = schedule.loads(read_regular(path, limit=MAX_FILE_BYTES).decode("utf-8"),
                              str(path))
    return {
        e.name: {"task": e.task, "schedule": e.schedule.celery(), "args": tuple(e.args),
                 "kwargs": dict(e.kwargs), "options": e.options.celery()}
        for e in document.entries if e.enabled
    }
