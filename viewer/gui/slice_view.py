"""The slice view: one plane of a stack on a pyqtgraph ImageItem, with corner text and letters.

Scene units are millimetres (the image rectangle is columns x column-spacing wide), so pixels
show with their true aspect ratio; an image without a real spacing (see
:mod:`viewer.dicom.spacing`) is laid out in pixels and measured in "px". Display settings never
change data: the window is ImageItem levels in stored units, invert is a reversed lookup table.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtWidgets import QVBoxLayout, QWidget

from viewer.dicom import spacing as pixel_spacing
from viewer.dicom.pixels import StackPixels
from viewer.dicom.reformat import PLANES, Reformat
from viewer.dicom.volumes import volume_series
from viewer.display.annotate import corner_text
from viewer.display.measure import Measurement, MeasurementStore
from viewer.display.order import acquired_reversed
from viewer.display.orient import ViewTransform
from viewer.display.window import (
    CT_PRESETS,
    Window,
    apply_window,
    auto_window,
    default_window,
    header_windows,
    linear_bounds,
)
from viewer.gui.corner_label import OutlinedLabel, layout_corners
from viewer.gui.slice_items import ACQUIRED, CROSS_PEN, TOOLS, SliceItems
from viewer.gui.slice_modes import SliceModes

__all__ = ["ACQUIRED", "TOOLS", "SliceView"]

_GREY = np.arange(256, dtype=np.uint8)


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


class SliceView(SliceItems, SliceModes, QWidget):
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

    # ------------------------------------------------------------------ setup

    def _label(self, key: str, big: bool = False) -> OutlinedLabel:
        lab = OutlinedLabel(self, 15 if big else 12, bold=big)
        align = {
            "tl": Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop,
            "tr": Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop,
            "bl": Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignBottom,
            "br": Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignBottom,
        }.get(key, Qt.AlignmentFlag.AlignCenter)
        lab.setAlignment(align)
        return lab

    def resizeEvent(self, ev):  # noqa: N802
        super().resizeEvent(ev)
        w, h, m = self.width(), self.height(), 6
        self._edge["left"].setGeometry(m, h // 2 - 12, 40, 24)
        self._edge["left"].setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self._edge["right"].setGeometry(w - 40 - m, h // 2 - 12, 40, 24)
        self._edge["right"].setAlignment(
            Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        # Narrow views (1x3 layout): the top letter goes below the corner text.
        self._edge["top"].setGeometry(w // 2 - 30, m + (52 if w < 640 else 16), 60, 24)
        self._edge["bottom"].setGeometry(w // 2 - 30, h - m - 40, 60, 24)
        for lab in self._edge.values():
            lab.raise_()
        self._notice.setGeometry(m + 20, h // 2 - 60, max(40, w - 2 * m - 40), 120)
        self._notice.raise_()
        self._update_text()
        self._update_bar()

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

    def set_window(self, window: Window) -> None:
        self.window = window
        self._apply_levels()
        self._apply_lut()  # a SIGMOID window is a table; another window needs none again
        self._update_text()
        self.window_changed.emit(window.center, window.width)

    def apply_preset(self, name: str) -> None:
        """A CT preset by name, "header" (first stored window) or "auto" (percentiles)."""
        if name in CT_PRESETS:
            self.set_window(CT_PRESETS[name])
        elif name == "header" and self.pixels is not None and self.pixels.stack.first.windows:
            # with the header's VOI LUT Function (SIGMOID, LINEAR_EXACT)
            self.set_window(header_windows(self.pixels.stack.first)[0])
        elif name == "auto" and self._shown is not None:
            self.set_window(auto_window(self._real(self._shown)))

    def set_inverted(self, on: bool) -> None:
        self.inverted = on
        self._apply_lut()

    def set_transform(self, transform: ViewTransform) -> None:
        """Rotate/flip the display; measurements and crosshair follow."""
        self.transform = transform
        self._items_key = None  # rebuild items in the new orientation
        self.refresh()
        self.fit()

    def rotate(self, clockwise: bool = True) -> None:
        self.set_transform(self.transform.rotated(clockwise))

    def flip_horizontal(self) -> None:
        self.set_transform(self.transform.flipped_horizontal())

    def flip_vertical(self) -> None:
        self.set_transform(self.transform.flipped_vertical())

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

    def set_show_patient_details(self, on: bool) -> None:
        self.show_patient_details = on
        self._update_text()

    def fit(self) -> None:
        """Fit the image to the window (again when the first slice arrives)."""
        if self._shown is None:
            self._needs_fit = True
            return
        self.viewbox.autoRange(padding=0.02)

    def zoom(self, factor: float) -> None:
        self.viewbox.scaleBy((1 / factor, 1 / factor))

    def one_to_one(self) -> None:
        """One image pixel per screen pixel (along columns)."""
        if self._shown is None:
            return
        _, col_mm = self._display_spacing()
        vb = self.viewbox
        w_px = max(1.0, vb.width())
        center = vb.viewRect().center()
        half = w_px * col_mm / 2
        h_half = max(1.0, vb.height()) * col_mm / 2
        vb.setRange(QRectF(center.x() - half, center.y() - h_half, 2 * half, 2 * h_half),
                    padding=0)

    def zoom_factor(self) -> float:
        """Screen pixels per image pixel (along columns)."""
        if self._shown is None:
            return 1.0
        _, col_mm = self._display_spacing()
        vr = self.viewbox.viewRect()
        return self.viewbox.width() / max(vr.width() / col_mm, 1e-6)

    # ------------------------------------------------------------------ data

    def calibration(self) -> pixel_spacing.PixelCalibration:
        """What a pixel of the shown plane measures: Pixel Spacing, "at detector", px, ..."""
        if self.plane != ACQUIRED and self._reformat is not None:
            return pixel_spacing.millimetres(self._reformat.pixel_spacing(self.plane))
        return pixel_spacing.for_stack(self.pixels.stack)

    def _spacing(self) -> tuple[float, float]:
        """(row, column) size in scene units (mm, or 1 for pixels) of the shown plane's source
        image (before rotate/flip)."""
        return self.calibration().display_spacing

    def _display_spacing(self) -> tuple[float, float]:
        return self.transform.spacing(*self._spacing())

    def plane_shape(self) -> tuple[int, int]:
        """(rows, columns) of the shown plane's source image, loaded or not."""
        if self.plane == ACQUIRED or self._reformat is None:
            return tuple(self.pixels.shape[1:3])  # type: ignore[return-value]
        ns, np_, nl = self._reformat.shape
        return {"axial": (np_, nl), "coronal": (ns, nl), "sagittal": (ns, np_)}[self.plane]

    def source_to_view(self, x: float, y: float) -> QPointF:
        """Source pixel coordinates (column, row; centres at +0.5) -> view coordinates (mm)."""
        xd, yd = self.transform.to_display(x, y, self.plane_shape())
        rows_mm, cols_mm = self._display_spacing()
        return QPointF(xd * cols_mm, yd * rows_mm)

    def view_to_source(self, p: QPointF) -> tuple[float, float]:
        """View coordinates (mm) -> source pixel coordinates (column, row)."""
        rows_mm, cols_mm = self._display_spacing()
        return self.transform.to_source(p.x() / cols_mm, p.y() / rows_mm, self.plane_shape())

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

    def _initial_window(self, img: np.ndarray) -> Window:
        """The window ``img`` (stored values of the shown plane) opens with: the default chosen
        for its modality, where "header" is the stored window (else automatic)."""
        px = self.pixels
        h = px.stack.first
        choice = self.default_window_ct if h.modality == "CT" else self.default_window_other
        if h.modality == "CT" and choice in CT_PRESETS:
            return CT_PRESETS[choice]
        if choice == "header" and self.suv_default_window() is not None:
            return self.suv_default_window()  # PET: SUV 0-5
        # One series, one window: every plane (and a slab) opens with the window of the
        # stack's middle slice, as the acquired plane does, not of its own image.
        mid = px.stack.n_frames // 2
        stored = px.ready_frame(mid)
        if stored is not None:
            from viewer.dicom.pixels import to_real

            real = to_real(stored, px.stack.frames[mid].header)
        else:
            real = self._real(img)
        return auto_window(real) if choice == "auto" else default_window(h, real)

    def _sigmoid(self) -> bool:
        return (self.window is not None and self.window.function == "SIGMOID"
                and self._shown is not None and self._shown.ndim == 2 and not self._placeholder)

    def _apply_levels(self) -> None:
        if self._placeholder:
            self.image.setLevels((0, 1))  # zeros: black, whatever the window
            return
        if self._shown is None or self.window is None or self._shown.ndim == 3:
            return
        if self._sigmoid():
            return  # levels and table together: _apply_lut
        h = self._header()
        lo, hi = linear_bounds(self.window)  # the bounds apply_window uses (thumbnail, export)
        if h.modality_lut is None and h.rescale_slope > 0:
            # Levels in stored units keep pyqtgraph on its lookup-table fast path.
            lo = (lo - h.rescale_intercept) / h.rescale_slope
            hi = (hi - h.rescale_intercept) / h.rescale_slope
        self.image.setLevels((lo, hi))

    def _apply_lut(self) -> None:
        if self.pixels is None:
            return
        invert = self.inverted != (self.pixels.stack.first.photometric == "MONOCHROME1")
        if self._placeholder:
            invert = False  # a placeholder stays dark, also for MONOCHROME1
        if self._sigmoid():
            levels, lut = self._sigmoid_table()
            self.image.setLevels(levels)
            self.image.setLookupTable(self._coloured(255 - lut if invert else lut))
            return
        self.image.setLookupTable(self._coloured(_GREY[::-1] if invert else None))

    def _sigmoid_table(self) -> tuple[tuple[float, float], np.ndarray]:
        """Levels and a uint8 table that draw the shown slice exactly as apply_window does
        (thumbnails, exports) for a non-linear VOI function: for 8/16-bit stored values one
        entry per value (the levels make pyqtgraph index the table by value), else 4096
        steps over the slice's range."""
        img = self._shown
        if img.dtype.kind in "iu" and img.dtype.itemsize <= 2:
            info = np.iinfo(img.dtype)
            values = np.arange(info.min, info.max + 1, dtype=np.int64).astype(img.dtype)
            levels = (float(info.min), float(info.max) + 1.0)
        else:
            lo, hi = float(np.nanmin(img)), float(np.nanmax(img))
            hi = hi if hi > lo else lo + 1.0
            values = np.linspace(lo, hi, 4096).astype(img.dtype)
            levels = (lo, hi + (hi - lo) / 4095.0)
        return levels, apply_window(self._real(values), self.window)

    def _on_window_dragged(self, dx: float, dy: float) -> None:
        if self.window is None:
            return
        # Sensitivity scales with the width, so fine and coarse windows both feel natural.
        # No floor of 1: PET, dose and parametric maps have windows narrower than 1; the
        # width changes by a factor, so it stays positive however far one drags.
        k = self.window.width / 200.0
        width = self.window.width * math.exp(dx / 200.0)
        center = self.window.center - dy * k
        self.set_window(Window(center, width, "custom", self.window.function))

    # ------------------------------------------------------------------ text

    def edge_letters(self) -> dict[str, str]:
        if self.pixels is None:
            return {}
        if self.plane == ACQUIRED or self._reformat is None:
            base = self.pixels.stack.edge_letters or {}
        else:
            base = self._reformat.edge_letters(self.plane)
        return self.transform.letters(base) if base else {}

    def position_mm(self) -> float | None:
        """Slice position: distance along the normal (acquired) or patient coordinate (MPR)."""
        if self.pixels is None:
            return None
        if self.plane == ACQUIRED or self._reformat is None:
            pos = self.pixels.stack.slice_positions
            return float(pos[self.index]) if pos is not None else None
        return self._reformat.position_mm(self.plane, self.index)

    def _update_text(self) -> None:
        if self.pixels is None:
            for lab in (*self._corner.values(), *self._edge.values(), self._notice):
                lab.setText("")
            self._bar.hide()
            return
        self._notice.setText(self.problem() if self._shown is not None else "")
        st = self.pixels.stack
        h = st.first
        plane = st.plane.lower() if self.plane == ACQUIRED else self.plane
        vs = volume_series(st)  # a volume of a 4-D series: series title, volume line below
        label = vs.label if vs is not None else st.label
        title = label if label.startswith(h.modality) else f"{h.modality} {label}"
        text = corner_text(
            h, title=title, plane=plane, index=self.display_position(), n_slices=self.n_slices,
            position_mm=self.position_mm(), window=self.window, spacing=self._spacing(),
            transform=self.transform, zoom=self.zoom_factor(), loading=self._shown is None,
            include_patient=self.show_patient_details, calibration=self.calibration(),
            instance_number=(st.frames[self.index].header.instance_number
                             if self.plane == ACQUIRED else None),
            narrow=self.width() < 420)  # 1x3 layout: short lines that do not collide
        if vs is not None:
            i = vs.index_of(st)
            text["tr"].insert(1, f"vol {i + 1}/{vs.count}  {vs.labels[i]}")
        if self.slab_active:
            text["tr"].append(self.slab_text())
        text["bl"][1:1] = self.suv_corner_lines()
        layout_corners(self._corner, text, self.width(), self.height())
        letters = self.edge_letters()
        for k, lab in self._edge.items():
            lab.setText(letters.get(k, ""))

    def leaveEvent(self, ev):  # noqa: N802
        self._cursor_scene_pos = None  # no value to refresh once the cursor has left
        super().leaveEvent(ev)

    def _on_mouse_moved(self, scene_pos: QPointF) -> None:
        self._cursor_scene_pos = QPointF(scene_pos)
        if self._shown is None or self.pixels is None:
            return
        x, y = self.view_to_source(self.viewbox.mapSceneToView(scene_pos))
        col, row = int(np.floor(x)), int(np.floor(y))
        img = self._shown
        if not (0 <= row < img.shape[0] and 0 <= col < img.shape[1]):
            self.cursor_moved.emit("")
            return
        if img.ndim == 3:
            value = "RGB " + " ".join(str(int(v)) for v in img[row, col])
        else:
            value = self.value_text(float(self._real(img[row : row + 1, col : col + 1])[0, 0]))
            if self.slab_active:
                value += f"  ({self.slab_text().split(' (')[0]})"
        xyz = self.patient_coordinates(row, col)
        where = f"  ({xyz[0]:.1f}, {xyz[1]:.1f}, {xyz[2]:.1f}) mm LPS" if xyz is not None else ""
        self.cursor_moved.emit(f"row {row} col {col}: {value}{where}")

    def patient_coordinates(self, row: int, col: int) -> tuple[float, float, float] | None:
        """Patient LPS coordinates (mm) of a pixel of the shown plane."""
        st = self.pixels.stack if self.pixels is not None else None
        if st is None or st.affine is None:
            return None
        if self.plane == ACQUIRED or self._reformat is None:
            # From the slice's own position: exact even after a missing slice.
            ref = st.frames[self.index]
            o = np.asarray(ref.orientation)
            row_mm, col_mm = st.spacing[1], st.spacing[2]
            v = np.asarray(ref.position) + col * col_mm * o[:3] + row * row_mm * o[3:]
        else:
            r = self._reformat
            n = r.shape
            idx = {
                "axial": (col, row, self.index),
                "coronal": (col, self.index, n[0] - 1 - row),
                "sagittal": (self.index, col, n[0] - 1 - row),
            }[self.plane]
            v = r.affine @ [*idx, 1]
        return float(v[0]), float(v[1]), float(v[2])
