"""The schedule file's format: text to a checked `Document`, with errors that say where."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from beat_panel.schedule.model import FORMAT_NAME, FORMAT_VERSION, Document, ScheduleError
from beat_panel.schedule.validation import check_unique_names, parse_entry

if TYPE_CHECKING:
    pass

# celery is imported where it is used, not here: the window imports this module at start
# and celery.schedules alone costs some 70 ms there.

_LONE_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")


def loads(text: str, source: str = "schedule file") -> Document:
    """Parse a schedule file's text; errors say where (line and column, or the entry)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ScheduleError([("", f"not valid JSON at line {exc.lineno}, column {exc.colno}: "
                                  f"{exc.msg}")], source) from None
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
    if version > FORMAT_VERSION:
        raise ScheduleError([("version", f"the file is format version {version}, written by "
                                         f"a newer Beat Panel; this one reads up to "
                                         f"{FORMAT_VERSION}. Upgrade Beat Panel; the file "
                                         "was left as it is")], source)
    raw_entries = data.get("entries", [])
    if not isinstance(raw_entries, list):
        raise ScheduleError([("entries", "must be a list")], source)
    entries = []
    for index, raw in enumerate(raw_entries, start=1):
        try:
            entries.append(parse_entry(raw))
        except ScheduleError as exc:
            label = raw.get("name") if isinstance(raw, dict) else None
            where = f"entry {index}" + (f" ({label!r})" if label else "")
            raise ScheduleError([(f"{where} {f}".strip(), m) for f, m in exc.problems],
                                source) from None
    try:
        check_unique_names(entries)
    except ScheduleError as exc:
        raise ScheduleError(exc.problems, source) from None
    revision = data.get("revision", 0)
    tz = data.get("timezone")
    if tz is not None:
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise ScheduleError([("timezone", f"unknown time zone {tz!r}")], source) from None
    return Document(tuple(entries), revision if isinstance(revision, int) else 0, tz)

