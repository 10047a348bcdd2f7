"""The `beat-panel.toml` config: where it is found, what it says, and the demo default.

Lookup order: `--config PATH`, `$BEAT_PANEL_CONFIG`, `./beat-panel.toml`, the user's
config folder; with none of them, the built-in demo project.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import re
import shutil
import stat
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from beat_panel import paths
from beat_panel.errors import PanelError
from beat_panel.files import trust
from beat_panel.files.owners import user_name
from beat_panel.schedule.redbeat.target import (
    DEFAULT_PREFIX,
    RedisTarget,
    key_problem,
    mask_url,
    url_problem,
)

CONFIG_NAME = "beat-panel.toml"
DEMO_APP = "beat_panel.demo.app"
DEFAULT_STOP_TIMEOUT = 10.0
DEFAULT_START_SETTLE = 2.0  # seconds up after its sign of life (beats without our scheduler)
DEFAULT_START_TIMEOUT = 30.0  # seconds to wait for that sign
# What each time may be, in seconds: more would hold the project's action lock (and the
# window's buttons) for longer than anyone waits for a start or a stop.
SECONDS_RANGES = {
    "stop_timeout": (0.0, 3600.0),
    "start_settle": (0.0, 600.0),
    "start_timeout": (0.0, 3600.0),
}
MAX_CONFIG_BYTES = 1 << 20  # a config is a few lines; a bigger file is not one
# What [alerts] can be sent about (its `events` key picks some).
ALERT_EVENTS = ("beat_died", "keepalive_gave_up", "broker_unreachable", "no_worker_for_queue")
SMTP_SECURITY_PORTS = {"starttls": 587, "ssl": 465, "none": 25}
ALERT_TIMEOUT_RANGE = (1.0, 300.0)  # seconds an e-mail or the alert command may take
DEFAULT_ALERT_TIMEOUT = 20.0
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


class ConfigError(PanelError):
    """The config file cannot be used; the message says why and what to do. `path` is
    the file, when there is one to open."""

    def __init__(self, message: str, path: Path | None = None) -> None:
        super().__init__(message)
        self.path = path


@dataclass(frozen=True)
class BeatConfig:
    """How to find, start and stop the beat of one project."""

    app: str | None
    workdir: Path
    command: tuple[str, ...]
    pidfile: Path | None
    logfile: Path | None
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    stop_timeout: float = DEFAULT_STOP_TIMEOUT
    start_settle: float = DEFAULT_START_SETTLE
    start_timeout: float = DEFAULT_START_TIMEOUT


@dataclass(frozen=True)
class AlertsConfig:
    """Where alerts go beyond the desktop (`[alerts]`): an e-mail, a command, or both.
    The SMTP password is never here: `smtp_password_env` names the variable that holds
    it, else the desktop keyring is asked (see `beat_panel.alerts.channels`)."""

    email_to: tuple[str, ...] = ()
    email_from: str | None = None
    smtp_host: str = "localhost"
    smtp_port: int | None = None  # None: the usual port of `smtp_security`
    smtp_security: str = "starttls"
    smtp_user: str | None = None
    smtp_password_env: str | None = None
    command: tuple[str, ...] = ()
    events: frozenset[str] = frozenset(ALERT_EVENTS)
    timeout: float = DEFAULT_ALERT_TIMEOUT
    folder: Path = Path("/")  # the config file's folder: where the command runs

    @property
    def port(self) -> int:
        return self.smtp_port or SMTP_SECURITY_PORTS[self.smtp_security]


@dataclass(frozen=True)
class Config:
    """A loaded config. `path` is None for the built-in demo project."""

    beat: BeatConfig
    path: Path | None
    schedule_file: Path | None = None
    # A RedBeat schedule in Redis ([schedule] redis_url) instead of a file.
    schedule_redis: RedisTarget | None = None
    alerts: AlertsConfig | None = None  # None: no [alerts] section, no alerts sent
    # What the lookup passed over and why (a ./beat-panel.toml in a folder that is not
    # the user's): the CLI says it on standard error, the window in the panel's log.
    notes: tuple[str, ...] = ()

    @property
    def is_demo(self) -> bool:
        return self.path is None

    @property
    def project_id(self) -> str:
        """A short stable name for this project, for its lock and state files."""
        key = f"{self.beat.workdir}|{self.beat.app}|{self.path}"
        return hashlib.sha1(key.encode()).hexdigest()[:12]

    @property
    def run_dir(self) -> Path:
        """Where the panel keeps this project's lock and action marker."""
        return paths.state_dir() / "projects" / self.project_id


