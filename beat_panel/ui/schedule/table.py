"""The schedule as a Qt table (model, search filter and view): one row per entry,
computed lazily so that ten thousand entries open and filter quickly (next runs only for
the rows someone looks at)."""

from __future__ import annotations

from datetime import datetime, timezone

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

COLUMNS = ("On", "Name", "Task", "Schedule", "Next run", "Last run", "Runs")
ON, NAME, TASK, SCHEDULE, NEXT, LAST, RUNS = range(len(COLUMNS))
_Index = QModelIndex | QPersistentModelIndex


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


def local_text(when: datetime | None, now: datetime) -> str:
    if when is None:
        return "—"
    local = when.astimezone()
    fmt = "%H:%M:%S" if local.date() == now.astimezone().date() else "%Y-%m-%d %H:%M"
    return f"{local.strftime(fmt)} ({relative(when, now)})"


class EntryTableModel(QAbstractTableModel):
    """Rows of schedule entries; the enabled box is editable in place."""

    enabled_toggled = Signal(str, bool)

    def __init__(self) -> None:
        super().__init__()
        self.entries: list[schedule.Entry] = []
        self.state: BeatReport | None = None
        self.tz_name: str | None = None
        self.now = datetime.now(timezone.utc)
        self._cache: dict[tuple[int, int], object] = {}
        self._haystacks: list[str] = []

    def set_entries(self, entries: list[schedule.Entry], state: BeatReport | None,
                    tz_name: str | None) -> None:
        self.beginResetModel()
        self.entries = list(entries)
        self.state = state
        self.tz_name = (state.timezone if state and state.timezone else None) or tz_name
        self.now = datetime.now(timezone.utc)
        self._cache.clear()
        self._haystacks = [f"{e.name}\n{e.task}\n{e.description}".lower() for e in entries]
        self.endResetModel()

    def refresh_times(self, state: BeatReport | None) -> None:
        """New run state and a new "now": recompute the time columns lazily."""
        self.state = state
        self.now = datetime.now(timezone.utc)
        self._cache = {k: v for k, v in self._cache.items() if k[1] not in (NEXT, LAST, RUNS)}
        if self.entries:
            self.dataChanged.emit(self.index(0, NEXT), self.index(len(self.entries) - 1, RUNS))

    def haystack(self, row: int) -> str:
        return self._haystacks[row]

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.entries)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
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
            return entry.name
        if column == TASK:
            return entry.task
        if column == SCHEDULE:
            words = entry.schedule.describe()
            return f"{words} (once)" if entry.one_off else words
        if column == LAST:
            return local_text(state.last_run(entry.name) if state else None, self.now)
        if column == RUNS:
            return state.run_count(entry.name) if state else 0
        if column == NEXT:
            if not entry.enabled:
                return "— (off)"
            if entry.one_off and state and state.run_count(entry.name):
                return "— (done)"
            basis = state.timing_basis(entry.name) if state else None
            runs = schedule.next_runs(entry.schedule, self.now, 1, last_run_at=basis,
                                      tz_name=self.tz_name)
            return local_text(runs[0] if runs else None, self.now)
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid():
            return None
        row, column = index.row(), index.column()
        entry = self.entries[row]
        if role == Qt.ItemDataRole.CheckStateRole and column == ON:
            return Qt.CheckState.Checked if entry.enabled else Qt.CheckState.Unchecked
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.EditRole) and column != ON:
            return self._cell(row, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            return entry.description or f"{entry.task} — {entry.schedule.describe()}"
        if role == Qt.ItemDataRole.ForegroundRole and not entry.enabled:
            return QColor("#80868b")
        if role == Qt.ItemDataRole.UserRole:
            return entry.name
        return None

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

    COLUMN_WIDTHS = (36, 160, 240, 210, 170, 170, 50)

    def __init__(self, proxy: EntryFilter, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setModel(proxy)
        self.proxy = proxy
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setAlternatingRowColors(True)
        self.verticalHeader().setVisible(False)
        self.verticalHeader().setDefaultSectionSize(24)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        for column, width in enumerate(self.COLUMN_WIDTHS):
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
