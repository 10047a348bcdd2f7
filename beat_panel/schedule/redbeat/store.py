"""The schedule in Redis behind the same interface as the schedule file: load, save with
conflict detection, and a quick look for changes.

Conflicts are found per entry, optimistically: a save reads the entries it changes, and
a Lua script writes them all at once only if each is still as it was read (and as it was
loaded, unless forced), else nothing. Two panels editing different entries never
conflict, two editing the same one do, and neither overwrites the other silently. A
key under the prefix that is not an entry the panel can read is reported and left
alone: never overwritten, never deleted.
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
from beat_panel.schedule.redbeat.target import (
    COMMAND_TIMEOUT,
    PANEL_KEY,
    RedisTarget,
    error_text,
)
from beat_panel.schedule.store import ConflictError
from beat_panel.schedule.timing import known_zone

if TYPE_CHECKING:
    import redis

SCAN_COUNT = 1000
_SAVE_ATTEMPTS = 5  # another panel may write between a look and the write: look again
_SECONDS_PER_WRITE = 0.0002  # more time for the answer to a big write (50,000: 10 s)


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
        now = datetime.now(timezone.utc)

        def plan(seen: dict[str, _Seen]) -> list[_Write]:
            writes = []
            for name in changed:
                entry, key = new[name], self.target.key_of(name)
                there = seen[key]
                if force and there.entry == entry:
                    # Already as the document says: its score and meta stay.
                    writes.append(_Write(key, "keep", there.print))
                    continue
                runs = codec.decode_meta(there.meta) if there.entry is not None else \
                    RunState(_counts_from(entry, now), 0)
                # Without `meta` RedBeat sends a new entry at once: it starts counting now.
                writes.append(_Write(key, "update", there.print, entry,
                                     codec.encode_meta(runs),
                                     due_score(entry, runs, now, document.timezone)))
            writes += [_Write(self.target.key_of(n), "delete", seen[self.target.key_of(n)].print)
                       for n in removed]
            return writes

        self._write(plan, [self.target.key_of(n) for n in (*changed, *removed)], old, force,
                    "since it was loaded: reload it to see that change, or save yours over "
                    "it.", document.timezone or "", changed + removed)
        return self.load()

    def import_document(self, document: Document, runs: dict[str, RunState],
                        expected: Document | None = None) -> Listing:
        """Write every entry of `document` with the run state given, in one transaction,
        replacing those of the same name only if each is still as in `expected` (the
        listing the import was planned on; RedisConflict else). A key that holds no
        entry the panel can read is never touched (ScheduleError names it)."""
        self._check_names(document)
        now = datetime.now(timezone.utc)
        before = {e.name: e for e in expected.entries} if expected is not None else {}

        def plan(seen: dict[str, _Seen]) -> list[_Write]:
            writes = []
            for entry in document.entries:
                key = self.target.key_of(entry.name)
                state = runs.get(entry.name) or RunState(_counts_from(entry, now), 0)
                if state.last_run_at is None:
                    state = RunState(_counts_from(entry, now), state.total_run_count)
                writes.append(_Write(key, "replace", seen[key].print, entry,
                                     codec.encode_meta(state),
                                     due_score(entry, state, now, document.timezone)))
            return writes

        self._write(plan, [self.target.key_of(e.name) for e in document.entries], before,
                    False, "during the import; nothing was written.",
                    document.timezone or None, [e.name for e in document.entries])
        return self.load()

    def _write(self, plan: Any, keys: list[str], expected: dict[str, Entry], force: bool,
               conflict_words: str, zone: str | None, names: list[str]) -> None:
        """Look at `keys`, plan the writes from what they hold, and make them in one
        atomic step, only if no key changed in between (else look again, a few times).
        `zone` "" clears the schedule's time zone, None leaves it.

        Not WATCH/MULTI: Redis takes time squared in the number of keys one client
        watches (50,000 keys: about 20 s, with every other client waiting). A script runs
        the check and the writes at once, in time linear in the keys."""
        import redis
        from redis.exceptions import NoPermissionError

        for _attempt in range(_SAVE_ATTEMPTS):
            seen = self._look(keys, expected, force, conflict_words)
            writes = plan(seen)
            args: list[Any] = ["set" if zone else "clear" if zone == "" else "keep",
                               zone or ""]
            for write in writes:
                entry = write.entry
                args += [write.op, write.print,
                         codec.encode_definition(entry) if entry is not None else "",
                         (codec.encode_panel(entry) or "") if entry is not None else "",
                         write.meta, repr(write.score)]
            # The reply comes when every write is made: more time for more of them.
            client = self.target.client(COMMAND_TIMEOUT + len(writes) * _SECONDS_PER_WRITE,
                                        decode=False)
            try:
                moved = client.eval(_WRITE_SCRIPT, 2 + len(writes), self.target.schedule_key,
                                    self.target.key_prefix + PANEL_KEY,
                                    *(w.key for w in writes), *args)
            except NoPermissionError as exc:  # refused before it ran: nothing written
                raise RedisUnavailable(
                    f"Redis at {self.target.shown}: {error_text(exc, self.target.url)}. "
                    "The panel writes the schedule with one Lua script (EVAL), so that a "
                    "save is all or nothing: allow EVAL for this Redis user. Nothing was "
                    "written.") from None
            except redis.RedisError as exc:
                raise self._fail(exc, wrote=True) from None
            finally:
                client.close()
            if not moved:
                return
        raise RedisConflict(names, f"The entries kept changing in Redis while writing to "
                                   f"{self.target.shown}; try again.")

    def _look(self, keys: list[str], expected: dict[str, Entry], force: bool,
              conflict_words: str) -> dict[str, _Seen]:
        """What each key holds now (one pipelined read). A key that holds no readable
        entry stops the write (ScheduleError, it is never touched); one that is not as
        `expected` does too (RedisConflict), unless `force`."""
        import redis

        prefix = len(self.target.key_prefix)
        try:
            with self.raw.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.hgetall(key)
                answers = pipe.execute(raise_on_error=False)
        except redis.RedisError as exc:
            raise self._fail(exc) from None
        seen = {key: _seen(raw, key[prefix:]) for key, raw in zip(keys, answers, strict=True)}
        damaged = [(key[prefix:], f"the key {key} holds no entry the panel can read "
                                  f"({there.problem}); it is left as it is")
                   for key, there in seen.items() if there.problem is not None]
        if damaged:
            raise ScheduleError(damaged, self.target.shown)
        changed = [key[prefix:] for key, there in seen.items()
                   if there.entry != expected.get(key[prefix:]) and not force]
        if changed:
            raise RedisConflict(changed, f"{', '.join(changed)} changed in Redis "
                                f"({self.target.shown}) {conflict_words}")
        return seen

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


@dataclass(frozen=True)
class _Seen:
    """What a key held when looked at: its entry (None: no key), or why it cannot be
    read; its `meta`; and its print, which the write script checks is still the same."""

    entry: Entry | None
    print: str
    meta: str | None = None
    problem: ScheduleError | None = None


@dataclass(frozen=True)
class _Write:
    key: str
    op: str  # update (meta kept when there is one), replace (all of it), delete, keep
    print: str  # what the key must still hold: _print's, "" for no key
    entry: Entry | None = None
    meta: str = ""
    score: float = 0


def _print(raw: dict[bytes, bytes]) -> str:
    """A hash's entry as the write script sees it: its definition and panel fields."""
    if not raw:
        return ""
    panel = raw.get(codec.PANEL.encode())
    data = (raw.get(codec.DEFINITION.encode()) or b"") + b"\0" + \
        (b"\1" + panel if panel is not None else b"")
    return hashlib.sha1(data).hexdigest()  # as Redis's sha1hex: a check, no secret