def default_celery_command() -> tuple[str, ...]:
    """The celery that belongs to the panel's own Python (the venv shim when present)."""
    shim = Path(sys.executable).with_name("celery")
    if shim.exists():
        return (str(shim),)
    found = shutil.which("celery")
    return (found,) if found else (sys.executable, "-m", "celery")


def demo_dir() -> Path:
    """The demo project's folder in the user's data folder."""
    return paths.data_dir() / "demo"


def demo_config() -> Config:
    """The built-in demo project: a Celery app on kombu's filesystem broker."""
    base = demo_dir()
    run = base / "run"
    return Config(
        beat=BeatConfig(
            app=DEMO_APP,
            workdir=base,
            command=default_celery_command(),
            pidfile=run / "beat.pid",
            logfile=run / "beat.log",
            args=("--loglevel=INFO",),
            env={"BEAT_PANEL_DEMO_DIR": str(base)},
        ),
        path=None,
        schedule_file=base / "schedule.json",
    )


def find_config_file(explicit: str | os.PathLike[str] | None = None,
                     notes: list[str] | None = None) -> Path | None:
    """The config file to use, or None for the demo project.

    An explicitly named file (flag or environment) that does not exist is an error:
    silently falling back to the demo would act on the wrong beat. A `./beat-panel.toml`
    is passed over when the current folder is not the user's (or root's) or others can
    write to it: a file anyone could have put there must not decide what runs; why is
    appended to `notes`.
    """
    named = explicit if explicit is not None else os.environ.get("BEAT_PANEL_CONFIG") or None
    if named is not None:
        path = Path(named).expanduser()
        if not path.is_file():
            source = "--config" if explicit is not None else "BEAT_PANEL_CONFIG"
            raise ConfigError(
                f"Config file not found: {path} (given by {source}). "
                "Check the path, or leave it out to use the demo project."
            )
        return path.resolve()
    try:
        here = Path.cwd()
    except OSError:  # the current folder was removed: there is no ./beat-panel.toml
        here = None
    local = here / CONFIG_NAME if here is not None else None
    if here is not None and local is not None and local.is_file():
        why = _untrusted_folder(here)
        if why is None:
            return local.resolve()
        if notes is not None:
            notes.append(f"Skipped {local}: {why}. A config there could make Beat Panel run "
                         f"any command as {user_name()}. Run it from a folder of your "
                         "own, or name a config you trust with --config.")
    candidate = paths.config_dir() / CONFIG_NAME
    if candidate.is_file():
        return candidate.resolve()
    return None


def _untrusted_folder(folder: Path) -> str | None:
    """Why `./beat-panel.toml` in `folder` (the current folder) is not to be picked up
    unasked, or None when the folder is the user's or root's and only they can write it."""
    try:
        st = os.stat(folder)
        trust.check_entry(str(folder), st)
    except trust.UntrustedPathError as exc:
        return f"the folder {folder} {exc.problem}"
    except OSError as exc:
        return f"its folder cannot be looked at ({exc.strerror})"
    writers = trust.other_writers(st)
    if writers is not None:  # a sticky /tmp too: anyone may have put the file there
        return (f"the folder {folder} can be written by {writers[0]} (mode "
                f"{stat.S_IMODE(st.st_mode):04o}), so someone else could have put it there")
    return None


def load(explicit: str | os.PathLike[str] | None = None) -> Config:
    """Find and load the config (see the module docstring for the lookup order)."""
    notes: list[str] = []
    path = find_config_file(explicit, notes)
    config = demo_config() if path is None else load_file(path)
    return dataclasses.replace(config, notes=tuple(notes)) if notes else config


