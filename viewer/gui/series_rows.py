"""Series-list rows tall enough for their wrapped text: a series' warnings ("⚠ 1 missing
slice(s) …") are read in full, not cut off at the dock's edge."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QRect, QSize, Qt
from PySide6.QtWidgets import QStyledItemDelegate, QTreeWidget

_PAD = 8  # px above and below the text


class WrappingRows(QStyledItemDelegate):
    """Word-wrapped rows whose height follows the tree's width (installed on ``tree``)."""

    def __init__(self, tree: QTreeWidget) -> None:
        super().__init__(tree)
        self.tree = tree
        tree.setWordWrap(True)
        tree.setTextElideMode(Qt.TextElideMode.ElideNone)
        tree.setItemDelegate(self)
        tree.viewport().installEventFilter(self)

    def text_width(self, index) -> int:
        """Width (px) left for the text of row ``index``: the column minus its indent and
        icon."""
        depth, parent = 0, index.parent()
        while parent.isValid():
            depth, parent = depth + 1, parent.parent()
        icon = self.tree.iconSize().width() + 8 if index.data(Qt.ItemDataRole.DecorationRole) \
            is not None else 0
        indent = self.tree.indentation() * (depth + 1)
        return max(60, self.tree.viewport().width() - indent - icon - 12)

    def sizeHint(self, option, index) -> QSize:  # noqa: N802
        base = super().sizeHint(option, index)
        text = index.data(Qt.ItemDataRole.DisplayRole) or ""
        r = option.fontMetrics.boundingRect(
            QRect(0, 0, self.text_width(index), 100000),
            int(Qt.TextFlag.TextWordWrap), text)
        return QSize(base.width(), max(base.height(), r.height() + _PAD))

    def eventFilter(self, obj: QObject, ev: QEvent) -> bool:  # noqa: N802
        if ev.type() == QEvent.Type.Resize:  # new width: new line breaks and heights
            self.tree.doItemsLayout()
        return False
