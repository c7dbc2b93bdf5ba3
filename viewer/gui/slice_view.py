"""The slice view: one plane of a stack on a pyqtgraph ImageItem, with corner text and letters.

Scene units are millimetres (the image rectangle is columns x column-spacing wide), so pixels
show with their true aspect ratio and measurements read directly in mm. Display settings never
change data: the window is ImageItem levels in stored units, invert is a reversed lookup table.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from viewer.dicom.pixels import StackPixels
from viewer.dicom.reformat import PLANES, Reformat
from viewer.display.window import CT_PRESETS, Window, auto_window, default_window

ACQUIRED = "acquired"
_GREY = np.arange(256, dtype=np.uint8)


class _SliceViewBox(pg.ViewBox):
    """Wheel scrolls slices (Ctrl+wheel zooms); right-drag changes the window."""

    scrolled = Signal(int)
    window_dragged = Signal(float, float)

    def __init__(self):
        super().__init__(lockAspect=True, invertY=True, enableMenu=False)

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
        super().mouseDragEvent(ev, axis)


class SliceView(QWidget):
    """Shows one plane of a stack. Slices not yet decoded show as "loading" until they arrive.

    Signals
    -------
    slice_changed(int)
        The shown slice index (0-based) changed.
    cursor_moved(str)
        Text for the status bar: value under the cursor and its patient coordinates (mm).
    """

    slice_changed = Signal(int)
    cursor_moved = Signal(str)
    window_changed = Signal(float, float)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.graphics = pg.GraphicsView(self)
        self.graphics.setBackground("k")
        self.viewbox = _SliceViewBox()
        self.graphics.setCentralItem(self.viewbox)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.viewbox.addItem(self.image)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.graphics)

        self._corner = {k: self._label(k) for k in ("tl", "tr", "bl", "br")}
        self._edge = {k: self._label(k, big=True) for k in ("left", "right", "top", "bottom")}
        self.viewbox.scrolled.connect(self.step)
        self.viewbox.window_dragged.connect(self._on_window_dragged)
        self.viewbox.sigRangeChanged.connect(lambda *_: self._update_text())
        self.graphics.scene().sigMouseMoved.connect(self._on_mouse_moved)

        self.pixels: StackPixels | None = None
        self.plane = ACQUIRED
        self.index = 0
        self.window: Window | None = None
        self.inverted = False
        self.show_patient_details = True
        self._reformat: Reformat | None = None
        self._shown: np.ndarray | None = None
        self._needs_fit = False

    # ------------------------------------------------------------------ setup

    def _label(self, key: str, big: bool = False) -> QLabel:
        lab = QLabel(self)
        lab.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        size = 15 if big else 12
        weight = "bold" if big else "normal"
        lab.setStyleSheet(f"color: #f0e68c; background: transparent; font-size: {size}px;"
                          f" font-weight: {weight};")
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
        for lab in self._corner.values():
            lab.setGeometry(m, m, w - 2 * m, h - 2 * m)
            lab.raise_()
        self._edge["left"].setGeometry(m, h // 2 - 12, 40, 24)
        self._edge["left"].setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self._edge["right"].setGeometry(w - 40 - m, h // 2 - 12, 40, 24)
        self._edge["right"].setAlignment(
            Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self._edge["top"].setGeometry(w // 2 - 30, m + 16, 60, 24)
        self._edge["bottom"].setGeometry(w // 2 - 30, h - m - 40, 60, 24)
        for lab in self._edge.values():
            lab.raise_()

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
        self.refresh()
        self.fit()

    def clear(self) -> None:
        self.pixels = None
        self._shown = None
        self.image.clear()
        self._update_text()

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
        self.set_index(self.index + delta)

    def set_window(self, window: Window) -> None:
        self.window = window
        self._apply_levels()
        self._update_text()
        self.window_changed.emit(window.center, window.width)

    def apply_preset(self, name: str) -> None:
        """A CT preset by name, "header" (first stored window) or "auto" (percentiles)."""
        if name in CT_PRESETS:
            self.set_window(CT_PRESETS[name])
        elif name == "header" and self.pixels is not None and self.pixels.stack.first.windows:
            c, w, ex = self.pixels.stack.first.windows[0]
            self.set_window(Window(c, w, ex or "header"))
        elif name == "auto" and self._shown is not None:
            self.set_window(auto_window(self._real(self._shown)))

    def set_inverted(self, on: bool) -> None:
        self.inverted = on
        self._apply_lut()

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
        _, col_mm = self._spacing()
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
        _, col_mm = self._spacing()
        vr = self.viewbox.viewRect()
        return self.viewbox.width() / max(vr.width() / col_mm, 1e-6)

    # ------------------------------------------------------------------ data

    def _spacing(self) -> tuple[float, float]:
        st = self.pixels.stack
        if self.plane != ACQUIRED and self._reformat is not None:
            return self._reformat.pixel_spacing(self.plane)
        return (st.spacing[1], st.spacing[2]) if st.spacing else (1.0, 1.0)

    def current_image(self) -> np.ndarray | None:
        """Stored values of the shown plane, or None while it is still loading."""
        px = self.pixels
        if px is None:
            return None
        if self.plane == ACQUIRED or self._reformat is None:
            if not px.is_loaded(self.index):
                return None
            return px.frame(self.index)
        if not all(px.is_loaded(k) for k in range(px.stack.n_frames)):
            return None
        return np.ascontiguousarray(self._reformat.plane(px.frame_volume(), self.plane,
                                                         self.index))

    def _real(self, stored: np.ndarray) -> np.ndarray:
        from viewer.dicom.pixels import to_real

        return to_real(stored, self.pixels.stack.first)

    def on_slice_loaded(self, k: int) -> None:
        """A slice arrived from the loader: show it if it is the one the user is on."""
        if self.pixels is None:
            return
        if self.plane == ACQUIRED and k == self.index and self._shown is None:
            self.refresh()
        elif self.plane != ACQUIRED and self._shown is None and self.current_image() is not None:
            self.refresh()

    def refresh(self) -> None:
        img = self.current_image()
        self._shown = img
        if img is None:
            self.image.clear()
        else:
            if self.window is None and img.ndim == 2:
                self.window = default_window(self.pixels.stack.first, self._real(img))
            rows_mm, cols_mm = self._spacing()
            self.image.setImage(img, autoLevels=False)
            self.image.setRect(QRectF(0, 0, img.shape[1] * cols_mm, img.shape[0] * rows_mm))
            self._apply_levels()
            self._apply_lut()
            if self._needs_fit:
                self._needs_fit = False
                self.fit()
        self._update_text()

    def _apply_levels(self) -> None:
        if self._shown is None or self.window is None or self._shown.ndim == 3:
            return
        h = self.pixels.stack.first
        lo = self.window.center - self.window.width / 2
        hi = self.window.center + self.window.width / 2
        if h.modality_lut is None and h.rescale_slope > 0:
            # Levels in stored units keep pyqtgraph on its lookup-table fast path.
            lo = (lo - h.rescale_intercept) / h.rescale_slope
            hi = (hi - h.rescale_intercept) / h.rescale_slope
        self.image.setLevels((lo, hi))

    def _apply_lut(self) -> None:
        if self.pixels is None:
            return
        invert = self.inverted != (self.pixels.stack.first.photometric == "MONOCHROME1")
        self.image.setLookupTable(_GREY[::-1] if invert else None)

    def _on_window_dragged(self, dx: float, dy: float) -> None:
        if self.window is None:
            return
        # Sensitivity scales with the width, so fine and coarse windows both feel natural.
        k = max(self.window.width, 1.0) / 200.0
        width = max(1.0, self.window.width + dx * k)
        center = self.window.center - dy * k
        self.set_window(Window(center, width, "custom"))

    # ------------------------------------------------------------------ text

    def edge_letters(self) -> dict[str, str]:
        if self.pixels is None:
            return {}
        if self.plane == ACQUIRED or self._reformat is None:
            return self.pixels.stack.edge_letters or {}
        return self._reformat.edge_letters(self.plane)

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
            for lab in (*self._corner.values(), *self._edge.values()):
                lab.setText("")
            return
        st = self.pixels.stack
        h = st.first
        tl = []
        if self.show_patient_details:
            tl += [h.patient_name or "", f"ID {h.patient_id}" if h.patient_id else ""]
        date = h.study_date
        tl += [f"{date[:4]}-{date[4:6]}-{date[6:]}" if len(date) == 8 else date,
               h.study_description]
        plane = st.plane.lower() if self.plane == ACQUIRED else self.plane
        title = st.label if st.label.startswith(h.modality) else f"{h.modality} {st.label}"
        tr = [title, f"{plane}  image {self.index + 1} / {self.n_slices}"]
        pos = self.position_mm()
        if pos is not None:
            tr.append(f"pos {pos:.1f} mm")
        if self._shown is None:
            tr.append("loading…")
        bl = []
        if self.window is not None:
            bl.append(f"C {self.window.center:.0f}  W {self.window.width:.0f}")
        bl.append(f"zoom {self.zoom_factor():.2f}x")
        self._corner["tl"].setText("\n".join(t for t in tl if t))
        self._corner["tr"].setText("\n".join(tr))
        self._corner["bl"].setText("\n".join(bl))
        rows_mm, cols_mm = self._spacing()
        self._corner["br"].setText(f"pixel {rows_mm:.2f} x {cols_mm:.2f} mm")
        for k, v in self.edge_letters().items():
            self._edge[k].setText(v)

    def _on_mouse_moved(self, scene_pos: QPointF) -> None:
        if self._shown is None or self.pixels is None:
            return
        p = self.viewbox.mapSceneToView(scene_pos)
        rows_mm, cols_mm = self._spacing()
        col, row = int(p.x() // cols_mm), int(p.y() // rows_mm)
        img = self._shown
        if not (0 <= row < img.shape[0] and 0 <= col < img.shape[1]):
            self.cursor_moved.emit("")
            return
        h = self.pixels.stack.first
        if img.ndim == 3:
            value = "RGB " + " ".join(str(int(v)) for v in img[row, col])
        else:
            real = float(self._real(img[row : row + 1, col : col + 1])[0, 0])
            unit = " HU" if h.modality == "CT" else ""
            value = f"{real:.0f}{unit}" if real == int(real) else f"{real:.2f}{unit}"
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