def load_file(path: Path) -> Config:
    """Load one config file; a ConfigError names the file and the key."""
    try:
        return _load_file(path)
    except ConfigError as exc:
        if exc.path is None:
            exc.path = path
        raise


def _load_file(path: Path) -> Config:
    """Load one config file; relative paths in it resolve against its folder."""
    text = read_trusted(path, "config file")
    return _from_dict(_parse(text, path), path)


def read_trusted(path: Path, what: str) -> str:
    """The text of `path`, a file that decides what Beat Panel runs, once it is sure that
    no one but the user and root can change it (see `beat_panel.files.trust`). ConfigError
    names the file, what is wrong and the fix."""
    you = user_name()
    try:
        checked = trust.check_path(path)
    except trust.UntrustedPathError as exc:
        raise ConfigError(f"Beat Panel will not use the {what} {path}: {exc.reason}. Whoever "
                          f"can change it could make Beat Panel run any command as {you}. "
                          f"{exc.fix}") from None
    except OSError as exc:
        raise ConfigError(f"Cannot read {what} {path}: {exc.strerror or exc}.") from None
    if not stat.S_ISREG(checked.stat.st_mode):
        raise ConfigError(f"Cannot read {what} {path}: it is not a regular file.")
    try:
        # The checked file itself: never through a link, never a FIFO that would hang.
        fd = os.open(checked.real_path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK
                     | os.O_CLOEXEC)
    except OSError as exc:
        raise ConfigError(f"Cannot read {what} {path}: {exc.strerror}.") from None
    try:
        opened = os.fstat(fd)
        if (opened.st_dev, opened.st_ino) != (checked.stat.st_dev, checked.stat.st_ino):
            raise ConfigError(f"Cannot read {what} {path}: it was replaced while it was "
                              "being checked. Try again.")
        if opened.st_size > MAX_CONFIG_BYTES:
            raise ConfigError(f"The {what} {path} is {opened.st_size} bytes; a config is a "
                              f"few lines (at most {MAX_CONFIG_BYTES} bytes are read).")
        chunks, size = [], 0
        while size <= MAX_CONFIG_BYTES and (chunk := os.read(fd, 1 << 16)):
            chunks.append(chunk)
            size += len(chunk)
        data = b"".join(chunks)[:MAX_CONFIG_BYTES]
    except OSError as exc:
        raise ConfigError(f"Cannot read {what} {path}: {exc.strerror}.") from None
    finally:
        os.close(fd)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"The {what} {path} is not UTF-8 text (byte {exc.start}).") \
            from None


def _parse(text: str, path: Path) -> dict:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"Config file {path} is not valid TOML: {exc}.", path) from None
    except ValueError as exc:  # an integer of thousands of digits
        raise ConfigError(f"Config file {path} cannot be read: {exc}.", path) from None
    except RecursionError:
        raise ConfigError(f"Config file {path} nests arrays or tables too deeply.", path) \
            from None


