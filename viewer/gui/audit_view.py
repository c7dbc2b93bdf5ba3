"""Help ▸ Audit log: the audit trail (:mod:`viewer.audit`) as a table, newest first. By design
it holds nothing identifying: study UIDs are salted hashes (shown short, enough to tell
entries apart), destinations are archive names or output folders."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from viewer.gui.archive_jobs import Runner
from viewer.gui.archive_search import _table

COLUMNS = (("Time (UTC)", "time"), ("Action", "action"), ("Outcome", "outcome"),
           ("Study (hash)", "study"), ("Destination", "destination"), ("Counts", "counts"))
SHOWN = 2000  # the newest entries; the file itself keeps them all


def entry_cells(e: dict) -> list[str]:
    """The table's texts for one entry."""
    counts = e.get("counts") or {}
    return [str(e.get("time", "")).replace("T", " ").replace("+00:00", ""),
            str(e.get("action", "")), str(e.get("outcome", "")),
            (e.get("study") or "")[7:19], str(e.get("destination") or ""),
            " ".join(f"{k}={v}" for k, v in counts.items())]


class AuditLogDialog(QDialog):
    """Reads the trail in the background (it grows without bound) and lists it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        from viewer.audit import audit_path

        super().__init__(parent)
        self.setWindowTitle("Audit log")
        self.resize(900, 480)
        self.runner = Runner(self)
        self.entries: list[dict] = []
        self.table = _table(COLUMNS)
        self.table.setSortingEnabled(False)
        self.status = QLabel()
        self.status.setWordWrap(True)
        note = QLabel(f"Each open, analysis, export, retrieval and send, kept in "
                      f"{audit_path()}. Studies are salted hashes of their UIDs: no names or "
                      "IDs are recorded.")
        note.setWordWrap(True)
        refresh = QPushButton("&Refresh")
        refresh.clicked.connect(self.refresh)
        close = QPushButton("Close")
        close.clicked.connect(self.accept)
        row = QHBoxLayout()
        row.addWidget(self.status, 1)
        row.addWidget(refresh)
        row.addWidget(close)
        lay = QVBoxLayout(self)
        lay.addWidget(note)
        lay.addWidget(self.table, 1)
        lay.addLayout(row)
        self.refresh()

    def refresh(self) -> None:
        from viewer.audit import read_entries

        self.status.setText("Reading…")
        self.runner.start("read", lambda _s, _c: read_entries(limit=SHOWN),
                          finished=self._on_read,
                          failed=lambda msg: self.status.setText(f"✗ {msg}"))

    def _on_read(self, entries: list[dict]) -> None:
        self.runner.done("read")
        self.entries = list(reversed(entries))
        self.table.setRowCount(len(self.entries))
        for r, e in enumerate(self.entries):
            for c, text in enumerate(entry_cells(e)):
                self.table.setItem(r, c, QTableWidgetItem(text))
        self.status.setText(f"{len(self.entries)} entries, newest first"
                            if self.entries else "No entries yet")
