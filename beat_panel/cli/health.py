"""`beat-panel health` and `beat-panel why NAME`: the health checks and the per-entry
answer of `beat_panel.health`, as text or one JSON object.

Both exit 0 when the checks ran, whatever they found; `why` with a name the schedule
does not have exits 2 and names the entries it has.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from beat_panel.cli import exit_codes
from beat_panel.config import Config
from beat_panel.health.deadline import DEFAULT_DEADLINE

if TYPE_CHECKING:  # the checks themselves load when a command runs, not with every start
    from beat_panel.health import Health, WhyAnswer

_MARKS = {True: "✓", False: "✗", None: "?"}


def _deadline(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0.5 <= seconds <= 60:
        raise argparse.ArgumentTypeError(f"{seconds:g} is outside 0.5 to 60 seconds")
    return seconds


def add_parsers(sub: argparse._SubParsersAction,
                with_json: Callable[[argparse.ArgumentParser], argparse.ArgumentParser]
                ) -> None:
    deadline_help = (f"give each probe at most SECONDS, the start of the project's Python "
                     f"included (default: {DEFAULT_DEADLINE:g})")
    health = with_json(sub.add_parser(
        "health", help="check the broker, the workers and beat (exit 0 when checked)"))
    health.add_argument("--deadline", type=_deadline, default=DEFAULT_DEADLINE,
                        metavar="SECONDS", help=deadline_help)
    why = with_json(sub.add_parser("why", help="why an entry did not or will not run"))
    why.add_argument("name", help="the entry's name (beat-panel schedule list)")
    why.add_argument("--deadline", type=_deadline, default=DEFAULT_DEADLINE,
                     metavar="SECONDS", help=deadline_help)


def run_health(args: argparse.Namespace, config: Config, as_json: bool) -> int:
    from beat_panel.health import HealthChecker

    health = HealthChecker(config, deadline=args.deadline).check()
    if as_json:
        print(json.dumps(health.to_json(), sort_keys=True))
    else:
        print(health_text(health))
    return exit_codes.OK


def run_why(args: argparse.Namespace, config: Config, as_json: bool) -> int:
    from beat_panel.health import HealthChecker, WhyError, explain
    from beat_panel.health.why import ScheduleUnavailable

    try:
        found = explain(config, args.name, HealthChecker(config, deadline=args.deadline))
    except WhyError as exc:
        if as_json:
            print(json.dumps({"success": False, "message": str(exc),
                              "known": getattr(exc, "known", None)}))
        print(f"beat-panel: {exc}", file=sys.stderr)
        return exit_codes.FAILED if isinstance(exc, ScheduleUnavailable) else exit_codes.USAGE
    if as_json:
        print(json.dumps(found.to_json(), sort_keys=True))
    else:
        print(why_text(found))
    return exit_codes.OK


def _clock(stamp: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(stamp))


def health_text(health: Health) -> str:
    broker = health.broker
    if broker.ok:
        line = f"{broker.url} answers ({broker.latency_ms:.1f} ms round trip)" \
            if broker.latency_ms is not None else f"{broker.url} answers"
    else:
        line = f"{broker.url or '(URL unknown)'}: {broker.error}"
    lines = [f"Broker   {_MARKS[broker.ok]} {line}"]
    workers = health.workers
    if not workers.checked:
        lines.append(f"Workers  ? not asked: {workers.error}")
    elif not workers.workers:
        lines.append(f"Workers  ✗ none answered within {workers.ping_timeout:g} s")
    for i, worker in enumerate(workers.workers):
        head = "Workers  ✓" if i == 0 else "         ✓"
        pid = f"pid {worker.pid}" if worker.pid is not None else (
            f"pid {worker.reported_pid} on its own machine" if worker.reported_pid else
            "pid unknown")
        queues = ", ".join(worker.queues) if worker.queues is not None else "unknown"
        count = len(worker.registered) if worker.registered is not None else "?"
        lines.append(f"{head} {worker.name} ({pid}): queues {queues}; {count} tasks")
    for gone in workers.missing:
        lines.append(f"         ✗ {gone.name}: no answer (last seen {_clock(gone.last_seen)})")
    status = health.beat.status
    beat = f"Beat     {_MARKS[status.running if status.error is None else None]} " \
        f"{status.message}"
    if health.beat.ping is not None:
        beat += f" Its ping as {health.beat.node}: {health.beat.ping}."
    elif status.running and health.beat.ping_note:
        beat += f" ({health.beat.ping_note})"
    lines.append(beat)
    if health.problems:
        lines += ["", "Problems:"] + [f"  - {p.message}" for p in health.problems]
    else:
        lines += ["", "No problems found."]
    lines.append(f"(checked at {_clock(health.checked_at)} in "
                 f"{health.elapsed_ms / 1000:.1f} s)")
    return "\n".join(lines)


def why_text(found: WhyAnswer) -> str:
    verdict = "will run" if found.will_run else "will not run"
    lines = [f"{found.name} ({found.task}) {verdict}."]
    marks = {True: "✗", False: "·"}
    lines += [f"  {marks[r.blocking]} {r.message}  [{r.code}]" for r in found.reasons]
    if found.route is not None:
        lines.append(f"Queue: {found.route.queue}")
    return "\n".join(lines)
