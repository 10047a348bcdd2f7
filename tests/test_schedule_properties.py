"""Property tests for the schedule model: the file format, validation, agreement with
Celery's own schedule objects, and the document operations the panel and CLI use."""

from __future__ import annotations

import itertools
import json
import zoneinfo
from datetime import datetime, timedelta, timezone

import pytest
from celery.schedules import crontab
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from beat_panel import schedule
from beat_panel.schedule import (
    Clocked,
    Crontab,
    Document,
    Entry,
    Interval,
    Options,
    ScheduleError,
    Solar,
    timing,
)
from beat_panel.schedule.validation import text_problem

SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
FAST = settings(max_examples=50, deadline=None)

UTC = timezone.utc
DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
ZONES = sorted(zoneinfo.available_timezones()) or ["UTC", "Europe/Amsterdam",
                                                     "America/New_York", "Asia/Kolkata"]


def fields_of(exc: pytest.ExceptionInfo[ScheduleError]) -> list[str]:
    return [f for f, _ in exc.value.problems]


def celery_accepts(spec: Crontab) -> bool:
    try:
        spec.celery(app=timing._preview_app("UTC"))
    except ValueError:
        return False
    return True


# ---------------------------------------------------------------------------
# Strategies: valid values of every part of an entry
# ---------------------------------------------------------------------------


def cron_field(low: int, high: int, names: tuple[str, ...] = ()) -> st.SearchStrategy[str]:
    """Text a person could type in one crontab field, every value in low..high."""
    number = st.integers(low, high)
    forms = [
        st.just("*"),
        st.integers(1, 30).map(lambda n: f"*/{n}"),
        number.map(str),
        st.lists(number, min_size=2, max_size=4).map(lambda ns: ",".join(map(str, ns))),
        st.tuples(number, number).map(lambda ab: f"{ab[0]}-{ab[1]}"),  # may wrap around
        st.tuples(number, number, st.integers(1, 30)).map(
            lambda abn: f"{min(abn[:2])}-{max(abn[:2])}/{abn[2]}"),
    ]
    if names:
        name = st.sampled_from(names)
        forms += [
            name,
            st.tuples(name, name).map("-".join),  # "mon-fri", and "fri-mon" wraps
            st.lists(name, min_size=2, max_size=3, unique=True).map(",".join),
        ]
    return st.one_of(forms)


minutes = cron_field(0, 59)
hours = cron_field(0, 23)
days_of_month = cron_field(1, 31)
months = cron_field(1, 12)
days_of_week = cron_field(0, 6, DAY_NAMES)

crontabs = st.builds(Crontab, minute=minutes, hour=hours, day_of_month=days_of_month,
                     month_of_year=months, day_of_week=days_of_week).filter(celery_accepts)
periods = st.sampled_from(sorted(schedule.PERIODS))
intervals = st.builds(
    Interval,
    every=st.one_of(st.integers(1, 10**6),
                    st.floats(min_value=1e-3, max_value=1e9, allow_nan=False,
                              allow_infinity=False)),
    period=periods,
    relative=st.booleans(),
).filter(lambda s: schedule.MIN_INTERVAL <= s.seconds <= schedule.MAX_INTERVAL)
solars = st.builds(Solar, event=st.sampled_from(schedule.SOLAR_EVENTS),
                   latitude=st.floats(-90, 90), longitude=st.floats(-180, 180))
fixed_offsets = st.integers(-(24 * 3600 - 1), 24 * 3600 - 1).map(
    lambda s: timezone(timedelta(seconds=s)))
aware_datetimes = st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1),
                               timezones=st.one_of(st.just(UTC), fixed_offsets))
clockeds = st.builds(Clocked, at=aware_datetimes)
schedule_specs = st.one_of(intervals, crontabs, solars, clockeds)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)
# Text as the model keeps it: no control characters, nothing that reorders the text.
visible = st.characters(blacklist_categories=("Cc", "Cs"),
                        blacklist_characters="\u061c\u200e\u200f\u202a\u202b\u202c"
                                             "\u202d\u202e\u2066\u2067\u2068\u2069")
names = st.text(visible, min_size=1, max_size=20).filter(
    lambda s: s == s.strip() and text_problem(s, "") is None)
