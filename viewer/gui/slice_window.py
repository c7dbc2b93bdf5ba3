"""Window, level and lookup table of the slice view: what grey each stored value shows as.

A mixin of :class:`viewer.gui.slice_view.SliceView` (it uses the view's pixels, window,
inverted flag, shown slice, image item and modality header). Display settings never change
data: the window is ImageItem levels in stored units, invert is a reversed lookup table; the
window arithmetic lives in the core (:mod:`viewer.display.window`).
"""

from __future__ import annotations

import math

import numpy as np

from viewer.display.window import (
    CT_PRESETS,
    Window,
    apply_window,
    auto_window,
    default_window,
    header_windows,
    linear_bounds,
)

_GREY = np.arange(256, dtype=np.uint8)


class SliceWindow:
    """Window presets, levels, invert and the SIGMOID table of one slice view (a mixin)."""

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
