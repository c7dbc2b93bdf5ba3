"""The many-point measurement tools of the slice view: angle and polygon (click by click),
Cobb angle (two drags), freehand ROI (one drag) and arrow with a text label (drag, then the
label). A mixin of :class:`viewer.gui.slice_items.SliceItems`; it builds the pyqtgraph items of
those kinds. Points are source pixel coordinates of the shown plane (see
:mod:`viewer.display.measure`).
"""

from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QPainter, QPainterPath

from viewer.display import shapes
from viewer.display.measure import Measurement

CLICK_TOOLS = ("angle", "polygon")  # one click per point
DRAG_TOOLS = ("cobb", "freehand", "arrow")
PREVIEW = "polyline"  # the kind of a half-drawn shape: an open line, no label
HEAD_BRUSH = pg.mkBrush(255, 215, 0)


def preview(pts) -> Measurement:
    """A half-drawn shape through source points ``pts``: shown as an open line."""
    pts = [tuple(p) for p in pts]
    return Measurement(PREVIEW, pts[0], pts[-1], pts)


class PathROI(pg.ROI):
    """A traced outline (or a half-drawn shape): one path, moved as a whole, no handles.
    (A PolyLineROI takes ~0.5 s to build with 200 points: a trace has hundreds.)"""

    def __init__(self, pts: list[QPointF], closed: bool, **kw):
        kw.pop("removable", None)
        super().__init__((0, 0), (1, 1), removable=True, **kw)
        self.local = [QPointF(p) for p in pts]
        self._path = QPainterPath(self.local[0])
        for p in self.local[1:]:
            self._path.lineTo(p)
        if closed:
            self._path.closeSubpath()

    def boundingRect(self):  # noqa: N802 (Qt name)
        return self._path.boundingRect().adjusted(-1, -1, 1, 1)

    def shape(self):
        return self._path

    def paint(self, p, *_args):
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(self.currentPen)
        p.drawPath(self._path)


def make_item(kind: str, pts: list[QPointF], common: dict) -> pg.ROI:
    """The editable item of a many-point kind through view points ``pts``."""
    if kind in ("freehand", PREVIEW):
        return PathROI(pts, closed=kind == "freehand", **common)
    if kind == "arrow":
        roi = pg.LineSegmentROI(pts, **common)
        roi.head = pg.ArrowItem(parent=roi, headLen=16, tailLen=0, brush=HEAD_BRUSH,
                                pen=pg.mkPen(None))
        place_head(roi)
        return roi
    roi = pg.PolyLineROI(pts, closed=kind == "polygon", **common)
    if kind == "cobb" and len(roi.segments) == 3:
        roi.segments[1].hide()  # two separate lines: no segment between them
    for seg in roi.segments:  # a click selects, as on the other kinds (not a new vertex)
        seg.sigClicked.disconnect(roi.segmentClicked)
        seg.sigClicked.connect(lambda *_, r=roi: r.sigClicked.emit(r, None))
    return roi


def inert(roi: pg.ROI) -> None:
    """A half-drawn shape takes no clicks: the next click (or the double-click closing a
    polygon) on its last point goes to the tool, not to the point's handle."""
    for part in (roi, *roi.getHandles(), *getattr(roi, "segments", ())):
        part.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        part.setAcceptHoverEvents(False)


def place_head(roi: pg.ROI) -> None:
    """Put an arrow's head on its tip (second handle), pointing away from the tail."""
    tail, tip = (h.pos() for h in roi.getHandles())
    roi.head.setPos(tip)
    # ArrowItem points left at angle 0 and turns clockwise on screen (y down, as this view).
    roi.head.setStyle(angle=math.degrees(math.atan2(tail.y() - tip.y(), tail.x() - tip.x())))


def item_points(roi: pg.ROI) -> list[QPointF]:
    """The item's points in view coordinates, in the order they define the measurement."""
    if isinstance(roi, PathROI):
        return [roi.mapToParent(p) for p in roi.local]
    return [roi.mapToParent(h.pos()) for h in roi.getHandles()]