tasks = st.text(visible, min_size=1, max_size=30).filter(
    lambda s: not any(c.isspace() for c in s) and text_problem(s, "") is None)
option_names = st.none() | st.text(visible, min_size=1, max_size=10).filter(
    lambda s: s.strip() and text_problem(s, "") is None)
seconds = st.floats(min_value=0, exclude_min=True, max_value=1e9, allow_infinity=False)
options = st.builds(
    Options,
    queue=option_names,
    exchange=option_names,
    routing_key=option_names,
    priority=st.none() | st.integers(0, schedule.MAX_PRIORITY),
    # always a float once parsed (seconds), as parse_options makes it, or a fixed moment
    expires=st.none() | st.integers(1, 10**6).map(float) | seconds | aware_datetimes,
    countdown=st.none() | st.just(0.0) | seconds,
    time_limit=st.none() | seconds,
    headers=st.none() | st.dictionaries(st.text(max_size=8), json_values, max_size=3),
    retry=st.none() | st.booleans(),
    retry_policy=st.none() | st.fixed_dictionaries({}, optional={
        "max_retries": st.none() | st.integers(0, 100),
        "interval_start": st.integers(0, 10) | seconds}),
)


@st.composite
def entries(draw: st.DrawFn, name: st.SearchStrategy[str] = names) -> Entry:
    return Entry(
        name=draw(name),
        task=draw(tasks),
        schedule=draw(schedule_specs),
        args=tuple(draw(st.lists(json_values, max_size=4))),
        kwargs=draw(st.dictionaries(st.text(max_size=8), json_values, max_size=4)),
        options=draw(options),
        enabled=draw(st.booleans()),
        one_off=draw(st.booleans()),
        description=draw(st.text(visible, max_size=40).filter(
            lambda s: text_problem(s, "", lines=True) is None)),
    )


documents = st.builds(
    Document,
    entries=st.lists(entries(), max_size=5, unique_by=lambda e: e.name).map(tuple),
    revision=st.integers(0, 10**9),
    timezone=st.none() | st.sampled_from(ZONES),
)


# ---------------------------------------------------------------------------
# 1. The file format round-trips
# ---------------------------------------------------------------------------


@SETTINGS
@given(doc=documents)
def test_a_saved_document_loads_back_as_the_same_document(doc: Document) -> None:
    text = doc.dumps()
    loaded = schedule.loads(text.encode("utf-8").decode("utf-8"))  # as the store writes it
    assert loaded.entries == doc.entries
    assert loaded.revision == doc.revision
    assert loaded.timezone == doc.timezone
    assert loaded == doc
    assert loaded.dumps() == text  # and saving it again changes nothing


@SETTINGS
@given(entry=entries())
def test_an_entry_parses_back_from_its_json_form(entry: Entry) -> None:
    assert schedule.parse_entry(entry.to_json()) == entry
    # through JSON text too, the way the CLI and the file pass it
    assert schedule.parse_entry(json.loads(json.dumps(entry.to_json()))) == entry
    assert schedule.parse_entry(entry.to_json()).fingerprint() == entry.fingerprint()


@FAST
@given(at=st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1),
                       timezones=st.sampled_from(ZONES).map(zoneinfo.ZoneInfo)))
def test_a_clocked_time_in_a_named_zone_keeps_its_wall_time_and_offset(at: datetime) -> None:
    # Stored as a fixed offset: the zone's name is not kept, its instant and offset are.
    # (Plain == is not used: Python never calls a time in a DST fold or gap equal to one
    # in another tzinfo, even at the same instant.)
    back = schedule.parse_schedule(Clocked(at).to_json())
    assert isinstance(back, Clocked)
    assert back.at.utcoffset() == at.utcoffset()
    assert back.at.replace(tzinfo=None) == at.replace(tzinfo=None)


# ---------------------------------------------------------------------------
# 2. Invalid input is rejected, with the field named
# ---------------------------------------------------------------------------

BASE_ENTRY = {"name": "cleanup", "task": "proj.tasks.cleanup",
              "schedule": {"kind": "interval", "every": 5, "period": "minutes"}}
not_a_list = json_values.filter(lambda v: not isinstance(v, list))
not_a_dict = json_values.filter(lambda v: not isinstance(v, dict))


