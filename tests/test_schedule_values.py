"""Values that pass for JSON or for Python but that a schedule file or beat cannot hold:
bytes that are not UTF-8, NaN and Infinity, nesting and numbers too big to read, an
expiry beat cannot add to a date, a serializer kombu does not know. Each is refused with
exit 2 naming its field, and never written."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from beat_panel.schedule import (
    Document,
    Entry,
    Interval,
    ScheduleError,
    loads,
    parse_entry,
    parse_options,
)
from beat_panel.schedule.validation import _KNOWN_NAMES

from conftest import run_cli

ENVELOPE = {"format": "beat-panel-schedule", "version": 1, "revision": 3, "entries": []}


@pytest.fixture
def project(tmp_path):
    config = tmp_path / "beat-panel.toml"
    config.write_text('[beat]\napp = "proj"\n[schedule]\nfile = "schedule.json"\n')
    return config, tmp_path / "schedule.json"


@pytest.mark.parametrize(("args", "field", "words"), [
    (["\udcff"], "name", "bytes that are not UTF-8 text (U+DCFF"),
    (["x", "--task", "t\udcff"], "task", "bytes that are not UTF-8 text"),
    (["x", "--queue", "q\udcff"], "options.queue", "bytes that are not UTF-8 text"),
    (["x", "--args", '["\\ud800"]'], "args", "not valid Unicode (U+D800)"),
    (["x", "--args", '["\udcff"]'], "args", "not valid Unicode (U+DCFF)"),
    (["x", "--kwargs", '{"\\ud800": 1}'], "kwargs", "not valid Unicode"),
    (["x", "--args", "[" * 50_000 + "]" * 50_000], "args", "nested too deeply"),
    (["x", "--args", "[" + "7" * 5000 + "]"], "args", "more digits than can be read"),
    (["x", "--args", "[NaN, Infinity]"], "args", "NaN or Infinity"),
    (["x", "--args", "[1e999]"], "args", "NaN or Infinity"),
    (["x", "--kwargs", '{"a": -Infinity}'], "kwargs", "NaN or Infinity"),
    (["x", "--expires", "1e300"], "options.expires", "at most 3153600000 (100 years)"),
    (["x", "--expires", "1e12"], "options.expires", "at most 3153600000 (100 years)"),
    (["x", "--expires", "nan"], "options.expires", "greater than 0"),
])
def test_values_a_file_or_beat_cannot_hold_exit_2_naming_the_field(project, args, field,
                                                                   words):
    config, path = project
    name, *rest = args
    if "--task" not in rest:
        rest += ["--task", "t"]
    argv = ["--config", str(config), "schedule", "add", name, *rest, "--every", "5"]
    done = run_cli(*(a.encode("utf-8", "surrogateescape").decode("utf-8", "surrogateescape")
                     for a in argv), timeout=60)
    assert done.code == 2, (done.stdout, done.stderr)
    assert f"beat-panel: {field}: " in done.stderr and words in done.stderr
    assert "Traceback" not in done.stderr
    assert not path.exists()


@pytest.mark.parametrize(("options", "field", "words"), [
    ({"countdown": 1e300}, "options.countdown", "from 0 to 3153600000"),
    ({"time_limit": 1e13}, "options.time_limit", "greater than 0 to 3153600000"),
    ({"expires": 1e12}, "options.expires", "at most 3153600000"),
    ({"serializer": "nosuch"}, "options.serializer",
     '"nosuch" is not a serializer kombu knows; use one of json, pickle, yaml, msgpack'),
    ({"compression": "bogus"}, "options.compression",
     '"bogus" is not a compression kombu knows; use one of zlib, gzip'),
    ({"headers": {"a": math.nan}}, "options.headers", "NaN or Infinity"),
])
def test_options_beat_could_never_send_are_refused_naming_the_option(options, field, words):
    with pytest.raises(ScheduleError) as caught:
        parse_options(options)
    assert [f for f, _ in caught.value.problems] == [field]
    assert words in str(caught.value)


def test_options_beat_can_send_are_kept():
    options = parse_options({"expires": 3600, "countdown": 0, "serializer": "json",
                             "compression": "gzip", "time_limit": 3153600000})
    assert (options.expires, options.serializer, options.compression) == (3600.0, "json",
                                                                           "gzip")


def test_the_serializers_and_compressions_named_are_those_kombu_registers():
    from kombu import compression
    from kombu.serialization import registry

    assert set(registry._encoders) <= set(_KNOWN_NAMES["serializer"])
    assert set(compression._aliases) <= set(_KNOWN_NAMES["compression"])


def test_a_hand_edited_option_beat_cannot_send_is_refused_in_the_file(project):
    config, path = project
    entry = {"name": "a", "task": "t", "schedule": {"kind": "interval", "every": 5},
             "options": {"countdown": 1e300}}
    text = json.dumps({**ENVELOPE, "entries": [entry]})
    path.write_text(text)
    done = run_cli("--config", str(config), "schedule", "enable", "a", timeout=60)
    assert done.code == 2 and "entry 1 ('a') options.countdown: must be" in done.stderr
    assert path.read_text() == text


def test_nan_is_never_written_to_a_schedule_file():
    document = Document((Entry("a", "t", Interval(5), args=(math.nan,)),))
    with pytest.raises(ValueError, match="not JSON compliant"):
        document.dumps()


@pytest.mark.parametrize(("head", "words"), [
    ({"version": 0}, "version: must be 1 or more"),
    ({"version": -1}, "version: must be 1 or more"),
    ({"revision": "x"}, 'revision: must be a whole number of 0 or more, not "x"'),
    ({"revision": None}, "revision: must be a whole number of 0 or more, not null"),
    ({"revision": 1.5}, "revision: must be a whole number of 0 or more, not 1.5"),
    ({"revision": True}, "revision: must be a whole number of 0 or more, not true"),
    ({"revision": -2}, "revision: must be a whole number of 0 or more, not -2"),
])
def test_a_version_or_revision_that_means_nothing_is_refused_naming_it(head, words):
    with pytest.raises(ScheduleError, match=words):
        loads(json.dumps({**ENVELOPE, **head}))


def test_files_without_a_revision_or_timezone_still_load():
    document = loads('{"format": "beat-panel-schedule", "version": 1, "entries": []}')
    assert (document.revision, document.timezone) == (0, None)


def test_an_unknown_name_lists_the_first_20_entries_and_how_many_more():
    document = Document(tuple(Entry(f"entry-{n:05d}", "t", Interval(60))
                              for n in range(10_000)))
    with pytest.raises(ScheduleError) as caught:
        document.require("nope")
    message = str(caught.value)
    assert len(message) < 600
    assert "entry-00019, and 9980 more)" in message and "entry-00020" not in message


def test_an_apps_beat_schedule_with_bytes_nan_or_huge_values_is_imported_without_them(
        project, tmp_path):
    config, path = project
    (tmp_path / "oddapp.py").write_text(
        "from celery import Celery\n"
        "app = Celery('oddapp', broker='memory://')\n"
        "app.conf.beat_schedule = {\n"
        "    'bad\\udcff': {'task': 't', 'schedule': 5.0},\n"
        "    'nan': {'task': 't', 'schedule': 5.0, 'args': (float('nan'),)},\n"
        "    'surrogate': {'task': 't', 'schedule': 5.0, 'args': ('\\ud800',)},\n"
        "    'far': {'task': 't', 'schedule': 5.0, 'options': {'expires': 1e300}},\n"
        "    'ok': {'task': 't', 'schedule': 5.0},\n"
        "}\n")
    config.write_text(f'[beat]\napp = "oddapp"\nworkdir = "{tmp_path}"\n'
                      '[schedule]\nfile = "schedule.json"\n')
    import os

    env = dict(os.environ, PYTHONPATH=str(tmp_path), PYTHONIOENCODING="utf-8:strict")
    done = run_cli("--config", str(config), "schedule", "import", env=env, timeout=60)
    assert done.code == 0, done.stderr
    assert "bad\\udcff (name: contains bytes that are not UTF-8 text" in done.stdout
    assert "nan (args: contains NaN or Infinity" in done.stdout
    assert "surrogate (args: contains text that is not valid Unicode" in done.stdout
    assert "far (options.expires:" in done.stdout
    assert loads(path.read_text("utf-8")).names() == ["ok"]


# Text with lone surrogates (bytes that are not UTF-8, as argv and os.fsdecode give
# them) as well as ordinary characters; numbers with NaN, Infinity and 5000 digits.
odd_text = st.text(alphabet=st.sampled_from("a\u00e9\ud800\udcff\x00 ") | st.characters(),
                   max_size=6)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | odd_text
    | st.just(5000).map(lambda digits: 10**digits),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(odd_text, inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(args=st.lists(json_values, max_size=3),
       kwargs=st.dictionaries(odd_text, json_values, max_size=3),
       name=odd_text)
def test_an_entry_either_is_refused_naming_a_field_or_writes_a_file_that_reads_back(
        args, kwargs, name):
    try:
        entry = parse_entry({"name": name, "task": "t", "args": args, "kwargs": kwargs,
                             "schedule": {"kind": "interval", "every": 5}})
    except ScheduleError as exc:
        assert all(f in {"name", "args", "kwargs"} for f, _ in exc.problems), exc.problems
        return
    text = Document((entry,)).dumps()
    text.encode("utf-8")  # never an error: what is accepted can be written
    json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} written to the file"))
    assert loads(text).entries == (entry,)
