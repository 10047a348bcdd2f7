"""The schedule in Redis behind the same interface as the schedule file: load, save with
conflict detection, and a quick look for changes.

Conflicts are found per entry, with Redis's optimistic locking (WATCH/MULTI): a save
writes only the entries it changed, and only if each is still as it was loaded; two
panels editing different entries never conflict, two editing the same one do, and
neither overwrites the other silently. A key under the prefix that is not an entry the
panel can read is reported and left alone: never overwritten, never deleted.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from beat_panel import schedule
from beat_panel.errors import PanelError
from beat_panel.schedule.model import Clocked, Document, Entry, ScheduleError
from beat_panel.schedule.redbeat import codec
from beat_panel.schedule.redbeat.codec import RunState
from beat_panel.schedule.redbeat.target import PANEL_KEY, RedisTarget, error_text
from beat_panel.schedule.store import ConflictError
from beat_panel.schedule.timing import known_zone

if TYPE_CHECKING:
    import redis

SCAN_COUNT = 1000
_SAVE_ATTEMPTS = 5  # a running beat rewrites `meta` at each send: a watch may trip on it


class RedisUnavailable(PanelError):
    """Redis cannot be reached, refused the login, or answered something else."""


class RedisConflict(ConflictError):
    """Entries changed in Redis since they were loaded; saving would overwrite that."""

    def __init__(self, names: list[str], message: str) -> None:
        self.names = names
        super().__init__(message)


@dataclass(frozen=True)
class Listing:
    """Everything under the prefix: the entries as a document, their run state, which
    came from the app's `beat_schedule` (RedBeat's statics), and the keys skipped."""

    document: Document
    sha: str
    runs: dict[str, RunState] = field(default_factory=dict)
    statics: frozenset[str] = frozenset()
    skipped: tuple[tuple[str, str], ...] = ()  # (key, why)


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


class RedisStore:
    """One RedBeat schedule in Redis."""

    def __init__(self, target: RedisTarget, client: redis.Redis | None = None) -> None:
        self.target = target
        self._client = client
        self._raw: redis.Redis | None = None

    @property
    def client(self) -> redis.Redis:
        if self._client is None:
            self._client = self.target.client()
        return self._client

    @property
    def raw(self) -> redis.Redis:
        """A client that answers bytes: what the store reads with, since a key or value
        that is not UTF-8 is to be reported, not to fail a whole listing or save."""
        if self._raw is None:
            self._raw = self.target.client(decode=False)
        return self._raw

    def _fail(self, exc: Exception, wrote: bool = False) -> RedisUnavailable:
        text = error_text(exc, self.target.url)
        if wrote:  # EXEC may have run, or run in part: Redis does not roll back
            text += (". The change may have been written, in whole or in part: look with "
                     "`beat-panel schedule list` before saving again")
        return RedisUnavailable(f"Redis at {self.target.shown}: {text}")

    # -- reading --------------------------------------------------------------------------

    def entry_keys(self) -> tuple[list[str], list[tuple[str, str]]]:
        """Every key under the prefix but RedBeat's own and the panel's settings, and the
        keys skipped since their names are not UTF-8 (with why)."""
        import redis

        special = self.target.special_keys() | {self.target.key_prefix + PANEL_KEY}
        try:
            found = set(self.raw.scan_iter(
                match=_glob_escape(self.target.key_prefix) + "*", count=SCAN_COUNT))
        except redis.RedisError as exc:
            raise self._fail(exc) from None
        keys, skipped = set(), []
        for key in found:
            try:
                keys.add(key.decode())
            except UnicodeDecodeError as exc:
                skipped.append((key.decode(errors="backslashreplace"),
                                f"its name is not UTF-8 text (byte 0x{key[exc.start]:02x} at "
                                f"{exc.start}); the panel's entries have UTF-8 names"))
        return sorted(keys - special), sorted(skipped)

    def load(self) -> Listing:
        """Read every entry (pipelined). RedisUnavailable when Redis cannot be read."""
        import redis

        keys, skipped = self.entry_keys()
        try:
            with self.raw.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.hgetall(key)
                pipe.smembers(self.target.statics_key)
                pipe.hget(self.target.key_prefix + PANEL_KEY, "timezone")
                pipe.type(self.target.lock)
                answers = pipe.execute(raise_on_error=False)
        except redis.RedisError as exc:
            raise self._fail(exc) from None
        *hashes, statics, zone, lock_type = answers
        if isinstance(statics, Exception):
            statics = set()
        entries: list[Entry] = []
        runs: dict[str, RunState] = {}
        digest = hashlib.sha256()
        prefix = len(self.target.key_prefix)
        for key, raw in zip(keys, hashes, strict=True):
            if isinstance(raw, Exception):
                skipped.append((key, "not a hash (RedBeat keeps each entry in a hash)"))
                continue
            digest.update(b"%s\0%r\0%r\n" % (key.encode(), raw.get(b"definition"),
                                               raw.get(b"beat_panel")))
            if not raw:
                continue  # gone between the scan and the read
            try:
                fields = _text_fields(raw)
                entry = codec.decode_entry(fields, key[prefix:])
            except ScheduleError as exc:
                skipped.append((key, str(exc)))
                continue
            entries.append(entry)
            runs[entry.name] = codec.decode_meta(fields.get(codec.META))
        if lock_type == b"hash":  # a lock_key that is an entry's key too: it looks like one
            skipped.append((self.target.lock, "it is the lock key ([schedule] lock_key), "
                            "which a beat overwrites when it takes the lock: give the entry "
                            "another name, or the lock another key (RedBeat's own is "
                            "\":lock\")"))
        zone = _text(zone) if isinstance(zone, bytes) else None
        zone = zone if zone and known_zone(zone) else None
        digest.update(f"zone\0{zone}".encode())
        names = {t for s in statics if isinstance(s, bytes) and (t := _text(s)) is not None}
        return Listing(Document(tuple(entries), 0, zone), digest.hexdigest(), runs,
                       frozenset(names), tuple(skipped))

    def current_sha(self) -> str:
        return self.load().sha

    # -- writing --------------------------------------------------------------------------

    def save(self, document: Document, base: Document, force: bool = False) -> Listing:
        """Write what changed from `base` to `document`: each entry added, changed or
        removed, only if it is still in Redis as in `base` (else RedisConflict naming
        them, unless `force`). A key that holds no readable entry is never overwritten
        (ScheduleError). Entries RedBeat cannot run are refused before anything is
        written."""
        import redis

        schedule.check_unique_names(list(document.entries))
        old = {e.name: e for e in base.entries}
        new = {e.name: e for e in document.entries}
        changed = [n for n, e in new.items() if old.get(n) != e]
        removed = [n for n in old if n not in new]
        self._check_names(Document(tuple(new[n] for n in changed)))
        zone_changed = document.timezone != base.timezone
        if not changed and not removed and not zone_changed:
            return self.load()
        if force:
            # "Keep mine": Redis ends as the document says, whatever it holds now (a Redis
            # that came back empty, say), so every entry is looked at, not only the edits.
            changed = list(new)
        keys = [self.target.key_of(n) for n in (*changed, *removed)]
        now = datetime.now(timezone.utc)
        try:
            with self.raw.pipeline(transaction=True) as pipe:
                for _attempt in range(_SAVE_ATTEMPTS):
                    try:
                        self._save_once(pipe, keys, changed, removed, old, new, document,
                                        force, now)
                        break
                    except redis.WatchError:
                        continue  # a beat wrote `meta` meanwhile: look again
                else:
                    raise RedisConflict(changed + removed, "The entries kept changing in "
                                        f"Redis while saving to {self.target.shown}; try "
                                        "again.")
        except redis.RedisError as exc:
            raise self._fail(exc, wrote=True) from None
        return self.load()

    def _save_once(self, pipe: Any, keys: list[str], changed: list[str], removed: list[str],
                   old: dict[str, Entry], new: dict[str, Entry], document: Document,
                   force: bool, now: datetime) -> None:
        if keys:
            pipe.watch(*keys)
        seen = self._look(pipe, keys, old, force, "since it was loaded: reload it to see "
                                                  "that change, or save yours over it.")
        # Read before MULTI (inside it, a read is only queued).
        metas = {key: _text(pipe.hget(key, codec.META), "replace")
                 for key, there in seen.items() if there is not None}
        pipe.multi()
        for name in changed:
            entry, key = new[name], self.target.key_of(name)
            there = seen[key]
            if force and there == entry:
                continue  # already as the document says: its score and meta stay
            meta = metas.get(key)
            runs = codec.decode_meta(meta) if there is not None else \
                RunState(_counts_from(entry, now), 0)
            pipe.hset(key, codec.DEFINITION, codec.encode_definition(entry))
            panel = codec.encode_panel(entry)
            if panel is None:
                pipe.hdel(key, codec.PANEL)
            else:
                pipe.hset(key, codec.PANEL, panel)
            if meta is None:
                # Without `meta` RedBeat sends a new entry at once: it starts counting now.
                pipe.hset(key, codec.META, codec.encode_meta(runs))
            pipe.zadd(self.target.schedule_key,
                      {key: due_score(entry, runs, now, document.timezone)})
        for name in removed:
            key = self.target.key_of(name)
            pipe.zrem(self.target.schedule_key, key)
            pipe.delete(key)
        settings = self.target.key_prefix + PANEL_KEY
        if document.timezone:
            pipe.hset(settings, "timezone", document.timezone)
        else:
            pipe.hdel(settings, "timezone")
        pipe.execute()

    def import_document(self, document: Document, runs: dict[str, RunState],
                        expected: Document | None = None) -> Listing:
        """Write every entry of `document` with the run state given, in one transaction,
        replacing those of the same name only if each is still as in `expected` (the
        listing the import was planned on; RedisConflict else). A key that holds no
        entry the panel can read is never touched (ScheduleError names it)."""
        self._check_names(document)
        import redis

        now = datetime.now(timezone.utc)
        before = {e.name: e for e in expected.entries} if expected is not None else {}
        keys = [self.target.key_of(e.name) for e in document.entries]
        try:
            with self.raw.pipeline(transaction=True) as pipe:
                for _attempt in range(_SAVE_ATTEMPTS):
                    try:
                        if keys:
                            pipe.watch(*keys)
                        self._look(pipe, keys, before, False,
                                   "during the import; nothing was written.")
                        pipe.multi()
                        self._write_all(pipe, document, runs, now)
                        pipe.execute()
                        break
                    except redis.WatchError:
                        continue
                else:
                    raise RedisConflict([e.name for e in document.entries],
                                        "The entries kept changing in Redis during the "
                                        "import; try again.")
        except redis.RedisError as exc:
            raise self._fail(exc, wrote=True) from None
        return self.load()

    def _look(self, pipe: Any, keys: list[str], expected: dict[str, Entry], force: bool,
              conflict_words: str) -> dict[str, Entry | ScheduleError | None]:
        """Under WATCH: what each key holds now. A key that holds no readable entry stops
        the write (ScheduleError, it is never touched); one that is not as `expected`
        does too (RedisConflict), unless `force`."""
        prefix = len(self.target.key_prefix)
        seen = {key: _read(pipe, key, key[prefix:]) for key in keys}
        damaged = [(key[prefix:], f"the key {key} holds no entry the panel can read "
                                  f"({there}); it is left as it is")
                   for key, there in seen.items() if isinstance(there, ScheduleError)]
        if damaged:
            pipe.reset()
            raise ScheduleError(damaged, self.target.shown)
        changed = [key[prefix:] for key, there in seen.items()
                   if there != expected.get(key[prefix:]) and not force]
        if changed:
            pipe.reset()
            raise RedisConflict(changed, f"{', '.join(changed)} changed in Redis "
                                f"({self.target.shown}) {conflict_words}")
        return seen

    def _write_all(self, pipe: Any, document: Document, runs: dict[str, RunState],
                   now: datetime) -> None:
        for entry in document.entries:
            key = self.target.key_of(entry.name)
            state = runs.get(entry.name) or RunState(_counts_from(entry, now), 0)
            if state.last_run_at is None:
                state = RunState(_counts_from(entry, now), state.total_run_count)
            pipe.delete(key)
            pipe.hset(key, mapping={codec.DEFINITION: codec.encode_definition(entry),
                                    codec.META: codec.encode_meta(state)})
            panel = codec.encode_panel(entry)
            if panel is not None:
                pipe.hset(key, codec.PANEL, panel)
            pipe.zadd(self.target.schedule_key,
                      {key: due_score(entry, state, now, document.timezone)})
        if document.timezone:
            pipe.hset(self.target.key_prefix + PANEL_KEY, "timezone", document.timezone)

    def _check_names(self, document: Document) -> None:
        """Every entry RedBeat can run, under a name that is not one of RedBeat's own keys
        (the schedule, the statics, the lock: also a lock_key without a leading ':')."""
        special = self.target.special_keys() | {self.target.key_prefix + PANEL_KEY}
        problems = [p for e in document.entries if (p := codec.redbeat_problem(e)) is not None]
        problems += [("name", f"{e.name!r} would be the key {self.target.key_of(e.name)}, "
                              "which is RedBeat's own (its schedule, statics or lock)")
                     for e in document.entries if self.target.key_of(e.name) in special]
        if problems:
            raise ScheduleError(problems, self.target.shown)


def _read(pipe: Any, key: str, name: str) -> Entry | ScheduleError | None:
    """The entry at `key` (None when there is none), or why it cannot be read."""
    import redis

    try:
        raw = pipe.hgetall(key)
    except redis.ResponseError as exc:  # a key of another type
        return ScheduleError([("", f"not a hash ({exc})")])
    if not raw:
        return None
    try:
        return codec.decode_entry(_text_fields(raw), name)
    except ScheduleError as exc:
        return exc


def _text(value: bytes | None, errors: str = "strict") -> str | None:
    """Bytes from Redis as text; None for none, or for bytes that are not UTF-8."""
    if value is None:
        return None
    try:
        return value.decode("utf-8", errors)
    except UnicodeDecodeError:
        return None


def _text_fields(raw: dict[bytes, bytes]) -> dict[str, str]:
    """The fields of an entry's hash that the panel reads, as text. One that is not
    UTF-8 is a ScheduleError naming it; `meta` is RedBeat's to write, and a damaged one
    counts as no runs, as elsewhere."""
    fields = {}
    for name in (codec.DEFINITION, codec.PANEL):
        value = raw.get(name.encode())
        if value is None:
            continue
        try:
            fields[name] = value.decode()
        except UnicodeDecodeError as exc:
            raise ScheduleError([(name, f"is not UTF-8 text (byte 0x{value[exc.start]:02x} "
                                        f"at {exc.start})")]) from None
    meta = _text(raw.get(codec.META.encode()), "replace")
    if meta is not None:
        fields[codec.META] = meta
    return fields


def _counts_from(entry: Entry, now: datetime) -> datetime:
    """The `last_run_at` a new entry gets, so that RedBeat does not send it at once (it
    sends an entry without one at its first look): now, or for a one-off just before
    its time (RedBeat keeps that time to the second, and a one-off counted from after
    it would never run)."""
    spec = entry.schedule
    if isinstance(spec, Clocked):
        return min(now, datetime.fromtimestamp(int(spec.at.timestamp()) - 1, timezone.utc))
    return now


def due_score(entry: Entry, runs: RunState, now: datetime, zone: str | None) -> float:
    """The entry's score in RedBeat's sorted set: when it is due next (UTC epoch
    seconds), -1 when never (RedBeat skips negative scores), 0 for "look at it at the
    next tick" when the panel cannot be sure of the time (a crontab in an unknown zone, a
    time already past: the beat decides with its own clock)."""
    if not entry.enabled:
        return -1
    spec = entry.schedule
    if isinstance(spec, Clocked):
        return spec.at.timestamp() if spec.at > now else 0
    if spec.kind == "crontab" and zone is None:
        return 0
    runs_at = schedule.next_runs(spec, now, 1, last_run_at=runs.last_run_at or now,
                                 tz_name=zone or "UTC")
    if not runs_at:
        return -1
    return max(0.0, runs_at[0].timestamp()) if runs_at[0] > now else 0

