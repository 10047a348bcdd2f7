"""Every value a config can hold gives a usable config or a config error that names the
key: never a traceback, a hang or a time that cannot be waited out. A NUL in what becomes
an argument, a variable or a file name, an environment name with `=`, NaN, infinity and
times out of range are each refused by name (a property test over any TOML value)."""

from __future__ import annotations

import math
import string
from datetime import date, datetime, time, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from beat_panel import config as config_module
from beat_panel.config import SECONDS_RANGES, ConfigError, config_from_text

from conftest import run_cli

SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture])
PATH = Path("/tmp/beat-panel-values/beat-panel.toml")  # never written: text only

BEAT_KEYS = ("app", "workdir", "command", "pidfile", "logfile", "args", "env",
             *SECONDS_RANGES)


def toml_string(text: str) -> str:
    """A TOML basic string for any text (every non-printable as an escape)."""
    out = []
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif char.isprintable() and char not in "\x7f":
            out.append(char)
        else:
            out.append(f"\\U{ord(char):08x}")
    return '"' + "".join(out) + '"'


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{toml_string(k)} = {toml_value(v)}"
                               for k, v in value.items()) + "}"
    raise TypeError(value)


# Text that is often a good value, with the characters that matter mixed in.
texts = st.one_of(
    st.text(alphabet=string.ascii_letters + string.digits + "._-/:= \x00~\n\t", max_size=12),
    st.text(max_size=12).filter(lambda t: not any(0xD800 <= ord(c) < 0xE000 for c in t)),
)
scalars = st.one_of(
    texts,
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10 ** 30), max_value=10 ** 30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 0.0, -0.0, 1e308, -1e-308, 600, 600.0000001, 3600, 3601, 10 ** 400]),
    st.datetimes(timezones=st.sampled_from([None, timezone.utc])),
    st.dates(),
)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(texts, inner, max_size=4)), max_leaves=8)


def check_one(key: str, text: str) -> config_module.Config | None:
    """The config, or None after checking the error names `key`."""
    try:
        config = config_from_text(text, PATH)
    except ConfigError as exc:
        assert key in str(exc), (key, str(exc))
        assert exc.path == PATH or str(PATH) in str(exc)
        return None
    beat = config.beat
    for name, (low, high) in SECONDS_RANGES.items():
        assert low <= getattr(beat, name) <= high and math.isfinite(getattr(beat, name))
    words = [*beat.command, *beat.args, beat.app or "", str(beat.workdir),
             str(beat.pidfile), str(beat.logfile), str(config.schedule_file),
             *beat.env, *beat.env.values()]
    assert not any("\0" in word for word in words)
    assert all(name and "=" not in name for name in beat.env)
    return config


@SETTINGS
@given(key=st.sampled_from(BEAT_KEYS), value=values)
@example(key="start_settle", value=1e308)
@example(key="start_settle", value=math.nan)
@example(key="stop_timeout", value=-1)
@example(key="start_timeout", value=10 ** 400)
@example(key="app", value="proj\0")
@example(key="args", value=["--loglevel=INFO", "a\0b"])
@example(key="command", value=[""])
@example(key="env", value={"A=B": "x"})
@example(key="env", value={"": "x"})
@example(key="env", value={"PATH": "/bin\0"})
@example(key="pidfile", value="run/\0.pid")
def test_any_value_of_a_beat_key_is_a_config_or_an_error_naming_it(key, value):
    check_one(key, f"[beat]\n{key} = {toml_value(value)}\n")


@SETTINGS
@given(names=st.dictionaries(texts, st.one_of(texts, scalars), max_size=4))
def test_any_beat_env_table_is_a_config_or_an_error_naming_env(names):
    lines = "\n".join(f"{toml_string(k)} = {toml_value(v)}" for k, v in names.items())
    check_one("env", f"[beat]\napp = \"proj\"\n\n[beat.env]\n{lines}\n")


@SETTINGS
@given(value=values)
def test_any_schedule_file_value_is_a_config_or_an_error_naming_it(value):
    check_one("file", f"[schedule]\nfile = {toml_value(value)}\n")


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_any_bytes_in_the_file_give_a_config_or_a_config_error(tmp_path, data):
    path = tmp_path / "beat-panel.toml"
    path.write_bytes(data)
    try:
        config_module.load_file(path)
    except ConfigError as exc:
        assert exc.path == path


@pytest.mark.parametrize(("text", "named"), [
    ("[beat]\nstart_settle = 1e308\n", "[beat] start_settle must be a number of seconds "
                                       "from 0 to 600, not 1e+308."),
    ("[beat]\nstart_settle = nan\n", "[beat] start_settle must be a number of seconds from "
                                     "0 to 600, not nan."),
    ("[beat]\nstop_timeout = inf\n", "[beat] stop_timeout must be a number of seconds from "
                                     "0 to 3600, not inf."),
    ("[beat]\nstart_timeout = -5\n", "[beat] start_timeout must be a number of seconds from "
                                     "0 to 3600, not -5."),
    ('[beat]\napp = "proj\\u0000"\n', "[beat] app contains a NUL character (\\u0000)"),
    ('[beat]\nargs = ["a", "b\\u0000"]\n', "[beat] args[1] contains a NUL character"),
    ('[beat.env]\n"A=B" = "x"\n', "[beat.env] 'A=B' cannot be the name of an environment "
                                  "variable: a name is not empty and has no '=' or NUL in it."),
    ('[beat.env]\nX = "a\\u0000"\n', "[beat] env.X contains a NUL character"),
    (f"[beat]\nstop_timeout = {'9' * 5000}\n", "cannot be read: Exceeds the limit"),
    ("a = " + "[" * 5000 + "]" * 5000 + "\n", "nests arrays or tables too deeply"),
    ("[beat]\napp = \"\xff\"\n", None),  # fine as text; see the bytes test for non-UTF-8
])
def test_bad_values_exit_2_naming_the_key(tmp_path, text, named):
    path = tmp_path / "beat-panel.toml"
    path.write_text(text)
    result = run_cli("--config", str(path), "status")
    if named is None:
        assert result.code == 0, result.stderr
        return
    assert result.code == 2, result.stderr
    assert named in result.stderr and "Traceback" not in result.stderr


