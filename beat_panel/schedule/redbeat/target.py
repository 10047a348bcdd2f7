"""Where a RedBeat schedule lives: the Redis URL (its password never shown), the key
prefix and the lock key, as `[schedule] redis_url`, `key_prefix` and `lock_key` give
them, and a client for it that never hangs and never retries behind the caller's back."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import redis

DEFAULT_PREFIX = "redbeat:"
CONNECT_TIMEOUT = 2.0  # seconds; a hung Redis answers nothing: the call fails, never hangs
COMMAND_TIMEOUT = 5.0
# URL query options that the panel's client sets itself, whatever the URL says: they
# decide how long a call to a hung Redis may take, and what a reply is decoded to.
PANEL_OPTIONS = frozenset({
    "socket_timeout", "socket_connect_timeout", "socket_keepalive", "retry_on_timeout",
    "retry_on_error", "health_check_interval", "decode_responses", "encoding",
    "encoding_errors"})


PANEL_KEY = ":beat_panel"  # after the prefix: the schedule's own settings (its time zone)
MAX_DB = 2**31 - 1  # the most databases a redis-server can be set to have


def url_problem(url: str) -> str | None:
    """What is wrong in a Redis URL that redis-py would take anyway, only to go elsewhere
    (port 0 means 6379 to it, `/x` database 0) or to fail later (a database below 0,
    an option it does not know); None when nothing is. Never quotes the password."""
    from urllib.parse import parse_qs, unquote, urlsplit

    import redis

    if not url.isprintable():  # urlsplit drops a tab or line break: another URL is used
        return "has a control character (a line break, a tab) in it: remove it"
    parts = urlsplit(url)
    if parts.scheme != "unix":
        if parts.port == 0:
            return "has port 0: give the port Redis listens on, from 1 to 65535"
        path = unquote(parts.path)
        if path not in ("", "/") and not re.fullmatch(r"/[0-9]+", path):
            return (f"names the database {path[1:]!r}: after the host and port comes the "
                    f"database's number, from 0 to {MAX_DB} (e.g. /0)")
    query = parse_qs(parts.query)
    if "db" in query:  # redis-py takes it before the path's
        db = query["db"][0]
    else:
        db = "0" if parts.scheme == "unix" else unquote(parts.path)[1:] or "0"
    if not re.fullmatch(r"[0-9]+", db.strip()) or int(db) > MAX_DB:
        return f"names the database {db!r}: a database is a number from 0 to {MAX_DB}"
    try:
        redis.ConnectionPool.from_url(url).make_connection()  # builds it, connects not
    except TypeError as exc:
        word = re.search(r"argument '(\w+)'", str(exc))
        return (f"has the option {word.group(1) if word else '?'!r}, which redis-py does "
                "not know: remove it from the URL's query")
    return None


def key_problem(key_prefix: str, lock_key: str | None) -> tuple[str, str] | None:
    """(key, what it must be) when `key_prefix` or `lock_key` cannot be used: text with
    a control character in it, or a lock key that is RedBeat's schedule or statics (a
    beat taking the lock would overwrite them). RedBeat puts the prefix before a lock key
    that lacks it; one that then looks like an entry's key (`beat-lock`) is allowed, as
    RedBeat allows it, and the store reports an entry found there."""
    for name, value in (("key_prefix", key_prefix), ("lock_key", lock_key)):
        if value is not None and not value.isprintable():
            return name, ("printable text, without a control character (a line break, a "
                          "tab, an escape)")
    if lock_key is None:
        return None
    target = RedisTarget("redis://", key_prefix, lock_key)
    if target.lock in {target.schedule_key, target.statics_key, key_prefix + PANEL_KEY}:
        return "lock_key", (f"a key of its own, not {target.lock!r}, which is RedBeat's "
                            "schedule or statics or the panel's settings; RedBeat's own is "
                            f"\":lock\" (the key {key_prefix}:lock)")
    return None


def mask_url(url: str) -> str:
    """The URL with its password (and user) replaced by `**`: in the user part, also one
    with characters that break the URL's syntax, and a `password=` in its query."""
    scheme, sep, rest = url.partition("://")
    if sep and "@" in rest:
        rest = ":**@" + rest[rest.rfind("@") + 1:]
    rest = re.sub(r"(?i)([?&]password=)[^&#]*", r"\1**", rest)
    return f"{scheme}{sep}{rest}"


def mask_in_text(text: str, url: str) -> str:
    """`text` (an error from redis-py, say) with the URL, its user part and its password
    taken out, however the text quotes them."""
    text = text.replace(url, mask_url(url))
    _scheme, sep, rest = url.partition("://")
    secrets = []
    if sep and "@" in rest:
        userinfo = rest[:rest.rfind("@")]
        secrets += [userinfo, userinfo.partition(":")[2]]
    secrets += re.findall(r"(?i)[?&]password=([^&#]*)", url)
    for secret in sorted({s for s in secrets if len(s) >= 2}, key=len, reverse=True):
        text = text.replace(secret, "**")
    return text