def _from_dict(data: dict, path: Path) -> Config:
    base = path.parent
    reader = _Reader(data.get("beat", {}), path, "beat")
    unknown_sections = set(data) - {"beat", "schedule", "alerts"}
    if unknown_sections:
        raise ConfigError(
            f"{path}: unknown section(s) {', '.join(sorted(unknown_sections))}. "
            "Known sections are [beat], [schedule] and [alerts]."
        )

    def resolve(reader: _Reader, key: str, follow: bool = True) -> Path | None:
        value = reader.string(key)
        if value is None:
            return None
        try:
            given = base / Path(value).expanduser()
            return given.resolve() if follow else Path(os.path.abspath(given))
        except (OSError, RuntimeError) as exc:  # a loop of links; `~` with no home
            raise ConfigError(f"{path}: [{reader.section}] {key} = {_shown(value)} cannot "
                              f"be followed: {str(exc).rstrip('.')}.") from None

    def absolute(reader: _Reader, key: str) -> Path | None:
        return resolve(reader, key, follow=False)

    command = reader.str_list("command", program=True)
    beat = BeatConfig(
        app=reader.string("app"),
        workdir=resolve(reader, "workdir") or base.resolve(),
        command=tuple(command) if command else default_celery_command(),
        # Made absolute, never resolved: a link at the pidfile or log path must reach the
        # start's checks as a link (refused), not as the file it points to.
        pidfile=absolute(reader, "pidfile"),
        logfile=absolute(reader, "logfile"),
        args=tuple(reader.str_list("args") or ()),
        env=reader.env_table("env"),
        stop_timeout=reader.seconds("stop_timeout", DEFAULT_STOP_TIMEOUT),
        start_settle=reader.seconds("start_settle", DEFAULT_START_SETTLE),
        start_timeout=reader.seconds("start_timeout", DEFAULT_START_TIMEOUT),
    )
    reader.reject_unknown()
    schedule = _Reader(data.get("schedule", {}), path, "schedule")
    try:
        schedule_file = resolve(schedule, "file")
    except ConfigError:
        # A loop of links where the file should be: status, stop and restart must still
        # work (beat runs its last good copy); reading it says what is wrong.
        schedule_file = absolute(schedule, "file")
    schedule_redis = _redis_target(schedule)
    if schedule_file is not None and schedule_redis is not None:
        raise ConfigError(f"{path}: [schedule] has both file and redis_url; a project's "
                          "schedule is one or the other. Remove one of them.")
    schedule.reject_unknown()
    alerts = _alerts(_Reader(data["alerts"], path, "alerts"), base) if "alerts" in data \
        else None
    return Config(beat=beat, path=path, schedule_file=schedule_file,
                  schedule_redis=schedule_redis, alerts=alerts)


REDIS_SCHEMES = ("redis", "rediss", "unix")


def _redis_target(reader: _Reader) -> RedisTarget | None:
    """[schedule] redis_url (with key_prefix and lock_key): a RedBeat schedule. The
    password never appears in an error."""
    prefix = reader.string("key_prefix")
    lock = reader.string("lock_key")
    url = reader.table.get("redis_url")
    reader.seen.add("redis_url")
    if url is None:
        if prefix is not None or lock is not None:
            raise ConfigError(f"{reader.path}: [schedule] key_prefix and lock_key belong to "
                              "a Redis schedule: set redis_url too, or remove them.")
        return None
    if not isinstance(url, str) or not url.strip():
        raise ConfigError(f"{reader.path}: [schedule] redis_url must be a URL such as "
                          "\"redis://localhost:6379/0\".")
    shown = mask_url(url)
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme not in REDIS_SCHEMES:
        raise ConfigError(f"{reader.path}: [schedule] redis_url = {shown!r} must start with "
                          f"{', '.join(s + '://' for s in REDIS_SCHEMES)}.")
    try:
        import redis.connection

        redis.connection.parse_url(url)
    except (ValueError, TypeError):
        # (redis-py's own words may quote a piece of the password: not shown.)
        raise ConfigError(f"{reader.path}: [schedule] redis_url = {shown!r} cannot be read "
                          "as a Redis URL: give it as redis://:PASSWORD@HOST:PORT/DB, with "
                          "any '@', ':', '/', '#' or '?' in the password written as %40, "
                          "%3A, %2F, %23 or %3F.") from None
    problem = url_problem(url)
    if problem is not None:
        raise ConfigError(f"{reader.path}: [schedule] redis_url = {shown!r} {problem}.")
    prefix = prefix or DEFAULT_PREFIX
    bad_key = key_problem(prefix, lock)
    if bad_key is not None:
        key, expected = bad_key
        raise reader._error(key, expected)
    return RedisTarget(url, prefix, lock)


