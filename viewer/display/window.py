"""VOI windowing (PS3.3 C.11.2.1.2-3): real values to 8-bit display values, without Qt."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from viewer.dicom.header import LUT, InstanceHeader
from viewer.dicom.pixels import to_real
from viewer.numeric import median, percentile


@dataclass(frozen=True, slots=True)
class Window:
    """A VOI window in real-world units (HU for CT): Window Center (0028,1050), Window Width
    (0028,1051) and VOI LUT Function (0028,1056): LINEAR, LINEAR_EXACT or SIGMOID."""

    center: float
    width: float
    name: str = ""
    function: str = "LINEAR"


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
    fn = h.voi_lut_function if h.voi_lut_function in VOI_FUNCTIONS else "LINEAR"
    return [Window(c, w, ex or f"header {i + 1}", fn) for i, (c, w, ex) in enumerate(h.windows)]


VOI_FUNCTIONS = ("LINEAR", "LINEAR_EXACT", "SIGMOID")


def constant_window(value: float) -> Window:
    """A window that draws an image whose every value is ``value`` black (0), as the
    percentile window of a blank (all-zero) slice should, rather than mid-grey or white."""
    width = max(1.0, abs(value) * 2.0**-20)  # still a step at float32 precision
    return Window(value + width / 2.0, width, "auto")


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
        return constant_window(0.0)
    lo, hi = (float(v) for v in percentile(sample, [low, high]))
    if not hi > lo:
        lo, hi = float(sample.min()), float(sample.max())
        if not hi > lo:
            return constant_window(lo)
    # No floor of 1: PET in Bq/ml x 1e-3, dose in Gy and parametric maps span less than 1.
    # Such windows are drawn with LINEAR_EXACT (LINEAR needs a width of at least 1).
    width = hi - lo
    return Window((lo + hi) / 2.0, width, "auto", "LINEAR" if width >= 1.0 else "LINEAR_EXACT")


def default_window(h: InstanceHeader, real: np.ndarray) -> Window:
    """The window a slice first opens with: the header's first window, else automatic.

    A stored window that would paint more than half of the tissue white is ignored for
    non-CT images (seen in MR series whose scanner window belongs to another scaling), and
    the percentile window is used instead. CT windows are in HU and always kept. A constant
    image of another modality (a blank slice) opens black, whatever its header says.
    """
    wins = header_windows(h)
    if wins and h.modality == "CT":
        return wins[0]
    if real.size and h.modality != "CT":
        finite = real[np.isfinite(real)] if real.dtype.kind == "f" else real
        if finite.size and finite.min() == finite.max():
            return constant_window(float(finite.min()))
    if wins:
        tissue = real[real > real.min()]
        top = wins[0].center + wins[0].width / 2
        if tissue.size == 0 or top >= float(median(tissue)):
            return wins[0]
    return auto_window(real)


def linear_bounds(window: Window) -> tuple[float, float]:
    """The real values (lo, hi) that ``window`` maps to 0 and 255 when it is linear.

    LINEAR (PS3.3 C.11.2.1.2.1) spans c - 0.5 -+ (w - 1) / 2; LINEAR_EXACT (C.11.2.1.3.2),
    and LINEAR with a width below 1 (not allowed by the standard; seen on tiny real ranges),
    span c -+ w / 2. The window's levels use these bounds too, so all views agree.
    """
    c, w = float(window.center), float(window.width)
    if window.function == "LINEAR" and w >= 1.0:
        return c - 0.5 - (w - 1.0) / 2.0, c - 0.5 + (w - 1.0) / 2.0
    return c - w / 2.0, c + w / 2.0


def apply_window(real: np.ndarray, window: Window) -> np.ndarray:
    """VOI function of ``window`` (PS3.3 C.11.2.1.2.1 LINEAR, C.11.2.1.3 LINEAR_EXACT and
    SIGMOID) to uint8 (0..255), truncating as the linear output does.

    NaN real values (from a damaged modality LUT) are drawn black, +inf white; a window that
    is not finite or has no width is replaced by :func:`auto_window` of ``real``.
    """
    c, w = float(window.center), float(window.width)
    lo, hi = linear_bounds(window) if np.isfinite(c) and np.isfinite(w) else (0.0, 0.0)
    if not (np.isfinite(c) and np.isfinite(w) and w > 0 and hi > lo):
        # Not finite, no width, or a width lost in the centre's magnitude (centre 1e308).
        window = auto_window(real)
        c, w = window.center, window.width
    x = np.asarray(real, dtype=np.float32)
    with np.errstate(over="ignore", invalid="ignore"):  # inf - inf and the like become NaN
        if window.function == "SIGMOID":
            # y = ymax / (1 + exp(-4 (x - c) / w)); float64 so that narrow windows keep detail.
            out = 255.0 / (1.0 + np.exp(-4.0 * (x.astype(np.float64) - c) / w))
        elif window.function == "LINEAR" and w == 1.0:
            return np.where(x > c - 0.5, 255, 0).astype(np.uint8)  # C.11.2.1.2.1, width 1
        else:
            lo, hi = linear_bounds(window)
            scale = np.float32(255.0 / (hi - lo))
            out = (x - np.float32(lo)) * scale
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
