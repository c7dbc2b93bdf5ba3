"""What the slice view draws over the image: AI labels, measurements and the crosshair.

A mixin of :class:`viewer.gui.slice_view.SliceView` (it uses the view's pixels, plane, index,
transform and viewbox). Measurements live in source pixel coordinates of the shown plane and
are drawn above the AI labels and the fusion overlay, on screen as in the exports.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt

from viewer.display import shapes
from viewer.display.measure import ROI_KINDS, Measurement, describe
from viewer.gui.measure_tools import (
    CLICK_TOOLS,
    DRAG_TOOLS,
    PREVIEW,
    MeasureTools,
    inert,
    item_points,
    make_item,
    place_head,
)

ACQUIRED = "acquired"
TOOLS = ("pan", "ruler", "ellipse", "rect", "angle", "cobb", "polygon", "freehand", "arrow")
MEASURE_PEN = pg.mkPen((255, 215, 0), width=2)
SELECTED_PEN = pg.mkPen((0, 220, 255), width=2)
HOVER_PEN = pg.mkPen((255, 255, 160), width=2)
CROSS_PEN = pg.mkPen((80, 200, 120, 200), width=1)
MEASURE_Z = 10  # measurements and their labels above the AI labels (1) and fusion (0.5)


class SliceItems(MeasureTools):
    """AI overlay, measurement and crosshair items of one slice view (a mixin)."""

    # ------------------------------------------------------------------ AI overlay

    def set_overlay(self, volume: np.ndarray | None, lut: np.ndarray | None = None,
                    outline: bool = False) -> None:
        """Labels ``volume[k, j, i]`` on this stack's voxels, coloured by ``lut`` (256x4
        RGBA); None removes the overlay."""
        if volume is not None and self.pixels is not None and \
                volume.shape != tuple(self.pixels.shape[:3]):
            raise ValueError(f"overlay shape {volume.shape} is not the stack's "
                             f"{tuple(self.pixels.shape[:3])}")
        self._overlay_volume, self._overlay_lut, self._overlay_outline = volume, lut, outline
        self._update_overlay()

    def overlay_plane(self) -> np.ndarray | None:
        """Labels of the shown plane (source orientation), or None."""
        vol = self._overlay_volume
        if vol is None or self.pixels is None:
            return None
        if self.plane == ACQUIRED or self._reformat is None:
            return vol[self.index]
        return self._reformat.plane(vol, self.plane, self.index)

    def _update_overlay(self) -> None:
        lab = self.overlay_plane()
        if lab is None or self._overlay_lut is None:
            self.overlay.clear()
            return
        if self._overlay_outline:
            from viewer.export.compose import outline

            lab = outline(lab)
        shown = np.ascontiguousarray(self.transform.apply(lab))
        rows_mm, cols_mm = self._display_spacing()
        self.overlay.setImage(shown, autoLevels=False, levels=(0, 255), lut=self._overlay_lut)
        self.overlay.setRect(QRectF(0, 0, shown.shape[1] * cols_mm, shown.shape[0] * rows_mm))

    # ------------------------------------------------------------------ measurements

    def slice_key(self) -> tuple[str, str, int] | None:
        """What a measurement belongs to: (stack uid, plane, slice index)."""
        if self.pixels is None:
            return None
        return (self.pixels.stack.uid, self.plane, self.index)

    def set_tool(self, tool: str) -> None:
        """"pan" (left-drag pans, click sets the crosshair) or a measurement kind (TOOLS);
        a half-drawn measurement of the last tool is dropped."""
        if tool not in TOOLS:
            raise ValueError(f"unknown tool {tool!r}; choose one of {TOOLS}")
        self.cancel_drawing()
        if tool in CLICK_TOOLS:
            self.catch_double_clicks()
        self.viewbox.tool = tool
        cursor = Qt.CursorShape.ArrowCursor if tool == "pan" else Qt.CursorShape.CrossCursor
        self.graphics.viewport().setCursor(cursor)

    @property
    def tool(self) -> str:
        return self.viewbox.tool

    def measurement_text(self, m: Measurement) -> str:
        if m.kind == PREVIEW:
            return ""
        values = self._real(self._shown) if (self._shown is not None and m.kind in ROI_KINDS
                                             and self._shown.ndim == 2) else None
        unit = "HU" if self.pixels.stack.first.modality == "CT" else ""
        suv = self.suv_roi_text(m) if m.kind in ROI_KINDS else ""
        return describe(m, values, self.calibration(), unit) + (f"\n{suv}" if suv else "")

    def add_measurement(self, m: Measurement) -> None:
        """Attach ``m`` (source pixel coordinates) to the shown slice."""
        self.measurements.add(self.slice_key(), m)
        self._items_key = None
        self._sync_measurements()
        self.select(m.id)
        self.measurements_changed.emit()

    def delete_measurement(self, measurement_id: int) -> None:
        key = self.slice_key()
        if key is not None and self.measurements.remove(key, measurement_id):
            self._remove_item(measurement_id)
            if self._selected_id == measurement_id:
                self._selected_id = None
            self.measurements_changed.emit()

    def delete_selected(self) -> None:
        """Delete the selected measurement, else the latest one on this slice."""
        key = self.slice_key()
        if key is None:
            return
        ids = [m.id for m in self.measurements.on(key)]
        target = self._selected_id if self._selected_id in ids else (ids[-1] if ids else None)
        if target is not None:
            self.delete_measurement(target)

    def delete_all_on_slice(self) -> None:
        key = self.slice_key()
        if key is not None and self.measurements.on(key):
            self.measurements.clear(key)
            self._clear_items()
            self.measurements_changed.emit()

    def select(self, measurement_id: int | None) -> None:
        self._selected_id = measurement_id
        for mid, (roi, _, _) in self._items.items():
            roi.setPen(SELECTED_PEN if mid == measurement_id else MEASURE_PEN)

    def _clear_items(self) -> None:
        for mid in list(self._items):
            self._remove_item(mid)
        self._items_key = None

    def _remove_item(self, measurement_id: int) -> None:
        item = self._items.pop(measurement_id, None)
        if item is not None:
            roi, text, _ = item
            self.viewbox.removeItem(roi)
            self.viewbox.removeItem(text)

    def _sync_measurements(self) -> None:
        """Show the measurements of the shown slice; refresh their text for new pixels."""
        key = self.slice_key()
        if key != self._items_key:
            self.cancel_drawing()  # a half-drawn shape stays on the slice it was begun on
            self._clear_items()
            self._items_key = key
            for m in self.measurements.on(key) if key is not None else ():
                self._show_item(m)
            self.select(self._selected_id)
        else:
            for _roi, text, m in self._items.values():
                text.setText(self.measurement_text(m))

    def _show_item(self, m: Measurement) -> None:
        a, b = self.source_to_view(*m.p0), self.source_to_view(*m.p1)
        common = dict(pen=MEASURE_PEN, hoverPen=HOVER_PEN, removable=True)
        if m.kind in shapes.POINTS or m.kind == PREVIEW:
            roi = make_item(m.kind, [self.source_to_view(*p) for p in m.pts], common)
        elif m.kind == "ruler":
            roi = pg.LineSegmentROI([a, b], **common)
        else:
            x0, x1 = sorted((a.x(), b.x()))
            y0, y1 = sorted((a.y(), b.y()))
            if m.kind == "rect":
                roi = pg.RectROI([x0, y0], [x1 - x0, y1 - y0], rotatable=False, **common)
            else:
                roi = pg.EllipseROI([x0, y0], [x1 - x0, y1 - y0], rotatable=False, **common)
                for h in list(roi.getHandles()):
                    if h.typ == "r":  # ROIs stay axis-aligned: stats are per pixel
                        roi.removeHandle(h)
        roi.setAcceptedMouseButtons(Qt.MouseButton.LeftButton)
        if m.kind == PREVIEW:
            inert(roi)
        text = pg.TextItem(self.measurement_text(m), color=(255, 230, 120),
                           fill=pg.mkBrush(0, 0, 0, 170), anchor=(0, 0))
        roi.setZValue(MEASURE_Z)
        text.setZValue(MEASURE_Z)
        self.viewbox.addItem(roi, ignoreBounds=True)
        self.viewbox.addItem(text, ignoreBounds=True)
        self._place_text(text, roi, m)
        roi.sigClicked.connect(lambda *_, i=m.id: self.select(i))
        roi.sigRegionChanged.connect(lambda r, mm=m: self._on_roi_edited(r, mm, False))
        roi.sigRegionChangeFinished.connect(lambda r, mm=m: self._on_roi_edited(r, mm, True))
        roi.sigRemoveRequested.connect(lambda *_, i=m.id: self.delete_measurement(i))
        self._items[m.id] = (roi, text, m)

    def _place_text(self, text: pg.TextItem, roi: pg.ROI, m: Measurement) -> None:
        pts = [self.source_to_view(*p) for p in (m.pts[:1] if m.kind == "arrow" else m.pts)]
        text.setPos(QPointF(max(p.x() for p in pts), max(p.y() for p in pts)))  # arrow: tail

    def _roi_points(self, roi: pg.ROI, m: Measurement) -> list[tuple]:
        """The ROI's current geometry as source pixel points."""
        if m.kind == "ruler" or m.kind in shapes.POINTS:
            pts = item_points(roi)
        else:
            pos, size = roi.pos(), roi.size()
            pts = [QPointF(pos.x(), pos.y()), QPointF(pos.x() + size.x(), pos.y() + size.y())]
        return [self.view_to_source(p) for p in pts]

    def _on_roi_edited(self, roi: pg.ROI, m: Measurement, final: bool) -> None:
        m.set_points(self._roi_points(roi, m))
        if m.kind == "arrow":
            place_head(roi)
        item = self._items.get(m.id)
        if item is not None:
            item[1].setText(self.measurement_text(m))
            self._place_text(item[1], roi, m)
        if final:
            self.measurements_changed.emit()

    def _on_tool_drag(self, phase: str, p: QPointF) -> None:
        if self.pixels is None:
            return
        pt = self.view_to_source(p)
        if self.tool in DRAG_TOOLS:
            self._many_point_drag(phase, pt)
            return
        if self.tool in CLICK_TOOLS:
            return  # these draw click by click
        if phase == "start":
            self._drawing = Measurement(self.tool, pt, pt)
            self._show_item(self._drawing)
            return
        m = self._drawing
        if m is None:
            return
        m.p1 = pt
        self._remove_item(m.id)
        if phase != "finish":
            self._show_item(m)
            return
        self._drawing = None
        if np.hypot(m.p1[0] - m.p0[0], m.p1[1] - m.p0[1]) >= 1.0:  # ignore stray clicks
            self.add_measurement(m)

    # ------------------------------------------------------------------ crosshair

    def canonical_to_view(self, spl) -> tuple[float, float, float]:
        """Canonical ``(s, p, l)`` -> ``(slice index, row, col)`` of this view's plane."""
        if self.plane == ACQUIRED:
            return self._reformat.canonical_to_volume(spl)
        return self._reformat.canonical_to_plane(self.plane, spl)

    def view_to_canonical(self, index: float, row: float, col: float):
        if self.plane == ACQUIRED:
            return self._reformat.volume_to_canonical((index, row, col))
        return self._reformat.plane_to_canonical(self.plane, index, row, col)

    def set_crosshair(self, spl) -> None:
        """Move to the slice through canonical voxel ``spl`` and draw the crosshair there."""
        self.crosshair = spl
        if spl is not None and self._reformat is not None:
            self.set_index(int(round(self.canonical_to_view(spl)[0])))
        self._update_crosshair()

    def crosshair_on_this_slice(self):
        """The crosshair moved to the shown slice (after scrolling this view)."""
        if self.crosshair is None or self._reformat is None:
            return None
        _, row, col = self.canonical_to_view(self.crosshair)
        return self.view_to_canonical(self.index, row, col)

    def _update_crosshair(self) -> None:
        if (not self.show_crosshair or self.crosshair is None or self._reformat is None
                or self.pixels is None):
            for line in self._cross:
                line.hide()
            return
        _, row, col = self.canonical_to_view(self.crosshair)
        p = self.source_to_view(col + 0.5, row + 0.5)
        self._cross[0].setPos(p.x())
        self._cross[1].setPos(p.y())
        for line in self._cross:
            line.show()

    def _on_click(self, p: QPointF, double: bool = False) -> None:
        if self.pixels is not None and self.tool in CLICK_TOOLS:
            self._tool_click(self.view_to_source(p), double)
            return
        if self.pixels is None or self._reformat is None or self.tool != "pan":
            return
        x, y = self.view_to_source(p)
        rows, cols = self.plane_shape()
        if 0 <= x < cols and 0 <= y < rows:
            self.crosshair_picked.emit(self.view_to_canonical(self.index, int(y), int(x)))

    def crosshair_volume_index(self) -> tuple[float, float, float]:
        """The crosshair as a volume index ``(k, j, i)`` of the stack."""
        return self._reformat.canonical_to_volume(self.crosshair)

    def source_frame_index(self) -> int:
        """The stack slice (0-based) a capture of the shown plane is derived from: the shown
        slice, or for a reformatted plane the slice through its centre (no crosshair needed)."""
        if self.plane == ACQUIRED or self._reformat is None:
            return self.index
        rows, cols = self.plane_shape()
        spl = self.view_to_canonical(self.index, (rows - 1) / 2, (cols - 1) / 2)
        k = self._reformat.canonical_to_volume(spl)[0]
        return int(min(max(round(k), 0), self.pixels.stack.n_frames - 1))