def _alerts(reader: _Reader, base: Path) -> AlertsConfig:
    """The [alerts] section: every key checked here, so a bad one is a config error at
    load, not an alert that silently never goes out when beat dies."""
    where = f"{reader.path}: [alerts]"
    if "smtp_password" in reader.table:
        raise ConfigError(
            f"{where} smtp_password: Beat Panel does not read passwords from its config "
            "file (anyone who can read the file, or a backup of it, would have it). Put "
            "the password in an environment variable and name it with smtp_password_env "
            "= \"NAME\", or keep it in the desktop keyring (`keyring set "
            "beat-panel:SMTP_HOST SMTP_USER`, with the Python package keyring installed). "
            "Then remove smtp_password.")
    email_to = tuple(reader.addresses("email_to") or ())
    email_from = reader.address("email_from")
    host = reader.string("smtp_host")
    if host is not None and (any(c.isspace() for c in host) or "/" in host):
        raise reader._error("smtp_host", "a host name or address")
    port = reader.integer("smtp_port", 1, 65535)
    security = reader.choice("smtp_security", tuple(SMTP_SECURITY_PORTS))
    user = reader.string("smtp_user")
    password_env = reader.string("smtp_password_env")
    if password_env is not None and "=" in password_env:
        raise reader._error("smtp_password_env", "the name of an environment variable "
                                                 "(no '=' in it)")
    command = tuple(reader.str_list("command", program=True) or ())
    events = reader.str_list("events")
    timeout = reader.seconds("timeout", DEFAULT_ALERT_TIMEOUT, ALERT_TIMEOUT_RANGE)
    reader.reject_unknown()

    smtp_keys = [k for k, v in (("email_from", email_from), ("smtp_host", host),
                                ("smtp_port", port), ("smtp_security", security),
                                ("smtp_user", user), ("smtp_password_env", password_env))
                 if v is not None]
    if smtp_keys and not email_to:
        raise ConfigError(f"{where} sets {', '.join(smtp_keys)} but not email_to: say who "
                          "gets the e-mail, e.g. email_to = [\"you@example.com\"].")
    if not email_to and not command:
        raise ConfigError(f"{where} says nowhere to send an alert: give email_to (a list "
                          "of addresses), command (a program to run), or both; or remove "
                          "the section.")
    if password_env is not None and user is None:
        raise ConfigError(f"{where} smtp_password_env is set but smtp_user is not: the "
                          "password is for logging in as smtp_user.")
    host = host or "localhost"
    security = security or "starttls"
    if user is not None and security == "none" and host.lower() not in LOOPBACK_HOSTS:
        raise ConfigError(f"{where} smtp_security = \"none\" with smtp_user would send the "
                          f"password unencrypted to {host}. Use \"starttls\" or \"ssl\" "
                          "(\"none\" logs in only to this machine's own server).")
    if events is not None:
        unknown = [e for e in events if e not in ALERT_EVENTS]
        if unknown or not events:
            raise reader._error("events", "a list of one or more of "
                                          + ", ".join(ALERT_EVENTS))
    if command and "/" in command[0] and not os.path.isabs(command[0]):
        # A relative program is the config folder's, as for every path in the file.
        command = (os.path.normpath(os.path.join(base, command[0])), *command[1:])
    return AlertsConfig(
        email_to=email_to, email_from=email_from, smtp_host=host, smtp_port=port,
        smtp_security=security, smtp_user=user, smtp_password_env=password_env,
        command=command, events=frozenset(events or ALERT_EVENTS), timeout=timeout,
        folder=base)


