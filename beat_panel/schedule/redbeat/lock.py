"""What RedBeat's lock says about the beats on a Redis schedule.

A RedBeat beat takes a redis-py lock at start (`<prefix>:lock` by default) and extends it
at every tick to its full timeout (5 × max-interval unless set); only the holder sends.
The lock's value is a `uuid1` token: its node is the holder's machine (its network
address, as `uuid.getnode()` gives it) and its time is when the lock was taken. A beat
killed with SIGKILL leaves its lock until the timeout runs out; a second beat waits for
it, as a standby.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from beat_panel.schedule.redbeat.target import RedisTarget, error_text

_UUID_EPOCH = datetime(1582, 10, 15, tzinfo=timezone.utc)
_MULTICAST = 1 << 40  # set in a node uuid made up at random: it names no machine
# Seconds: the lock is read at every status check, which a hung Redis must not hold up.
LOCK_TIMEOUT = 1.0


@dataclass(frozen=True)
class LockState:
    """The lock as read once: `held`, by which machine (`node`; `this_machine` None when
    the token names none), since when, and how long until it expires (`ttl`, seconds)."""

    key: str
    held: bool = False
    node: int | None = None
    this_machine: bool | None = None
    taken_at: datetime | None = None
    ttl: float | None = None  # None: held with no expiry, or not held
    error: str | None = None  # Redis could not be read: nothing above is known

    @property
    def holder(self) -> str:
        """The holder's machine for a person: "this machine", or its address."""
        if self.this_machine:
            return "this machine"
        if self.node is None or self.this_machine is None:
            return "an unknown machine"
        return ":".join(f"{self.node:012x}"[i:i + 2] for i in range(0, 12, 2))

    def to_json(self) -> dict:
        return {"key": self.key, "held": self.held, "holder_host": self.holder
                if self.held else None, "this_machine": self.this_machine,
                "taken_at": self.taken_at.isoformat() if self.taken_at else None,
                "ttl": round(self.ttl, 1) if self.ttl is not None else None,
                "error": self.error}


def parse_token(token: str) -> tuple[int | None, datetime | None]:
    """The node and the time of a uuid1 lock token (None, None for any other value)."""
    try:
        value = uuid.UUID(hex=token.strip())
    except (ValueError, AttributeError):
        return None, None
    if value.version != 1:
        return None, None
    return value.node, _UUID_EPOCH + timedelta(microseconds=value.time // 10)


def node_is_here(node: int) -> bool | None:
    """Whether a uuid1 node is this machine's; None when it names no machine."""
    if node & _MULTICAST:
        return None
    return node == uuid.getnode()


def read_lock(target: RedisTarget) -> LockState:
    """Read the lock and its expiry in one round trip; an error is reported, not raised."""
    import redis

    key = target.lock
    client = target.client(LOCK_TIMEOUT, decode=False)  # any bytes may be there
    try:
        with client.pipeline(transaction=False) as pipe:
            pipe.get(key)
            pipe.pttl(key)
            token, pttl = pipe.execute()
    except redis.RedisError as exc:
        return LockState(key, error=f"Redis at {target.shown}: "
                                    f"{error_text(exc, target.url)}")
    finally:
        client.close()
    if token is None:
        return LockState(key)
    node, taken = parse_token(token.decode("utf-8", "replace")
                              if isinstance(token, bytes) else str(token))
    here = node_is_here(node) if node is not None else None
    ttl = pttl / 1000 if isinstance(pttl, int) and pttl >= 0 else None
    return LockState(key, True, node, here, taken, ttl)
