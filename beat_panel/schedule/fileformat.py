"""The schedule file's format: text to a checked `Document`, with errors that say where."""

from __future__ import annotations

import contextlib
import json
import json.decoder
import json.scanner
import re
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from beat_panel.schedule.model import (
    FORMAT_NAME,
    FORMAT_VERSION,
    Document,
    Entry,
    ScheduleError,
)
from beat_panel.schedule.validation import check_unique_names, parse_entry, show_value

if TYPE_CHECKING:
    pass

# celery is imported where it is used, not here: the window imports this module at start
# and celery.schedules alone costs some 70 ms there.

_LONE_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")


class _DuplicateKeyError(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _refuse_duplicates(pairs: list[tuple[str, object]]) -> dict:
    """JSON says nothing about repeated keys and Python keeps the last one: a person who
    wrote the key twice meant one of them, so say so instead of guessing."""
    data = dict(pairs)
    if len(data) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKeyError(key)
            seen.add(key)
    return data


class _PositionedDecoder(json.JSONDecoder):
    """The pure-Python JSON scanner, noting where each object value starts, so the
    line of a repeated key can be named. Slow; used only once a repeat was found."""

    def __init__(self) -> None:
        super().__init__()
        self.repeated_at: int | None = None
        self.parse_object = self._object
        self.scan_once = json.scanner.py_make_scanner(self)

    def _object(self, s_and_end: tuple[str, int], strict: bool, scan_once: Any,
                object_hook: Any, object_pairs_hook: Any, memo: Any = None) -> Any:
        starts: list[int] = []

        def noting(text: str, index: int) -> Any:
            starts.append(index)
            return scan_once(text, index)

        def check(pairs: list[tuple[str, Any]]) -> dict:
            keys = [key for key, _ in pairs]
            for index, key in enumerate(keys):
                if key in keys[:index] and self.repeated_at is None:
                    self.repeated_at = starts[index]
            return dict(pairs)

        return json.decoder.JSONObject(s_and_end, strict, noting, None, check, memo)


def _duplicate_line(text: str) -> int | str:
    decoder = _PositionedDecoder()
    with contextlib.suppress(ValueError, RecursionError):
        decoder.decode(text)
    where = decoder.repeated_at
    return "?" if where is None else text.count("\n", 0, where) + 1


def _long_number_line(text: str) -> int | str:
    found = re.search(r"\d{4000,}", text)
    return "?" if found is None else text.count("\n", 0, found.start()) + 1


def _label(name: object) -> str:
    """An entry's name as its label in messages: quoted, shortened, whatever it is."""
    return repr(name[:60]) if isinstance(name, str) else show_value(name)


def _same_types(a: object, b: object) -> bool:
    """For values already equal by ==: the same JSON types all the way down (== calls 1,
    1.0 and true equal; a schedule file does not)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict) and isinstance(b, dict):
        for key, value in a.items():
            if not _same_types(value, b[key]):
                return False
    elif isinstance(a, list) and isinstance(b, list):
        for x, y in zip(a, b, strict=True):
            if not _same_types(x, y):
                return False
    return True


class EntryCache:
    """The entries of the last file read, by name, with the JSON each came from: a file
    read again (a big schedule with one edit, say) checks only the entries that changed.
    An entry is reused only when its JSON is the same, value for value and type for type
    (Python's == alone calls 1, 1.0 and true equal), so what is accepted never differs
    from a full check."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[dict, Entry]] = {}

    def parse(self, raw: object) -> Entry:
        if isinstance(raw, dict):
            known = self._entries.get(raw.get("name"))
            if known is not None and known[0] == raw and _same_types(known[0], raw):
                return known[1]
        return parse_entry(raw)

    def keep(self, raws: list, entries: list[Entry]) -> None:
        self._entries = {entry.name: (raw, entry)
                         for raw, entry in zip(raws, entries, strict=True)
                         if raw.get("name") == entry.name}


def loads(text: str, source: str = "schedule file",
          cache: EntryCache | None = None) -> Document:
    """Parse a schedule file's text; errors say where (line and column, or the entry).
    With `cache`, entries unchanged since the last text it saw are not checked again."""
    try:
        data = json.loads(text, object_pairs_hook=_refuse_duplicates)
    except json.JSONDecodeError as exc:
        raise ScheduleError([("", f"not valid JSON at line {exc.lineno}, column {exc.colno}: "
                                  f"{exc.msg}")], source) from None
    except _DuplicateKeyError as exc:
        raise ScheduleError([("", f"line {_duplicate_line(text)}: the key \"{exc.key}\" "
                                  "appears twice in one object; keep one")], source) from None
    except RecursionError:
        raise ScheduleError([("", "nested too deeply to read (a schedule file is a few "
                                  "levels deep)")], source) from None
    except ValueError:  # only one kind gets here: a number with thousands of digits
        raise ScheduleError([("", f"line {_long_number_line(text)}: a number with more "
                                  "digits than can be read")], source) from None
    if _LONE_SURROGATE.search(text):
        try:
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ScheduleError([("", "contains an escaped character that is not valid "
                                      f"Unicode ({exc.object[exc.start:exc.end]!r}); replace "
                                      "it")], source) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT_NAME:
        raise ScheduleError([("", f"not a Beat Panel schedule (no \"format\": "
                                  f"\"{FORMAT_NAME}\")")], source)
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ScheduleError([("version", "missing or not a whole number")], source)
    if version < 1:
        raise ScheduleError([("version", f"must be 1 or more (the format version, now "
                                         f"{FORMAT_VERSION}), not {version}")], source)
    if version > FORMAT_VERSION:
        raise ScheduleError([("version", f"the file is format version {version}, written by "
                                         f"a newer Beat Panel; this one reads up to "
                                         f"{FORMAT_VERSION}. Upgrade Beat Panel; the file "
                                         "was left as it is")], source)
    revision = data.get("revision", 0)  # files of the first versions had none
    if not isinstance(revision, int) or isinstance(revision, bool) or revision < 0:
        raise ScheduleError([("revision", f"must be a whole number of 0 or more, not "
                                          f"{show_value(revision)}")], source)
    raw_entries = data.get("entries", [])
    if not isinstance(raw_entries, list):
        raise ScheduleError([("entries", "must be a list")], source)
    entries = []
    parse = cache.parse if cache is not None else parse_entry
    for index, raw in enumerate(raw_entries, start=1):
        try:
            entries.append(parse(raw))
        except ScheduleError as exc:
            label = raw.get("name") if isinstance(raw, dict) else None
            where = f"entry {index}" + (f" ({_label(label)})" if label else "")
            raise ScheduleError([(f"{where} {f}".strip(), m) for f, m in exc.problems],
                                source) from None
    try:
        check_unique_names(entries)
    except ScheduleError as exc:
        raise ScheduleError(exc.problems, source) from None
    if cache is not None:
        cache.keep(raw_entries, entries)
    tz = data.get("timezone")
    if tz is not None:
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise ScheduleError([("timezone", f"unknown time zone {show_value(tz)}")],
                                source) from None
    return Document(tuple(entries), revision, tz)

