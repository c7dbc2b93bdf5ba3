"""The slice view: one plane of a stack on a pyqtgraph ImageItem, with corner text and letters.

This module holds construction, the stack/plane/slice state and refresh; its jobs live in
mixins: :mod:`~viewer.gui.slice_window` (window, level, lookup table),
:mod:`~viewer.gui.slice_geometry` (rotate/flip, zoom, coordinates), :mod:`~viewer.gui.slice_text`
(corner text, letters, cursor readout), :mod:`~viewer.gui.slice_items` (AI labels, measurements,
crosshair) and :mod:`~viewer.gui.slice_modes` (slab, SUV, colour maps, fusion).

Scene units are millimetres (the image rectangle is columns x column-spacing wide), so pixels
show with their true aspect ratio; an image without a real spacing (see
:mod:`viewer.dicom.spacing`) is laid out in pixels and measured in "px". Display settings never
change data: the window is ImageItem levels in stored units, invert is a reversed lookup table.
"""

from __future__ import annotations

import os

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtWidgets import QVBoxLayout, QWidget

from viewer.dicom.pixels import StackPixels
from viewer.dicom.reformat import PLANES, Reformat
from viewer.display.measure import Measurement, MeasurementStore
from viewer.display.order import acquired_reversed
from viewer.display.orient import ViewTransform
from viewer.display.window import Window
from viewer.gui.slice_geometry import SliceGeometry
from viewer.gui.slice_items import ACQUIRED, CROSS_PEN, TOOLS, SliceItems
from viewer.gui.slice_modes import SliceModes
from viewer.gui.slice_text import SliceText
from viewer.gui.slice_window import SliceWindow

__all__ = ["ACQUIRED", "TOOLS", "SliceView"]


class _SliceViewBox(pg.ViewBox):
    """Wheel scrolls slices (Ctrl+wheel zooms); right-drag changes the window."""

    scrolled = Signal(int)
    window_dragged = Signal(float, float)
    tool_dragged = Signal(str, QPointF)  # phase ("start", "move", "finish"), view coords (mm)
    clicked = Signal(QPointF)  # left click, view coords (mm)

    def __init__(self):
        super().__init__(lockAspect=True, invertY=True, enableMenu=False)
        self.tool = "pan"

    def wheelEvent(self, ev, axis=None):  # noqa: N802 (Qt name)
        if ev.modifiers() & Qt.KeyboardModifier.ControlModifier:
            super().wheelEvent(ev, axis)
            return
        self.scrolled.emit(-1 if ev.delta() > 0 else 1)
        ev.accept()

    def mouseDragEvent(self, ev, axis=None):  # noqa: N802
        if ev.button() == Qt.MouseButton.RightButton:
            ev.accept()
            d = ev.screenPos() - ev.lastScreenPos()
            self.window_dragged.emit(float(d.x()), float(d.y()))
            return
        if ev.button() == Qt.MouseButton.LeftButton and self.tool != "pan":
            ev.accept()
            if ev.isStart():
                self.tool_dragged.emit("start", self.mapSceneToView(ev.buttonDownScenePos()))
            phase = "finish" if ev.isFinish() else "move"
            self.tool_dragged.emit(phase, self.mapSceneToView(ev.scenePos()))
            return
        super().mouseDragEvent(ev, axis)

    def mouseClickEvent(self, ev):  # noqa: N802
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            self.clicked.emit(self.mapSceneToView(ev.scenePos()))
            return
        super().mouseClickEvent(ev)


