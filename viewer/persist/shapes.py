"""Measurements and annotations as saved: the shapes, their figures, and their SCOORD form.

Points are continuous pixel coordinates ``(x, y)`` = (column, row) of the acquired image, pixel
centres at +0.5: the convention of :mod:`viewer.display.measure` and of DICOM's SCOORD (the
top-left corner of the top-left pixel is 0.0\\0.0), so they go into the SR unchanged. Spacing
is ``(row mm, column mm)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# kind -> (SCOORD graphic type, number of points the shape is given by; 0 = 3 or more).
# 2-D SCOORD has no POLYGON: a closed POLYLINE (last point = first) is one (PS3.3 C.18.6.1.2).
KINDS: dict[str, tuple[str, int]] = {
    "ruler": ("POLYLINE", 2),      # the two ends
    "angle": ("POLYLINE", 3),      # arm end, vertex, arm end
    "cobb": ("POLYLINE", 4),       # first line's ends, second line's ends
    "ellipse": ("ELLIPSE", 2),     # opposite corners of its (axis-aligned) bounding box
    "rect": ("POLYLINE", 2),       # opposite corners
    "polygon": ("POLYLINE", 0),    # vertices (closed implicitly)
    "freehand": ("POLYLINE", 0),   # the traced outline's vertices (closed implicitly)
    "arrow": ("POLYLINE", 2),      # tail, tip; the text is the annotation's
}
ROI_KINDS = ("ellipse", "rect", "polygon", "freehand")
# The image an annotation is drawn on: the acquired slices, or a plane reformatted from them
# (viewer.dicom.reformat.PLANES), as the window's MeasurementStore keys say.
PLANES = ("acquired", "axial", "coronal", "sagittal")


@dataclass(frozen=True)
class Annotation:
    """One measurement or annotation on image ``slice_index`` (0-based) of ``plane`` of a
    stack: ``kind`` (see :data:`KINDS`), its ``points`` (x, y) and a ``text`` (an arrow's label;
    any kind may carry one). ``plane`` "acquired" (stack order) or a reformatted plane
    ("axial", "coronal", "sagittal": index and pixels as :mod:`viewer.dicom.reformat` gives)."""

    kind: str
    slice_index: int
    points: tuple[tuple[float, float], ...]
    text: str = ""
    plane: str = "acquired"

    def __post_init__(self):
        if self.plane not in PLANES:
            raise ValueError(f"{self.plane!r} is not a plane; choose one of {', '.join(PLANES)}")
        if self.kind not in KINDS:
            raise ValueError(f"{self.kind!r} is not a measurement kind; choose one of "
                             f"{', '.join(KINDS)}")
        pts = tuple((float(x), float(y)) for x, y in self.points)
        n = KINDS[self.kind][1]
        if (n and len(pts) != n) or (not n and len(pts) < 3):
            raise ValueError(f"a {self.kind} needs {n or '3 or more'} points, not {len(pts)}")
        if not all(math.isfinite(v) for p in pts for v in p):
            raise ValueError(f"a {self.kind}'s points must be finite")
        object.__setattr__(self, "points", pts)


def _mm(points, spacing) -> np.ndarray:
    p = np.asarray(points, dtype=float)
    return p * np.array([spacing[1], spacing[0]])  # x is columns, y is rows


def _angle(u: np.ndarray, v: np.ndarray) -> float:
    nu, nv = np.linalg.norm(u), np.linalg.norm(v)
    if nu == 0 or nv == 0:
        return float("nan")
    return math.degrees(math.acos(float(np.clip(u @ v / (nu * nv), -1.0, 1.0))))


def length_mm(a: Annotation, spacing) -> float:
    """A ruler's or an arrow's length (mm)."""
    p = _mm(a.points, spacing)
    return float(np.linalg.norm(p[1] - p[0]))


def angle_deg(a: Annotation, spacing) -> float:
    """An angle's opening at its vertex, or a Cobb angle between its two lines as drawn
    (0..180 degrees), measured in millimetres (non-square pixels change angles)."""
    p = _mm(a.points, spacing)
    if a.kind == "angle":
        return _angle(p[0] - p[1], p[2] - p[1])
    return _angle(p[1] - p[0], p[3] - p[2])


def outline(a: Annotation) -> np.ndarray:
    """A closed ROI's vertices ``(n, 2)`` (x, y), first not repeated (ellipse: none)."""
    (x0, y0), (x1, y1) = a.points[0], a.points[-1]
    if a.kind == "rect":
        return np.array([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], dtype=float)
    return np.asarray(a.points, dtype=float)