def test_a_file_that_is_not_utf8_or_too_big_is_named(tmp_path):
    path = tmp_path / "beat-panel.toml"
    path.write_bytes(b'[beat]\napp = "\xff"\n')
    with pytest.raises(ConfigError, match=r"is not UTF-8 text \(byte 14\)"):
        config_module.load_file(path)
    path.write_bytes(b"#" * (config_module.MAX_CONFIG_BYTES + 1))
    with pytest.raises(ConfigError, match="a config is a few lines"):
        config_module.load_file(path)


def test_a_path_through_a_loop_of_links_is_named(tmp_path):
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    with pytest.raises(ConfigError, match=r"\[beat\] workdir = .* cannot be followed"):
        config_from_text(f'[beat]\nworkdir = "{tmp_path}/a"\n', tmp_path / "c.toml")
    # The schedule file is kept as written: status, stop and restart must still work
    # (beat runs its last good copy), and reading the file names the loop.
    config = config_from_text(f'[schedule]\nfile = "{tmp_path}/a/s.json"\n',
                              tmp_path / "c.toml")
    assert config.schedule_file == tmp_path / "a" / "s.json"


# -- a schedule in Redis ---------------------------------------------------------------

url_texts = st.one_of(
    values,
    st.builds(lambda host, port, db, query: f"redis://{host}{port}/{db}{query}",
              st.sampled_from(["localhost", "127.0.0.1", ":pw@h", "[::1]", ""]),
              st.sampled_from(["", ":0", ":1", ":6379", ":65536", ":-1", ":x"]),
              st.one_of(st.integers(-(10 ** 22), 10 ** 22).map(str), texts),
              st.sampled_from(["", "?db=-1", "?db=3", "?foo=1", "?socket_timeout=x",
                               "?socket_timeout=1000", "?db=99999999999"])),
)


def check_redis(key: str, text: str) -> None:
    """A config whose Redis URL, prefix and lock key are usable, or an error naming
    `key`: never one that goes to another server or fails only when used."""
    config = check_one(key, text)
    if config is None:
        return
    target = config.schedule_redis
    assert target is not None and target.key_prefix.isprintable()
    assert target.url.isprintable()
    kwargs = target.client().connection_pool.connection_kwargs
    assert 0 <= int(kwargs.get("db") or 0) < 2 ** 31
    assert kwargs.get("port", 6379) != 0 and kwargs["socket_timeout"] <= 5
    assert target.lock not in {target.schedule_key, target.statics_key}


@SETTINGS
@given(value=url_texts)
@example(value="redis://localhost:0/0")
@example(value="redis://localhost:6379/-1")
@example(value="redis://localhost:6379/99999999999999999999")
@example(value="redis://localhost:6379/0?db=-1")
@example(value="redis://localhost:6379/zero")
@example(value="redis://localhost:6379/0?nonsense=1")
@example(value="redis://local\nhost:6379/0")
def test_any_redis_url_is_a_usable_target_or_an_error_naming_redis_url(value):
    check_redis("redis_url", f"[schedule]\nredis_url = {toml_value(value)}\n")


@SETTINGS
@given(key=st.sampled_from(["key_prefix", "lock_key"]), value=values)
@example(key="key_prefix", value="a\nb")
@example(key="key_prefix", value="rb\x1b:")
@example(key="lock_key", value="redbeat:good")
@example(key="lock_key", value="lock")
@example(key="lock_key", value=":schedule")
@example(key="lock_key", value="redbeat::statics")
def test_any_key_prefix_or_lock_key_is_usable_or_an_error_naming_it(key, value):
    check_redis(key, f"[schedule]\nredis_url = \"redis://localhost/0\"\n"
                     f"{key} = {toml_value(value)}\n")


@pytest.mark.parametrize(("schedule", "named"), [
    ('redis_url = "redis://localhost:0/0"', "redis_url = 'redis://localhost:0/0' has port 0"),
    ('redis_url = "redis://:Pa55@h/-1"', "redis_url = 'redis://:**@h/-1' names the database"),
    ('redis_url = "redis://localhost/0"\nlock_key = "redbeat::statics"', "[schedule] "
     "lock_key must be a key of its own"),
    ('redis_url = "redis://localhost/0"\nkey_prefix = "a\\nb"', "[schedule] key_prefix must "
     "be printable text"),
])
def test_a_bad_redis_schedule_exits_2_naming_the_key(tmp_path, schedule, named):
    path = tmp_path / "beat-panel.toml"
    path.write_text(f'[beat]\napp = "proj"\n\n[schedule]\n{schedule}\n')
    for args in (("status",), ("schedule", "list")):
        result = run_cli("--config", str(path), *args)
        assert result.code == 2, result.stderr
        assert named in result.stderr and "Traceback" not in result.stderr
        assert "Pa55" not in result.stderr
