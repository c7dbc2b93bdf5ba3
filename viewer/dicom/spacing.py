"""The in-plane pixel spacing a measurement uses, where it comes from, and how to label it.

One rule for the window's ruler and ROIs, the exports' scale bar and ``radviewer info``:

1. Pixel Spacing (0028,0030): distances in the patient (PS3.3 C.7.6.3.1.2). On projection
   radiographs it is "calibrated: GEOMETRY" / "FIDUCIAL" when Pixel Spacing Calibration Type
   (0028,0A02) / Description (0028,0A04) say so (PS3.3 10.7.1.3), and "at detector" when it
   merely repeats Imager Pixel Spacing.
2. Imager Pixel Spacing (0018,1164): at the detector, not in the patient (PS3.3 C.8.11.7); when
   Estimated Radiographic Magnification Factor (0018,1114) is given the spacing is divided by it
   and the label says so.
3. Nominal Scanned Pixel Spacing (0018,2010): a scanned film or document (Secondary Capture).
4. Sequence of Ultrasound Regions (0018,6011): Physical Delta X/Y (0018,602C/602E) in cm
   (Physical Units X/Y Direction (0018,6024/6026) = 3), valid only inside each region's bounds
   (Region Location Min/Max X0/Y0/X1/Y1); a measurement outside one region is in pixels.
5. Nothing usable: pixels, labelled "px", never "mm".

Values of 0, negative, NaN or inf never reach here: the header drops them with a warning.
Spacings are (row mm, column mm); points are continuous pixel coordinates ``(x, y)`` =
(column, row) with pixel centres at +0.5.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from viewer.dicom.header import InstanceHeader

# SOP classes of projection radiography (CR, DX, MG, IO, XA, RF), where a spacing describes
# the detector or a calibration, not the patient.
PROJECTION_SOP_CLASSES = frozenset((
    "1.2.840.10008.5.1.4.1.1.1",  # CR
    "1.2.840.10008.5.1.4.1.1.1.1", "1.2.840.10008.5.1.4.1.1.1.1.1",  # DX
    "1.2.840.10008.5.1.4.1.1.1.2", "1.2.840.10008.5.1.4.1.1.1.2.1",  # MG
    "1.2.840.10008.5.1.4.1.1.1.3", "1.2.840.10008.5.1.4.1.1.1.3.1",  # IO
    "1.2.840.10008.5.1.4.1.1.12.1", "1.2.840.10008.5.1.4.1.1.12.1.1",  # XA, Enhanced XA
    "1.2.840.10008.5.1.4.1.1.12.2", "1.2.840.10008.5.1.4.1.1.12.2.1",  # RF, Enhanced XRF
))
PROJECTION_MODALITIES = frozenset(("CR", "DX", "MG", "IO", "XA", "RF", "PX"))
_CM = 3  # Physical Units X/Y Direction (0018,6024/6026): 3 = cm
_SAME = 1e-6  # relative tolerance for "the same spacing"


class SpacingSource(StrEnum):
    """Which attribute the in-plane spacing comes from (the ``pixel_spacing_source`` of info)."""

    PIXEL_SPACING = "pixel_spacing"
    IMAGER_PIXEL_SPACING = "imager_pixel_spacing"
    NOMINAL_SCANNED = "nominal_scanned_pixel_spacing"
    ULTRASOUND_REGIONS = "ultrasound_regions"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class UltrasoundRegion:
    """A spatially calibrated region of an ultrasound image.

    Bounds are 0-based pixel indices, inclusive (x = column, y = row); ``spacing`` is
    (row mm, column mm).
    """

    x0: int
    y0: int
    x1: int
    y1: int
    spacing: tuple[float, float]

    def contains(self, x: float, y: float) -> bool:
        """Whether continuous point ``(x, y)`` lies on a pixel of the region."""
        return self.x0 <= x <= self.x1 + 1 and self.y0 <= y <= self.y1 + 1


@dataclass(frozen=True, slots=True)
class Scale:
    """How one measurement converts pixels: (row, column) size of a pixel in ``unit``."""

    spacing: tuple[float, float]
    unit: str  # "mm" or "px"
    note: str = ""  # "at detector", "calibrated: GEOMETRY", why it is px, ...

    def suffix(self, unit: str | None = None) -> str:
        """``unit`` (default the scale's) and the note: "mm (at detector)", "px"."""
        u = unit or self.unit
        return f"{u} ({self.note})" if self.note else u


_PX = Scale((1.0, 1.0), "px")


@dataclass(frozen=True, slots=True)
class PixelCalibration:
    """The in-plane spacing of one image and how measurements on it are labelled.

    ``spacing`` (row mm, column mm) is None when lengths are in pixels, or differ per
    ultrasound region (``regions``). ``note`` qualifies the millimetres ("at detector").
    """

    spacing: tuple[float, float] | None
    source: SpacingSource
    note: str = ""
    regions: tuple[UltrasoundRegion, ...] = ()

    @property
    def unit(self) -> str:
        """"mm" when every measurement is in mm, "px" otherwise (regions: it depends)."""
        return "mm" if self.spacing is not None else "px"

    @property
    def display_spacing(self) -> tuple[float, float]:
        """(row, column) size of a pixel on screen: the spacing, or square pixels."""
        return self.spacing if self.spacing is not None else (1.0, 1.0)

    def scale_for(self, *points: tuple[float, float]) -> Scale:
        """The scale of a measurement through ``points`` (ruler ends, ROI box corners)."""
        if self.spacing is not None:
            return Scale(self.spacing, "mm", self.note)
        if not self.regions:
            return _PX
        spacings = {r.spacing for r in self.regions
                    if all(r.contains(x, y) for x, y in points)}
        if spacings and _all_same(spacings):  # nested regions agree: either will do
            return Scale(next(iter(spacings)), "mm", self.note)
        return Scale((1.0, 1.0), "px", "not inside one calibrated ultrasound region")

    def summary(self, narrow: bool = False) -> str:
        """The corner line: "pixel 0.20 x 0.20 mm (at detector)", "pixel size unknown: px"."""
        if self.spacing is not None:
            r, c = self.spacing
            text = f"{r:.2f} x {c:.2f} mm" if narrow else f"pixel {r:.2f} x {c:.2f} mm"
            return f"{text} ({self.note})" if self.note and not narrow else text
        if self.regions:
            spacings = {reg.spacing for reg in self.regions}
            if _all_same(spacings):
                r, c = next(iter(spacings))
                return (f"{r:.2f} x {c:.2f} mm" if narrow
                        else f"pixel {r:.2f} x {c:.2f} mm in US regions")
            return "mm in US regions"
        return "px" if narrow else "pixel size unknown: px"


def _all_same(spacings: set[tuple[float, float]]) -> bool:
    first = next(iter(spacings))
    return all(math.isclose(a, b, rel_tol=_SAME)
               for s in spacings for a, b in zip(s, first, strict=True))


def millimetres(spacing: tuple[float, float], note: str = "") -> PixelCalibration:
    """A Pixel Spacing calibration of ``spacing`` (row mm, column mm): volumes and MPR planes."""
    return PixelCalibration((float(spacing[0]), float(spacing[1])), SpacingSource.PIXEL_SPACING,
                            note)


def _is_projection(h: InstanceHeader) -> bool:
    return h.sop_class_uid in PROJECTION_SOP_CLASSES or h.modality in PROJECTION_MODALITIES


def _close(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return all(math.isclose(x, y, rel_tol=_SAME) for x, y in zip(a, b, strict=True))


def _pixel_spacing_note(h: InstanceHeader) -> str:
    """How Pixel Spacing of a projection radiograph was obtained (PS3.3 10.7.1.3)."""
    kind, description = h.spacing_calibration
    if kind or description:
        return "calibrated: " + ", ".join(t for t in (kind, description) if t)
    if h.imager_pixel_spacing is not None and _close(h.pixel_spacing, h.imager_pixel_spacing):
        return "at detector"
    return ""


def ultrasound_regions(raw: tuple[tuple[float | None, ...], ...]) -> tuple[UltrasoundRegion, ...]:
    """The spatially calibrated regions among raw Sequence of Ultrasound Regions items.

    An item counts when both Physical Units are cm and both deltas are finite and non-zero
    (a spectral Doppler strip measures time and velocity, not length).
    """
    out = []
    for item in raw:
        if len(item) != 8 or any(v is None or not math.isfinite(v) for v in item):
            continue
        x0, y0, x1, y1, ux, uy, dx, dy = item
        if ux != _CM or uy != _CM or dx == 0 or dy == 0 or x1 < x0 or y1 < y0:
            continue
        # cm -> mm; a negative delta only says which way values grow.
        out.append(UltrasoundRegion(int(x0), int(y0), int(x1), int(y1),
                                    (abs(dy) * 10.0, abs(dx) * 10.0)))
    return tuple(out)


def for_header(h: InstanceHeader) -> PixelCalibration:
    """The calibration of an image described by ``h`` (see the module docstring's order)."""
    if h.pixel_spacing is not None:
        note = _pixel_spacing_note(h) if _is_projection(h) else ""
        return millimetres(h.pixel_spacing, note)
    if h.imager_pixel_spacing is not None:
        r, c = h.imager_pixel_spacing
        m = h.magnification_factor
        if m is not None and math.isfinite(m) and m > 0 and m != 1.0:
            return PixelCalibration((r / m, c / m), SpacingSource.IMAGER_PIXEL_SPACING,
                                    f"at detector, corrected for magnification x{m:g}")
        return PixelCalibration((r, c), SpacingSource.IMAGER_PIXEL_SPACING, "at detector")
    if h.nominal_scanned_pixel_spacing is not None:
        return PixelCalibration(tuple(h.nominal_scanned_pixel_spacing),  # type: ignore[arg-type]
                                SpacingSource.NOMINAL_SCANNED, "nominal scanned")
    regions = ultrasound_regions(h.us_regions)
    if regions:
        return PixelCalibration(None, SpacingSource.ULTRASOUND_REGIONS, regions=regions)
    return PixelCalibration(None, SpacingSource.NONE)


def for_stack(stack) -> PixelCalibration:
    """The calibration of a stack's acquired plane, from its first image.

    A volume (Image Position/Orientation present) keeps its Pixel Spacing in mm, as its affine.
    """
    cal = for_header(stack.first)
    if stack.spacing is not None and cal.source is SpacingSource.PIXEL_SPACING:
        return millimetres(stack.spacing[1:], cal.note)
    return cal
