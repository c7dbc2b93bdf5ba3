"""Measurements on one image: ruler length, angle and Cobb angle, ROI statistics (ellipse,
rectangle, polygon, freehand) and arrows with a text label.

Geometry is in continuous pixel coordinates of the measured image, ``(x, y)`` = (column, row),
pixel centres at ``+0.5``; spacing is ``(row mm, column mm)``. Which spacing and unit a
measurement uses (Pixel Spacing, Imager Pixel Spacing "at detector", an ultrasound region, or
pixels) is :mod:`viewer.dicom.spacing`'s rule: :func:`describe` takes its
:class:`~viewer.dicom.spacing.PixelCalibration`. A pixel belongs to a ROI when its centre lies
inside the shape.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import count

import numpy as np

from viewer.dicom.spacing import PixelCalibration, Scale, millimetres
from viewer.display import shapes

KINDS = ("ruler", "ellipse", "rect", "angle", "cobb", "polygon", "freehand", "arrow")
ROI_KINDS = ("ellipse", "rect", "polygon", "freehand")
_ids = count(1)


@dataclass
class Measurement:
    """One measurement, attached to one slice of one plane of one stack.

    ``p0``/``p1`` are the ruler's ends, or opposite corners of the ROI's bounding box. The
    many-point kinds (:data:`viewer.display.shapes.POINTS`: angle arm-vertex-arm, Cobb's two
    lines, polygon and freehand outlines, arrow tail-tip) keep every point in ``points``
    (``p0``/``p1`` are then its first and last); ``text`` is an arrow's label.
    """

    kind: str
    p0: tuple[float, float]
    p1: tuple[float, float]
    points: list[tuple[float, float]] = field(default_factory=list)
    text: str = ""
    id: int = field(default_factory=lambda: next(_ids))

    @classmethod
    def of(cls, kind: str, points, text: str = "") -> Measurement:
        """A measurement of any kind from its points (two for ruler, ellipse and rect)."""
        pts = [(float(x), float(y)) for x, y in points]
        return cls(kind, pts[0], pts[-1], pts if kind in shapes.POINTS else [], text)

    @property
    def pts(self) -> list[tuple[float, float]]:
        """All points that define it: ``points``, or ``[p0, p1]`` for two-point kinds."""
        return list(self.points) if self.points else [self.p0, self.p1]

    def set_points(self, points) -> None:
        """Move it to ``points`` (an edit in the window)."""
        pts = [(float(x), float(y)) for x, y in points]
        self.p0, self.p1 = pts[0], pts[-1]
        if self.kind in shapes.POINTS:
            self.points = pts


@dataclass(frozen=True)
class RoiStats:
    """Statistics of the pixels inside a ROI, in real units (HU for CT)."""

    mean: float
    sd: float
    min: float
    max: float
    n_pixels: int
    area_mm2: float  # of the geometric shape, not of the pixel count (px² without a spacing)


def ruler_length_mm(p0, p1, spacing: tuple[float, float]) -> float:
    rows_mm, cols_mm = spacing
    return math.hypot((p1[0] - p0[0]) * cols_mm, (p1[1] - p0[1]) * rows_mm)


def shape_area_mm2(kind: str, p0, p1, spacing: tuple[float, float], points=()) -> float:
    if kind in shapes.OUTLINES:
        return shapes.polygon_area_mm2(points, spacing)
    w = abs(p1[0] - p0[0]) * spacing[1]
    h = abs(p1[1] - p0[1]) * spacing[0]
    return math.pi * w * h / 4 if kind == "ellipse" else w * h


def roi_mask(kind: str, p0, p1, shape: tuple[int, int], points=()
             ) -> tuple[tuple[slice, slice], np.ndarray]:
    """Boolean mask of the pixels inside the ROI, restricted to its bounding box.

    Returns ``(box, mask)``: ``image[box][mask]`` are the ROI's pixels (possibly none).
    ``points`` are a polygon's or freehand outline's vertices.
    """
    if kind in shapes.OUTLINES:
        return shapes.polygon_mask(points, shape)
    x0, x1 = sorted((p0[0], p1[0]))
    y0, y1 = sorted((p0[1], p1[1]))
    c0, c1 = max(0, math.floor(x0)), min(shape[1], math.ceil(x1))
    r0, r1 = max(0, math.floor(y0)), min(shape[0], math.ceil(y1))
    box = (slice(r0, max(r0, r1)), slice(c0, max(c0, c1)))
    yc = np.arange(box[0].start, box[0].stop) + 0.5
    xc = np.arange(box[1].start, box[1].stop) + 0.5
    if kind == "ellipse":
        a, b = (x1 - x0) / 2, (y1 - y0) / 2
        if a <= 0 or b <= 0:
            return box, np.zeros((len(yc), len(xc)), bool)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        mask = ((xc[None, :] - cx) / a) ** 2 + ((yc[:, None] - cy) / b) ** 2 <= 1.0
    elif kind == "rect":
        mask = ((xc[None, :] >= x0) & (xc[None, :] <= x1)
                & (yc[:, None] >= y0) & (yc[:, None] <= y1))
    else:
        raise ValueError(f"{kind!r} is not a ROI; choose one of {', '.join(ROI_KINDS)}")
    return box, mask


def roi_stats(values: np.ndarray, m: Measurement, spacing: tuple[float, float]) -> RoiStats:
    """Statistics of ``values`` (real units, rows x cols) inside ROI ``m``."""
    box, mask = roi_mask(m.kind, m.p0, m.p1, values.shape[:2], m.points)
    inside = np.asarray(values[box], dtype=np.float64)[mask]
    area = shape_area_mm2(m.kind, m.p0, m.p1, spacing, m.points)
    if inside.size == 0:
        nan = float("nan")
        return RoiStats(nan, nan, nan, nan, 0, area)
    return RoiStats(float(inside.mean()), float(inside.std()), float(inside.min()),
                    float(inside.max()), int(inside.size), area)


def scale_of(m: Measurement, calibration: PixelCalibration | tuple[float, float]) -> Scale:
    """The scale ``m`` is measured with; a bare (row mm, column mm) pair means Pixel Spacing."""
    if not isinstance(calibration, PixelCalibration):
        calibration = millimetres(calibration)
    return calibration.scale_for(*m.pts)


def length(m: Measurement, calibration: PixelCalibration | tuple[float, float]
           ) -> tuple[float, Scale]:
    """A ruler's length in its scale's unit (mm or px), and that scale."""
    scale = scale_of(m, calibration)
    return ruler_length_mm(m.p0, m.p1, scale.spacing), scale


def describe(m: Measurement, values: np.ndarray | None,
             calibration: PixelCalibration | tuple[float, float], unit: str = "") -> str:
    """The text shown beside a measurement: "18.2 mm (at detector)", "area 100.0 px²", ...

    ``calibration`` comes from :func:`viewer.dicom.spacing.for_stack` (or is a bare Pixel
    Spacing pair); ``unit`` is the unit of ``values`` ("HU").
    """
    scale = scale_of(m, calibration)
    area_unit = scale.suffix(f"{scale.unit}²")
    if m.kind == "ruler":
        return f"{ruler_length_mm(m.p0, m.p1, scale.spacing):.1f} {scale.suffix()}"
    if m.kind in ("angle", "cobb"):
        fn = shapes.angle_deg if m.kind == "angle" else shapes.cobb_deg
        deg = fn(m.pts, scale.spacing)
        name = "" if m.kind == "angle" else "Cobb "
        note = f" ({scale.unit})" if scale.unit != "mm" else ""  # px: angles of pixel axes
        return f"{name}{deg:.1f}°{note}" if math.isfinite(deg) else f"{name}angle undefined"
    if m.kind == "arrow":
        return m.text
    if values is None:
        area = shape_area_mm2(m.kind, m.p0, m.p1, scale.spacing, m.points)
        return f"area {area:.1f} {area_unit}"
    s = roi_stats(values, m, scale.spacing)
    if s.n_pixels == 0:
        return f"area {s.area_mm2:.1f} {area_unit} (no pixel inside)"
    u = f" {unit}" if unit else ""
    return (f"mean {s.mean:.1f}{u}  SD {s.sd:.1f}\nmin {s.min:.0f}  max {s.max:.0f}\n"
            f"area {s.area_mm2:.1f} {area_unit}")


class MeasurementStore:
    """All measurements of a study, keyed by (stack uid, plane, slice index)."""

    def __init__(self):
        self._by_key: dict[tuple[str, str, int], list[Measurement]] = {}

    def on(self, key: tuple[str, str, int]) -> list[Measurement]:
        return list(self._by_key.get(key, ()))

    def add(self, key: tuple[str, str, int], m: Measurement) -> None:
        self._by_key.setdefault(key, []).append(m)

    def remove(self, key: tuple[str, str, int], measurement_id: int) -> bool:
        items = self._by_key.get(key, [])
        kept = [m for m in items if m.id != measurement_id]
        self._by_key[key] = kept
        return len(kept) != len(items)

    def clear(self, key: tuple[str, str, int] | None = None) -> None:
        if key is None:
            self._by_key.clear()
        else:
            self._by_key.pop(key, None)

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_key.values())
