"""The schedule as a Qt table (model, search filter and view): one row per entry,
computed lazily so that ten thousand entries open and filter quickly (next runs only for
the rows someone looks at). Times are computed and shown in the zone beat uses, which the
"Next run" header names."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView, QWidget

from beat_panel import schedule
from beat_panel.schedule.beat_report import BeatReport
from beat_panel.schedule.timing import BeatClock, beat_clock
from beat_panel.schedule.views import is_missed

if TYPE_CHECKING:
    from beat_panel.health import WhyAnswer

COLUMNS = ("On", "Name", "Task", "Schedule", "Next run", "Last run", "Runs", "Will run?")
ON, NAME, TASK, SCHEDULE, NEXT, LAST, RUNS, WHY = range(len(COLUMNS))
# The "Will run?" cell names the first reason in a few words; its tooltip gives them all.
_SHORT_REASONS = {
    "beat_not_running": "beat stopped", "beat_hung": "beat hung",
    "beat_unknown": "beat unknown", "schedule_not_applied": "not applied",
    "disabled": "switched off", "done": "done", "missed": "missed",
    "broker_unreachable": "no broker", "no_worker_for_queue": "no worker",
    "task_not_registered": "unknown task", "last_send_failed": "last send failed",
}
_NEXT_AT = -1  # the cache's column for the next run as a datetime
# The longest text each fixed column shows, as the measure of its width.
# (A longer one, a failed send's or a rare reason's, is elided; its tool tip says it all.)
_COLUMN_SAMPLES = {ON: "", NEXT: "2026-11-26 02:30 (in 23.5 h)",
                   LAST: "2026-11-26 02:30 (23.5 h ago)", RUNS: "10000",
                   WHY: "✗ beat stopped"}
FIT_ROWS = 100  # the rows a fixed column's width is measured on
_Index = QModelIndex | QPersistentModelIndex
_Role = Qt.ItemDataRole
# The roles `data` answers. A view asks seven roles of every visible cell at each repaint
# (font, alignment, decoration, background too), each a call into Python: the others are
# answered first and at once, which halves the time of a repaint.
_ANSWERED_ROLES = frozenset(int(r) for r in (
    _Role.DisplayRole, _Role.EditRole, _Role.ToolTipRole, _Role.CheckStateRole,
    _Role.ForegroundRole, _Role.UserRole))
_GREY = QColor("#80868b")
_RED = QColor("#c5221f")


# An entry of a RedBeat schedule that came from the app's beat_schedule (a "static").
FROM_APP_MARK = "(app)"
FROM_APP_TIP = ("From the app's beat_schedule: a RedBeat beat rewrites it from the app at "
                "its next start, so an edit here lasts until then. Change the app's "
                "beat_schedule to keep a change.")


def relative(when: datetime, now: datetime) -> str:
    """'in 3 min', '2 h ago': how far a time is from now, in a few characters."""
    seconds = (when - now).total_seconds()
    ahead = seconds >= 0
    seconds = abs(seconds)
    if seconds < 60:
        span = f"{int(seconds)} s"
    elif seconds < 3600:
        span = f"{int(seconds // 60)} min"
    elif seconds < 86400:
        span = f"{seconds / 3600:.1f} h".replace(".0 h", " h")
    else:
        span = f"{int(seconds // 86400)} d"
    if span == "0 s":
        return "now"
    return f"in {span}" if ahead else f"{span} ago"


def zone_text(when: datetime | None, now: datetime, clock: BeatClock) -> str:
    """A time in beat's zone: the time alone today (in that zone), else date and time."""
    if when is None:
        return "—"
    local = clock.local(when)
    fmt = "%H:%M:%S" if local.date() == clock.local(now).date() else "%Y-%m-%d %H:%M"
    return f"{local.strftime(fmt)} ({relative(when, now)})"


def header_label(column: int, clock: BeatClock) -> str:
    return f"{COLUMNS[column]} ({clock.name})" if column == NEXT else COLUMNS[column]


