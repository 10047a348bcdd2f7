"""Where a RedBeat schedule lives: the Redis URL (its password never shown), the key
prefix and the lock key, as `[schedule] redis_url`, `key_prefix` and `lock_key` give
them, and a client for it that never hangs and never retries behind the caller's back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    import redis

DEFAULT_PREFIX = "redbeat:"
CONNECT_TIMEOUT = 2.0  # seconds; a hung Redis answers nothing: the call fails, never hangs
COMMAND_TIMEOUT = 5.0


def mask_url(url: str) -> str:
    """The URL with its password (and a user's) replaced by `**`."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(a URL that cannot be read)"
    if parts.password is None and not parts.username:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return urlunsplit((parts.scheme, f":**@{host}{port}", parts.path, parts.query,
                       parts.fragment))


@dataclass(frozen=True)
class RedisTarget:
    url: str
    key_prefix: str = DEFAULT_PREFIX
    lock_key: str | None = None  # None: RedBeat's default, <prefix>:lock

    @property
    def shown(self) -> str:
        """For a person: the masked URL and the prefix."""
        return f"{mask_url(self.url)} (keys {self.key_prefix}*)"

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

    def client(self, timeout: float = COMMAND_TIMEOUT) -> redis.Redis:
        """A client with short timeouts and no retries: a Redis that is down or hung is
        an error within seconds (`timeout` for a command), named with the masked URL by
        the caller."""
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        return redis.Redis.from_url(
            self.url, socket_connect_timeout=min(CONNECT_TIMEOUT, timeout),
            socket_timeout=timeout,
            retry=Retry(NoBackoff(), 0), retry_on_timeout=False, decode_responses=True,
            health_check_interval=0)
