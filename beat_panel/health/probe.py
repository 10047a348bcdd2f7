"""Health probes that need the user's Celery app, run as a script in the project's Python.

    python probe.py APP broker|workers|routes OPTIONS_JSON

prints one JSON object on its last line. The panel runs each probe as its own process and
kills it at its deadline (`beat_panel.health.deadline`), so a probe may block; the
socket timeouts set here only make it fail with a reason before it is killed.
Imports nothing from beat_panel (standard library, celery and kombu only), like
`beat_panel/celeryapp/introspect.py`.

- `broker`: connect with the app's own settings, hard socket timeouts added, one round
  trip timed. The filesystem transport is checked by hand: kombu says "connected" for
  folders that do not exist. Asked (`"redbeat": true`), it also says where a RedBeat beat
  of the app reads its schedule.
- `workers`: a remote-control ping (the full timeout: any node may answer), then `stats`
  (pid), `active_queues` and `registered` only from the nodes that answered, each
  returning as soon as all of them did. Nodes whose details the panel has cached are
  asked `stats` only. Beat answers the ping too when it runs with remote control.
- `routes`: the queue each task goes to, by the app's own router.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import threading
import time
from typing import Any

# Run as a script, the folder of this file is sys.path[0]: a user's module named like one
# of ours (`why`, `check`) must not be shadowed by it.
if sys.path and os.path.abspath(sys.path[0] or ".") == os.path.dirname(os.path.abspath(
        __file__)):
    del sys.path[0]

REDIS_TRANSPORTS = ("redis", "rediss", "sentinel")
FILESYSTEM_TRANSPORTS = ("filesystem",)
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*:)(?P<password>[^@\s]+)@",
                           re.IGNORECASE)


def mask(text: str, password: str | None = None) -> str:
    """`text` with the password of any URL in it, and `password` itself, replaced by **."""
    if password:
        text = text.replace(password, "**")
    return _URL_PASSWORD.sub(lambda m: f"{m.group('head')}**@", text)


def _error(exc: BaseException, password: str | None, timeout: float) -> str:
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if "timed out" in text.lower() or "timeout" in text.lower():
        text = f"no answer within {timeout:g} s ({text})"
    return mask(text, password)


def load_app(name: str, finalize: bool = False) -> Any:
    from celery.app.utils import find_app

    app = find_app(name)
    if finalize:
        app.loader.import_default_modules()
        app.finalize(auto=True)
    return app


def _transport_options(app: Any, timeout: float, transport: str) -> dict:
    options = dict(app.conf.broker_transport_options or {})
    if transport in REDIS_TRANSPORTS:
        # kombu's Redis transport ignores connect_timeout: without these a hung server
        # blocks forever. No retries: one timeout must be the answer, not 1 + n of them.
        options.update(socket_connect_timeout=timeout, socket_timeout=timeout,
                       retry_on_timeout=False, health_check_interval=0)
    options.update(max_retries=0)
    return options


def connect(app: Any, timeout: float) -> Any:
    """A connection to the app's broker, established, that gives up after one try."""
    plain = app.connection_for_write()
    transport = plain.transport_cls
    plain.release()
    conn = app.connection_for_write(
        transport_options=_transport_options(app, timeout, transport),
        connect_timeout=timeout)
    try:
        conn.ensure_connection(max_retries=0, timeout=timeout)
        if transport in REDIS_TRANSPORTS:
            _no_redis_retries(conn)
    except BaseException:
        conn.release()
        raise
    return conn


def _no_redis_retries(conn: Any) -> None:
    """redis-py (some versions) retries a command that timed out with a back-off: a 1 s
    timeout becomes ~15 s. Turn that off on the pool of the probe's own channel."""
    try:
        from redis.backoff import NoBackoff
        from redis.retry import Retry
    except ImportError:
        return
    pool = getattr(getattr(conn.default_channel, "client", None), "connection_pool", None)
    if pool is not None and hasattr(pool, "set_retry"):
        pool.set_retry(Retry(NoBackoff(), 0))


