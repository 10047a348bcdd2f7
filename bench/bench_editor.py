"""10,000 entries in the schedule editor: opening the file, against filling a plain
QStandardItemModel with the same rows, and filtering per keystroke, against a plain
substring filter over the names.

Measured in a worker (`qtworker`) that holds a `ScheduleEditor` on its own job runner."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import Row, Timing, rounds, timed_row
from qtworker import run_worker, wait, worker_main

OPEN_MAX_MS = 500.0
FILTER_MAX_MS = 50.0
BIG_ENTRIES = 10_000


class _Painted:
    """Counts Paint events of some widgets; `frame` is when (perf_counter) the frame
    holding the latest paint was done (a zero timer runs after the whole sync)."""

    def __init__(self, *widgets: Any) -> None:
        from PySide6.QtCore import QEvent, QObject, QTimer

        watcher = self

        class Filter(QObject):
            def eventFilter(self, obj: Any, event: Any) -> bool:
                if event.type() == QEvent.Type.Paint:
                    watcher.paints[obj] = watcher.paints.get(obj, 0) + 1
                    if not watcher.pending:
                        watcher.pending = True
                        QTimer.singleShot(0, watcher.done)
                return False

        self.paints: dict[Any, int] = {}
        self.pending = False
        self.frame = 0.0
        self.filter = Filter()
        for widget in widgets:
            widget.installEventFilter(self.filter)

    def done(self) -> None:
        self.pending = False
        self.frame = time.perf_counter()

    def count(self, widget: Any) -> int:
        return self.paints.get(widget, 0)


def _keystrokes() -> list[str]:
    """What the search field holds after each keystroke: three words typed out (one
    narrowing to a single entry, one matching task names, one matching nothing), each
    followed by clearing the field (all 10,000 rows back)."""
    texts: list[str] = []
    for word in ("entry-01234", "job_7", "xqz"):
        texts += [word[:i] for i in range(1, len(word) + 1)]
        texts.append("")
    return texts


def _editor_times(folder: Path, quick: bool) -> dict[str, Any]:
    """In the worker: open the 10k file in a ScheduleEditor and fill a QStandardItemModel
    (interleaved), then type into the search field; and the plain Python filter."""
    from bench_schedule import big_document
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QStandardItem, QStandardItemModel
    from PySide6.QtWidgets import QTableView

    from beat_panel.config import BeatConfig, Config
    from beat_panel.schedule.store import ScheduleStore
    from beat_panel.ui.dialogs import Dialogs
    from beat_panel.ui.jobs import JobRunner
    from beat_panel.ui.schedule.editor import ScheduleEditor
    from beat_panel.ui.schedule.table import COLUMNS

    open_runs, filter_rounds = (3, 2) if quick else (10, 5)
    path = folder / "schedule.json"
    doc = big_document(BIG_ENTRIES)
    ScheduleStore(path).save(doc, base_sha=None)
    config = Config(beat=BeatConfig(app=None, workdir=folder, command=("celery",),
                                    pidfile=None, logfile=None),
                    path=None, schedule_file=path)

    runner = JobRunner()
    editor = ScheduleEditor(config, runner, Dialogs())
    editor.resize(1100, 600)
    view = QTableView()  # the baseline's
    view.resize(1100, 600)
    viewport, search = editor.table.viewport(), editor.search
    painted = _Painted(viewport, search, view.viewport())
    # The baseline's cells: the texts a fresh editor shows (times: not run yet).
    cells = [["", e.name, e.task, e.schedule.describe(), "", "—", "0"] for e in doc.entries]
    enabled = [e.enabled for e in doc.entries]
    names = [e.name for e in doc.entries]
    haystacks = [f"{e.name}\n{e.task}\n{e.description}".lower() for e in doc.entries]
    del doc
    models: list[Any] = []
    out: dict[str, Any] = {"open": [], "fill": [], "type": [], "plain": [], "texts": [],
                           "rows_opened": [], "filtered_ok": []}

    def open_editor() -> float:
        landed: list[int] = []  # the viewport's paint count when the load landed

        def mark() -> None:
            landed.append(painted.count(viewport))

        def shown() -> bool:
            return (bool(landed) and painted.count(viewport) > landed[0]
                    and not painted.pending and not runner.busy)

        editor.load_finished.connect(mark)
        start = time.perf_counter()
        editor.reload()
        wait(shown, what="the editor to load and paint")
        editor.load_finished.disconnect(mark)
        out["rows_opened"].append(editor.proxy.rowCount())
        return (painted.frame - start) * 1000

    def fill_baseline() -> float:
        start = time.perf_counter()
        model = QStandardItemModel(0, len(COLUMNS))
        model.setHorizontalHeaderLabels(list(COLUMNS))
        for row, on in zip(cells, enabled, strict=True):
            items = [QStandardItem(text) for text in row]
            items[0].setCheckable(True)
            items[0].setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)
            model.appendRow(items)
        before = painted.count(view.viewport())
        view.setModel(model)
        wait(lambda: painted.count(view.viewport()) > before and not painted.pending,
              what="the baseline table to paint")
        models[:] = [model]  # the previous one is freed now, outside the timing
        return (painted.frame - start) * 1000

    def type_text(text: str) -> tuple[float, bool]:
        before = painted.count(search)
        start = time.perf_counter()
        search.setText(text)
        wait(lambda: painted.count(search) > before and not painted.pending,
              what="the search field to repaint")
        needle = text.strip().lower()
        expected = sum(needle in h for h in haystacks) if needle else BIG_ENTRIES
        return (painted.frame - start) * 1000, editor.proxy.rowCount() == expected

    def plain_filter(text: str) -> float:
        start = time.perf_counter_ns()
        needle = text.strip().lower()
        kept = [n for n in names if needle in n]
        del kept
        return (time.perf_counter_ns() - start) / 1e6

    try:
        editor.show()
        view.show()
        wait(lambda: painted.count(viewport) > 0 and painted.count(view.viewport()) > 0,
              what="the first paint")
        open_editor()  # warm-ups
        fill_baseline()
        for case in rounds(["open", "fill"], open_runs):
            out[case].append(open_editor() if case == "open" else fill_baseline())
        texts = _keystrokes()
        for text in texts:  # warm-up
            type_text(text)
        for _ in range(filter_rounds):
            for text in texts:
                took, ok = type_text(text)
                out["type"].append(took)
                out["filtered_ok"].append(ok)
                out["texts"].append(text)
                out["plain"].append(plain_filter(text))
    finally:
        runner.wait()
        editor.close()
        view.close()
    return out


def _editor_rows(out: dict[str, Any]) -> list[Row]:
    fill, opening = Timing(out["fill"], []), Timing(out["open"], [])
    plain, typing = Timing(out["plain"], []), Timing(out["type"], [])
    open_exact = set(out["rows_opened"]) == {BIG_ENTRIES}
    filter_exact = bool(out["filtered_ok"]) and all(out["filtered_ok"])
    slowest, text = max(zip(out["type"], out["texts"], strict=True))
    return [
        timed_row("editor: fill QStandardItemModel 10k (baseline)", fill, None,
                  note="fill + setModel + paint"),
        timed_row("editor: open 10k entries", opening, fill, f"≤ {OPEN_MAX_MS:g} ms",
                  passed=opening.median_ms <= OPEN_MAX_MS and open_exact, exact=open_exact,
                  note="reload() to painted"),
        timed_row("editor: plain substring filter 10k (baseline)", plain, None,
                  note="list comprehension over the names"),
        timed_row("editor: filter, per keystroke", typing, plain,
                  f"p95 ≤ {FILTER_MAX_MS:g} ms",
                  passed=typing.p95_ms <= FILTER_MAX_MS and filter_exact, exact=filter_exact,
                  note=f"setText to painted; max {slowest:.1f} ms at {text!r}"),
    ]


def run(quick: bool) -> list[Row]:
    print(f"editor: {BIG_ENTRIES:,} entries: opening the editor vs a QStandardItemModel, "
          "then typing in its search field…", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="bp-bench-") as name:
        out = run_worker("bench_editor", "editor", Path(name), quick)
    return _editor_rows(out)


if __name__ == "__main__":
    sys.exit(worker_main({"editor": _editor_times}))
