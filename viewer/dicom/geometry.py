"""Slice geometry as pure functions over arrays.

Conventions
-----------
- Patient coordinates are DICOM LPS in millimetres: +x towards the patient's Left, +y
  Posterior, +z Superior.
- Image Orientation (Patient) (0020,0037) gives ``row_dir`` (direction of increasing column
  index) and ``col_dir`` (direction of increasing row index).
- A stack's volume is indexed ``vol[k, j, i]`` = (slice, row, column). Its ``affine`` maps the
  homogeneous index ``(i, j, k, 1)`` to patient ``(x, y, z, 1)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from viewer.numeric import median

_LETTERS_POS = "LPS"
_LETTERS_NEG = "RAI"

# Coordinates beyond 1 km are not a patient; 1e308 would overflow the arithmetic that follows.
MAX_MM = 1e6


def usable_mm(values: Sequence[float]) -> bool:
    """Whether every value (mm) is finite and within :data:`MAX_MM` of zero."""
    return all(math.isfinite(v) and abs(v) <= MAX_MM for v in values)


def orientation_problem(orientation: Sequence[float]) -> str:
    """Why an Image Orientation (Patient) (6 floats) cannot define a plane, or "" if it can.

    Row and column directions must be finite, non-zero and not parallel; they need not be
    exactly unit length or orthogonal (scanners round them).
    """
    o = [float(v) for v in orientation]
    if len(o) != 6 or not all(math.isfinite(v) for v in o):
        return "is not a finite number"
    r, c = o[:3], o[3:]
    nr, nc = math.hypot(*r), math.hypot(*c)
    if nr < 1e-6 or nc < 1e-6:
        return "has a zero direction"
    cross = (r[1] * c[2] - r[2] * c[1], r[2] * c[0] - r[0] * c[2], r[0] * c[1] - r[1] * c[0])
    if math.hypot(*cross) / (nr * nc) < 1e-3:
        return "has parallel row and column directions"
    return ""


def slice_normal(orientation: Sequence[float]) -> np.ndarray:
    """Unit normal ``row_dir x col_dir`` of an Image Orientation (Patient) (6 floats).

    Raises
    ------
    ValueError
        The directions are parallel, zero or not finite (no normal exists).
    """
    o = np.asarray(orientation, dtype=float)
    if o.shape != (6,) or not np.all(np.isfinite(o)):
        raise ValueError("degenerate Image Orientation (Patient)")
    n = np.cross(o[:3], o[3:6])
    norm = float(np.linalg.norm(n))
    if not norm > 1e-6 * float(np.linalg.norm(o[:3]) * np.linalg.norm(o[3:6])):
        raise ValueError("degenerate Image Orientation (Patient)")
    return n / norm


def orientation_key(orientation: Sequence[float], decimals: int = 3) -> tuple[float, ...]:
    """A hashable orientation rounded so that scanner float noise does not split a stack."""
    return tuple(round(float(v), decimals) + 0.0 for v in orientation)


def positions_along(normal: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Distance (mm) of each Image Position (Patient) (rows of ``positions``) along ``normal``."""
    return np.asarray(positions, dtype=float) @ normal


