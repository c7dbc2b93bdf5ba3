"""The "Search archive" panel: a study query (patient name/ID, accession, study date range,
modality, description) against a configured archive, results a page at a time, then the
chosen study's series. Queries run in the background and can be cancelled; retrieval and the
cached studies are :mod:`viewer.gui.archive_retrieve`'s.

Results hold patient names and IDs: they are shown (masked when the window hides patient
details), never logged.
"""

from __future__ import annotations

from PySide6.QtCore import QDate, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDateEdit,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from viewer.gui.archive_jobs import Runner, pacs_client

PAGE_SIZE = 50
MODALITIES = ("", "CT", "MR", "PT", "NM", "US", "CR", "DX", "MG", "XA", "RF", "OT", "SEG",
              "SR")
STUDY_COLUMNS = (("Patient", "PatientName"), ("Patient ID", "PatientID"),
                 ("Date", "StudyDate"), ("Accession", "AccessionNumber"),
                 ("Description", "StudyDescription"), ("Modalities", "ModalitiesInStudy"),
                 ("Series", "NumberOfStudyRelatedSeries"),
                 ("Images", "NumberOfStudyRelatedInstances"))
SERIES_COLUMNS = (("#", "SeriesNumber"), ("Modality", "Modality"),
                  ("Description", "SeriesDescription"),
                  ("Images", "NumberOfSeriesRelatedInstances"))
MASK = "•••"
# Masked while the window hides patient details; descriptions too, as the image corners and
# the series list do (they often hold a referring physician's or the patient's name).
HIDDEN_KEYS = ("PatientName", "PatientID", "AccessionNumber", "StudyDescription")


def study_query(name: str = "", patient_id: str = "", accession: str = "",
                date_from: str = "", date_to: str = "", modality: str = "",
                description: str = "") -> dict[str, str]:
    """C-FIND/QIDO matching keys (keyword -> value) for the form's fields.

    A name matches from its start (``DOE`` finds ``DOE^JOHN``), a description anywhere; a
    value with ``*`` or ``?`` is taken as written. Dates are ``YYYYMMDD``; one end of the
    range may be empty (PS3.4 C.2.2.2.5)."""
    q: dict[str, str] = {}

    def wild(v: str) -> bool:
        return any(c in v for c in "*?")

    name, description = name.strip(), description.strip()
    if name:
        q["PatientName"] = name if wild(name) else name + "*"
    if patient_id.strip():
        q["PatientID"] = patient_id.strip()
    if accession.strip():
        q["AccessionNumber"] = accession.strip()
    if date_from or date_to:
        q["StudyDate"] = date_from if date_from == date_to else f"{date_from}-{date_to}"
    if modality.strip():
        q["ModalitiesInStudy"] = modality.strip().upper()
    if description:
        q["StudyDescription"] = description if wild(description) else f"*{description}*"
    return q


def fetch_page(client, query: dict[str, str], page: int, size: int = PAGE_SIZE,
               cancel=None) -> tuple[list[dict[str, str]], bool]:
    """Page ``page`` (0-based) of the studies matching ``query`` and whether more follow.
    DICOMweb pages on the archive (``limit``/``offset``); DIMSE has no offset, so the query
    asks for the pages up to this one (a C-CANCEL ends it there) and keeps the last."""
    if client.is_dicomweb:
        rows = client.find("STUDY", query, limit=size + 1, offset=page * size, cancel=cancel)
        return rows[:size], len(rows) > size
    rows = client.find("STUDY", query, limit=(page + 1) * size + 1, cancel=cancel)
    return rows[page * size:(page + 1) * size], len(rows) > (page + 1) * size


def _table(columns) -> QTableWidget:
    t = QTableWidget(0, len(columns))
    t.setHorizontalHeaderLabels([c for c, _ in columns])
    t.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    t.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    t.verticalHeader().hide()
    t.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    t.horizontalHeader().setStretchLastSection(True)
    return t


def fill_table(table: QTableWidget, columns, rows: list[dict[str, str]],
               masked: tuple[str, ...] = ()) -> None:
    """One row per match; each row's dict is kept on its first cell (UserRole)."""
    table.setRowCount(0)
    table.setRowCount(len(rows))
    for r, row in enumerate(rows):
        for c, (_, key) in enumerate(columns):
            text = row.get(key, "")
            if key == "PatientName":
                text = text.replace("^", " ").strip()
            item = QTableWidgetItem(MASK if key in masked and text else text)
            if c == 0:
                item.setData(Qt.ItemDataRole.UserRole, row)
            table.setItem(r, c, item)


