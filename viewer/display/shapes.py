"""Geometry of the many-point measurements: angle, Cobb angle, polygon/freehand ROI, arrow.

Pure functions without Qt. Points are continuous pixel coordinates ``(x, y)`` = (column, row),
pixel centres at ``+0.5`` (as in :mod:`viewer.display.measure`); spacing is
``(row mm, column mm)`` — pass ``(1.0, 1.0)`` for an image without a real spacing (px).
Angles are measured in millimetres: non-square pixels change them.
"""

from __future__ import annotations

import math

import numpy as np

# kind -> number of points (0: three or more, a closed outline)
POINTS = {"angle": 3, "cobb": 4, "polygon": 0, "freehand": 0, "arrow": 2}
OUTLINES = ("polygon", "freehand")
FREEHAND_STEP_PX = 1.5  # a traced point closer than this to the last one adds nothing


def _mm(points, spacing) -> np.ndarray:
    p = np.asarray(points, dtype=float).reshape(-1, 2)
    return p * np.array([spacing[1], spacing[0]])  # x is columns, y is rows


def _between(u: np.ndarray, v: np.ndarray) -> float:
    nu, nv = float(np.linalg.norm(u)), float(np.linalg.norm(v))
    if nu == 0 or nv == 0:
        return float("nan")
    return math.degrees(math.acos(float(np.clip(u @ v / (nu * nv), -1.0, 1.0))))


def angle_deg(points, spacing) -> float:
    """Opening (degrees, 0..180) at the vertex ``points[1]`` between the arms to
    ``points[0]`` and ``points[2]``; NaN when an arm has no length."""
    p = _mm(points, spacing)
    return _between(p[0] - p[1], p[2] - p[1])


def cobb_deg(points, spacing) -> float:
    """Cobb angle (degrees, 0..90) between line ``points[0]-points[1]`` and line
    ``points[2]-points[3]``: the acute angle between the lines, whichever way each was drawn."""
    p = _mm(points, spacing)
    a = _between(p[1] - p[0], p[3] - p[2])
    return a if math.isnan(a) else min(a, 180.0 - a)


def cobb_as_drawn_acute(points) -> list[tuple[float, float]]:
    """The same two lines with the second one's direction chosen so that the angle between
    the lines as drawn (what an SR reader computes, 0..180) is the Cobb angle (0..90)."""
    p = [tuple(map(float, q)) for q in points]
    u = np.subtract(p[1], p[0])
    v = np.subtract(p[3], p[2])
    return p if float(u @ v) >= 0 else [p[0], p[1], p[3], p[2]]


def polygon_area_mm2(points, spacing) -> float:
    """Area (mm², or px² with spacing (1, 1)) of the closed outline through ``points``
    (shoelace formula; the closing edge is implied)."""
    p = _mm(points, spacing)
    if len(p) < 3:
        return 0.0
    x, y = p[:, 0], p[:, 1]
    return float(abs(x @ np.roll(y, -1) - y @ np.roll(x, -1)) / 2)


def polygon_mask(points, shape: tuple[int, int]) -> tuple[tuple[slice, slice], np.ndarray]:
    """Pixels whose centre lies inside the closed outline (even-odd rule), restricted to its
    bounding box within ``shape`` (rows, cols): ``image[box][mask]`` are the ROI's pixels."""
    p = np.asarray(points, dtype=float).reshape(-1, 2)
    c0 = max(0, math.floor(p[:, 0].min()))
    c1 = min(shape[1], math.ceil(p[:, 0].max()))
    r0 = max(0, math.floor(p[:, 1].min()))
    r1 = min(shape[0], math.ceil(p[:, 1].max()))
    box = (slice(r0, max(r0, r1)), slice(c0, max(c0, c1)))
    yc = np.arange(box[0].start, box[0].stop)[:, None] + 0.5
    xc = np.arange(box[1].start, box[1].stop)[None, :] + 0.5
    inside = np.zeros((len(yc), xc.shape[1]), bool)
    for (xa, ya), (xb, yb) in zip(p, np.roll(p, -1, axis=0), strict=True):
        if ya == yb:
            continue
        crosses = (ya > yc) != (yb > yc)
        x_at = xa + (yc - ya) * (xb - xa) / (yb - ya)
        inside ^= crosses & (xc < x_at)
    return box, inside


def thin_trace(points, step: float = FREEHAND_STEP_PX) -> list[tuple[float, float]]:
    """A freehand trace without the points closer than ``step`` px to the last one kept."""
    out: list[tuple[float, float]] = []
    for x, y in points:
        if not out or math.hypot(x - out[-1][0], y - out[-1][1]) >= step:
            out.append((float(x), float(y)))
    return out