def sort_order(normal: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Indices that order slices by increasing position along the normal (stable)."""
    return np.argsort(positions_along(normal, positions), kind="stable")


def spacing_report(distances: np.ndarray, rel_tol: float = 0.01, abs_tol: float = 0.01):
    """Median slice spacing and the irregularities of sorted distances along the normal.

    Returns
    -------
    spacing : float
        Median of the positive gaps (mm); 0 for a single slice.
    duplicates : int
        Number of slices that share a position with the previous one.
    gaps : list of (index, missing)
        After slice ``index`` (0-based, sorted), about ``missing`` slices are absent.
    uneven : bool
        Whether gaps differ from the median by more than the tolerance (beyond missing slices).
    """
    d = np.diff(np.asarray(distances, dtype=float))
    tol_dup = abs_tol
    duplicates = int(np.sum(np.abs(d) <= tol_dup))
    pos_gaps = d[np.abs(d) > tol_dup]
    if pos_gaps.size == 0:
        return 0.0, duplicates, [], False
    spacing = float(median(pos_gaps))
    tol = max(abs_tol, rel_tol * abs(spacing))
    gaps: list[tuple[int, int]] = []
    uneven = False
    idx = np.flatnonzero(np.abs(d) > tol_dup)
    for i, g in zip(idx, pos_gaps, strict=True):
        if abs(g - spacing) <= tol:
            continue
        ratio = g / spacing
        if ratio > 1.5 and abs(ratio - round(ratio)) * spacing <= tol:
            gaps.append((int(i), int(round(ratio)) - 1))
        else:
            uneven = True
    return spacing, duplicates, gaps, uneven


def tilt_angle_deg(normal: np.ndarray, first: np.ndarray, last: np.ndarray) -> float:
    """Angle (degrees) between the slice normal and the line through first and last positions.

    Non-zero for a CT gantry tilt: slices stay parallel but are shifted along ``col_dir``.
    """
    step = np.asarray(last, float) - np.asarray(first, float)
    norm = np.linalg.norm(step)
    if norm == 0:
        return 0.0
    c = abs(float(step @ normal)) / norm
    return math.degrees(math.acos(min(1.0, c)))


def affine_from(
    orientation: Sequence[float],
    pixel_spacing: Sequence[float],
    first_position: Sequence[float],
    slice_step: Sequence[float],
) -> np.ndarray:
    """Voxel-to-patient affine (4x4) for index ``(i=column, j=row, k=slice, 1)``.

    ``pixel_spacing`` is (row spacing, column spacing) in mm, as in Pixel Spacing (0028,0030);
    ``slice_step`` is the patient-space vector (mm) from one slice's position to the next, which
    carries any gantry-tilt shear.
    """
    o = np.asarray(orientation, dtype=float)
    a = np.eye(4)
    a[:3, 0] = o[:3] * float(pixel_spacing[1])
    a[:3, 1] = o[3:6] * float(pixel_spacing[0])
    a[:3, 2] = np.asarray(slice_step, dtype=float)
    a[:3, 3] = np.asarray(first_position, dtype=float)
    return a


def orientation_letters(direction: Sequence[float], threshold: float = 0.1) -> str:
    """Letters (R/L, A/P, I/S) for a patient-space direction, strongest component first.

    Components smaller than ``threshold`` of the unit vector are ignored, so an axial image
    tilted by 3 degrees still reads "L", while a 30-degree oblique reads "LP".
    """
    v = np.asarray(direction, dtype=float)
    n = np.linalg.norm(v)
    if n == 0:
        return ""
    v = v / n
    order = np.argsort(-np.abs(v), kind="stable")
    out = []
    for axis in order:
        c = v[axis]
        if abs(c) < threshold:
            continue
        out.append(_LETTERS_POS[axis] if c > 0 else _LETTERS_NEG[axis])
    return "".join(out)


def acquisition_plane(normal: Sequence[float]) -> str:
    """'AXIAL', 'CORONAL', 'SAGITTAL' by the normal's dominant axis, or 'OBLIQUE' past 30 deg."""
    v = np.abs(np.asarray(normal, dtype=float))
    axis = int(np.argmax(v))
    name = ("SAGITTAL", "CORONAL", "AXIAL")[axis]
    if v[axis] < math.cos(math.radians(30)):
        return "OBLIQUE"
    return name


def edge_letters(row_dir: Sequence[float], col_dir: Sequence[float]) -> dict[str, str]:
    """Orientation letters of the four screen edges of an image shown unrotated.

    Columns grow to the right (``row_dir``) and rows grow downwards (``col_dir``).
    """
    r = np.asarray(row_dir, dtype=float)
    c = np.asarray(col_dir, dtype=float)
    return {
        "left": orientation_letters(-r),
        "right": orientation_letters(r),
        "top": orientation_letters(-c),
        "bottom": orientation_letters(c),
    }