def area_mm2(a: Annotation, spacing) -> float:
    """A ROI's geometric area (mm²): ellipse pi*a*b, polygons by the shoelace formula."""
    if a.kind == "ellipse":
        w, h = np.abs(_mm([a.points[1]], spacing)[0] - _mm([a.points[0]], spacing)[0])
        return float(math.pi * w * h / 4)
    p = _mm(outline(a), spacing)
    x, y = p[:, 0], p[:, 1]
    return float(abs(x @ np.roll(y, -1) - y @ np.roll(x, -1)) / 2)


def roi_mask(a: Annotation, shape: tuple[int, int]) -> np.ndarray:
    """Pixels (rows, columns) whose centre lies inside the ROI (even-odd rule for polygons)."""
    rows, cols = shape
    yc = np.arange(rows)[:, None] + 0.5
    xc = np.arange(cols)[None, :] + 0.5
    if a.kind == "ellipse":
        (x0, y0), (x1, y1) = a.points
        ra, rb = abs(x1 - x0) / 2, abs(y1 - y0) / 2
        if ra == 0 or rb == 0:
            return np.zeros(shape, bool)
        return ((xc - (x0 + x1) / 2) / ra) ** 2 + ((yc - (y0 + y1) / 2) / rb) ** 2 <= 1.0
    p = outline(a)
    inside = np.zeros(shape, bool)
    for (xa, ya), (xb, yb) in zip(p, np.roll(p, -1, axis=0), strict=True):
        if ya == yb:
            continue
        crosses = (ya > yc) != (yb > yc)
        x_at = xa + (yc - ya) * (xb - xa) / (yb - ya)
        inside ^= crosses & (xc < x_at)
    return inside


def roi_values(a: Annotation, values: np.ndarray) -> np.ndarray:
    """The real values (one slice, rows x columns) inside a ROI, float64."""
    return np.asarray(values, dtype=np.float64)[roi_mask(a, values.shape[:2])]


def to_scoord(a: Annotation) -> tuple[str, np.ndarray]:
    """(Graphic Type, Graphic Data ``(n, 2)``) of the annotation's SCOORD content item."""
    kind = KINDS[a.kind][0]
    if a.kind == "ellipse":
        (x0, y0), (x1, y1) = a.points
        cx, cy, ra, rb = (x0 + x1) / 2, (y0 + y1) / 2, abs(x1 - x0) / 2, abs(y1 - y0) / 2
        horizontal = [(cx - ra, cy), (cx + ra, cy)]
        vertical = [(cx, cy - rb), (cx, cy + rb)]
        # DICOM ELLIPSE: the major axis' ends first, then the minor axis'.
        pts = horizontal + vertical if ra >= rb else vertical + horizontal
        return kind, np.array(pts, dtype=float)
    if a.kind in ROI_KINDS:
        p = outline(a)
        return kind, np.vstack([p, p[:1]])  # closed: the last vertex repeats the first
    return kind, np.asarray(a.points, dtype=float)


def from_scoord(graphic_type: str, data: np.ndarray, kind: str | None, slice_index: int,
                text: str = "", plane: str = "acquired") -> Annotation:
    """The annotation a SCOORD item describes. ``kind`` is the one radviewer recorded; None
    for other programs' reports: guessed from the graphic type and its number of points."""
    p = [tuple(map(float, xy)) for xy in np.asarray(data, dtype=float).reshape(-1, 2)]
    closed = len(p) > 3 and p[0] == p[-1]
    if kind is None:
        if graphic_type in ("POLYLINE", "POLYGON") and closed:
            kind = "polygon"
        elif graphic_type == "POLYLINE":
            kind = {2: "ruler", 3: "angle", 4: "cobb"}.get(len(p), "freehand")
        elif graphic_type in ("ELLIPSE", "CIRCLE"):
            kind = "ellipse"
        elif graphic_type == "POINT":
            kind, p = "arrow", [p[0], p[0]]
        else:
            kind = "polygon"
    if kind == "ellipse" and graphic_type == "CIRCLE":
        (cx, cy), (ex, ey) = p[:2]
        r = math.hypot(ex - cx, ey - cy)
        p = [(cx - r, cy - r), (cx + r, cy + r)]
    elif kind in ("ellipse", "rect"):
        xs, ys = [x for x, _ in p], [y for _, y in p]
        p = [(min(xs), min(ys)), (max(xs), max(ys))]
    elif kind in ROI_KINDS and closed:
        p = p[:-1]
    return Annotation(kind, slice_index, tuple(p), text, plane)