def rejected_fields(**changes: object) -> list[str]:
    with pytest.raises(ScheduleError) as exc:
        schedule.parse_entry({**BASE_ENTRY, **changes})
    return fields_of(exc)


def cron_entry(**fields: object) -> dict:
    return {"schedule": {"kind": "crontab", **fields}}


OUT_OF_RANGE = {  # field: values celery refuses there
    "minute": st.integers(60, 200),
    "hour": st.integers(24, 200),
    "day_of_month": st.integers(32, 200) | st.just(0),
    "month_of_year": st.integers(13, 200) | st.just(0),
    "day_of_week": st.integers(7, 200),
}


@pytest.mark.parametrize("name", schedule.CRON_FIELDS)
@FAST
@given(data=st.data())
def test_a_crontab_value_out_of_range_is_rejected_naming_its_field(
        name: str, data: st.DataObject) -> None:
    bad = data.draw(OUT_OF_RANGE[name], label="bad value")
    good = data.draw(st.integers(1, 6), label="good value")
    typed = data.draw(st.sampled_from([
        bad, str(bad), f"{good},{bad}", f"{good}-{bad}", f"*/{good},{bad}",
    ]), label="as typed")
    assert rejected_fields(**cron_entry(**{name: typed})) == [f"schedule.{name}"]


@pytest.mark.parametrize("name", schedule.CRON_FIELDS)
@FAST
@example(text="*/")
@given(text=st.text(alphabet="0123456789*/-, adefhimnorstuwy", max_size=6))
def test_any_text_in_a_crontab_field_is_accepted_or_refused_naming_that_field(
        name: str, text: str) -> None:
    try:
        schedule.parse_schedule({"kind": "crontab", name: text})
    except ScheduleError as exc:
        assert [f for f, _ in exc.problems] == [f"schedule.{name}"]


@FAST
@given(every=st.one_of(st.integers(max_value=0), st.floats(max_value=0),
                       st.just(float("nan")), st.just(float("inf")), st.booleans(), st.none(),
                       st.text()),
       period=periods)
def test_an_interval_of_zero_or_less_or_not_a_number_is_rejected(every: object,
                                                                 period: str) -> None:
    fields = rejected_fields(schedule={"kind": "interval", "every": every, "period": period})
    assert fields == ["schedule.every"]


@FAST
@given(args=not_a_list)
def test_args_that_are_not_a_list_are_rejected(args: object) -> None:
    assert rejected_fields(args=args) == ["args"]


@FAST
@given(kwargs=not_a_dict)
def test_kwargs_that_are_not_an_object_are_rejected(kwargs: object) -> None:
    assert rejected_fields(kwargs=kwargs) == ["kwargs"]


@FAST
@given(latitude=st.floats(allow_nan=False).filter(lambda x: not -90 <= x <= 90)
       | st.integers().filter(lambda x: not -90 <= x <= 90),
       event=st.sampled_from(schedule.SOLAR_EVENTS))
def test_a_latitude_outside_minus_90_to_90_is_rejected(latitude: float, event: str) -> None:
    fields = rejected_fields(schedule={"kind": "solar", "event": event,
                                       "latitude": latitude, "longitude": 4.9})
    assert fields == ["schedule.latitude"]


@FAST
@given(priority=st.integers().filter(lambda p: not 0 <= p <= 255)
       | st.floats() | st.booleans() | st.text())
def test_a_priority_outside_0_to_255_is_rejected(priority: object) -> None:
    assert rejected_fields(options={"priority": priority}) == ["options.priority"]


@FAST
@given(kind=json_values.filter(lambda k: k not in ("interval", "crontab", "solar",
                                                   "clocked")))
def test_an_unknown_schedule_kind_is_rejected(kind: object) -> None:
    assert rejected_fields(schedule={"kind": kind}) == ["schedule.kind"]