class EntryTableModel(QAbstractTableModel):
    """Rows of schedule entries; the enabled box is editable in place."""

    enabled_toggled = Signal(str, bool)

    def __init__(self) -> None:
        super().__init__()
        self.entries: list[schedule.Entry] = []
        self.state: BeatReport | None = None
        self.clock: BeatClock = beat_clock(None)
        self.now = datetime.now(timezone.utc)
        self._cache: dict[tuple[int, int], object] = {}
        self._haystacks: list[str] = []
        self.answers: dict[str, WhyAnswer] = {}  # by name, for the saved schedule
        self.beat_running = True  # until a status says otherwise: nothing dimmed
        self.from_app: frozenset[str] = frozenset()

    def set_entries(self, entries: list[schedule.Entry], state: BeatReport | None,
                    clock: BeatClock | None = None,
                    from_app: frozenset[str] = frozenset()) -> None:
        """Show `entries`, their times in `clock`'s zone (the zone beat uses); those named
        in `from_app` came from the app's beat_schedule (RedBeat's statics)."""
        self.beginResetModel()
        self.entries = list(entries)
        self.from_app = from_app
        self.state = state
        self.clock = clock or beat_clock(None)
        self.now = datetime.now(timezone.utc)
        self._cache.clear()
        self._haystacks = [f"{e.name}\n{e.task}\n{e.description}".lower() for e in entries]
        self.endResetModel()

    def refresh_times(self, state: BeatReport | None, clock: BeatClock | None = None
                      ) -> None:
        """New run state and a new "now" (and the zone beat uses, when it changed):
        recompute the time columns lazily."""
        self.state = state
        self.now = datetime.now(timezone.utc)
        rezoned = clock is not None and clock != self.clock
        if rezoned:
            self.clock = clock
        times = (NEXT, LAST, RUNS, _NEXT_AT)
        stale = (SCHEDULE, *times) if rezoned else times
        self._cache = {k: v for k, v in self._cache.items() if k[1] not in stale}
        if rezoned:
            self.headerDataChanged.emit(Qt.Orientation.Horizontal, NEXT, NEXT)
        if self.entries:
            first = SCHEDULE if rezoned else NEXT
            self.dataChanged.emit(self.index(0, first), self.index(len(self.entries) - 1, RUNS))

    def tick(self) -> None:
        """A second later: the relative times ("in 10 s") move on. Only their words are
        made again; a next run that has passed is computed again."""
        now = datetime.now(timezone.utc)
        self.now = now
        self._cache = {k: v for k, v in self._cache.items()
                       if k[1] not in (NEXT, LAST) and
                       not (k[1] == _NEXT_AT and isinstance(v, datetime) and v <= now)}
        if self.entries:
            self.dataChanged.emit(self.index(0, NEXT), self.index(len(self.entries) - 1, LAST),
                                  [Qt.ItemDataRole.DisplayRole])

    def set_beat_running(self, running: bool) -> None:
        """Next runs are beat's only while it runs; else they are shown dimmed, as "if
        started"."""
        if running != self.beat_running:
            self.beat_running = running
            if self.entries:
                self.dataChanged.emit(self.index(0, NEXT),
                                      self.index(len(self.entries) - 1, NEXT))

    def set_answers(self, answers: dict[str, WhyAnswer]) -> None:
        """Whether each entry will run, as the core answers for the saved schedule."""
        self.answers = answers
        self._cache = {k: v for k, v in self._cache.items() if k[1] != WHY}
        if self.entries:
            self.dataChanged.emit(self.index(0, WHY), self.index(len(self.entries) - 1, WHY))

    def _will_run(self, entry: schedule.Entry) -> str:
        answer = self.answers.get(entry.name)
        if answer is None:
            return ""  # not known yet (the first health check is still running)
        if answer.will_run:
            return "✓ yes, with a note" if answer.reasons else "✓ yes"
        first = answer.blocking[0] if answer.blocking else None
        code = str(first.code) if first else ""
        return f"✗ {_SHORT_REASONS.get(code, code.replace('_', ' '))}"

    def haystack(self, row: int) -> str:
        return self._haystacks[row]

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.entries)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return header_label(section, self.clock)
        if role == Qt.ItemDataRole.ToolTipRole and section in (SCHEDULE, NEXT, LAST):
            clock = self.clock
            text = f"Times are in {clock.name}: {clock.why}."
            return f"{text}\n{clock.note}" if clock.note else text
        return None

    def flags(self, index: _Index) -> Qt.ItemFlag:
        base = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        if index.column() == ON:
            base |= Qt.ItemFlag.ItemIsUserCheckable
        return base

    def _cell(self, row: int, column: int) -> object:
        key = (row, column)
        if key not in self._cache:
            self._cache[key] = self._compute(row, column)
        return self._cache[key]

    def _compute(self, row: int, column: int) -> object:
        entry = self.entries[row]
        state = self.state
        if column == NAME:
            return f"{entry.name} {FROM_APP_MARK}" if entry.name in self.from_app \
                else entry.name
        if column == TASK:
            return entry.task
        if column == SCHEDULE:
            words = self.clock.describe(entry.schedule)
            return f"{words} (once)" if entry.one_off else words
        if column == LAST:
            failed = state.last_error(entry.name) if state else None
            if failed is not None:
                return f"✗ failed {zone_text(failed[0], self.now, self.clock)}"
            return zone_text(state.last_run(entry.name) if state else None, self.now,
                             self.clock)
        if column == RUNS:
            return state.run_count(entry.name) if state else 0
        if column == WHY:
            return self._will_run(entry)
        if column == NEXT:
            if not entry.enabled:
                return "— (off)"
            if entry.one_off and state and state.run_count(entry.name):
                return "— (done)"
            if is_missed(entry, state, self.now):
                return "missed: Run now?"
            return zone_text(self._next_run(row), self.now, self.clock)
        return None

    def _next_run(self, row: int) -> datetime | None:
        """When beat sends the entry next, computed in beat's zone (cached with the row)."""
        key = (row, _NEXT_AT)
        if key not in self._cache:
            entry, state = self.entries[row], self.state
            basis = state.timing_basis(entry.name) if state else None
            runs = schedule.next_runs(entry.schedule, self.now, 1, last_run_at=basis,
                                      tz_name=self.clock.name)
            self._cache[key] = runs[0] if runs else None
        value = self._cache[key]
        return value if isinstance(value, datetime) else None

    def _time_tip(self, row: int, column: int) -> str | None:
        """The full date and time of a run, with the zone, for the cell's tool tip."""
        entry, state = self.entries[row], self.state
        if column == NEXT and is_missed(entry, state, self.now):
            due = self.clock.text(entry.schedule.at, "%a %Y-%m-%d %H:%M:%S %Z")
            return (f"Missed: it was due {due}, while no beat had it to send; beat never "
                    "sends a one-off late on its own. Select it and use Run now, or give "
                    "it a new time.")
        if column == LAST:
            failed = state.last_error(entry.name) if state else None
            if failed is not None:
                sent = state.last_run(entry.name) if state else None
                last_ok = (f" The last send that reached it: "
                           f"{self.clock.text(sent, '%a %Y-%m-%d %H:%M:%S %Z')}."
                           if sent else " No send has reached it yet.")
                return (f"The send at {self.clock.text(failed[0], '%a %Y-%m-%d %H:%M:%S %Z')}"
                        f" did not reach the broker: {failed[1]}.{last_ok}")
            when = state.last_run(entry.name) if state else None
        elif entry.enabled and not (entry.one_off and state and state.run_count(entry.name)):
            when = self._next_run(row)
        else:
            when = None
        if when is None:
            return None
        return f"{self.clock.text(when, '%a %Y-%m-%d %H:%M:%S %Z')} ({self.clock.name})"

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if role not in _ANSWERED_ROLES or not index.isValid():
            return None
        row, column = index.row(), index.column()
        if role == _Role.DisplayRole or role == _Role.EditRole:
            return self._cell(row, column) if column != ON else None
        entry = self.entries[row]
        if role == _Role.CheckStateRole:
            if column != ON:
                return None
            return Qt.CheckState.Checked if entry.enabled else Qt.CheckState.Unchecked
        if role == _Role.ForegroundRole:
            if not entry.enabled or (column == NEXT and not self.beat_running):
                return _GREY
            if column == LAST and self.state and self.state.last_error(entry.name):
                return _RED
            if column == WHY and str(self._cell(row, WHY)).startswith("✗"):
                return _RED
            return None
        if role == _Role.ToolTipRole:
            if column == WHY and entry.name in self.answers:
                answer = self.answers[entry.name]
                lines = [f"• {r.message}" for r in answer.reasons]
                head = "It will run." if answer.will_run else "It will not run:"
                return "\n".join([head, *lines]) + \
                    "\n(for the saved schedule; Why?… says more)"
            if column == NAME and entry.name in self.from_app:
                return FROM_APP_TIP
            tip = self._time_tip(row, column) if column in (NEXT, LAST) else None
            if tip and column == NEXT and not self.beat_running:
                tip = f"If beat were running: {tip}. Beat is not running, so nothing is sent."
            return (tip or entry.description
                    or f"{entry.task} — {self.clock.describe(entry.schedule)}")
        return entry.name  # UserRole

    def setData(self, index: _Index, value: object,
                role: int = Qt.ItemDataRole.EditRole) -> bool:
        if role == Qt.ItemDataRole.CheckStateRole and index.column() == ON:
            entry = self.entries[index.row()]
            checked = Qt.CheckState(value) == Qt.CheckState.Checked
            self.enabled_toggled.emit(entry.name, checked)
            return True
        return False


