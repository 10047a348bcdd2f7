"""The Redis schedule's core, against a real redis-server: RedBeat's entry format both
ways (property tests), hostile keys and values, a wrong URL or password, Redis going
away mid-edit and coming back, export and import with run state, and health."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_schedule_properties import entries, json_values

from beat_panel.config import ConfigError, load_file
from beat_panel.schedule import Crontab, Document, Entry, Interval, ScheduleError
from beat_panel.schedule.beat_report import read_beat_report
from beat_panel.schedule.model import Clocked
from beat_panel.schedule.redbeat import codec
from beat_panel.schedule.redbeat.store import RedisConflict, RedisStore, RedisUnavailable
from beat_panel.schedule.redbeat.target import RedisTarget
from beat_panel.schedule.session import ScheduleSession
from beat_panel.schedule.source import RedisSource
from beat_panel.schedule.store import ScheduleStore

from conftest import ProcessTracker, run_cli
from redis_server import RedisServer, free_port

PROPS = settings(max_examples=150, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow])


# -- the format ------------------------------------------------------------------------


def as_redbeat_keeps_it(entry: Entry) -> Entry:
    """What RedBeat's form keeps of an entry: an interval in seconds (shown in the
    largest whole period), a one-off time to the second."""
    spec = entry.schedule
    if isinstance(spec, Interval):
        form = codec._interval_form(spec.seconds)
        spec = Interval(form["every"], form["period"], spec.relative)
    elif isinstance(spec, Clocked):
        spec = Clocked(datetime.fromtimestamp(int(spec.at.timestamp()), spec.at.tzinfo))
    return entry.with_changes(schedule=spec)


@PROPS
@given(entry=entries())
def test_an_entry_redbeat_can_run_reads_back_as_written(entry: Entry) -> None:
    problem = codec.redbeat_problem(entry)
    if problem is not None:
        with pytest.raises(ScheduleError) as caught:
            codec.encode_definition(entry)
        assert caught.value.problems[0][0] == problem[0]
        return
    fields = {codec.DEFINITION: codec.encode_definition(entry)}
    panel = codec.encode_panel(entry)
    if panel:
        fields[codec.PANEL] = panel
    back = codec.decode_entry(fields, entry.name)
    expected = as_redbeat_keeps_it(entry)
    assert back.task == expected.task and back.args == expected.args
    assert back.kwargs == expected.kwargs and back.enabled == expected.enabled
    assert back.description == expected.description
    assert back.options == expected.options
    if isinstance(expected.schedule, Clocked):
        assert back.schedule.at == expected.schedule.at and back.one_off
    elif isinstance(expected.schedule, Interval):
        assert back.schedule.seconds == pytest.approx(expected.schedule.seconds)
        assert back.schedule.relative == expected.schedule.relative
    else:
        assert back.schedule == expected.schedule


@PROPS
@given(value=json_values, text=st.text(max_size=60))
def test_any_definition_is_an_entry_or_a_schedule_error_naming_a_field(value, text) -> None:
    for raw in (json.dumps(value), text, json.dumps({"task": "t", "schedule": value}),
                json.dumps({"task": "t", "schedule": {"__type__": "interval",
                                                      "every": value}})):
        try:
            codec.decode_entry({codec.DEFINITION: raw, codec.META: text}, "n")
        except ScheduleError as exc:
            assert exc.problems and all(isinstance(f, str) for f, _ in exc.problems)


@PROPS
@given(meta=st.one_of(st.text(max_size=40), json_values.map(json.dumps)))
def test_any_meta_reads_as_a_run_state(meta: str) -> None:
    state = codec.decode_meta(meta)  # RedBeat's to write: read, never an error
    assert isinstance(state.total_run_count, int)
    assert state.last_run_at is None or state.last_run_at.tzinfo is not None


def test_an_interval_without_relative_is_refused_as_redbeat_drops_it() -> None:
    definition = json.dumps({"name": "x", "task": "t", "args": [], "kwargs": {},
                             "options": {}, "enabled": True,
                             "schedule": {"__type__": "interval", "every": 5}})
    with pytest.raises(ScheduleError, match=r"schedule\.relative"):
        codec.decode_entry({codec.DEFINITION: definition}, "x")


# -- the store against a real Redis ----------------------------------------------------


@pytest.fixture
def store(redis_server: RedisServer) -> RedisStore:
    return RedisStore(RedisTarget(redis_server.url(), "rb:"))


def doc(*entries: Entry, zone: str | None = None) -> Document:
    return Document(tuple(entries), 0, zone)


def test_keys_that_are_not_entries_are_reported_and_never_touched(store: RedisStore) -> None:
    client = store.client
    store.save(doc(Entry("ok", "t.ok", Interval(60))), Document())
    client.set("rb:a-string", "x")
    client.hset("rb:no-definition", "meta", "{}")
    client.hset("rb:other-name", "definition", json.dumps({
        "name": "elsewhere", "task": "t", "schedule": {"__type__": "interval", "every": 5,
                                                        "relative": False}}))
    client.hset("rb:repeating", "definition", json.dumps({
        "name": "repeating", "task": "t", "schedule": {"__type__": "rrule", "freq": 3,
                                                        "count": None, "dtstart": 0}}))
    client.hset("rb:solar", "definition", json.dumps({
        "name": "solar", "task": "t", "schedule": {"__type__": "solar"}}))
    listing = store.load()
    assert listing.document.names() == ["ok"]
    skipped = dict(listing.skipped)
    assert set(skipped) == {"rb:a-string", "rb:no-definition", "rb:other-name",
                            "rb:repeating", "rb:solar"}
    assert "definition: is missing" in skipped["rb:no-definition"]
    assert "names 'elsewhere'" in skipped["rb:other-name"]
    assert "one-shot" in skipped["rb:repeating"]
    # Saving over a damaged key of the same name is refused, even when forced.
    with pytest.raises(ScheduleError, match="left as it is"):
        store.save(doc(Entry("ok", "t.ok", Interval(60)), Entry("solar", "t", Interval(1))),
                   listing.document, force=True)
    assert client.get("rb:a-string") == "x"
    assert json.loads(client.hget("rb:solar", "definition"))["schedule"] == \
        {"__type__": "solar"}


def test_a_name_that_would_be_redbeats_own_key_is_refused(store: RedisStore) -> None:
    with pytest.raises(ScheduleError, match="must not start with ':'"):
        store.save(doc(Entry(":schedule", "t", Interval(5))), Document())
    assert store.client.type("rb::schedule") == "none"


def test_a_new_entry_starts_counting_now_and_is_scored_at_its_due_time(
        store: RedisStore) -> None:
    before = datetime.now(timezone.utc)
    store.save(doc(Entry("hourly", "t", Interval(1, "hours")),
                   Entry("off", "t", Interval(5), enabled=False),
                   Entry("cron", "t", Crontab("0", "3"))), Document())
    meta = json.loads(store.client.hget("rb:hourly", "meta"))
    assert meta["last_run_at"]["timezone"] == "UTC" and meta["total_run_count"] == 0
    scores = dict(store.client.zrange("rb::schedule", 0, -1, withscores=True))
    assert scores["rb:hourly"] == pytest.approx(before.timestamp() + 3600, abs=5)
    assert scores["rb:off"] == -1  # RedBeat never loads a negative score
    assert scores["rb:cron"] == 0  # the zone is not known: the beat decides at its tick


def test_a_wrong_password_or_url_is_named_with_the_password_masked(
        redis_with_password: RedisServer) -> None:
    for url in (redis_with_password.url(password="Wr0ng-pw"),
                f"redis://:Wr0ng-pw@127.0.0.1:{free_port()}/0"):
        with pytest.raises(RedisUnavailable) as caught:
            RedisStore(RedisTarget(url)).load()
        assert "Wr0ng-pw" not in str(caught.value) and ":**@" in str(caught.value)


def test_a_hung_redis_is_an_error_within_seconds(redis_server: RedisServer) -> None:
    redis_server.hang()
    started = datetime.now()
    with pytest.raises(RedisUnavailable):
        RedisStore(RedisTarget(redis_server.url())).load()
    assert datetime.now() - started < timedelta(seconds=12)


def test_redis_going_away_mid_edit_loses_nothing_and_the_save_works_once_it_is_back(
        redis_server: RedisServer, procs: ProcessTracker) -> None:
    source = RedisSource(RedisTarget(redis_server.url(), "rb:"))
    ScheduleSession(source).editing(doc(Entry("a", "t", Interval(60)))).save()
    session = ScheduleSession.open(source)
    edited = session.editing(session.document.adding(Entry("b", "t", Interval(30))))
    redis_server.stop()
    with pytest.raises(RedisUnavailable):
        edited.save()
    assert edited.dirty  # the edit is still there to save
    redis_server.restart(procs)  # empty: as a Redis without persistence comes back
    saved = edited.save(force=True)
    assert saved.document.names() == ["a", "b"]


def test_export_and_import_keep_run_state_both_ways(store: RedisStore, tmp_path: Path) -> None:
    ran = datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc)
    store.save(doc(Entry("a", "t.a", Interval(60)), Entry("b", "t.b", Crontab("*/5")),
                   zone="Europe/Berlin"), Document())
    store.client.hset("rb:a", "meta", codec.encode_meta(codec.RunState(ran, 7)))
    source = RedisSource(store.target)
    file = tmp_path / "schedule.json"
    from beat_panel.schedule import transfer

    transfer.export_to_file(source, file)
    exported = ScheduleStore(file).load().document
    assert exported.names() == ["a", "b"] and exported.timezone == "Europe/Berlin"
    report = read_beat_report(file)
    assert report.timing_basis("a") == ran and report.run_count("a") == 7
    with pytest.raises(ScheduleError, match="exists"):
        transfer.export_to_file(source, file)

    other = RedisSource(RedisTarget(store.target.url, "second:"))
    done = transfer.import_from_file(other, file)
    assert done.written == ("a", "b")
    back = RedisStore(other.target).load()
    assert back.runs["a"] == codec.RunState(ran, 7)
    assert back.document.timezone == "Europe/Berlin"
    again = transfer.import_from_file(other, file)
    assert again.written == () and again.kept == ()  # the same entries: nothing to write


# -- config and CLI --------------------------------------------------------------------


def write_config(root: Path, schedule: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    path = root / "beat-panel.toml"
    path.write_text(f'[beat]\napp = "proj_{uuid.uuid4().hex[:6]}"\n\n[schedule]\n{schedule}\n')
    return path


@pytest.mark.parametrize(("schedule", "words"), [
    ('file = "s.json"\nredis_url = "redis://localhost/0"', "both file and redis_url"),
    ('redis_url = "http://:Pa55@host/0"', "must start with redis://"),
    ('key_prefix = "x:"', "set redis_url too"),
    ('redis_url = "redis://:Pa55@host:notaport/0"', "cannot be read"),
])
def test_a_bad_redis_schedule_config_names_the_key_and_never_the_password(
        tmp_path: Path, schedule: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_file(write_config(tmp_path, schedule))
    assert words in str(caught.value) and "Pa55" not in str(caught.value)


def test_the_cli_edits_a_redis_schedule_and_status_reports_the_lock(
        tmp_path: Path, redis_server: RedisServer) -> None:
    config = write_config(tmp_path, f'redis_url = "{redis_server.url()}"')
    add = run_cli("--config", str(config), "schedule", "add", "tick", "--task", "t.tick",
                  "--every", "5", "--json")
    assert add.code == 0 and add.json["apply_state"] == "next_tick", add.stderr
    solar = run_cli("--config", str(config), "schedule", "add", "sun", "--task", "t",
                    "--solar", "sunset", "--lat", "1", "--lon", "2")
    assert solar.code == 2 and "RedBeat cannot run a solar schedule" in solar.stderr
    listed = run_cli("--config", str(config), "schedule", "list", "--json").json
    assert [e["name"] for e in listed["entries"]] == ["tick"]
    status = run_cli("--config", str(config), "status", "--json").json
    assert status["redbeat_lock"]["state"] == "free" and not status["redbeat_lock"]["held"]
    history = run_cli("--config", str(config), "schedule", "history")
    assert "keeps no saved versions" in history.stdout


def test_health_covers_the_schedules_redis(tmp_path: Path, redis_server: RedisServer,
                                           procs: ProcessTracker) -> None:
    from health_world import make_project

    project = make_project(tmp_path / "proj", redis_server.url())
    text = project.config_path.read_text().replace(
        '[schedule]\nfile = "schedule.json"', f'[schedule]\nredis_url = "{redis_server.url()}"')
    project.config_path.write_text(text)
    health = project.cli("health", "--json")
    assert health.code == 0, health.stderr
    assert health.json["schedule_store"]["ok"] is True
    assert health.json["schedule_store"]["latency_ms"] >= 0
    # A killed beat's lock, taken on this machine: nothing sends until it runs out.
    RedisTarget(redis_server.url()).client().set("redbeat::lock", uuid.uuid1().hex, px=60000)
    health = project.cli("health", "--json").json
    codes = [p["code"] for p in health["problem_details"]]
    assert "redbeat_stale_lock" in codes and "beat_not_running" not in codes
    redis_server.stop()
    health = project.cli("health", "--json").json
    assert health["schedule_store"]["ok"] is False
    assert "schedule_store_unreachable" in [p["code"] for p in health["problem_details"]]


def redis_schedule_project(root: Path, broker: str, panel: str, app_settings: str = "",
                           panel_extra: str = ""):
    """A health project whose schedule is in Redis at `panel`, its app on `broker` with
    `app_settings` (lines of Python run after the app is made)."""
    from health_world import make_project

    project = make_project(root, broker)
    module = project.root / f"{project.app}.py"
    module.write_text(module.read_text() + "\n" + app_settings + "\n")
    text = project.config_path.read_text().replace(
        '[schedule]\nfile = "schedule.json"',
        f'[schedule]\nredis_url = "{panel}"\n{panel_extra}')
    project.config_path.write_text(text)
    return project


def elsewhere_problems(project) -> list[dict]:
    health = project.cli("health", "--json")
    assert health.code == 0, health.stderr
    return [p for p in health.json["problem_details"]
            if p["code"] in ("schedule_elsewhere", "redbeat_lock_elsewhere")]


def test_the_same_redis_by_another_name_is_not_elsewhere(
        tmp_path: Path, redis_server: RedisServer) -> None:
    # RedBeat falls back to the broker's URL; "localhost" and "127.0.0.1" are one server.
    same = redis_server.url().replace("127.0.0.1", "localhost")
    project = redis_schedule_project(tmp_path / "proj", redis_server.url(), same)
    assert elsewhere_problems(project) == []
    health = project.cli("health", "--json").json["schedule_store"]
    assert health["app"]["url_from"] == "broker_url"
    assert health["app"]["place"]["server"] == health["place"]["server"] is not None


def test_an_app_whose_beat_reads_another_redis_or_database_is_named_in_health_and_why(
        tmp_path: Path, redis_server: RedisServer, procs: ProcessTracker) -> None:
    from redis_server import start_redis

    other = start_redis(procs, tmp_path / "other-redis", password="s3cret-other")
    project = redis_schedule_project(
        tmp_path / "proj", redis_server.url(), redis_server.url(),
        f"app.conf.redbeat_redis_url = {other.url()!r}")
    found = elsewhere_problems(project)
    assert [p["code"] for p in found] == ["schedule_elsewhere"], found
    message = found[0]["message"]
    assert f"redis://:**@127.0.0.1:{other.port}/0" in message
    assert "redbeat_redis_url" in message and "[schedule] redis_url" in message
    assert "s3cret-other" not in message
    added = project.cli("schedule", "add", "noop", "--task", project.task("noop"),
                        "--every", "3600")
    assert added.code == 0, added.stderr
    why = project.cli("why", "noop", "--json")
    assert why.code == 0, why.stderr
    assert why.json["will_run"] is False
    assert "schedule_elsewhere" in [r["code"] for r in why.json["reasons"]]
    # The same server, another database: still elsewhere.
    project = redis_schedule_project(
        tmp_path / "proj2", redis_server.url(), redis_server.url(db=0),
        f"app.conf.redbeat_redis_url = {redis_server.url(db=3)!r}")
    assert [p["code"] for p in elsewhere_problems(project)] == ["schedule_elsewhere"]


def test_another_prefix_is_elsewhere_and_another_lock_key_is_a_warning(
        tmp_path: Path, redis_server: RedisServer) -> None:
    project = redis_schedule_project(
        tmp_path / "proj", redis_server.url(), redis_server.url(),
        "app.conf.redbeat_key_prefix = 'jobs:'")
    found = elsewhere_problems(project)
    assert [(p["code"], p["level"]) for p in found] == [("schedule_elsewhere", "error")]
    assert "jobs:*" in found[0]["message"] and "redbeat:*" in found[0]["message"]
    project = redis_schedule_project(
        tmp_path / "proj2", redis_server.url(), redis_server.url(),
        "app.conf.redbeat_lock_key = 'beat-lock'")
    found = elsewhere_problems(project)
    assert [(p["code"], p["level"]) for p in found] == [("redbeat_lock_elsewhere",
                                                         "warning")]
    assert "redbeat:beat-lock" in found[0]["message"]  # RedBeat puts the prefix before it
    # Told the same lock key, the panel agrees.
    project = redis_schedule_project(
        tmp_path / "proj3", redis_server.url(), redis_server.url(),
        "app.conf.redbeat_lock_key = 'beat-lock'", 'lock_key = "beat-lock"')
    assert elsewhere_problems(project) == []


def test_an_edit_to_an_entry_from_the_apps_beat_schedule_says_beat_rewrites_it(
        tmp_path: Path, redis_server: RedisServer) -> None:
    config = write_config(tmp_path, f'redis_url = "{redis_server.url()}"')
    target = RedisTarget(redis_server.url())
    RedisStore(target).save(doc(Entry("from-app", "t.a", Interval(60))), Document())
    target.client().sadd("redbeat::statics", "from-app")  # as a RedBeat beat records it
    listed = run_cli("--config", str(config), "schedule", "list", "--json")
    assert [e.get("from_app") for e in listed.json["entries"]] == [True]
    listed = run_cli("--config", str(config), "schedule", "list")
    assert "from-app *" in listed.stdout and "* from the app's beat_schedule" in listed.stdout
    disabled = run_cli("--config", str(config), "schedule", "disable", "from-app", "--json")
    assert disabled.code == 0, disabled.stderr
    assert "rewrites it from the app at its next start" in disabled.json["static_note"]
    assert "beat_schedule" in disabled.stderr


def test_status_with_a_hung_redis_answers_in_seconds_and_says_the_lock_is_unknown(
        tmp_path: Path, redis_server: RedisServer) -> None:
    config = write_config(tmp_path, f'redis_url = "{redis_server.url()}"')
    redis_server.hang()
    started = datetime.now()
    status = run_cli("--config", str(config), "status", "--json")
    assert datetime.now() - started < timedelta(seconds=8)  # Python's start included
    assert status.code == 0, status.stderr
    lock = status.json["redbeat_lock"]
    assert lock["state"] == "unknown" and "Timeout" in (lock["error"] or "")


# -- what a tester broke, each kept broken no more -------------------------------------


def test_import_from_a_file_never_touches_a_key_it_cannot_read(
        store: RedisStore, tmp_path: Path) -> None:
    from beat_panel.schedule import transfer

    client = store.client
    client.rpush("rb:alist", "a")
    client.hset("rb:badjson", "definition", "{nope")
    repeating = json.dumps({"name": "rr", "task": "t.x", "enabled": True, "schedule": {
        "__type__": "rrule", "freq": 3, "count": 5, "dtstart": 1800000000}})
    client.hset("rb:rr", "definition", repeating)
    file = tmp_path / "incoming.json"
    ScheduleStore(file).save(doc(*(Entry(n, "t.new", Interval(60))
                                   for n in ("alist", "badjson", "rr", "fresh"))), None)
    with pytest.raises(ScheduleError, match="left as it is"):
        transfer.import_from_file(RedisSource(store.target), file, replace=True)
    assert client.lrange("rb:alist", 0, -1) == ["a"]
    assert client.hget("rb:badjson", "definition") == "{nope"
    assert client.hget("rb:rr", "definition") == repeating
    assert not client.exists("rb:fresh")  # nothing at all was written


def test_odd_keys_are_skipped_and_named_never_a_crash(store: RedisStore, tmp_path: Path,
                                                      redis_server: RedisServer) -> None:
    client = store.client
    store.save(doc(Entry("ok", "t", Interval(60))), Document())
    client.hset("rb:tz", mapping={"definition": json.dumps({
        "name": "tz", "task": "t", "schedule": {"__type__": "interval", "every": 5,
                                                "relative": False}}),
        "meta": json.dumps({"last_run_at": {"__type__": "datetime", "year": 2030, "month": 1,
                                            "day": 1, "timezone": "Mars/Olympus"}})})
    client.hset("rb:tzopt", "definition", json.dumps({
        "name": "tzopt", "task": "t", "schedule": {"__type__": "interval", "every": 5,
                                                   "relative": False},
        "options": {"expires": {"__type__": "datetime", "year": 2030, "month": 1, "day": 1,
                                "timezone": "Mars/Olympus"}}}))
    client.hset("rb:extra", "definition", json.dumps({
        "name": "extra", "task": "t", "args": [], "kwargs": {}, "options": {},
        "enabled": True, "zzz_extra": 1,
        "schedule": {"__type__": "interval", "every": 7, "relative": False}}))
    client.hset("rb:at15", "definition", json.dumps({
        "name": "at15", "task": "t", "schedule": {
            "__type__": "rrule", "freq": 3, "count": 1, "dtstart": 1893456000,
            "byhour": 15, "byminute": 30}}))
    listing = store.load()
    assert "tz" in listing.document.names()  # a bad meta (RedBeat's to write) is no run
    skipped = dict(listing.skipped)
    assert set(skipped) == {"rb:tzopt", "rb:extra", "rb:at15"}
    assert "'zzz_extra'" in skipped["rb:extra"] and "fails on" in skipped["rb:extra"]
    config = write_config(tmp_path, f'redis_url = "{redis_server.url()}"\nkey_prefix = "rb:"')
    listed = run_cli("--config", str(config), "schedule", "list", "--json")
    assert listed.code == 0, listed.stderr
    assert {s["key"] for s in listed.json["skipped"]} == set(skipped)
    assert "left as they are" in listed.stderr


def test_a_name_that_is_the_lock_key_is_refused(redis_server: RedisServer) -> None:
    target = RedisTarget(redis_server.url(), "rb:", "mylock")
    with pytest.raises(ScheduleError, match="RedBeat's own"):
        RedisStore(target).save(doc(Entry("mylock", "t", Interval(5))), Document())
    assert not target.client().exists("rb:mylock")


@pytest.mark.parametrize("url", [
    "redis://127.0.0.1:{port}/0?password=Qu3ry-pw",
    "redis://:Qu3ry-pw@127.0.0.1:{port}/0",
])
def test_a_password_in_the_query_or_the_user_part_is_never_shown(
        tmp_path: Path, redis_with_password: RedisServer, url: str) -> None:
    config = write_config(tmp_path, f'redis_url = "{url.format(port=redis_with_password.port)}"')
    for args in (("schedule", "list"), ("status", "--json"), ("health", "--json")):
        done = run_cli("--config", str(config), *args)
        assert "Qu3ry-pw" not in done.stdout + done.stderr, args


def test_a_url_with_an_unencoded_character_in_the_password_is_refused_without_it(
        tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_file(write_config(tmp_path, 'redis_url = "redis://:Hunter#2pw@host:6379/0"'))
    assert "Hunter" not in str(caught.value) and "%23" in str(caught.value)


def test_export_to_a_folder_that_does_not_exist_is_refused(store: RedisStore,
                                                          tmp_path: Path) -> None:
    from beat_panel.schedule import transfer

    with pytest.raises(ScheduleError, match="does not exist"):
        transfer.export_to_file(RedisSource(store.target), tmp_path / "nope" / "x.json")
    assert not (tmp_path / "nope").exists()


def test_why_with_redis_out_of_reach_is_a_failure_not_bad_usage(tmp_path: Path) -> None:
    config = write_config(tmp_path, f'redis_url = "redis://127.0.0.1:{free_port()}/0"')
    done = run_cli("--config", str(config), "why", "anything")
    assert done.code == 1 and "Connection refused" in done.stderr


def test_an_import_into_a_schedule_of_another_zone_says_what_its_crontabs_now_mean(
        store: RedisStore, tmp_path: Path) -> None:
    from beat_panel.schedule import transfer

    store.save(doc(Entry("here", "t", Interval(60)), zone="Asia/Tokyo"), Document())
    file = tmp_path / "paris.json"
    ScheduleStore(file).save(doc(Entry("nine", "t", Crontab("0", "9")), zone="Europe/Paris"),
                             None)
    done = transfer.import_from_file(RedisSource(store.target), file)
    assert done.written == ("nine",)
    assert "written for Europe/Paris" in done.notes[0] and "Asia/Tokyo" in done.notes[0]


def test_timeouts_in_the_url_never_make_a_hung_redis_hang_the_panel(
        tmp_path: Path, redis_server: RedisServer) -> None:
    url = redis_server.url() + "?socket_timeout=1000&socket_connect_timeout=1000"
    config = write_config(tmp_path, f'redis_url = "{url}"')
    assert load_file(config).schedule_redis.url == url  # the app's own URL is fine here
    redis_server.hang()
    started = datetime.now()
    with pytest.raises(RedisUnavailable):
        RedisStore(RedisTarget(url)).load()
    assert datetime.now() - started < timedelta(seconds=8)
    for args in (("status", "--json"), ("schedule", "list")):
        started = datetime.now()
        done = run_cli("--config", str(config), *args)
        assert datetime.now() - started < timedelta(seconds=10), args
        assert "Timeout" in done.stdout + done.stderr, args


def test_a_database_the_server_lacks_is_traced_to_redis_url(
        tmp_path: Path, redis_server: RedisServer) -> None:
    config = write_config(tmp_path, f'redis_url = "{redis_server.url(db=20)}"')
    done = run_cli("--config", str(config), "schedule", "list")
    assert done.code == 1 and "Traceback" not in done.stderr
    assert "DB index is out of range" in done.stderr
    assert "[schedule] redis_url names a database" in done.stderr


def test_an_entry_at_the_lock_key_is_reported_never_hidden(
        tmp_path: Path, redis_server: RedisServer) -> None:
    RedisStore(RedisTarget(redis_server.url())).save(
        doc(Entry("good", "t.a", Interval(60)), Entry("other", "t.b", Interval(60))),
        Document())
    config = write_config(tmp_path, f'redis_url = "{redis_server.url()}"\n'
                                    'lock_key = "redbeat:good"')
    listed = run_cli("--config", str(config), "schedule", "list", "--json")
    assert listed.code == 0, listed.stderr
    assert [e["name"] for e in listed.json["entries"]] == ["other"]
    (skipped,) = listed.json["skipped"]
    assert skipped["key"] == "redbeat:good" and "lock_key" in str(skipped)
    assert RedisTarget(redis_server.url()).client().hget("redbeat:good", "definition")


def test_bytes_that_are_not_utf8_are_skipped_and_named_never_a_traceback(
        tmp_path: Path, redis_server: RedisServer) -> None:
    import redis

    target = RedisTarget(redis_server.url())
    RedisStore(target).save(doc(Entry("ok", "t.ok", Interval(60))), Document())
    raw = redis.Redis(port=redis_server.port)
    raw.hset("redbeat:nonutf", "definition", b"\xff\xfe")
    raw.hset(b"redbeat:\xff", "definition", b"{}")
    raw.hset("redbeat:badmeta", mapping={"definition": json.dumps({
        "name": "badmeta", "task": "t", "schedule": {"__type__": "interval", "every": 5,
                                                     "relative": False}}),
        "meta": b"\xff"})
    raw.sadd("redbeat::statics", b"\xfe", "redbeat:ok")
    raw.hset("redbeat::beat_panel", "timezone", b"\xff")
    config = write_config(tmp_path, f'redis_url = "{redis_server.url()}"')
    listed = run_cli("--config", str(config), "schedule", "list", "--json")
    assert listed.code == 0, listed.stderr
    assert [e["name"] for e in listed.json["entries"]] == ["badmeta", "ok"]
    skipped = {s["key"]: str(s) for s in listed.json["skipped"]}
    assert set(skipped) == {"redbeat:nonutf", "redbeat:\\xff"}
    assert "not UTF-8" in skipped["redbeat:nonutf"]
    assert "not UTF-8" in skipped["redbeat:\\xff"]
    why = run_cli("--config", str(config), "why", "ok")
    assert "Traceback" not in why.stderr, why.stderr
    # Saving over the damaged key is refused; the key is left as it is.
    add = run_cli("--config", str(config), "schedule", "add", "nonutf", "--task", "t",
                  "--every", "5")
    assert add.code != 0 and "Traceback" not in add.stderr, add.stderr
    assert "left as it is" in add.stderr
    file = tmp_path / "in.json"
    ScheduleStore(file).save(doc(Entry("nonutf", "t", Interval(9))), None)
    imported = run_cli("--config", str(config), "schedule", "import-file", str(file),
                       "--replace")
    assert imported.code != 0 and "Traceback" not in imported.stderr, imported.stderr
    assert "left as it is" in imported.stderr
    removed = run_cli("--config", str(config), "schedule", "remove", "ok")
    assert removed.code == 0, removed.stderr
    assert raw.hget("redbeat:nonutf", "definition") == b"\xff\xfe"
    assert raw.hget(b"redbeat:\xff", "definition") == b"{}"
    assert raw.exists("redbeat:badmeta") and not raw.exists("redbeat:ok")


def test_a_50000_entry_import_and_save_work_and_keep_per_entry_conflicts(
        tmp_path: Path, redis_server: RedisServer) -> None:
    # WATCH on 50,000 keys took Redis about 20 s (its time is squared in the keys), past
    # the 5 s a command may take: the import failed, every time.
    big = doc(*(Entry(f"e{i}", "t.x", Interval(60 + i % 100)) for i in range(50_000)))
    file = tmp_path / "big.json"
    ScheduleStore(file).save(big, None)
    config = write_config(tmp_path, f'redis_url = "{redis_server.url()}"')
    started = datetime.now()
    done = run_cli("--config", str(config), "schedule", "import-file", str(file))
    assert done.code == 0, done.stderr
    took = datetime.now() - started
    store = RedisStore(RedisTarget(redis_server.url()))
    listing = store.load()
    assert len(listing.document.entries) == 50_000, took
    # Another panel changes one entry: a save of every entry over it names that one, and
    # writes nothing.
    RedisStore(RedisTarget(redis_server.url())).save(
        doc(Entry("e7", "t.theirs", Interval(5))), doc(listing.document.get("e7")))
    mine = Document(tuple(e.with_changes(task="t.mine") for e in listing.document.entries))
    with pytest.raises(RedisConflict) as caught:
        store.save(mine, listing.document)
    assert caught.value.names == ["e7"]
    assert store.load().document.get("e1").task == "t.x"


def test_an_entry_changed_between_the_look_and_the_write_is_a_conflict_not_overwritten(
        store: RedisStore) -> None:
    store.save(doc(Entry("a", "t.a", Interval(60)), Entry("b", "t.b", Interval(60))),
               Document())
    base = store.load().document
    other = RedisStore(store.target)
    look = store._look
    looks = []

    def look_then_theirs(*args, **kwargs):
        looks.append(1)
        seen = look(*args, **kwargs)
        if len(looks) == 1:  # just after the first look: another panel saves `b`
            other.save(doc(base.get("a"), Entry("b", "t.theirs", Interval(5))), base)
        return seen

    store._look = look_then_theirs
    with pytest.raises(RedisConflict) as caught:
        store.save(doc(Entry("b", "t.mine", Interval(7))), base)  # and `a` removed
    assert caught.value.names == ["b"] and len(looks) == 2
    after = store.load().document
    assert after.get("b").task == "t.theirs" and after.get("a") is not None


def test_a_lock_that_is_not_utf8_is_held_by_an_unknown_machine_never_a_traceback(
        tmp_path: Path, redis_server: RedisServer) -> None:
    import redis

    redis.Redis(port=redis_server.port).set("redbeat::lock", b"\xff\xfe", px=60000)
    config = write_config(tmp_path, f'redis_url = "{redis_server.url()}"')
    status = run_cli("--config", str(config), "status", "--json")
    assert status.code == 0 and "Traceback" not in status.stderr, status.stderr
    lock = status.json["redbeat_lock"]
    assert lock["held"] and lock["holder_host"] == "an unknown machine"


def test_health_with_timeouts_in_the_url_answers_in_seconds_when_redis_hangs(
        tmp_path: Path, redis_server: RedisServer) -> None:
    from health_world import make_project

    url = redis_server.url() + "?socket_timeout=1000&socket_connect_timeout=1000"
    project = make_project(tmp_path / "proj", redis_server.url())
    project.config_path.write_text(project.config_path.read_text().replace(
        '[schedule]\nfile = "schedule.json"', f'[schedule]\nredis_url = "{url}"'))
    redis_server.hang()
    started = datetime.now()
    health = project.cli("health", "--json")
    assert datetime.now() - started < timedelta(seconds=15)
    assert health.json["schedule_store"]["ok"] is False
    assert "Timeout" in health.json["schedule_store"]["error"]


def test_a_redis_user_without_eval_is_told_so_and_nothing_is_written(
        store: RedisStore) -> None:
    store.client.execute_command("ACL", "SETUSER", "default", "-eval")
    with pytest.raises(RedisUnavailable) as caught:
        store.save(doc(Entry("a", "t.a", Interval(60))), Document())
    assert "allow EVAL" in str(caught.value) and "Nothing was written" in str(caught.value)
    assert not store.client.exists("rb:a")