def _round_trip(conn: Any, transport: str) -> float:
    """Seconds for one request and its answer on an open connection."""
    if transport in REDIS_TRANSPORTS:
        client = conn.default_channel.client
        started = time.perf_counter()
        client.ping()
        return time.perf_counter() - started
    started = time.perf_counter()
    channel = conn.channel()  # amqp: channel.open, answered by channel.open-ok
    elapsed = time.perf_counter() - started
    channel.close()
    return elapsed


def masked_url(app: Any, conn: Any) -> str:
    """The broker URL as configured, with its password masked (kombu's own masking, and
    ours over it for every URL of a failover list)."""
    from kombu.utils.url import maybe_sanitize_url

    raw = app.conf.broker_url
    if isinstance(raw, str) and raw:
        return mask(maybe_sanitize_url(raw), conn.password)
    return mask(conn.as_uri(), conn.password)


def _filesystem(app: Any, url: str) -> dict:
    """The filesystem transport's folders, checked: each must exist and be writable."""
    options = dict(app.conf.broker_transport_options or {})
    folders = {"data_folder_in": options.get("data_folder_in") or "data_in",
               "data_folder_out": options.get("data_folder_out") or "data_out"}
    if options.get("store_processed"):
        folders["processed_folder"] = options.get("processed_folder") or "processed"
    problems = []
    for key, folder in folders.items():
        where = os.path.abspath(folder)
        if not os.path.isdir(where):
            problems.append(f"its folder {where} (broker_transport_options {key}) does not "
                            "exist")
        elif not os.access(where, os.W_OK | os.X_OK):
            problems.append(f"its folder {where} (broker_transport_options {key}) cannot be "
                            "written")
    if problems:
        return {"ok": False, "url": url, "transport": "filesystem", "latency_ms": None,
                "error": "; ".join(problems) + ".",
                "folders": {k: os.path.abspath(v) for k, v in folders.items()}}
    started = time.perf_counter()
    fd, path = tempfile.mkstemp(prefix=".beat-panel-probe-", dir=folders["data_folder_out"])
    os.close(fd)
    os.unlink(path)
    return {"ok": True, "url": url, "transport": "filesystem",
            "latency_ms": (time.perf_counter() - started) * 1000, "error": None,
            "folders": {k: os.path.abspath(v) for k, v in folders.items()}}


def _setting(app: Any, name: str) -> tuple[bool, Any]:
    """A setting as RedBeat reads it, in lower or (Celery 3) upper case: (set, value)."""
    wanted = name.upper()
    for key in list(app.conf.keys()):
        if str(key).upper() == wanted:
            return True, app.conf.get(key)
    return False, None


def redbeat_settings(app: Any) -> dict:
    """Where a RedBeat beat of this app reads its schedule, worked out as RedBeat does:
    `redbeat_redis_url`, else the broker's URL; the key prefix; the lock key (given the
    prefix when it lacks it). The URL has its password masked."""
    from kombu.utils.url import maybe_sanitize_url

    named, _ = _setting(app, "redbeat_redis_url")
    source = "redbeat_redis_url" if named else "broker_url"
    url = _redbeat_url(app)
    named, prefix = _setting(app, "redbeat_key_prefix")
    prefix = prefix if named and isinstance(prefix, str) else "redbeat:"
    named, lock = _setting(app, "redbeat_lock_key")
    lock = lock if named else prefix + ":lock"
    if isinstance(lock, str) and lock and not lock.startswith(prefix):
        lock = prefix + lock
    return {"url": mask(maybe_sanitize_url(url)) if url else None,
            "url_from": source, "key_prefix": prefix,
            "lock_key": lock if isinstance(lock, str) and lock else None}


def broker(app_name: str, options: dict) -> dict:
    timeout = float(options.get("timeout", 1.0))
    app = load_app(app_name)
    if not options.get("redbeat"):
        return _broker(app, timeout)
    try:
        settings = redbeat_settings(app)
    except Exception as exc:  # an app whose settings raise when read
        settings = {"error": mask(f"{type(exc).__name__}: {exc}")}
    say({"redbeat": settings})  # first: a broker that hangs must not hide it
    # Which server it is, asked beside the broker's check: both within the deadline.
    url = _redbeat_url(app) if settings.get("url") else None
    looked: dict = {}
    lookup = threading.Thread(target=lambda: looked.update(place=_redis_place(url, timeout)),
                              daemon=True)
    if url:
        lookup.start()
    answer = _broker(app, timeout)
    if url:
        lookup.join(timeout + 0.5)
        settings = {**settings, "place": looked.get("place")}
    return {**answer, "redbeat": settings}


