"""A big schedule inside beat: the panel's scheduler with 50,000 entries, against the
same work with 1,000 entries, in the same run. The scheduler runs in this process (it is
the code `celery beat -S beat_panel.plugin:PanelScheduler` runs), on Celery's in-memory
broker, so what is timed is the scheduler and not a broker."""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench_schedule import big_document
from harness import Row, Timing, environ, measure, rounds, timed_row, xdg_dirs

from beat_panel.schedule import Document, Interval
from beat_panel.schedule.beat_report import report_path

BIG = 50_000
SMALL = 1_000
DUE_EVERY = 50  # one entry in DUE_EVERY is due every second: 1,000 of 50,000
APPLY_MAX_MS = 500.0  # issue 10: applying an edit blocks beat for at most 0.5 s
SENDS_MAX_RATIO = 1.5  # sending what is due costs about the same in a big schedule
SEND_WINDOW_S = 1.0


def _document(count: int, due: int) -> Document:
    """`count` entries (as bench_schedule's big file); `due` of them every second."""
    doc = big_document(count)
    step = max(count // due, 1)
    entries = tuple(replace(e, schedule=Interval(1), enabled=True) if i % step == 0 else e
                    for i, e in enumerate(doc.entries))
    return Document(entries, doc.revision)


class _Scheduler:
    """One PanelScheduler on a schedule file, sends counted instead of published."""

    def __init__(self, folder: Path, doc: Document) -> None:
        from celery import Celery

        from beat_panel.plugin import PanelScheduler

        folder.mkdir()
        self.path = folder / "schedule.json"
        self.doc = doc
        self.path.write_text(json.dumps(doc.to_json()))
        app = Celery("bench-scale", broker="memory://", set_as_current=False)
        app.conf.beat_panel_schedule = str(self.path)
        self.sent = 0
        self.scheduler: Any = PanelScheduler(app=app, lazy=False)

        def count(*_args: object, **_kwargs: object) -> None:
            self.sent += 1

        self.scheduler.apply_async = count
        self.edits = 0

    def prepare_edits(self, count: int) -> None:
        """Files that each change one entry's kwargs, made before the timing starts."""
        first = self.doc.entries[1]
        self.edited = [json.dumps(self.doc.replacing(first.name, first.with_changes(
            kwargs={"edit": n})).to_json()).encode() for n in range(count)]

    def edit_one(self) -> tuple[float, float, bool]:
        """Save the next edit, as the panel does, and run beat's file check each tick
        until it is applied. Returns the time beat's loop spent blocked in those checks
        (ms), the time from the save to applied (ms), and whether it was applied."""
        temp = self.path.with_name("next.json")
        temp.write_bytes(self.edited[self.edits])
        temp.replace(self.path)
        self.edits += 1
        saved = time.perf_counter()
        target = hashlib.sha256(self.edited[self.edits - 1]).hexdigest()
        blocked = 0.0
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            began = time.perf_counter()
            self.scheduler._check_file()
            blocked += time.perf_counter() - began
            if self.scheduler._sha == target:
                break
            time.sleep(0.005)  # beat sends meanwhile
        applied = self.scheduler._sha == target and self.scheduler._error is None
        return blocked * 1000, (time.perf_counter() - saved) * 1000, applied

    def sends_per_window(self) -> int:
        """Run beat's loop for a second: how many due entries it sent."""
        before = self.sent
        deadline = time.monotonic() + SEND_WINDOW_S
        while time.monotonic() < deadline:
            delay = self.scheduler.tick()
            if delay:
                time.sleep(max(min(delay, deadline - time.monotonic(), 0.01), 0))
        return self.sent - before


def run(quick: bool) -> list[Row]:
    runs = 3 if quick else 7
    with tempfile.TemporaryDirectory() as tmp, environ(**xdg_dirs(Path(tmp))):
        due = BIG // DUE_EVERY
        small = _Scheduler(Path(tmp) / "small", _document(SMALL, due))
        big = _Scheduler(Path(tmp) / "big", _document(BIG, due))
        small.prepare_edits(runs + 1)
        big.prepare_edits(runs + 1)
        applies: dict[str, list[tuple[float, float, bool]]] = {"small": [], "big": []}
        for name in rounds(["small", "big"], runs):
            applies[name].append((small if name == "small" else big).edit_one())
        time.sleep(1.1)  # every "due" entry falls due
        sends = measure({"small": (small.sends_per_window, runs),
                         "big": (big.sends_per_window, runs)}, warmup=1)
        state_kb = report_path(big.path).stat().st_size / 1024
        write_every = big.scheduler._write_every
    blocked = {k: Timing([r[0] for r in v], [r[2] for r in v]) for k, v in applies.items()}
    latency = {k: Timing([r[1] for r in v], [r[2] for r in v]) for k, v in applies.items()}
    rows = [timed_row(f"scale: beat blocked by one edit, {SMALL:,} entries (baseline)",
                      blocked["small"], None, exact=all(blocked["small"].results)),
            timed_row(f"scale: beat blocked by one edit, {BIG:,} entries", blocked["big"],
                      blocked["small"], f"≤ {APPLY_MAX_MS:g} ms",
                      passed=blocked["big"].median_ms <= APPLY_MAX_MS,
                      exact=all(blocked["big"].results),
                      note=f"state file {state_kb:,.0f} KiB, written at most every "
                           f"{write_every:.1f} s"),
            timed_row(f"scale: save → applied, {BIG:,} entries (info)", latency["big"],
                      blocked["small"], note="checked in a thread while beat sends")]
    # Sends: a count per second, not a time; shown as "ms" columns holding the count.
    small_sent, big_sent = (Timing([float(n) for n in sends[k].results], sends[k].results)
                            for k in ("small", "big"))
    keeps_up = big_sent.median_ms * SENDS_MAX_RATIO >= small_sent.median_ms
    rows.append(Row(f"scale: sends per second, {due:,} due among {SMALL:,} (baseline)",
                    small_sent.median_ms, small_sent.p95_ms, len(small_sent.times_ms), 1.0,
                    note="the columns hold sends per second, not ms"))
    rows.append(Row(f"scale: sends per second, {due:,} due among {BIG:,}",
                    big_sent.median_ms, big_sent.p95_ms, len(big_sent.times_ms),
                    big_sent.median_ms / small_sent.median_ms,
                    f"≥ 1/{SENDS_MAX_RATIO:g} of baseline", keeps_up,
                    note=f"{due:,} entries fall due every second"))
    return rows