class EntryFilter(QSortFilterProxyModel):
    """Filters on name, task and description, without computing the other columns."""

    def __init__(self) -> None:
        super().__init__()
        self._needle = ""

    def set_needle(self, text: str) -> None:
        if hasattr(self, "beginFilterChange"):  # Qt 6.9 and later
            self.beginFilterChange()
            self._needle = text.strip().lower()
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:  # pragma: no cover - older Qt
            self._needle = text.strip().lower()
            self.invalidateFilter()

    def filterAcceptsRow(self, source_row: int, source_parent: _Index) -> bool:
        if not self._needle:
            return True
        model = self.sourceModel()
        assert isinstance(model, EntryTableModel)
        return self._needle in model.haystack(source_row)


class EntryTable(QTableView):
    """The table of entries, selected by name (names outlive rows across edits)."""

    STRETCHED = (NAME, TASK, SCHEDULE)  # they share what is left

    def __init__(self, proxy: EntryFilter, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setModel(proxy)
        self.proxy = proxy
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setTabKeyNavigation(False)  # Tab leaves the table for the next control
        self.setAlternatingRowColors(True)
        self.verticalHeader().setVisible(False)
        self.verticalHeader().setDefaultSectionSize(24)
        header = self.horizontalHeader()
        header.setStretchLastSection(False)
        header.setMinimumSectionSize(36)
        for column in range(len(COLUMNS)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Stretch
                                        if column in self.STRETCHED
                                        else QHeaderView.ResizeMode.Interactive)
        # The "Next run" header names beat's time zone: the column fits it too.
        proxy.headerDataChanged.connect(self._fit_columns)
        proxy.modelReset.connect(self._fit_columns)
        proxy.layoutChanged.connect(self._fit_columns)
        proxy.rowsInserted.connect(self._fit_columns)
        proxy.dataChanged.connect(self._answers_changed)
        self._fit_columns()

    def _fit_columns(self, *_: object) -> None:
        """Size the fixed columns to their header and their text: the first rows' (a
        schedule may have 50,000), with room for a time that grows by a digit, or a
        sample when there are no rows yet."""
        for column in _COLUMN_SAMPLES:
            self._fit(column)

    def _answers_changed(self, first: QModelIndex, last: QModelIndex, *_: object) -> None:
        if first.column() <= WHY <= last.column():
            self._fit(WHY)  # "Will run?" gets its words when health lands

    def _fit(self, column: int) -> None:
        cells = self.fontMetrics()
        head = str(self.proxy.headerData(column, Qt.Orientation.Horizontal) or "")
        width = self.horizontalHeader().fontMetrics().horizontalAdvance(head) + 24
        rows = min(self.proxy.rowCount(), FIT_ROWS)
        texts = [str(self.proxy.data(self.proxy.index(r, column)) or "") for r in range(rows)]
        for text in texts or [_COLUMN_SAMPLES[column]]:
            width = max(width, cells.horizontalAdvance(text) + 24)
        self.setColumnWidth(column, width)

    def selected_names(self) -> list[str]:
        selection = self.selectionModel()
        rows = selection.selectedRows() if selection else []
        return [self.proxy.data(r, Qt.ItemDataRole.UserRole) for r in rows]

    def add_to_selection(self, names: set[str]) -> None:
        if not names:
            return
        selection = self.selectionModel()
        for row in range(self.proxy.rowCount()):
            index = self.proxy.index(row, 0)
            if self.proxy.data(index, Qt.ItemDataRole.UserRole) in names:
                selection.select(index, selection.SelectionFlag.Select
                                 | selection.SelectionFlag.Rows)

    def select_names(self, names: list[str]) -> None:
        self.clearSelection()
        self.add_to_selection(set(names))