class MeasureTools:
    """Drawing the many-point kinds (a mixin of SliceItems)."""

    _clicks: list[tuple[float, float]] | None = None  # angle/polygon points so far
    _cobb_first: list[tuple[float, float]] | None = None  # Cobb's first line, drawn

    def ask_arrow_text(self) -> tuple[str, bool]:
        """The arrow's label from the reader: (text, ok); Esc or Cancel drops the arrow."""
        from PySide6.QtWidgets import QInputDialog

        return QInputDialog.getText(self, "Arrow", "Label:")

    def catch_double_clicks(self) -> None:
        """Take the viewport's double-clicks before the viewport grid does (it maximises the
        viewport on one): the filter installed last runs first, so this is called whenever
        a click tool is chosen."""
        self.graphics.viewport().installEventFilter(self)

    def eventFilter(self, obj, ev) -> bool:  # noqa: N802 (Qt name)
        if (ev.type() == QEvent.Type.MouseButtonDblClick and self.tool in CLICK_TOOLS
                and ev.button() == Qt.MouseButton.LeftButton
                and obj is self.graphics.viewport()):
            scene = self.graphics.mapToScene(ev.position().toPoint())
            self._on_click(self.viewbox.mapSceneToView(scene), double=True)
            return True  # closes the polygon; no maximise
        return super().eventFilter(obj, ev)

    def cancel_drawing(self) -> None:
        """Forget a half-drawn measurement (tool change, Esc)."""
        self._preview(None)
        self._clicks = None
        self._cobb_first = None

    def _preview(self, m: Measurement | None) -> None:
        if self._drawing is not None:
            self._remove_item(self._drawing.id)
        self._drawing = m
        if m is not None:
            self._show_item(m)

    # ------------------------------------------------------------------ clicks

    def _tool_click(self, pt: tuple[float, float], double: bool) -> None:
        """A click (or double-click) with the angle or polygon tool at source point ``pt``."""
        pts = self._clicks or []
        if not double or not pts:
            pts = pts + [pt]
        self._clicks = pts
        kind = self.tool
        done = (kind == "angle" and len(pts) == 3) or (kind == "polygon" and double)
        if done and kind == "polygon":
            self.finish_polygon()
        elif done:
            self._commit(Measurement.of(kind, pts))
        else:
            self._preview(preview(pts) if len(pts) >= 2 else None)  # the points so far

    def finish_polygon(self) -> None:
        """Close the polygon being drawn (double-click or Enter); fewer than 3 points: drop."""
        pts = self._clicks or []
        if self.tool == "polygon" and len(pts) >= 3 and \
                shapes.polygon_area_mm2(pts, (1.0, 1.0)) > 0:
            self._commit(Measurement.of("polygon", pts))
        else:
            self.cancel_drawing()

    def _commit(self, m: Measurement) -> None:
        self._preview(None)
        self._clicks = None
        self._cobb_first = None
        self.add_measurement(m)

    def keyPressEvent(self, ev):  # noqa: N802 (Qt name)
        if ev.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self._clicks:
            self.finish_polygon()
            ev.accept()
            return
        super().keyPressEvent(ev)

    # ------------------------------------------------------------------ drags

    def _many_point_drag(self, phase: str, pt: tuple[float, float]) -> None:
        """A drag with the Cobb, freehand or arrow tool, ``pt`` in source pixels."""
        kind = self.tool
        if kind == "freehand":
            last = (self._clicks or [])[-1:]
            pts = [pt] if phase == "start" else self._clicks + shapes.thin_trace(last + [pt])[1:]
            self._clicks = pts
            if phase != "finish":
                self._preview(preview(pts) if len(pts) >= 2 else None)
            elif len(pts) >= 3 and shapes.polygon_area_mm2(pts, (1.0, 1.0)) > 1.0:
                self._commit(Measurement.of("freehand", pts))
            else:
                self.cancel_drawing()
            return
        if phase == "start":
            self._clicks = [pt]
        start = (self._clicks or [pt])[0]
        line = [start, pt]
        if kind == "cobb" and self._cobb_first is not None:
            m = Measurement.of("cobb", self._cobb_first + line)
        else:
            m = Measurement.of("arrow", line) if kind == "arrow" else preview(line)
        stray = math.hypot(pt[0] - start[0], pt[1] - start[1]) < 1.0
        if phase != "finish":
            self._preview(m)
            return
        self._clicks = None
        if stray:  # a stray click draws nothing (a Cobb's first line stays)
            self._preview(preview(self._cobb_first) if self._cobb_first else None)
        elif kind == "cobb" and self._cobb_first is None:
            self._cobb_first = line  # the first line stays shown until the second is drawn
            self._preview(m)
        elif kind == "arrow":
            self._preview(None)
            text, ok = self.ask_arrow_text()
            if ok:
                m.text = text.strip()
                self.add_measurement(m)
        else:
            self._commit(m)