class SearchPanel(QWidget):
    """Query form, study results (paged) and the chosen study's series.

    ``node_for()`` is set by the owner: the node chosen in :attr:`nodes` (None when there is
    none); its client is made in the job (:func:`~viewer.gui.archive_jobs.pacs_client`).
    Emits ``problem(message)`` for a failed query and ``study_chosen(study dict)`` when a
    study row is selected.
    """

    problem = Signal(str)
    study_chosen = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runner = Runner(self)
        self.node_for = lambda: None
        self.page = 0
        self.query: dict[str, str] = {}
        self.studies: list[dict[str, str]] = []
        self.series: list[dict[str, str]] = []
        self.hide_patient = False
        self.page_size = PAGE_SIZE

        self.nodes = QComboBox()
        self.name, self.patient_id = QLineEdit(), QLineEdit()
        self.accession, self.description = QLineEdit(), QLineEdit()
        self.name.setPlaceholderText("DOE or DOE^J*")
        self.modality = QComboBox()
        self.modality.setEditable(True)
        self.modality.addItems(MODALITIES)
        self.use_dates = QCheckBox("Study date")
        self.date_from, self.date_to = QDateEdit(), QDateEdit()
        for d in (self.date_from, self.date_to):
            d.setCalendarPopup(True)
            d.setDisplayFormat("yyyy-MM-dd")
            d.setDate(QDate.currentDate())
            d.setEnabled(False)
        self.date_from.setDate(QDate.currentDate().addYears(-1))
        self.use_dates.toggled.connect(self.date_from.setEnabled)
        self.use_dates.toggled.connect(self.date_to.setEnabled)
        dates = QHBoxLayout()
        dates.addWidget(self.date_from)
        dates.addWidget(QLabel("to"))
        dates.addWidget(self.date_to)
        # Two fields a row: the results table keeps most of the dock's height.
        form = QGridLayout()
        for i, (text, field) in enumerate((
                ("&Archive:", self.nodes), ("&Modality:", self.modality),
                ("Patient &name:", self.name), ("Patient &ID:", self.patient_id),
                ("Acc&ession:", self.accession), ("&Description:", self.description))):
            label = QLabel(text)
            label.setBuddy(field)
            form.addWidget(label, i // 2, (i % 2) * 2)
            form.addWidget(field, i // 2, (i % 2) * 2 + 1)
        form.addWidget(self.use_dates, 3, 0)
        form.addLayout(dates, 3, 1, 1, 3)
        for edit in (self.name, self.patient_id, self.accession, self.description):
            edit.returnPressed.connect(self.search)

        self.search_button = QPushButton("&Search")
        self.search_button.clicked.connect(self.search)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.prev_button, self.next_button = QPushButton("◀"), QPushButton("▶")
        self.prev_button.setToolTip("Previous page")
        self.next_button.setToolTip("Next page")
        self.prev_button.clicked.connect(lambda: self.show_page(self.page - 1))
        self.next_button.clicked.connect(lambda: self.show_page(self.page + 1))
        self.prev_button.setEnabled(False)
        self.next_button.setEnabled(False)
        self.status = QLabel()
        self.status.setWordWrap(True)
        buttons = QHBoxLayout()
        for b in (self.search_button, self.cancel_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.prev_button)
        buttons.addWidget(self.next_button)

        self.study_table = _table(STUDY_COLUMNS)
        self.study_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.study_table.itemSelectionChanged.connect(self._on_study_selection_changed)
        self.study_table.setMinimumHeight(110)  # a few rows, even in a crowded dock
        self.series_table = _table(SERIES_COLUMNS)
        self.series_table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(form)
        lay.addLayout(buttons)
        lay.addWidget(self.status)
        lay.addWidget(self.study_table, 2)
        lay.addWidget(QLabel("Series of the chosen study:"))
        lay.addWidget(self.series_table, 1)

    # -- query -------------------------------------------------------------------------
    def form_query(self) -> dict[str, str]:
        fmt = "yyyyMMdd"
        use = self.use_dates.isChecked()
        return study_query(self.name.text(), self.patient_id.text(), self.accession.text(),
                           self.date_from.date().toString(fmt) if use else "",
                           self.date_to.date().toString(fmt) if use else "",
                           self.modality.currentText(), self.description.text())

    def search(self) -> None:
        """A new query from the form, first page."""
        self.query = self.form_query()
        self.show_page(0)

    def show_page(self, page: int) -> None:
        node = self.node_for()
        if node is None:
            self.status.setText("No archive: add one in File ▸ Archives…")
            return
        page = max(page, 0)
        query, size = dict(self.query), self.page_size
        self._busy(True, f"Searching {node.name}…")
        self.runner.start(
            "search", lambda _step, cancel: fetch_page(pacs_client(node), query, page,
                                                     size, cancel=cancel),
            finished=lambda res: self._on_page(page, *res),
            failed=lambda msg: self._on_failed("search", msg))

    def cancel(self) -> None:
        self.runner.cancel("search")
        self.runner.cancel("series")
        self._busy(False, "Search cancelled")

    def _busy(self, busy: bool, text: str) -> None:
        self.search_button.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)
        self.status.setText(text)

    def _on_page(self, page: int, rows: list[dict[str, str]], more: bool) -> None:
        self.runner.done("search")
        self.page, self.studies = page, rows
        self.series = []
        self.series_table.setRowCount(0)
        self.refill()
        first = page * self.page_size
        self._busy(False, (f"Studies {first + 1}–{first + len(rows)}"
                           f"{' (more on the next page)' if more else ''}") if rows
                   else "No study matches" if page == 0 else "No more studies")
        self.prev_button.setEnabled(page > 0)
        self.next_button.setEnabled(more)

    def _on_failed(self, slot: str, message: str) -> None:
        self.runner.done(slot)
        self._busy(False, f"✗ {message}")
        self.problem.emit(message)

    # -- series ------------------------------------------------------------------------
    def selected_study(self) -> dict[str, str] | None:
        rows = self.study_table.selectionModel().selectedRows()
        if not rows:
            return None
        return self.study_table.item(rows[0].row(), 0).data(Qt.ItemDataRole.UserRole)

    def selected_series(self) -> list[dict[str, str]]:
        rows = sorted(r.row() for r in self.series_table.selectionModel().selectedRows())
        return [self.series_table.item(r, 0).data(Qt.ItemDataRole.UserRole) for r in rows]

    def _on_study_selection_changed(self) -> None:
        study = self.selected_study()
        self.series_table.setRowCount(0)
        self.series = []
        node = self.node_for()
        if study is None or node is None or not study.get("StudyInstanceUID"):
            return
        self.study_chosen.emit(study)
        uid = study["StudyInstanceUID"]
        self.status.setText("Listing the study's series…")
        self.runner.start(
            "series", lambda _step, cancel: pacs_client(node).find("SERIES", study_uid=uid,
                                                        cancel=cancel),
            finished=self._on_series, failed=lambda msg: self._on_failed("series", msg))

    def _on_series(self, rows: list[dict[str, str]]) -> None:
        self.runner.done("series")

        def number(r: dict[str, str]) -> int:
            try:
                return int(r.get("SeriesNumber") or 0)
            except ValueError:
                return 0

        self.series = sorted(rows, key=number)
        fill_table(self.series_table, SERIES_COLUMNS, self.series)
        self.status.setText(f"{len(rows)} series in the chosen study")

    def series_counts(self) -> dict[str, int]:
        """Instances per series UID of the listed series (as the archive said)."""
        out = {}
        for r in self.series:
            try:
                out[r["SeriesInstanceUID"]] = int(r.get("NumberOfSeriesRelatedInstances") or 0)
            except (KeyError, ValueError):
                continue
        return out

    # -- display -----------------------------------------------------------------------
    def set_hide_patient_details(self, hide: bool) -> None:
        self.hide_patient = bool(hide)
        self.refill()

    def refill(self) -> None:
        masked = HIDDEN_KEYS if self.hide_patient else ()
        selected = self.selected_study()
        self.study_table.blockSignals(True)
        fill_table(self.study_table, STUDY_COLUMNS, self.studies, masked)
        if selected in self.studies:
            self.study_table.selectRow(self.studies.index(selected))
        self.study_table.blockSignals(False)