def _shown(value: object, limit: int = 80) -> str:
    """`value` as TOML-ish text for a message, cut short when long."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _is_address(text: str) -> bool:
    local, at, domain = text.rpartition("@")
    return (bool(at and local and domain) and text.isprintable()
            and not any(c.isspace() or c in ',;<>"()[]\\' for c in text))


class _Reader:
    """Reads typed keys from one table, with errors that name the key."""

    def __init__(self, table: object, path: Path, section: str) -> None:
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: [{section}] must be a table.")
        self.table = table
        self.path = path
        self.section = section
        self.seen: set[str] = set()

    def _error(self, key: str, expected: str) -> ConfigError:
        return ConfigError(
            f"{self.path}: [{self.section}] {key} must be {expected}, "
            f"not {_shown(self.table[key])}."
        )

    def _no_nul(self, key: str, value: str, what: str = "") -> None:
        # A NUL cannot be in an argument, a variable or a file name: the system call that
        # gets it would refuse it (Python raises ValueError), far from the config.
        if "\0" in value:
            raise ConfigError(f"{self.path}: [{self.section}] {key}{what} contains a NUL "
                              f"character (\\u0000): {_shown(value)}. Remove it.")

    def string(self, key: str) -> str | None:
        self.seen.add(key)
        value = self.table.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise self._error(key, "a non-empty string")
        self._no_nul(key, value)
        return value

    def str_list(self, key: str, program: bool = False) -> list[str] | None:
        """A list of strings; with `program`, one whose first word names the program
        (an empty list means the default)."""
        self.seen.add(key)
        value = self.table.get(key)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self._error(key, "a list of strings")
        for index, word in enumerate(value):
            self._no_nul(key, word, f"[{index}]")
        if program and value and not value[0].strip():
            raise self._error(key, "a list whose first string names the program to run")
        return value

    def env_table(self, key: str) -> dict[str, str]:
        """Environment variables: names without `=` or NUL, values without NUL."""
        self.seen.add(key)
        value = self.table.get(key, {})
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise self._error(key, "a table of strings")
        for name, text in value.items():
            if not name or "=" in name or "\0" in name:
                raise ConfigError(
                    f"{self.path}: [{self.section}.{key}] {_shown(name)} cannot be the name "
                    "of an environment variable: a name is not empty and has no '=' or NUL "
                    "in it.")
            self._no_nul(f"{key}.{name}", text)
        return dict(value)

    def seconds(self, key: str, default: float,
                limits: tuple[float, float] | None = None) -> float:
        self.seen.add(key)
        value = self.table.get(key, default)
        low, high = limits or SECONDS_RANGES[key]
        expected = f"a number of seconds from {low:g} to {high:g}"
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self._error(key, expected)
        # Compared before float(): an integer too big for a float is simply too big; NaN
        # compares false with everything, so it fails `low <= value`.
        if not low <= value <= high or (isinstance(value, float) and not math.isfinite(value)):
            raise self._error(key, expected)
        return float(value)

    def integer(self, key: str, low: int, high: int) -> int | None:
        self.seen.add(key)
        value = self.table.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self._error(key, f"a whole number from {low} to {high}")
        return value

    def choice(self, key: str, options: Sequence[str]) -> str | None:
        self.seen.add(key)
        value = self.table.get(key)
        if value is None:
            return None
        if value not in options:
            raise self._error(key, " or ".join(f'"{o}"' for o in options))
        return value

    def address(self, key: str) -> str | None:
        """An e-mail address: one word with an @, nothing that would start a new header
        or a second address (a line break, a comma, angle brackets)."""
        value = self.string(key)
        if value is not None and not _is_address(value):
            raise self._error(key, "an e-mail address such as \"you@example.com\"")
        return value

    def addresses(self, key: str) -> list[str] | None:
        expected = "a list of e-mail addresses such as [\"you@example.com\"]"
        if key in self.table and not isinstance(self.table[key], list):
            raise self._error(key, expected)
        value = self.str_list(key)
        if value is not None and (not value or not all(_is_address(v) for v in value)):
            raise self._error(key, expected)
        return value

    def reject_unknown(self) -> None:
        unknown = set(self.table) - self.seen
        if unknown:
            raise ConfigError(
                f"{self.path}: unknown key(s) in [{self.section}]: "
                f"{', '.join(sorted(unknown))}. Check the spelling against the README."
            )


def project_config_text(workdir: Path, app: str,
                        schedule_file: str | os.PathLike[str] | None = "schedule.json",
                        pidfile: str | os.PathLike[str] | None = "run/beat.pid",
                        logfile: str | os.PathLike[str] | None = "run/beat.log", *,
                        command: Sequence[str] = (), keep: BeatConfig | None = None,
                        other_tables: dict | None = None) -> str:
    """The beat-panel.toml for a project: the project dialog writes this. File names are
    relative to `workdir` (or absolute); an empty `command` means the default celery.
    `keep` is the project's current [beat] settings: its args, environment and times are
    written again, so choosing the same project anew loses none of them. `other_tables`
    are the file's tables that are not about the project ([alerts], say), kept as they
    are (see `tables_besides_the_project`)."""
    lines = [
        "# Written by Beat Panel; see the README for every key.",
        "[beat]",
        f"app = {_toml_string(app)}",
        f"workdir = {_toml_string(str(workdir))}",
    ]
    if command:
        lines.append(f"command = {_toml_list(command)}")
    for key, name in (("pidfile", pidfile), ("logfile", logfile)):
        if name is not None:
            lines.append(f"{key} = {_toml_string(str(workdir / name))}")
    if keep is not None:
        if keep.args:
            lines.append(f"args = {_toml_list(keep.args)}")
        for key, value, default in (
                ("stop_timeout", keep.stop_timeout, DEFAULT_STOP_TIMEOUT),
                ("start_settle", keep.start_settle, DEFAULT_START_SETTLE),
                ("start_timeout", keep.start_timeout, DEFAULT_START_TIMEOUT)):
            if value != default:
                lines.append(f"{key} = {value!r}")
        if keep.env:
            lines += ["", "[beat.env]"]
            lines += [f"{_toml_string(k)} = {_toml_string(v)}" for k, v in keep.env.items()]
    if schedule_file:
        lines += ["", "[schedule]", f"file = {_toml_string(str(workdir / schedule_file))}"]
    for name, table in (other_tables or {}).items():
        lines += _toml_table(name, table)
    return "\n".join(lines) + "\n"


_PROJECT_TABLES = ("beat", "schedule")


def tables_besides_the_project(path: Path) -> dict:
    """The tables of the config at `path` that are not about the project ([alerts]):
    what the project dialog keeps when it writes a new project there. Nothing when the
    file is missing or cannot be read (the old file is kept aside anyway)."""
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except (OSError, UnicodeError, ValueError, RecursionError):
        return {}
    return {k: v for k, v in data.items() if k not in _PROJECT_TABLES and isinstance(v, dict)}


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}"
                               for k, v in value.items()) + "}"
    return _toml_string(str(value))


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _toml_string(key)


def _toml_table(name: str, table: dict) -> list[str]:
    lines = ["", f"[{_toml_key(name)}]"]
    lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in table.items()]
    return lines


def _toml_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    escaped = "".join(c if c.isprintable() else f"\\U{ord(c):08x}" for c in escaped)
    return f'"{escaped}"'


def _toml_list(values: Sequence[str]) -> str:
    return "[" + ", ".join(_toml_string(v) for v in values) + "]"


def user_config_path() -> Path:
    """The user's default config, ~/.config/beat-panel/beat-panel.toml: the one the
    project dialog writes, found after --config, $BEAT_PANEL_CONFIG and ./beat-panel.toml."""
    return paths.config_dir() / CONFIG_NAME


def previous_config_path() -> Path:
    """Where the user's config that a new one replaced is kept (one, the latest)."""
    return paths.config_dir() / (CONFIG_NAME + ".previous")


def config_from_text(text: str, path: Path) -> Config:
    """The config `text` would be if saved at `path` (nothing is written)."""
    return _from_dict(_parse(text, path), path)


def write_user_config(text: str) -> Path:
    """Save a config as the user's default (`user_config_path`), checking it loads first,
    so a bad one is never written. A different file it replaces is kept as
    `previous_config_path()`: settings a person wrote by hand are never simply lost."""
    from beat_panel.files.atomic import atomic_write

    target = user_config_path()
    config_from_text(text, target)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        old = target.read_bytes()
    except FileNotFoundError:
        old = None
    data = text.encode("utf-8")
    if old is not None and old != data:
        atomic_write(previous_config_path(), old)
    atomic_write(target, data)
    return target
