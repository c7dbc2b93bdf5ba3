"""VOI windowing (PS3.3 C.11.2.1.2): real values to 8-bit display values, without Qt."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from viewer.dicom.header import LUT, InstanceHeader
from viewer.dicom.pixels import to_real


@dataclass(frozen=True, slots=True)
class Window:
    """A VOI window in real-world units (HU for CT): Window Center (0028,1050) and
    Window Width (0028,1051)."""

    center: float
    width: float
    name: str = ""


# Common CT windows (centre, width) in HU, as used in reading rooms.
CT_PRESETS: dict[str, Window] = {
    "brain": Window(40, 80, "brain"),
    "subdural": Window(75, 215, "subdural"),
    "stroke": Window(32, 8, "stroke"),
    "lung": Window(-600, 1500, "lung"),
    "mediastinum": Window(50, 350, "mediastinum"),
    "abdomen": Window(40, 400, "abdomen"),
    "liver": Window(60, 160, "liver"),
    "bone": Window(400, 1800, "bone"),
}


def header_windows(h: InstanceHeader) -> list[Window]:
    """The windows stored in the header, in order (multi-valued Window Center/Width)."""
    return [Window(c, w, ex or f"header {i + 1}") for i, (c, w, ex) in enumerate(h.windows)]


def auto_window(real: np.ndarray, low: float = 1.0, high: float = 99.0) -> Window:
    """A window spanning the ``low``..``high`` percentiles of ``real`` (grey levels of MR etc.).

    Only finite values count: a Rescale Slope (0028,1053) of NaN, inf or 1e308 in a damaged
    header makes NaN/inf real values, which would otherwise give a NaN window (a black image).
    """
    sample = real[:: max(1, real.shape[0] // 256)] if real.ndim >= 2 else real
    sample = np.asarray(sample)
    if sample.dtype.kind == "f":
        finite = np.isfinite(sample)
        if not finite.all():
            sample = sample[finite]
    if sample.size == 0:
        return Window(0.0, 1.0, "auto")
    lo, hi = (float(v) for v in np.percentile(sample, [low, high]))
    width = max(hi - lo, 1.0)
    return Window((lo + hi) / 2.0, width, "auto")


def default_window(h: InstanceHeader, real: np.ndarray) -> Window:
    """The window a slice first opens with: the header's first window, else automatic.

    A stored window that would paint more than half of the tissue white is ignored for
    non-CT images (seen in MR series whose scanner window belongs to another scaling), and
    the percentile window is used instead. CT windows are in HU and always kept.
    """
    wins = header_windows(h)
    if wins and h.modality == "CT":
        return wins[0]
    if wins:
        tissue = real[real > real.min()]
        top = wins[0].center + wins[0].width / 2
        if tissue.size == 0 or top >= float(np.median(tissue)):
            return wins[0]
    return auto_window(real)


def apply_window(real: np.ndarray, window: Window) -> np.ndarray:
    """Linear VOI function of PS3.3 C.11.2.1.2.1 to uint8 (0..255).

    NaN real values (from a damaged modality LUT) are drawn black, +inf white; a window that
    is not finite is replaced by :func:`auto_window` of ``real``.
    """
    c, w = float(window.center), float(window.width)
    if not (np.isfinite(c) and np.isfinite(w)):
        auto = auto_window(real)
        c, w = auto.center, auto.width
    w = max(w, 1.0)
    if w <= 1.0:
        return np.where(real > c - 0.5, 255, 0).astype(np.uint8)
    scale = np.float32(255.0 / (w - 1.0))
    offset = np.float32((c - 0.5) - (w - 1.0) / 2.0)
    with np.errstate(over="ignore", invalid="ignore"):  # inf - inf and the like become NaN
        out = (np.asarray(real, dtype=np.float32) - offset) * scale
    # fmax, unlike clip, maps NaN to the bound, so the cast below never sees a NaN.
    np.fmax(out, 0, out=out)
    np.minimum(out, 255, out=out)
    return out.astype(np.uint8)


def apply_voi_lut(values: np.ndarray, lut: LUT) -> np.ndarray:
    """Apply a VOI LUT Sequence (0028,3010) item and scale its output range to uint8.

    Values outside the LUT's input range take its first or last entry (NaN: the first)."""
    values = np.asarray(values)
    if values.dtype.kind == "f":
        first = float(lut.first_mapped)
        values = np.nan_to_num(np.clip(values, first, first + len(lut.data) - 1), nan=first)
    idx = np.clip(values.astype(np.int64) - lut.first_mapped, 0, len(lut.data) - 1)
    out = lut.data[idx].astype(np.float32)
    top = float(lut.data.max()) or 1.0
    return np.clip(out * (255.0 / top), 0, 255).astype(np.uint8)


def displayable(stored: np.ndarray, h: InstanceHeader, window: Window | None = None) -> np.ndarray:
    """An 8-bit image as a reader would first see it.

    Modality LUT, then ``window`` or the header's first window, else its VOI LUT, else an
    automatic percentile window; MONOCHROME1 is inverted so that bright means dense. Colour
    images (``(rows, columns, 3)`` uint8) are returned as they are.
    """
    if stored.ndim == 3:
        return stored
    if window is None and not h.windows and h.voi_luts:
        # The VOI LUT's input is the modality LUT's output (PS3.3 C.11.2.1).
        out = apply_voi_lut(to_real(stored, h), h.voi_luts[0])
    else:
        real = to_real(stored, h)
        if window is None:
            window = default_window(h, real)
        out = apply_window(real, window)
    if h.photometric == "MONOCHROME1":
        np.subtract(255, out, out=out)
    return out
