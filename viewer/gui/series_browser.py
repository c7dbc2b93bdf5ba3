"""The series browser: patients, their studies and their series (with thumbnails), and a
banner when one folder holds several patients."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QFont, QIcon
from PySide6.QtWidgets import QLabel, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from viewer.dicom.catalog import Catalog, Patient, Study
from viewer.dicom.volumes import volume_series

_UID = Qt.ItemDataRole.UserRole  # stack uid, on series rows only
_ROW = Qt.ItemDataRole.UserRole + 1  # index in Catalog.stacks(), on series rows only
_ROLE_KIND = Qt.ItemDataRole.UserRole + 2  # "patient" / "study" / "series"
_BANNER_STYLE = ("QLabel { background: #f5a623; color: #1a1a1a; font-weight: bold;"
                 " padding: 6px; border-radius: 3px; }")


def _fmt_date(d: str) -> str:
    return f"{d[:4]}-{d[4:6]}-{d[6:8]}" if len(d) == 8 and d.isdigit() else (d or "no date")


def patient_text(p: Patient, index: int, hide: bool) -> str:
    """"Doe John · ID 12345", or "Patient 2" when patient details are hidden (Ctrl+H)."""
    if hide:
        return f"Patient {index}"
    name = " ".join(p.name.replace("^", " ").split()) or "no name"
    return f"{name} · ID {p.patient_id or '-'}"


def study_text(s: Study, hide: bool = False) -> str:
    """"2024-01-15  CT CHEST  (CT, SEG)": date, description and the modalities it holds.
    ``hide`` (patient details hidden) leaves the description out, as the image corners do:
    study descriptions often carry a name ("SMITH^J Normal Volunteer Protocol")."""
    mods = ", ".join(dict.fromkeys(se.modality for se in s.series if se.modality))
    desc = f"  {s.description}" if s.description and not hide else ""
    return f"{_fmt_date(s.date)}{desc}" + (f"  ({mods})" if mods else "")


class _SeriesTree(QTreeWidget):
    """The tree; a dragged series row carries its stack uid (dropped onto a viewport)."""

    def mimeData(self, items):  # noqa: N802
        md = super().mimeData(items)
        uids = [it.data(0, _UID) for it in items if it.data(0, _ROLE_KIND) == "series"]
        if uids:
            md.setData("application/x-radviewer-stack-uid", uids[0].encode())
        return md


class SeriesBrowser(QWidget):
    """Patient > study > series tree; rows are addressed by their index in
    :meth:`Catalog.stacks` (``row``), like the flat list it replaces.

    Signals
    -------
    series_selected(row)
        The user (or :meth:`setCurrentRow`) chose the stack ``Catalog.stacks()[row]``.
    """

    series_selected = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.banner = QLabel()
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet(_BANNER_STYLE)
        self.banner.hide()
        self.tree = _SeriesTree()
        self.tree.setHeaderHidden(True)
        self.tree.setIconSize(QSize(72, 72))
        self.tree.setIndentation(10)
        self.tree.currentItemChanged.connect(self._on_tree_current_changed)
        self.tree.itemActivated.connect(self._on_tree_item_activated)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.banner)
        lay.addWidget(self.tree, 1)
        self._catalog: Catalog | None = None
        self._hide = False
        self._series_items: list[QTreeWidgetItem] = []
        self._patient_items: list[tuple[QTreeWidgetItem, Patient]] = []
        self._study_items: list[tuple[QTreeWidgetItem, Study]] = []

    # ------------------------------------------------------------------ content

    def clear(self) -> None:
        self._catalog = None
        self._series_items = []
        self._patient_items = []
        self._study_items = []
        self.tree.clear()
        self.banner.hide()

    def set_catalog(self, catalog: Catalog) -> None:
        """Show ``catalog`` (no selection, no signal); the caller picks the current row."""
        self.tree.blockSignals(True)
        self.clear()
        self._catalog = catalog
        row_of = {id(st): i for i, st in enumerate(catalog.stacks())}
        bold = QFont()
        bold.setBold(True)
        for pi, p in enumerate(catalog.patients, 1):
            p_item = QTreeWidgetItem([patient_text(p, pi, self._hide)])
            p_item.setData(0, _ROLE_KIND, "patient")
            p_item.setFont(0, bold)
            p_item.setFlags(Qt.ItemFlag.ItemIsEnabled)  # a header, never the current series
            self.tree.addTopLevelItem(p_item)
            self._patient_items.append((p_item, p))
            for s in p.studies:
                s_item = QTreeWidgetItem([study_text(s, self._hide)])
                self._study_items.append((s_item, s))
                s_item.setData(0, _ROLE_KIND, "study")
                s_item.setFlags(Qt.ItemFlag.ItemIsEnabled)
                p_item.addChild(s_item)
                for se in s.series:
                    for st in se.stacks:
                        if id(st) in row_of:  # a 4-D series lists only its first volume
                            s_item.addChild(self._series_item(st, row_of[id(st)]))
        self._series_items.sort(key=lambda it: it.data(0, _ROW))
        self.tree.expandAll()
        warning = catalog.multiple_patients_warning
        self.banner.setText(f"⚠ {warning}")
        self.banner.setVisible(bool(warning))
        self.tree.blockSignals(False)

    def _series_item(self, st, row: int) -> QTreeWidgetItem:
        h = st.first
        warn = ("\n⚠ " + "; ".join(st.warnings)) if st.warnings else ""
        vs = volume_series(st)  # a 4-D series: its label and volume count, not volume 1's
        label = vs.label if vs is not None else st.label
        title = label if label.startswith(h.modality) else f"{h.modality} {label}"
        count = (f"{vs.summary()} x {st.n_frames} images" if vs is not None
                 else f"{st.n_frames} images")
        item = QTreeWidgetItem([f"{row + 1}. {title}\n"
                                f"{count}  {st.rows}x{st.columns}{warn}"])
        item.setData(0, _UID, st.uid)
        item.setData(0, _ROW, row)
        item.setData(0, _ROLE_KIND, "series")
        item.setToolTip(0, "\n".join(st.warnings) or st.label)
        self._series_items.append(item)
        return item

    def set_hide_patient_details(self, hide: bool) -> None:
        """Patient headers show "Patient N" instead of name and ID while ``hide``."""
        self._hide = bool(hide)
        for i, (item, p) in enumerate(self._patient_items, 1):
            item.setText(0, patient_text(p, i, self._hide))
        for item, study in self._study_items:
            item.setText(0, study_text(study, self._hide))

    def set_icon(self, uid: str, icon: QIcon) -> None:
        for item in self._series_items:
            if item.data(0, _UID) == uid:
                item.setIcon(0, icon)

    def has_icon(self, row: int) -> bool:
        """Whether series row ``row`` has its thumbnail yet."""
        return not self._series_items[row].icon(0).isNull()

    # ------------------------------------------------------------------ rows

    def count(self) -> int:
        """Number of series rows (headers not counted)."""
        return len(self._series_items)

    def currentRow(self) -> int:  # noqa: N802 - the QListWidget name it stands in for
        item = self.tree.currentItem()
        if item is None or item.data(0, _ROLE_KIND) != "series":
            return -1
        return int(item.data(0, _ROW))

    def setCurrentRow(self, row: int) -> None:  # noqa: N802 - as QListWidget
        if 0 <= row < len(self._series_items):
            self.tree.setCurrentItem(self._series_items[row])

    def current_uid(self) -> str | None:
        item = self.tree.currentItem()
        return item.data(0, _UID) if item is not None else None

    def row_texts(self) -> list[str]:
        """Every row's text in display order, headers included (tests, accessibility)."""
        out: list[str] = []

        def walk(item: QTreeWidgetItem) -> None:
            out.append(item.text(0))
            for i in range(item.childCount()):
                walk(item.child(i))

        for i in range(self.tree.topLevelItemCount()):
            walk(self.tree.topLevelItem(i))
        return out

    def _on_tree_current_changed(self, item: QTreeWidgetItem | None, _prev) -> None:
        if item is not None and item.data(0, _ROLE_KIND) == "series":
            self.series_selected.emit(int(item.data(0, _ROW)))

    def _on_tree_item_activated(self, item: QTreeWidgetItem, _column: int) -> None:
        if item.data(0, _ROLE_KIND) == "series":
            self.series_selected.emit(int(item.data(0, _ROW)))