def _seen(raw: object, name: str) -> _Seen:
    import redis

    if isinstance(raw, redis.ResponseError):  # a key of another type
        return _Seen(None, "!", problem=ScheduleError([("", f"not a hash ({raw})")]))
    if isinstance(raw, Exception):
        raise raw
    assert isinstance(raw, dict)
    if not raw:
        return _Seen(None, "")
    try:
        fields = _text_fields(raw)
        return _Seen(codec.decode_entry(fields, name), _print(raw), fields.get(codec.META))
    except ScheduleError as exc:
        return _Seen(None, _print(raw), problem=exc)


# KEYS: the schedule's sorted set, the panel's settings, then one key a write. ARGV: what
# to do with the time zone (set, clear, keep) and the zone, then six a write: what to do,
# the print the key must still have, the definition, the panel field ("": none), the
# meta (kept when there is one, unless replacing) and the score. When any key changed
# since it was looked at, nothing is written and those keys are the answer.
_WRITE_SCRIPT = """
local function print(key)
  local kind = redis.call('TYPE', key)['ok']
  if kind == 'none' then return '' end
  if kind ~= 'hash' then return '!' end
  local v = redis.call('HMGET', key, 'definition', 'beat_panel')
  local panel = ''
  if v[2] then panel = '\\1' .. v[2] end
  return redis.sha1hex((v[1] or '') .. '\\0' .. panel)
end
local moved = {}
for i = 3, #KEYS do
  if print(KEYS[i]) ~= ARGV[(i - 3) * 6 + 4] then moved[#moved + 1] = KEYS[i] end
end
if #moved > 0 then return moved end
for i = 3, #KEYS do
  local key, at = KEYS[i], (i - 3) * 6 + 2
  local op = ARGV[at + 1]
  if op == 'delete' then
    redis.call('ZREM', KEYS[1], key)
    redis.call('DEL', key)
  elseif op ~= 'keep' then
    if op == 'replace' then redis.call('DEL', key) end
    redis.call('HSET', key, 'definition', ARGV[at + 3])
    if ARGV[at + 4] == '' then
      redis.call('HDEL', key, 'beat_panel')
    else
      redis.call('HSET', key, 'beat_panel', ARGV[at + 4])
    end
    if op == 'replace' then
      redis.call('HSET', key, 'meta', ARGV[at + 5])
    else
      redis.call('HSETNX', key, 'meta', ARGV[at + 5])
    end
    redis.call('ZADD', KEYS[1], ARGV[at + 6], key)
  end
end
if ARGV[1] == 'set' then
  redis.call('HSET', KEYS[2], 'timezone', ARGV[2])
elseif ARGV[1] == 'clear' then
  redis.call('HDEL', KEYS[2], 'timezone')
end
return moved
"""


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