@FAST
@given(minute=st.integers(60, 200), position=st.integers(0, 3))
def test_a_bad_entry_in_a_file_is_named_by_its_place_name_and_field(minute: int,
                                                                    position: int) -> None:
    good = [{**BASE_ENTRY, "name": f"good {i}"} for i in range(3)]
    bad = {**BASE_ENTRY, "name": "nightly", **cron_entry(minute=str(minute))}
    raw = [*good[:position], bad, *good[position:]]
    text = json.dumps({"format": schedule.FORMAT_NAME, "version": 1, "entries": raw})
    with pytest.raises(ScheduleError) as exc:
        schedule.loads(text)
    assert fields_of(exc) == [f"entry {position + 1} ('nightly') schedule.minute"]


@FAST
@example(field="every", value=10**400)
@given(field=st.sampled_from(["every", "latitude", "longitude", "expires"]),
       value=st.integers(min_value=2**1024, max_value=10**500)
       | st.integers(min_value=-(10**500), max_value=-(2**1024)))
def test_a_number_too_big_for_a_float_is_rejected_naming_its_field(field: str,
                                                                   value: int) -> None:
    raw = {
        "every": {"schedule": {"kind": "interval", "every": value}},
        "latitude": {"schedule": {"kind": "solar", "event": "sunrise", "latitude": value,
                                  "longitude": 0}},
        "longitude": {"schedule": {"kind": "solar", "event": "sunrise", "latitude": 0,
                                   "longitude": value}},
        "expires": {"options": {"expires": value}},
    }[field]
    named = {"every": "schedule.every", "latitude": "schedule.latitude",
             "longitude": "schedule.longitude", "expires": "options.expires"}[field]
    assert rejected_fields(**raw) == [named]


# ---------------------------------------------------------------------------
# What the panel accepts is what Celery can run
# ---------------------------------------------------------------------------


@SETTINGS
@example(day_of_month="31", month_of_year="2")
@given(day_of_month=days_of_month, month_of_year=months)
def test_the_panel_and_celery_agree_on_which_crontabs_are_valid(day_of_month: str,
                                                               month_of_year: str) -> None:
    data = {"kind": "crontab", "day_of_month": day_of_month, "month_of_year": month_of_year}
    try:
        crontab(day_of_month=day_of_month, month_of_year=month_of_year)
        celery_ok = True
    except ValueError:
        celery_ok = False
    try:
        spec = schedule.parse_schedule(data)
    except ScheduleError:
        assert not celery_ok, f"the panel refused {data}, which celery accepts"
        return
    assert celery_ok, f"the panel accepted {spec}, which celery refuses"


@FAST
@example(every=1e9, period="days")
@example(every=schedule.MAX_INTERVAL, period="seconds")
@given(every=st.floats(min_value=1, max_value=1e6) | st.floats(min_value=1, max_value=1e300),
       period=periods)
def test_an_interval_is_accepted_exactly_when_in_range_and_then_runs_that_often_in_celery(
        every: float, period: str) -> None:
    seconds = every * schedule.PERIODS[period]
    in_range = schedule.MIN_INTERVAL <= seconds <= schedule.MAX_INTERVAL
    try:
        spec = schedule.parse_schedule({"kind": "interval", "every": every, "period": period})
    except ScheduleError as exc:
        assert [f for f, _ in exc.problems] == ["schedule.every"]
        assert not in_range, f"{every} {period} is in range but was refused: {exc}"
        return
    assert in_range, f"{every} {period} ({seconds} s) is out of range but was accepted"
    assert spec.seconds == pytest.approx(seconds)
    celery_every = spec.celery(app=timing._preview_app("UTC")).run_every.total_seconds()
    assert celery_every == pytest.approx(seconds, abs=1e-6)
    # Previewed over the whole range (a silent overflow would give no runs at all).
    now = datetime(2026, 1, 1, tzinfo=UTC)
    runs = schedule.next_runs(spec, now, count=2)
    assert len(runs) == 2
    assert (runs[0] - now).total_seconds() == pytest.approx(seconds, abs=1e-3)
    assert (runs[1] - runs[0]).total_seconds() == pytest.approx(seconds, abs=1e-3)


@FAST
@example(text="\ud83d")
@example(text="\ud83d\ude00")
@given(text=st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),
                    min_size=1, max_size=3))
