"""Sync between the main window's viewports, in patient space (viewer.display.viewport):
scrolling by position (the nearest slice along the normal, not the same index), window,
zoom/pan, reference lines of the other viewports' planes, and the crosshair as one 3-D point
shared by every viewport that contains it."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QColor

from viewer.display.viewport import (
    ACQUIRED,
    SlicePlanes,
    parallel,
    slice_planes,
)
from viewer.gui.slice_view import SliceView

# One colour per viewport: its reference line in the others has its outline's colour.
REF_COLOURS = ("#3c8cdc", "#e0a030", "#50c050", "#d050d0")


class SyncMixin:
    """Part of :class:`~viewer.gui.main_window.MainWindow`: links between viewports."""

    _syncing = False

    def _wire_view(self, v: SliceView) -> None:
        v.cursor_moved.connect(self.cursor_label.setText)
        v.slice_changed.connect(lambda k, v=v: self._on_view_slice_changed(v, k))
        v.window_changed.connect(lambda c, w, v=v: self._on_view_window_changed(v))
        v.crosshair_picked.connect(lambda spl, v=v: self._on_crosshair_picked(v, spl))
        v.viewbox.sigRangeChangedManually.connect(lambda *_, v=v: self._on_view_zoomed(v))
        v._ref_lines = {}  # other view index -> PlotCurveItem (drawn by _update_references)

    def _sync_actions(self, menu) -> None:
        """View ▸ Sync toggles (also on the toolbar): each one visible and remembered."""
        m = self.vp_model
        self.sync_actions = {}
        for key, text, attr in (("position", "Sync scroll by position", "sync_position"),
                                ("window", "Sync window", "sync_window"),
                                ("zoom", "Sync zoom and pan", "sync_zoom"),
                                ("refs", "Reference lines", "reference_lines")):
            on = self.settings.value(f"view/sync_{key}", getattr(m, attr), type=bool)
            setattr(m, attr, on)
            a = self._action(menu, text, lambda c, k=key, at=attr: self.set_sync(k, at, c),
                             checkable=True)
            a.setChecked(on)
            self.sync_actions[key] = a

    def set_sync(self, key: str, attr: str, on: bool) -> None:
        setattr(self.vp_model, attr, bool(on))
        self.settings.setValue(f"view/sync_{key}", bool(on))
        if self.sync_actions[key].isChecked() != bool(on):
            self.sync_actions[key].setChecked(bool(on))
        if on and key == "position":
            self._record_frame_offsets()
            self._sync_position_from(self.view)
        self._update_references()

    # ------------------------------------------------------------------ geometry

    def slice_planes_of(self, v: SliceView) -> SlicePlanes | None:
        """Patient-space geometry of the plane ``v`` shows (cached per stack and plane)."""
        if v.pixels is None:
            return None
        plane = v.plane if v.has_reformat else ACQUIRED
        cache = self.__dict__.setdefault("_planes_cache", {})
        key = (v.pixels.stack.uid, plane, v.pixels.shape)
        if key not in cache:
            cache[key] = slice_planes(v.pixels.stack, plane, v.pixels.shape)
        return cache[key]

    def _current_point(self, v: SliceView):
        """The point being read in ``v`` (patient mm): the crosshair when it lies on v's
        slice, else the viewport's remembered point moved onto the slice shown (so a plane
        switch there and back returns to the same slice), else the slice's centre; None
        without geometry."""
        sp = self.slice_planes_of(v)
        if sp is None:
            return None
        cross = self.vp_model.crosshair
        if cross is not None and abs(sp.distance(v.index, cross)) <= 0.5 * _spacing(sp) + 1e-6:
            return cross
        kept = self.vp_model.viewports[self.all_views.index(v)].point
        if kept is not None:
            on_slice = np.asarray(kept) + sp.distance(v.index, kept) * -sp.normal
            if sp.contains(on_slice, v.index):
                return tuple(float(x) for x in on_slice)
        rows, cols = sp.shape
        return tuple(float(x) for x in sp.point_at(v.index, (rows - 1) / 2, (cols - 1) / 2))

    def _go_to_point(self, v: SliceView, point) -> None:
        sp = self.slice_planes_of(v)
        if sp is not None:
            v.set_index(sp.nearest_slice(point))

    # ------------------------------------------------------------------ events

    def _on_view_slice_changed(self, v: SliceView, k: int) -> None:
        if v is self.view:
            self._sync_slider(k)
            self._show_slice_scores()
        if not self._syncing:
            if (self.vp_model.crosshair is not None and v.crosshair is not None
                    and self.layout_mode != "single"):
                spl = v.crosshair_on_this_slice()
                if spl is not None:
                    self._on_crosshair_picked(v, spl)
            self._sync_position_from(v)
        self._update_references()
        self._update_tags()

    def _sync_position_from(self, v: SliceView) -> None:
        """Parallel viewports go to the slice nearest ``v``'s (by position, not index)."""
        if not self.vp_model.sync_position or self._syncing or v.pixels is None:
            return
        src = self.slice_planes_of(v)
        if src is None:
            return
        point = self._current_point(v)
        # A registration of the pair (viewer/gui/window_registration.py) maps the point onto
        # the same anatomy in the other series; without one, scanner coordinates are used.
        reg = getattr(self, "registration", None)
        self._syncing = True
        try:
            for other in self.visible_views():
                dst = self.slice_planes_of(other) if other is not v else None
                if dst is not None and parallel(src, dst):
                    p = reg.map_point(v, other, point) if reg is not None else point
                    if p is point and not same_frame(v, other):
                        p = np.asarray(point, float) + self._frame_offset(v, other)
                    other.set_index(dst.nearest_slice(p))
        finally:
            self._syncing = False

    def _frame_offset(self, src: SliceView, dst: SliceView) -> np.ndarray:
        """Offset (mm) from ``src``'s patient coordinates to ``dst``'s when the two lie in
        different Frames of Reference (a prior from another session) and no registration links
        them: raw scanner positions there mean nothing. It starts as the difference of the two
        volumes' centres and is taken again from the points shown whenever "Sync scroll" is
        switched on (as relative sync does in other viewers: line up, then link)."""
        key = (_frame_key(src), _frame_key(dst))
        offsets = self.__dict__.setdefault("_frame_offsets", {})
        if key not in offsets:
            a, b = self.slice_planes_of(src), self.slice_planes_of(dst)
            offsets[key] = b.centre - a.centre
            offsets[key[::-1]] = -offsets[key]
        return offsets[key]

    def _record_frame_offsets(self) -> None:
        """The points shown now correspond: offsets between Frames of Reference from them."""
        offsets = self.__dict__.setdefault("_frame_offsets", {})
        offsets.clear()
        v = self.view
        if v.pixels is None or self._current_point(v) is None:
            return
        for other in self.visible_views():
            if other is v or other.pixels is None or same_frame(v, other):
                continue
            q = self._current_point(other)
            if q is not None:
                d = np.asarray(q, float) - np.asarray(self._current_point(v), float)
                offsets[(_frame_key(v), _frame_key(other))] = d
                offsets[(_frame_key(other), _frame_key(v))] = -d

    def _share_window(self, v: SliceView, from_others: bool = False) -> None:
        """One series has one window: ``v``'s goes to the others showing its series (or,
        ``from_others``, v takes theirs)."""
        for other in self.all_views:
            if other is v or other.pixels is not v.pixels:
                continue
            if from_others and other.window is not None:
                v.set_window(other.window)
                v.set_inverted(other.inverted)
                return
            if not from_others and v.window is not None:
                other.set_window(v.window)
                other.set_inverted(v.inverted)

    def _on_view_window_changed(self, v: SliceView) -> None:
        if self._syncing or v.window is None:
            return
        self._syncing = True
        try:
            mod = v.pixels.stack.first.modality if v.pixels is not None else None
            for other in self.all_views:
                if other is v or other.pixels is None:
                    continue
                same = other.pixels is v.pixels
                linked = (self.vp_model.sync_window and other.isVisible()
                          and other.pixels.stack.first.modality == mod)
                if same or linked:
                    other.set_window(v.window)
        finally:
            self._syncing = False

    def zoom_command(self, fn) -> None:
        """``fn(view)`` zooms the active view (menu, keys); zoom sync follows."""
        fn(self.view)
        self._on_view_zoomed(self.view)

    def _on_view_zoomed(self, v: SliceView) -> None:
        """Sync zoom and pan: the others show the same mm extent, offset alike from their
        image centre."""
        if not self.vp_model.sync_zoom or self._syncing or v.pixels is None:
            return
        (x0, x1), (y0, y1) = v.viewbox.viewRange()
        c = v.source_to_view(v.plane_shape()[1] / 2, v.plane_shape()[0] / 2)
        dx, dy = (x0 + x1) / 2 - c.x(), (y0 + y1) / 2 - c.y()
        self._syncing = True
        try:
            for other in self.visible_views():
                if other is v or other.pixels is None:
                    continue
                oc = other.source_to_view(other.plane_shape()[1] / 2,
                                          other.plane_shape()[0] / 2)
                cx, cy = oc.x() + dx, oc.y() + dy
                other.viewbox.setRange(xRange=(cx - (x1 - x0) / 2, cx + (x1 - x0) / 2),
                                       yRange=(cy - (y1 - y0) / 2, cy + (y1 - y0) / 2),
                                       padding=0)
        finally:
            self._syncing = False

    # ------------------------------------------------------------------ crosshair

    def _on_crosshair_picked(self, v: SliceView, spl) -> None:
        sp = self.slice_planes_of(v)
        if sp is not None:  # by the frames' own positions (exact across a missing slice)
            index, row, col = v.canonical_to_view(spl)
            self.set_crosshair_point(sp.point_at(int(round(index)), row, col))

    def set_crosshair(self, spl) -> None:
        """Crosshair at canonical voxel ``spl`` of the active view's series."""
        if self.view.pixels is not None and spl is not None:
            self._on_crosshair_picked(self.view, spl)

    def set_crosshair_point(self, point) -> None:
        """The 3-D crosshair at patient ``point`` (mm): every shown viewport whose series
        contains it goes to the slice nearest it and draws it there; the others hide theirs."""
        self.vp_model.crosshair = tuple(float(x) for x in point)
        self._syncing = True
        try:
            for v in self.visible_views():
                sp = self.slice_planes_of(v)
                if sp is None or not v.has_reformat or not sp.contains(point) or (
                        self.view.pixels is not None and not same_frame(self.view, v)):
                    v.set_crosshair(None)  # a point of another Frame of Reference: not here
                    continue
                index = sp.nearest_slice(point)
                row, col = sp.pixel_of(index, point)
                v.set_crosshair(v.view_to_canonical(index, row, col))
        finally:
            self._syncing = False
        self._sync_slider(self.view.index)
        self._update_references()
        self._update_tags()

    # ------------------------------------------------------------------ reference lines

    def _update_references(self) -> None:
        """Each shown viewport draws where the other shown viewports' slices cut its own
        (none for parallel planes, nor for another Frame of Reference such as a prior
        study's; the crosshair already marks them within one series)."""
        if not hasattr(self, "vp_model"):
            return
        shown = self.vp_model.shown()
        for i, v in enumerate(self.all_views):
            used = set()
            sp = self.slice_planes_of(v) if i in shown else None
            for j in shown if (sp is not None and self.vp_model.reference_lines) else []:
                o = self.all_views[j]
                osp = self.slice_planes_of(o) if j != i else None
                if osp is None or parallel(sp, osp) or not same_frame(v, o):
                    continue  # another Frame of Reference: its coordinates are unrelated
                if o.pixels is v.pixels and v.show_crosshair and v.crosshair is not None:
                    continue
                seg = sp.reference_line(v.index, osp.origins[o.index], osp.normal)
                if seg is None:
                    continue
                item = v._ref_lines.get(j)
                if item is None:
                    item = pg.PlotCurveItem(pen=pg.mkPen(QColor(REF_COLOURS[j]), width=1))
                    item.setZValue(5)
                    v.viewbox.addItem(item, ignoreBounds=True)
                    v._ref_lines[j] = item
                p, q = (v.source_to_view(*pt) for pt in seg)
                item.setData(np.array([p.x(), q.x()]), np.array([p.y(), q.y()]))
                item.show()
                used.add(j)
            for j, item in v._ref_lines.items():
                if j not in used:
                    item.hide()

    def reference_segment(self, v: SliceView, j: int):
        """The reference line of viewport ``j`` drawn in ``v``, in source coordinates
        ``((x0, y0), (x1, y1))``, or None (tests, accessibility)."""
        item = v._ref_lines.get(j)
        if item is None or not item.isVisible():
            return None
        xs, ys = item.getData()
        a, b = (v.view_to_source(pg.Point(x, y)) for x, y in zip(xs, ys, strict=True))
        return a, b


def _frame_key(v: SliceView) -> str:
    """What a view's patient coordinates are relative to (see :func:`same_frame`)."""
    h = v.pixels.stack.first
    return h.frame_of_reference_uid or f"study {h.study_uid}"


def same_frame(a: SliceView, b: SliceView) -> bool:
    """Whether two views' series share a Frame of Reference (0020,0052), so that patient
    coordinates mean the same place in both (PS3.3 C.7.4.1); series without one count as
    sharing it only within one study."""
    ha, hb = a.pixels.stack.first, b.pixels.stack.first
    if ha.frame_of_reference_uid or hb.frame_of_reference_uid:
        return ha.frame_of_reference_uid == hb.frame_of_reference_uid
    return ha.study_uid == hb.study_uid


def _spacing(sp: SlicePlanes) -> float:
    pos = sp.positions
    return float(abs(pos[-1] - pos[0]) / max(len(pos) - 1, 1)) if len(pos) > 1 else 1.0