def _redbeat_url(app: Any) -> str | None:
    named, url = _setting(app, "redbeat_redis_url")
    if not named:
        url = app.conf.broker_url
    if isinstance(url, (list, tuple)):
        url = url[0] if url else None
    if isinstance(url, str) and ";" in url:
        url = url.split(";", 1)[0]
    return url if isinstance(url, str) and url else None


def _redis_place(url: str | None, timeout: float) -> dict | None:
    """Which Redis database `url` names, and the id (INFO's run_id) of the server that
    answers there: the panel compares both with its own. None without redis-py."""
    try:
        import redis
    except ImportError:
        return None
    try:
        from redis.connection import parse_url

        # The probe's own timeouts win over any the URL names (socket_timeout=1000).
        options = {k: v for k, v in parse_url(url).items()
                   if k not in ("socket_timeout", "socket_connect_timeout",
                                "retry_on_timeout", "health_check_interval")}
        client = redis.Redis(connection_pool=redis.ConnectionPool(
            **options, socket_timeout=timeout, socket_connect_timeout=timeout))
    except Exception as exc:  # not a URL redis-py takes (amqp://, sentinel://)
        return {"error": mask(f"{type(exc).__name__}: {exc}")}
    kwargs = client.connection_pool.connection_kwargs
    port = kwargs.get("port")
    place = {"db": int(kwargs.get("db") or 0), "host": kwargs.get("host"),
             "port": port if isinstance(port, int) else None, "path": kwargs.get("path"),
             "server": None}
    try:
        place["server"] = str(client.info("server").get("run_id") or "") or None
    except Exception as exc:  # down, hung, refused: where it was sought still counts
        place["error"] = mask(f"{type(exc).__name__}: {exc}")
    finally:
        client.close()
    return place


def _broker(app: Any, timeout: float) -> dict:
    plain = app.connection_for_write()
    transport, password = plain.transport_cls, plain.password
    url = masked_url(app, plain)
    plain.release()
    say({"url": url, "transport": transport})
    if transport in FILESYSTEM_TRANSPORTS:
        return _filesystem(app, url)
    started = time.perf_counter()
    try:
        conn = connect(app, timeout)
    except Exception as exc:
        return {"ok": False, "url": url, "transport": transport, "latency_ms": None,
                "error": _error(exc, password, timeout)}
    try:
        connect_ms = (time.perf_counter() - started) * 1000
        latency = _round_trip(conn, transport) * 1000
    except Exception as exc:
        return {"ok": False, "url": url, "transport": transport, "latency_ms": None,
                "error": _error(exc, password, timeout)}
    finally:
        conn.release()
    return {"ok": True, "url": url, "transport": transport, "latency_ms": latency,
            "connect_ms": connect_ms, "error": None}


def _beat_node(app: Any, options: dict) -> tuple[str | None, bool | None]:
    """The node name beat answers ping on, and whether it answers at all (None: the
    Celery version has no beat remote control, or it cannot be told)."""
    try:
        from celery.beat import beat_nodename
    except ImportError:
        return None, None
    mode = options.get("beat_remote")
    if mode is None:
        return None, None
    enabled = bool(app.conf.get("beat_enable_remote_control")) if mode == "app" \
        else mode == "on"
    return beat_nodename(options.get("beat_hostname")), enabled


def _queue_names(replies: dict | None) -> dict[str, list[str]]:
    return {node: sorted({q.get("name") for q in queues if isinstance(q, dict)
                          and isinstance(q.get("name"), str)})
            for node, queues in (replies or {}).items() if isinstance(queues, list)}


def _task_names(replies: dict | None) -> dict[str, list[str]]:
    # `registered` may add "[rate_limit=...]" after a name when asked for task info.
    return {node: sorted({str(t).split(" ", 1)[0] for t in tasks})
            for node, tasks in (replies or {}).items() if isinstance(tasks, list)}