def test_escaped_surrogates_are_refused_on_load_or_saved_and_loaded_back_unchanged(
        text: str) -> None:
    raw = {**BASE_ENTRY, "description": text}
    file_text = json.dumps({"format": schedule.FORMAT_NAME, "version": 1, "entries": [raw]})
    decoded = json.loads(file_text)["entries"][0]["description"]  # pairs become one char
    lone = any(0xD800 <= ord(c) <= 0xDFFF for c in decoded)
    try:
        doc = schedule.loads(file_text)  # ASCII-only JSON: a valid UTF-8 file
    except ScheduleError as exc:
        assert lone, f"{decoded!r} is valid Unicode but was refused: {exc}"
        assert "not valid Unicode" in str(exc)  # refused on load, with a reason
        return
    assert not lone, f"{decoded!r} holds a lone surrogate but was accepted"
    assert doc.entries[0].description == decoded
    saved = doc.dumps().encode("utf-8")  # a lone surrogate here would raise
    assert schedule.loads(saved.decode("utf-8")) == doc


# ---------------------------------------------------------------------------
# 3. Next runs agree with Celery's own schedules
# ---------------------------------------------------------------------------

nows = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31),
                    timezones=st.just(UTC))


def celery_says_due(spec: Interval | Crontab, last_run_at: datetime, at: datetime) -> bool:
    sched = spec.celery(app=timing._preview_app("UTC"), nowfun=lambda: at)
    return sched.is_due(last_run_at)[0]


def check_each_run_is_when_celery_says_due(spec: Interval | Crontab, now: datetime,
                                           runs: list[datetime], fraction: float) -> None:
    last = now
    for run in runs:
        before = run - timedelta(seconds=1)
        if before <= last:  # a run within a second of the last one: look just before it
            before = last + (run - last) / 2
        if last < before < run:
            assert not celery_says_due(spec, last, before), \
                f"celery says due at {before}, before the predicted {run} (last {last})"
        somewhere = last + (run - last) * fraction
        if last < somewhere < run:
            assert not celery_says_due(spec, last, somewhere), \
                f"celery says due at {somewhere}, before the predicted {run} (last {last})"
        assert celery_says_due(spec, last, run), \
            f"celery does not say due at the predicted {run} (last {last})"
        last = run


def next_cron_minute(spec: Crontab, after: datetime) -> datetime:
    """The first whole minute after `after` that all five fields allow (celery ANDs
    day_of_month and day_of_week), found by walking the calendar."""
    cron = spec.celery(app=timing._preview_app("UTC"))
    day = after.date()
    for _ in range(366 * 40):
        if (day.month in cron.month_of_year and day.day in cron.day_of_month
                and day.isoweekday() % 7 in cron.day_of_week):
            for hour in sorted(cron.hour):
                for minute in sorted(cron.minute):
                    when = datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)
                    if when > after:
                        return when
        day += timedelta(days=1)
    raise AssertionError(f"{spec.expression} never runs after {after}")


@SETTINGS
@given(spec=crontabs, now=nows, fraction=st.floats(0, 1))
def test_crontab_next_runs_are_when_celery_says_the_entry_is_due(
        spec: Crontab, now: datetime, fraction: float) -> None:
    runs = schedule.next_runs(spec, now, count=3)
    assert len(runs) == 3
    assert runs[0] > now
    assert all(a < b for a, b in itertools.pairwise(runs))
    assert all(r.second == 0 and r.microsecond == 0 for r in runs)
    check_each_run_is_when_celery_says_due(spec, now, runs, fraction)


@SETTINGS
@given(spec=crontabs, now=nows)
def test_crontab_next_runs_skip_no_minute_the_crontab_names(spec: Crontab,
                                                            now: datetime) -> None:
    runs = schedule.next_runs(spec, now, count=3)
    last = now
    for run in runs:
        assert run == next_cron_minute(spec, last)
        last = run


previewable_intervals = st.builds(
    Interval, every=st.integers(1, 1000) | st.floats(min_value=1e-3, max_value=1000),
    period=periods,
).filter(lambda s: schedule.MIN_INTERVAL <= s.seconds <= 400 * 86400)


@SETTINGS
@given(spec=previewable_intervals, now=nows, fraction=st.floats(0, 1))
def test_interval_next_runs_are_when_celery_says_the_entry_is_due(
        spec: Interval, now: datetime, fraction: float) -> None:
    step = timedelta(seconds=spec.seconds)
    runs = schedule.next_runs(spec, now, count=3)
    assert runs == [now + step, now + 2 * step, now + 3 * step]
    check_each_run_is_when_celery_says_due(spec, now, runs, fraction)