class SliceView(SliceItems, SliceModes, SliceWindow, SliceGeometry, SliceText, QWidget):
    """Shows one plane of a stack. Slices not yet decoded show as "loading" until they arrive.

    Signals
    -------
    slice_changed(int)
        The shown slice index (0-based) changed.
    cursor_moved(str)
        Text for the status bar: value under the cursor and its patient coordinates (mm).
    window_changed(float, float)
        Window centre and width (real units) changed.
    crosshair_picked(object)
        A left click (pan tool) picked a voxel: canonical ``(s, p, l)`` indices (see reformat).
    measurements_changed()
        A measurement was added, edited or deleted.
    slab_changed(str, float)
        Slab mode ("mip", "minip", "average") and thickness (mm, 0 = off) changed.
    colormap_changed(str)
        The colour map of the grey image changed.
    """

    slice_changed = Signal(int)
    cursor_moved = Signal(str)
    window_changed = Signal(float, float)
    crosshair_picked = Signal(object)
    measurements_changed = Signal()
    image_shown = Signal()  # a decoded slice was put on screen (emitted after each refresh)
    slab_changed = Signal(str, float)
    colormap_changed = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.graphics = pg.GraphicsView(self)
        self.graphics.setBackground("k")
        self.viewbox = _SliceViewBox()
        self.graphics.setCentralItem(self.viewbox)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.viewbox.addItem(self.image)
        # AI labels: a uint8 image with a lookup table, drawn over the slice.
        self.overlay = pg.ImageItem(axisOrder="row-major")
        self.overlay.setZValue(1)
        self.viewbox.addItem(self.overlay)
        self._overlay_volume: np.ndarray | None = None
        self._overlay_lut: np.ndarray | None = None
        self._overlay_outline = False
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.graphics)

        self._corner = {k: self._label(k) for k in ("tl", "tr", "bl", "br")}
        self._edge = {k: self._label(k, big=True) for k in ("left", "right", "top", "bottom")}
        # Why the shown slice is a dark placeholder or the reformat has gaps (undecodable frames).
        self._notice = self._label("notice", big=True)
        self._notice.setWordWrap(True)
        self.viewbox.scrolled.connect(self.step)
        self.viewbox.window_dragged.connect(self._on_window_dragged)
        self.viewbox.sigRangeChanged.connect(lambda *_: self._update_text())
        self.graphics.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.viewbox.tool_dragged.connect(self._on_tool_drag)
        self.viewbox.clicked.connect(self._on_click)

        self.pixels: StackPixels | None = None
        self.plane = ACQUIRED
        self.index = 0
        self.window: Window | None = None
        # The window a series opens with (File ▸ Preferences): "header", "auto" or, for CT,
        # a CT_PRESETS name.
        self.default_window_ct = "header"
        self.default_window_other = "header"
        self.inverted = False
        # File ▸ Preferences: "acquired" shows image 1 first, as the scanner numbered it (the
        # slider, wheel and keys run in acquisition order); "reversed" the other way.
        self.scroll_direction = "acquired"
        self.show_patient_details = True
        self.transform = ViewTransform()
        self.measurements = MeasurementStore()  # the window shares one store between views
        self.crosshair: tuple[float, float, float] | None = None  # canonical (s, p, l)
        self.show_crosshair = False
        self._reformat: Reformat | None = None
        self._shown: np.ndarray | None = None
        self._placeholder = False  # _shown is a dark stand-in for a slice that cannot be shown
        self._needs_fit = False
        self._items: dict[int, tuple[pg.ROI, pg.TextItem, Measurement]] = {}
        self._items_key: tuple | None = None
        self._drawing: Measurement | None = None
        self._selected_id: int | None = None
        self._cross = [pg.InfiniteLine(angle=a, movable=False, pen=CROSS_PEN) for a in (90, 0)]
        for line in self._cross:
            self.viewbox.addItem(line, ignoreBounds=True)
            line.hide()
        self._init_modes()

    # ------------------------------------------------------------------ state

    def set_stack(self, pixels: StackPixels) -> None:
        """Show ``pixels``' stack in its acquired plane at the middle slice, header window."""
        self.pixels = pixels
        st = pixels.stack
        self._reformat = (Reformat.from_affine(st.affine, pixels.shape)
                          if st.affine is not None and st.n_frames > 1 else None)
        self.plane = ACQUIRED
        self.index = self.n_slices // 2
        self.window = None  # chosen when the first slice arrives (default_window)
        self.inverted = False
        self.transform = ViewTransform()
        self.crosshair = None
        self._overlay_volume = None
        self._clear_items()
        self._reset_modes()
        self.refresh()
        self.fit()

    def clear(self) -> None:
        self.pixels = None
        self._reset_modes()  # drops the slab, SUV and fusion volumes: memory goes back
        # A new study opens as acquired: a slab kept from the last one would change what
        # every image shows (switching series within a study keeps it).
        self.slab_thickness_mm = 0.0
        self._shown = None
        self._placeholder = False
        self.crosshair = None
        self._clear_items()
        self.image.clear()
        self._update_crosshair()
        self._update_text()

    @property
    def has_reformat(self) -> bool:
        return self._reformat is not None

    @property
    def n_slices(self) -> int:
        if self.pixels is None:
            return 0
        if self.plane == ACQUIRED or self._reformat is None:
            return self.pixels.stack.n_frames
        return self._reformat.n_slices(self.plane)

    @property
    def planes(self) -> list[str]:
        """Planes available for this stack (reformats need geometry and several slices)."""
        return [ACQUIRED, *PLANES] if self._reformat is not None else [ACQUIRED]

    def set_plane(self, plane: str) -> None:
        if plane not in self.planes:
            return
        self.plane = plane
        self.index = self.n_slices // 2
        self.refresh()
        self.fit()
        self.slice_changed.emit(self.index)

    def set_index(self, k: int) -> None:
        if self.pixels is None:
            return
        k = int(min(max(k, 0), self.n_slices - 1))
        if k != self.index:
            self.index = k
            self.refresh()
            self.slice_changed.emit(k)

    def step(self, delta: int) -> None:
        """``delta`` slices on in the shown order (see :attr:`display_reversed`)."""
        self.set_index(self.index + (-delta if self.display_reversed else delta))

    @property
    def display_reversed(self) -> bool:
        """Whether the shown order (slider, wheel, keys, cine, "n/N" in the corner) runs
        against the stack order: in the acquired plane, by acquisition order and the scroll
        direction preference. The stack itself (geometry, MPR, AI) is never reordered."""
        if self.pixels is None or (self.plane != ACQUIRED and self._reformat is not None):
            return False
        return acquired_reversed(self.pixels.stack) != (self.scroll_direction == "reversed")

    def display_position(self, k: int | None = None) -> int:
        """Position (0-based) of stack index ``k`` (default: the shown one) in the shown order."""
        k = self.index if k is None else k
        return self.n_slices - 1 - k if self.display_reversed else k

    def set_position(self, pos: int) -> None:
        """Show the slice at position ``pos`` of the shown order (clamped)."""
        pos = int(min(max(pos, 0), max(self.n_slices - 1, 0)))
        self.set_index(self.display_position(pos))  # the mapping is its own inverse

    def set_scroll_direction(self, direction: str) -> None:
        self.scroll_direction = direction
        self._update_text()

    def reset(self) -> None:
        """Default window, no rotation/flip/invert, fitted to the window."""
        self.inverted = False
        self.window = None
        self.transform = ViewTransform()
        self._items_key = None
        self.refresh()
        self.fit()
        if self.window is not None:
            self.window_changed.emit(self.window.center, self.window.width)

    # ------------------------------------------------------------------ data

    def current_image(self) -> np.ndarray | None:
        """Stored values of the shown plane, or None while it is still loading. A slice that
        cannot be decoded is all zeros (see :meth:`problem`); so is its row in a reformat."""
        px = self.pixels
        if px is None:
            return None
        if self.slab_active:
            return self._slab_image()
        if self.plane == ACQUIRED or self._reformat is None:
            if self.index in px.failed:
                return np.zeros(px.frame_shape, dtype=px.dtype)
            return px.ready_frame(self.index)  # None while it is still loading
        if not all(px.is_loaded(k) or k in px.failed for k in range(px.stack.n_frames)):
            return None
        return np.ascontiguousarray(self._reformat.plane(px.frame_volume(), self.plane,
                                                         self.index))

    def problem(self) -> str:
        """Why the shown plane is (partly) a dark placeholder, or "" when it is not."""
        px = self.pixels
        if px is None or not px.failed:
            return ""
        from viewer.gui.workers import frame_reason

        if self.plane == ACQUIRED or self._reformat is None:
            if self.index not in px.failed:
                return ""
            ref = px.stack.frames[self.index]
            return (f"{os.path.basename(ref.header.path)}: frame {ref.frame + 1} cannot be "
                    f"shown: {frame_reason(px, self.index)}")
        n = len(px.failed)
        return (f"{n} slice{'s' if n > 1 else ''} cannot be shown; "
                f"{'they are' if n > 1 else 'it is'} drawn as black gaps")

    def _header(self):
        """The header whose modality transform applies to the shown image: the slice's own
        in the acquired plane (PET may rescale each slice differently), else the first."""
        st = self.pixels.stack
        if self.plane == ACQUIRED and 0 <= self.index < st.n_frames and not self.slab_active:
            return st.frames[self.index].header
        return st.first  # a slab is in the first slice's stored units (see _slab_volume)

    def _real(self, stored: np.ndarray) -> np.ndarray:
        from viewer.dicom.pixels import to_real

        return to_real(stored, self._header())

    def on_slice_loaded(self, k: int) -> None:
        """A slice arrived from the loader: show it if it is the one the user is on."""
        if self.pixels is None:
            return
        if self.plane == ACQUIRED and k == self.index and self._shown is None:
            self.refresh()
        elif (self.plane != ACQUIRED or self.slab_active) and self._shown is None \
                and self.current_image() is not None:
            self.refresh()

    def refresh(self) -> None:
        img = self.current_image()
        self._shown = img
        self._placeholder = bool(self.problem()) and (
            self.plane == ACQUIRED or self._reformat is None)
        if img is None:
            self.image.clear()
        else:
            if self.window is None and img.ndim == 2 and not self._placeholder:
                self.window = self._initial_window(img)
            shown = img if self.transform.is_identity else np.ascontiguousarray(
                self.transform.apply(img))
            rows_mm, cols_mm = self._display_spacing()
            self.image.setImage(shown, autoLevels=False)
            self.image.setRect(QRectF(0, 0, shown.shape[1] * cols_mm, shown.shape[0] * rows_mm))
            self._apply_levels()
            self._apply_lut()
            if self._needs_fit:
                self._needs_fit = False
                self.fit()
        self._update_overlay()
        self._update_fusion()
        self._sync_measurements()
        self._update_crosshair()
        self._update_text()
        self._update_bar()
        if self._cursor_scene_pos is not None:
            self._on_mouse_moved(self._cursor_scene_pos)  # the value under a still cursor
        if img is not None:
            self.image_shown.emit()
