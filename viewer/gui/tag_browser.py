"""DICOM tag browser: every element of one file as a tree, filtered by a search box.

The file is read and flattened in a worker (a large enhanced multi-frame header can take a
while); the tree is built on the GUI thread from the flattened rows. Long sequences are cut
to their first items so the tree stays quick to build and to search.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import (
    QLabel,
    QLineEdit,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

MAX_SEQUENCE_ITEMS = 50
MAX_VALUE_CHARS = 200


@dataclass
class TagRow:
    tag: str  # "(0010,0010)"
    name: str  # keyword, or the private/unknown name
    vr: str
    value: str
    children: list[TagRow] = field(default_factory=list)


def _value_text(elem) -> str:
    if elem.VR in ("OB", "OW", "OF", "OD", "OL", "OV", "UN") or elem.tag == 0x7FE00010:
        n = len(elem.value) if elem.value is not None else 0
        return f"<{n} bytes>"
    text = str(elem.value)
    if len(text) > MAX_VALUE_CHARS:
        text = text[:MAX_VALUE_CHARS] + "…"
    return text


def dataset_rows(ds) -> list[TagRow]:
    """Flatten a pydicom dataset into :class:`TagRow` trees (sequences nest their items)."""
    rows = []
    for elem in ds:
        tag = f"({elem.tag.group:04X},{elem.tag.element:04X})"
        name = elem.keyword or elem.name
        if elem.VR == "SQ":
            items = list(elem.value)
            row = TagRow(tag, name, "SQ", f"{len(items)} item(s)")
            for i, item in enumerate(items[:MAX_SEQUENCE_ITEMS]):
                row.children.append(TagRow("", f"Item {i + 1}", "", "", dataset_rows(item)))
            if len(items) > MAX_SEQUENCE_ITEMS:
                row.children.append(TagRow("", f"… {len(items) - MAX_SEQUENCE_ITEMS} more "
                                               "items not shown", "", ""))
            rows.append(row)
        else:
            rows.append(TagRow(tag, name, elem.VR, _value_text(elem)))
    return rows


def read_rows(path: str) -> list[TagRow]:
    from viewer.dicom import lazy

    ds = lazy.pydicom().dcmread(path, stop_before_pixels=True, force=True)
    rows = [TagRow("", "File meta information", "", "", dataset_rows(ds.file_meta))] \
        if getattr(ds, "file_meta", None) else []
    return rows + dataset_rows(ds)


class _Reader(QObject):
    done = Signal(int, str, object)  # request, path, rows or error text


class TagBrowser(QWidget):
    """Tag tree of one file, with a search box matching tag, keyword and value."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search tag, keyword or value (e.g. 0028,0030 or Spacing)")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self.apply_filter)
        self.caption = QLabel()
        self.caption.setWordWrap(True)
        self.tree = QTreeWidget()
        self.tree.setColumnCount(4)
        self.tree.setHeaderLabels(["Tag", "Name", "VR", "Value"])
        self.tree.setUniformRowHeights(True)
        self.tree.setColumnWidth(0, 118)
        self.tree.setColumnWidth(1, 160)
        self.tree.setColumnWidth(2, 30)
        self.setMinimumWidth(360)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addWidget(self.search)
        lay.addWidget(self.caption)
        lay.addWidget(self.tree, 1)
        self._reader = _Reader(self)
        self._reader.done.connect(self._on_read)
        self._request = 0
        self.path: str | None = None

    def show_file(self, path: str | None, caption: str = "") -> None:
        """Read ``path`` in the background and show its tags (None clears)."""
        if path == self.path and path is not None:
            self.caption.setText(caption)
            return
        self._request += 1
        self.path = path
        self.caption.setText(caption)
        if path is None:
            self.tree.clear()
            return
        request = self._request

        def work():
            try:
                rows = read_rows(path)
            except Exception as exc:  # shown in the panel; the viewer carries on
                rows = f"Cannot read the tags of {path}: {type(exc).__name__}: {exc}"
            self._reader.done.emit(request, path, rows)

        threading.Thread(target=work, name="TagReader", daemon=True).start()

    def _on_read(self, request: int, path: str, rows) -> None:
        if request != self._request:
            return  # the user has moved on
        self.tree.clear()
        if isinstance(rows, str):
            self.caption.setText(rows)
            return
        self.tree.setUpdatesEnabled(False)
        self.tree.addTopLevelItems([self._item(r) for r in rows])
        self.tree.setUpdatesEnabled(True)
        self.apply_filter(self.search.text())

    def _item(self, row: TagRow) -> QTreeWidgetItem:
        item = QTreeWidgetItem([row.tag, row.name, row.vr, row.value])
        item.setToolTip(3, row.value)
        for child in row.children:
            item.addChild(self._item(child))
        return item

    def apply_filter(self, text: str) -> int:
        """Show rows matching ``text`` (and their parents); returns the number of matches."""
        needle = text.strip().lower().replace("(", "").replace(")", "")
        return sum(self._filter(self.tree.topLevelItem(i), needle)
                   for i in range(self.tree.topLevelItemCount()))

    def _filter(self, item: QTreeWidgetItem, needle: str) -> int:
        hay = " ".join(item.text(c) for c in range(4)).lower()
        hay += " " + item.text(0).strip("()").replace(",", "")  # "00280030" also matches
        own = not needle or needle in hay.replace("(", "").replace(")", "")
        children = sum(self._filter(item.child(i), needle) for i in range(item.childCount()))
        item.setHidden(not (own or children))
        if needle and children:
            item.setExpanded(True)
        return int(own and bool(needle)) + children

    def visible_rows(self) -> list[tuple[str, str, str]]:
        """(tag, name, value) of the top-level rows currently shown (for tests)."""
        out = []
        for i in range(self.tree.topLevelItemCount()):
            it = self.tree.topLevelItem(i)
            if not it.isHidden():
                out.append((it.text(0), it.text(1), it.text(3)))
        return out


def caption_for(view) -> tuple[str | None, str]:
    """The file behind a slice view's current image, and a caption saying which it is."""
    px = view.pixels
    if px is None:
        return None, ""
    st = px.stack
    if view.plane == "acquired" or not view.has_reformat:
        k, note = view.index, ""
    else:
        # A reformatted plane has no file of its own: show the source image under the
        # crosshair (or the middle one).
        k = st.n_frames // 2
        if view.crosshair is not None:
            k = int(round(view.crosshair_volume_index()[0]))
        note = "" if st.plane.lower() == view.plane else f" (source of the {view.plane} view)"
    ref = st.frames[min(max(k, 0), st.n_frames - 1)]
    frame = f", frame {ref.frame + 1}" if ref.header.number_of_frames > 1 else ""
    return ref.header.path, f"Image {k + 1} of {st.n_frames}{frame}{note}:\n{ref.header.path}"

