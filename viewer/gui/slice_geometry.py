"""Geometry of the slice view: rotate/flip, zoom, and source, view and patient coordinates.

A mixin of :class:`viewer.gui.slice_view.SliceView` (it uses the view's pixels, plane, index,
reformat, transform and viewbox). Scene units are millimetres, or pixels for an image without
a real spacing (see :mod:`viewer.dicom.spacing`); source coordinates are (column, row) of the
shown plane before rotate/flip.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF

from viewer.dicom import spacing as pixel_spacing
from viewer.display.orient import ViewTransform
from viewer.gui.slice_items import ACQUIRED


class SliceGeometry:
    """Orientation, zoom and coordinate mapping of one slice view (a mixin)."""

    # ------------------------------------------------------------------ orientation

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

    # ------------------------------------------------------------------ zoom

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

    # ------------------------------------------------------------------ coordinates

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
