"""The bar shown above the schedule when it changed elsewhere under the editor: it says
what each side changed and offers the ways out: a merge of both, theirs, or mine."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QWidget


class ConflictBar(QFrame):
    """Hidden until `show_conflict`; the editor hides it once a load or save landed."""

    merge_requested = Signal()  # theirs with my changes laid over it
    reload_requested = Signal()  # take their version
    keep_mine_requested = Signal()  # save over theirs, an explicit choice

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("conflictBar")
        # Its own dark text on its light background, whatever the theme.
        self.setStyleSheet("QFrame#conflictBar { background: #fef7e0; "
                           "border: 1px solid #f9ab00; border-radius: 4px; } "
                           "QFrame#conflictBar QLabel { color: #202124; }")
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.merge = QPushButton("Merge (keep both)")
        self.merge.clicked.connect(self.merge_requested)
        self.merge.hide()
        reload_theirs = self.reload_theirs = QPushButton("Reload theirs")
        reload_theirs.clicked.connect(self.reload_requested)
        keep_mine = self.keep_mine = QPushButton("Keep mine (save over it)")
        keep_mine.clicked.connect(self.keep_mine_requested)
        layout = QHBoxLayout(self)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.merge)
        layout.addWidget(reload_theirs)
        layout.addWidget(keep_mine)
        self.hide()

    def show_conflict(self, text: str, can_merge: bool = False) -> None:
        self.text.setText(text)
        self.merge.setVisible(can_merge)
        self.show()