@FAST
@given(spec=previewable_intervals, now=nows, ran=st.timedeltas(timedelta(0), timedelta(days=30)))
def test_interval_next_run_counts_from_the_last_run(spec: Interval, now: datetime,
                                                    ran: timedelta) -> None:
    step = timedelta(seconds=spec.seconds)
    last = now - ran
    runs = schedule.next_runs(spec, now, count=1, last_run_at=last)
    assert runs == [max(last + step, now)]  # overdue runs are shown as "now"


# ---------------------------------------------------------------------------
# 4. Document operations
# ---------------------------------------------------------------------------

docs_with_entries = documents.filter(lambda d: len(d.entries) > 0)


@FAST
@given(doc=docs_with_entries, data=st.data())
def test_adding_an_entry_whose_name_is_taken_is_refused(doc: Document,
                                                        data: st.DataObject) -> None:
    taken = data.draw(st.sampled_from(doc.names()), label="taken name")
    newcomer = data.draw(entries(name=st.just(taken)), label="newcomer")
    with pytest.raises(ScheduleError) as exc:
        doc.adding(newcomer)
    assert fields_of(exc) == ["name"]


@FAST
@given(doc=documents, data=st.data())
def test_adding_an_entry_with_a_new_name_appends_it(doc: Document,
                                                    data: st.DataObject) -> None:
    newcomer = data.draw(entries(name=names.filter(lambda n: n not in doc.names())))
    after = doc.adding(newcomer)
    assert after.entries == (*doc.entries, newcomer)
    assert (after.revision, after.timezone) == (doc.revision, doc.timezone)


@FAST
@given(doc=documents, data=st.data(), enabled=st.booleans())
def test_removing_or_enabling_an_unknown_name_is_refused_naming_it(
        doc: Document, data: st.DataObject, enabled: bool) -> None:
    unknown = data.draw(names.filter(lambda n: n not in doc.names()), label="unknown name")
    for change in (lambda: doc.removing([unknown]), lambda: doc.enabling([unknown], enabled)):
        with pytest.raises(ScheduleError) as exc:
            change()
        assert fields_of(exc) == ["name"]
        assert f"no entry is named {unknown!r}" in str(exc.value)


@FAST
@given(doc=docs_with_entries, data=st.data(), enabled=st.booleans())
def test_one_unknown_name_among_known_ones_refuses_the_whole_change(
        doc: Document, data: st.DataObject, enabled: bool) -> None:
    known = data.draw(st.lists(st.sampled_from(doc.names()), min_size=1, unique=True),
                      label="known names")
    unknown = data.draw(names.filter(lambda n: n not in doc.names()), label="unknown name")
    chosen = data.draw(st.permutations([*known, unknown]), label="as given")
    for change in (lambda: doc.removing(chosen), lambda: doc.enabling(chosen, enabled)):
        with pytest.raises(ScheduleError) as exc:
            change()
        assert fields_of(exc) == ["name"]


@FAST
@given(doc=docs_with_entries, data=st.data(), enabled=st.booleans())
def test_enabling_changes_only_the_named_entries(doc: Document, data: st.DataObject,
                                                 enabled: bool) -> None:
    chosen = data.draw(st.lists(st.sampled_from(doc.names()), min_size=1, unique=True))
    after = doc.enabling(chosen, enabled)
    assert after.names() == doc.names()
    assert (after.revision, after.timezone) == (doc.revision, doc.timezone)
    for old, new in zip(doc.entries, after.entries, strict=True):
        if old.name in chosen:
            assert new == old.with_changes(enabled=enabled)
            assert new.fingerprint() == old.fingerprint()  # beat need not re-install it
        else:
            assert new == old


@FAST
@given(doc=docs_with_entries, data=st.data())
def test_removing_drops_only_the_named_entries(doc: Document, data: st.DataObject) -> None:
    chosen = data.draw(st.lists(st.sampled_from(doc.names()), min_size=1, unique=True))
    after = doc.removing(chosen)
    assert after.entries == tuple(e for e in doc.entries if e.name not in chosen)
