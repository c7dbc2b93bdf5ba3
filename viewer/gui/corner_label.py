"""Text drawn over the image (corner text, orientation letters, notices), outlined in black
so that it stays readable over bright pixels (bone, contrast, a white background)."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor, QFont, QPainter
from PySide6.QtWidgets import QLabel, QWidget

TEXT_COLOUR = QColor(240, 230, 140)  # khaki, as the exports' corner text
_OUTLINE = [QPoint(dx, dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1) if dx or dy]


class OutlinedLabel(QLabel):
    """A transparent label whose text has a 1-pixel black outline (8 offset copies beneath).

    :meth:`set_lines` cuts each line with an ellipsis to the label's width, so texts in
    neighbouring corners never run into each other, whatever the view's width.
    """

    def __init__(self, parent: QWidget, pixel_size: int = 12, bold: bool = False):
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        font = QFont(self.font())
        font.setPixelSize(pixel_size)
        font.setBold(bold)
        self.setFont(font)
        self.colour = TEXT_COLOUR

    def set_lines(self, lines: list[str]) -> None:
        """Show ``lines``, each elided to the label's width."""
        fm = self.fontMetrics()
        width = max(1, self.contentsRect().width() - 2)
        self.setText("\n".join(fm.elidedText(t, Qt.TextElideMode.ElideRight, width)
                               for t in lines))

    def paintEvent(self, ev) -> None:  # noqa: N802 (Qt name)
        text = self.text()
        if not text:
            return
        p = QPainter(self)
        p.setFont(self.font())
        rect = self.contentsRect().adjusted(1, 1, -1, -1)
        flags = int(self.alignment().value)
        if self.wordWrap():
            flags |= int(Qt.TextFlag.TextWordWrap.value)
        p.setPen(QColor(0, 0, 0))
        for d in _OUTLINE:
            p.drawText(rect.translated(d), flags, text)
        p.setPen(self.colour)
        p.drawText(rect, flags, text)
        p.end()


def layout_corners(labels: dict[str, OutlinedLabel], lines: dict[str, list[str]],
                   width: int, height: int, margin: int = 6) -> None:
    """Place the four corner labels (``tl``, ``tr``, ``bl``, ``br``) of a view and set their
    ``lines``. Top and bottom corners each get half the height. Across a row, each corner
    gets the width its longest line needs when both fit; else the narrower need is met up to
    half the row and the other takes the rest; lines are elided to the width given, so two
    corners never overlap, also in the narrow views of the 1x3 layout."""
    avail = max(2, width - 3 * margin)
    half_h = max(1, (height - 3 * margin) // 2)
    for left, right in (("tl", "tr"), ("bl", "br")):
        need = {}
        for key in (left, right):
            fm = labels[key].fontMetrics()
            need[key] = max((fm.horizontalAdvance(t) for t in lines.get(key, [])),
                            default=0) + 4
        if need[left] + need[right] <= avail:
            w_left = max(need[left], avail - need[right])
        elif need[left] <= need[right]:
            w_left = min(need[left], avail // 2)
        else:
            w_left = avail - min(need[right], avail // 2)
        y = margin if left == "tl" else 2 * margin + half_h
        labels[left].setGeometry(margin, y, w_left, half_h)
        labels[right].setGeometry(2 * margin + w_left, y, avail - w_left, half_h)
        for key in (left, right):
            labels[key].set_lines(lines.get(key, []))
            labels[key].raise_()
