"""Retrieving into the local study cache, and the cached studies (from the cache's SQLite
index) to reopen.

A retrieval (C-GET, C-MOVE or WADO-RS: :meth:`viewer.pacs.client.PacsClient.retrieve`) runs
in the background with progress per instance and a cancel; what arrived is kept, and a study
that did not arrive whole is listed as ``partial`` (retrieving it again resumes). The study
opens in the window as soon as its first series is in (``open_requested(study folder)``).
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from viewer.gui.archive_jobs import Runner, pacs_client
from viewer.gui.archive_search import MASK, _table, fill_table

CACHE_COLUMNS = (("Patient", "patient"), ("Date", "date"), ("Description", "description"),
                 ("State", "state"), ("Series", "series"), ("Images", "instances"),
                 ("Size", "size"), ("Opened", "opened"))
METHOD_TEXT = {"get": "C-GET", "move": "C-MOVE (to this station's SCP)", "wado": "WADO-RS"}


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n / 1e3:.0f} kB"


class ArrivalTracker:
    """Decides when a retrieval's first series is in: when one series has all the instances
    the archive listed for it, or, without counts, when a second series starts arriving
    (archives send a study series by series) or the retrieval ends."""

    def __init__(self, counts: dict[str, int]) -> None:
        self.counts = counts
        self.arrived: dict[str, int] = {}

    def add(self, path: Path | None) -> bool:
        """Count an instance written at ``path`` (``<study>/<series>/<sop>.dcm``); True when
        a series is complete by the rule above."""
        if path is None:
            return False
        series = Path(path).parent.name
        first_of_new = series not in self.arrived and bool(self.arrived)
        self.arrived[series] = self.arrived.get(series, 0) + 1
        want = self.counts.get(series)
        return bool(want and self.arrived[series] >= want) or (first_of_new and not want)


class RetrievePanel(QWidget):
    """Retrieve buttons and progress, then the cached studies. The owner sets ``node_for()``
    (the chosen archive), ``study_for()`` (the chosen study dict), ``series_for()`` (the
    chosen series dicts), ``counts_for()`` (instances per series UID) and ``showing(folder)``
    (whether the window still shows it); ``cache_for()`` returns the
    :class:`~viewer.pacs.cache.StudyCache` (made on first use)."""

    open_requested = Signal(str)
    problem = Signal(str)

    def __init__(self, cache_for, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.cache_for = cache_for
        self.runner = Runner(self)
        self.node_for = lambda: None
        self.study_for = lambda: None
        self.series_for = list
        self.counts_for = dict
        self.showing = lambda _folder: True  # whether the window still shows that folder
        self.hide_patient = False
        self.last_result = None
        self.cached: list = []  # CachedStudy rows shown, most recently used first
        self._opened: str | None = None
        self._opened_series = 0  # series in the folder when it was opened
        self._tracker = ArrivalTracker({})

        self.method = QComboBox()
        self.study_button = QPushButton("Retrieve s&tudy")
        self.series_button = QPushButton("Retrieve chosen se&ries")
        self.study_button.clicked.connect(lambda: self.retrieve(False))
        self.series_button.clicked.connect(lambda: self.retrieve(True))
        self.progress = QProgressBar()
        self.progress.setFormat("%v / %m")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.status = QLabel()
        self.status.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(QLabel("By:"))
        row.addWidget(self.method, 1)
        row.addWidget(self.study_button)
        row.addWidget(self.series_button)
        prog = QHBoxLayout()
        prog.addWidget(self.progress, 1)
        prog.addWidget(self.cancel_button)

        self.table = _table(CACHE_COLUMNS)
        self.table.itemDoubleClicked.connect(lambda _: self.open_selected())
        self.open_button = QPushButton("&Open")
        self.open_button.clicked.connect(self.open_selected)
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(self.refresh)
        self.remove_button = QPushButton("Remove from cache")
        self.remove_button.clicked.connect(self.remove_selected)
        cached = QHBoxLayout()
        cached.addWidget(QLabel("Cached studies:"))
        cached.addStretch(1)
        for b in (self.open_button, refresh, self.remove_button):
            cached.addWidget(b)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(row)
        lay.addLayout(prog)
        lay.addWidget(self.status)
        lay.addLayout(cached)
        lay.addWidget(self.table, 1)

    @property
    def cache(self):
        return self.cache_for()

    def set_methods(self, dicomweb: bool) -> None:
        """The retrieve methods the chosen archive offers."""
        keys = ("wado",) if dicomweb else ("get", "move")
        self.method.clear()
        for k in keys:
            self.method.addItem(METHOD_TEXT[k], k)

    # -- retrieve ----------------------------------------------------------------------
    def retrieve(self, chosen_series: bool) -> None:
        node, study = self.node_for(), self.study_for()
        if node is None or study is None:
            self.status.setText("Search, then choose a study to retrieve")
            return
        series = [s["SeriesInstanceUID"] for s in self.series_for()] if chosen_series else None
        if chosen_series and not series:
            self.status.setText("Choose one or more series first")
            return
        uid = study["StudyInstanceUID"]
        method = self.method.currentData()
        self._opened = None
        self._tracker = ArrivalTracker(self.counts_for())
        self.progress.setRange(0, 0)
        self.progress.setValue(0)
        self.cancel_button.setEnabled(True)
        self.study_button.setEnabled(False)
        self.series_button.setEnabled(False)
        self.status.setText(f"Retrieving from {node.name}…")
        self.runner.start(
            "retrieve", lambda step, cancel: pacs_client(node, self.cache).retrieve(
                uid, series, method=method, progress=step, cancel=cancel),
            step=self._on_step, finished=self._on_finished, failed=self._on_failed,
            ended=self.refresh)

    def _on_step(self, p) -> None:
        self.progress.setRange(0, max(p.total or 0, p.done))
        self.progress.setValue(p.done)
        if self._tracker.add(p.path) and self._opened is None:
            self._open_study(Path(p.path).parent.parent)

    def _open_study(self, folder: Path) -> None:
        self._opened = folder.name
        self._opened_series = len(self._tracker.arrived)
        self.cache.touch(folder.name)
        self.open_requested.emit(str(folder))

    def _on_finished(self, result) -> None:
        self.runner.done("retrieve")
        self.last_result = result
        self._idle()
        done = result.received + result.skipped
        text = (f"{result.method}: {result.state}, {result.received} received"
                f"{f', {result.skipped} already cached' if result.skipped else ''}"
                f"{f', {result.failed} failed' if result.failed else ''}"
                f" in {result.elapsed_s:.1f} s")
        if result.state != "complete":
            text += f" — {result.message}" if result.message else ""
            self.problem.emit(f"Retrieval {result.state}: {result.message or text}")
        self.status.setText(("✓ " if result.state == "complete" else "⚠ ") + text)
        folder = self.cache.study_dir(result.study_uid)
        if done and (self._opened is None or (
                len(self._tracker.arrived) > self._opened_series and self.showing(folder))):
            # Not opened yet, or series arrived after it opened and the user is still on
            # it: (re)scan the whole folder.
            self._open_study(folder)

    def _on_failed(self, message: str) -> None:
        self.runner.done("retrieve")
        self._idle()
        self.status.setText(f"✗ {message}")
        self.problem.emit(message)

    def cancel(self) -> None:
        """Stop now: the panel is free at once; the retrieval stops at the next instance
        and keeps what arrived (listed as partial)."""
        self.runner.cancel("retrieve")
        self._idle()
        self.status.setText("Retrieval cancelled; what arrived is kept (partial: retrieve "
                            "again to resume)")

    def _idle(self) -> None:
        self.cancel_button.setEnabled(False)
        self.study_button.setEnabled(True)
        self.series_button.setEnabled(True)
        if self.progress.maximum() == 0:
            self.progress.setRange(0, 1)

    # -- cached studies ----------------------------------------------------------------
    def refresh(self) -> None:
        """Re-read the cache's index in the background (the first read opens the SQLite
        index and imports pydicom); :attr:`cached` holds what the table lists."""
        self.runner.start("cached", lambda _s, _c: self.cache.studies(),
                          finished=self._on_cached, failed=self.problem.emit)

    def _on_cached(self, studies) -> None:
        self.runner.done("cached")
        self.cached = studies
        rows = []
        for s in studies:
            rows.append({
                "patient": MASK if self.hide_patient and s.patient_name
                else s.patient_name.replace("^", " ").strip(),
                "date": s.study_date, "state": s.state,
                "description": MASK if self.hide_patient and s.description else s.description,
                "series": str(s.series), "instances": str(s.instances),
                "size": _size(s.size),
                "opened": time.strftime("%Y-%m-%d %H:%M", time.localtime(s.last_opened))
                if s.last_opened else "", "uid": s.study_uid})
        fill_table(self.table, CACHE_COLUMNS, rows)
        for r, row in enumerate(rows):
            if row["state"] != "complete":
                self.table.item(r, 3).setToolTip("Not all of the study arrived; retrieve it "
                                                  "again to resume")
                self.table.item(r, 3).setForeground(Qt.GlobalColor.darkYellow)

    def _selected_uid(self) -> str | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        return self.table.item(rows[0].row(), 0).data(Qt.ItemDataRole.UserRole)["uid"]

    def open_selected(self) -> None:
        uid = self._selected_uid()
        if uid is not None:
            self._open_study(self.cache.study_dir(uid))
            self.refresh()

    def remove_selected(self, confirm: bool = True) -> None:
        """Delete the chosen study's files and index rows (in the background: a study can
        be thousands of files), after asking."""
        uid = self._selected_uid()
        if uid is None:
            return
        if confirm and QMessageBox.question(
                self, "Remove from cache", "Delete this study's files from the local cache? "
                "The archive keeps its copy.") != QMessageBox.StandardButton.Yes:
            return
        self.runner.start("remove", lambda _s, _c: self.cache.remove(uid),
                          finished=lambda _: self.refresh(), failed=self.problem.emit)

    def set_hide_patient_details(self, hide: bool) -> None:
        self.hide_patient = bool(hide)
        if self.isVisible():  # else the dock refreshes when it shows
            self.refresh()