def error_text(exc: Exception, url: str) -> str:
    """What redis-py said went wrong, for a person: the password masked, and a database
    the server does not have traced to the config key that names it."""
    text = mask_in_text(str(exc), url) or type(exc).__name__
    if "DB index is out of range" in text:
        text += (" ([schedule] redis_url names a database this Redis does not have: it "
                 "has 16, numbered from 0, unless its `databases` setting says more)")
    return text


@dataclass(frozen=True)
class RedisTarget:
    url: str
    key_prefix: str = DEFAULT_PREFIX
    lock_key: str | None = None  # None: RedBeat's default, <prefix>:lock

    @property
    def shown(self) -> str:
        """For a person: the masked URL and the prefix."""
        return f"{mask_url(self.url)}, keys {self.key_prefix}*"

    @property
    def schedule_key(self) -> str:
        return self.key_prefix + ":schedule"

    @property
    def statics_key(self) -> str:
        return self.key_prefix + ":statics"

    @property
    def lock(self) -> str:
        key = self.lock_key or ":lock"
        # RedBeat puts the prefix before a lock key that lacks it.
        return key if key.startswith(self.key_prefix) else self.key_prefix + key

    def special_keys(self) -> frozenset[str]:
        """The keys under the prefix that are RedBeat's own, not entries."""
        return frozenset({self.schedule_key, self.statics_key, self.lock})

    def key_of(self, name: str) -> str:
        return self.key_prefix + name

    def client(self, timeout: float = COMMAND_TIMEOUT, decode: bool = True) -> redis.Redis:
        """A client with short timeouts and no retries: a Redis that is down or hung is
        an error within seconds (`timeout` for a command), named with the masked URL by
        the caller. Options in the URL's query that would change that (a
        `socket_timeout=1000` written for the app's beat) are ignored here; `decode`
        False gives bytes, for keys and values that may not be UTF-8."""
        import redis
        from redis.backoff import NoBackoff
        from redis.connection import ConnectionPool, parse_url
        from redis.retry import Retry

        # redis-py's from_url lets the query win over keyword arguments: ours must win.
        options = {k: v for k, v in parse_url(self.url).items() if k not in PANEL_OPTIONS}
        pool = ConnectionPool(
            **options, socket_connect_timeout=min(CONNECT_TIMEOUT, timeout),
            socket_timeout=timeout, socket_keepalive=False,
            retry=Retry(NoBackoff(), 0), retry_on_timeout=False, retry_on_error=[],
            decode_responses=decode, health_check_interval=0)
        client = redis.Redis(connection_pool=pool)
        client.auto_close_connection_pool = True
        return client


@dataclass(frozen=True)
class RedisPlace:
    """Which Redis database a client talks to: the server's `run_id` when it answered
    (the same server whatever name or address reached it), else where it was sought."""

    db: int
    server: str | None = None  # INFO's run_id: unique to one running redis-server
    host: str | None = None
    port: int | None = None
    path: str | None = None  # a unix socket

    @classmethod
    def from_json(cls, data: object) -> RedisPlace | None:
        """The place a probe of the app reported (None: it could not tell)."""
        if not isinstance(data, dict) or not isinstance(data.get("db"), int):
            return None

        def text(key: str) -> str | None:
            value = data.get(key)
            return value if isinstance(value, str) else None

        port = data.get("port")
        return cls(data["db"], text("server"), text("host"),
                   port if isinstance(port, int) else None, text("path"))

    def to_json(self) -> dict:
        return {"db": self.db, "server": self.server, "host": self.host, "port": self.port,
                "path": self.path}

    def same_as(self, other: RedisPlace) -> bool:
        """Whether both name the same database. Without both servers' ids, by where they
        were sought (a name and an address of one host then count as two)."""
        if self.db != other.db:
            return False
        if self.server and other.server:
            return self.server == other.server
        return (_host(self.host), self.port, self.path) == (_host(other.host), other.port,
                                                            other.path)


_LOOPBACK = {"localhost", "127.0.0.1", "::1", "ip6-localhost"}


def _host(name: str | None) -> str | None:
    if name is None:
        return None
    name = name.lower().strip("[]")
    return "localhost" if name in _LOOPBACK else name


def place_of(client: redis.Redis, answered: bool) -> RedisPlace:
    """Where `client` goes; asks the server for its id when it answered a PING."""
    kwargs = client.connection_pool.connection_kwargs
    server = None
    if answered:
        server = str(client.info("server").get("run_id") or "") or None
    port = kwargs.get("port")
    return RedisPlace(int(kwargs.get("db") or 0), server, kwargs.get("host"),
                      port if isinstance(port, int) else None, kwargs.get("path"))