def workers(app_name: str, options: dict) -> dict:
    timeout = float(options.get("timeout", 1.0))
    app = load_app(app_name)
    beat_node, beat_remote = _beat_node(app, options)
    cached: dict = options.get("cached") or {}
    plain = app.connection_for_write()
    password = plain.password
    plain.release()
    try:
        conn = connect(app, timeout)
    except Exception as exc:
        return {"ok": False, "error": _error(exc, password, timeout), "broker_unreachable": True}
    try:
        started = time.perf_counter()
        replies = app.control.ping(timeout=timeout, connection=conn) or []
        ping_ms = (time.perf_counter() - started) * 1000
        nodes = sorted({name for reply in replies if isinstance(reply, dict)
                        for name in reply})
        beats = [n for n in nodes if n == beat_node or n.startswith("celerybeat@")]
        names = [n for n in nodes if n not in beats]
        stats: dict = {}
        queues: dict = {}
        tasks: dict = {}
        if names:
            ask = app.control.inspect(destination=names, timeout=timeout, limit=len(names),
                                      connection=conn)
            stats = ask.stats() or {}
            pids = {n: s.get("pid") for n, s in stats.items() if isinstance(s, dict)}
            fresh = [n for n in names if n not in cached or cached[n] != pids.get(n)]
            if fresh:
                ask = app.control.inspect(destination=fresh, timeout=timeout,
                                          limit=len(fresh), connection=conn)
                queues = _queue_names(ask.active_queues())
                tasks = _task_names(ask.registered())
    except Exception as exc:
        return {"ok": False, "error": _error(exc, password, timeout), "broker_unreachable": False}
    finally:
        conn.release()
    found = []
    for name in names:
        pid = (stats.get(name) or {}).get("pid") if isinstance(stats.get(name), dict) else None
        found.append({"name": name,
                      "pid": pid if isinstance(pid, int) and not isinstance(pid, bool)
                      else None,
                      "queues": queues.get(name), "registered": tasks.get(name)})
    return {"ok": True, "error": None, "workers": found, "ping_ms": ping_ms,
            "ping_timeout": timeout, "beat_node": beat_node, "beat_remote": beat_remote,
            "beat_nodes": beats}


def routes(app_name: str, options: dict) -> dict:
    app = load_app(app_name, finalize=True)
    default = app.conf.task_default_queue
    found = []
    for item in options.get("entries") or []:
        task = str(item.get("task"))
        wanted = {k: v for k, v in (item.get("options") or {}).items()
                  if k in ("queue", "exchange", "routing_key") and v}
        try:
            route = app.amqp.router.route(dict(wanted), task, (), {}, app.tasks.get(task))
        except Exception as exc:  # a route function of the user's may raise
            found.append({"task": task, "queue": None, "error": f"{type(exc).__name__}: {exc}"})
            continue
        queue = route.get("queue")
        exchange = route.get("exchange", getattr(queue, "exchange", None))
        found.append({
            "task": task,
            "queue": getattr(queue, "name", queue) if queue is not None else None,
            "exchange": getattr(exchange, "name", exchange) or None,
            "routing_key": route.get("routing_key") or getattr(queue, "routing_key", None),
            "in_app": task in app.tasks,
            "error": None,
        })
    return {"ok": True, "default_queue": default, "routes": found}


def say(partial: dict) -> None:
    """Tell the panel something early: a probe killed at its deadline has said it."""
    print(json.dumps(partial, default=str), flush=True)


COMMANDS = {"broker": broker, "workers": workers, "routes": routes}


def main(argv: list[str]) -> int:
    if len(argv) != 4 or argv[2] not in COMMANDS:
        print(f"usage: probe.py APP {{{','.join(COMMANDS)}}} OPTIONS_JSON", file=sys.stderr)
        return 2
    try:
        result = COMMANDS[argv[2]](argv[1], json.loads(argv[3]))
    except Exception as exc:  # the user's app failing to load is an answer, not a crash
        print(json.dumps({"ok": False, "error": mask(f"{type(exc).__name__}: {exc}"),
                          "app_error": True, "final": True}))
        return 1
    print(json.dumps({**result, "final": True}, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
