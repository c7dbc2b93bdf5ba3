"""Annotations on reformatted planes in patient coordinates, and back.

A plane image's point ``(x, y)`` (column, row; pixel centres at +0.5) on image ``index`` of
``plane`` is the plane pixel index ``(row, col) = (y - 0.5, x - 0.5)``; :mod:`viewer.dicom.
reformat` maps that to the canonical ``(s, p, l)`` index and its affine to patient LPS mm. The
SR stores those points as SCOORD3D in the stack's Frame of Reference.
"""

from __future__ import annotations

import numpy as np

from viewer.dicom.reformat import Reformat
from viewer.dicom.stacks import Stack
from viewer.errors import SeriesGeometryError

# Points farther than this (in slices) from one plane image are not drawn on it.
_ON_PLANE_TOL = 0.25


def reformat_of(stack: Stack) -> Reformat:
    if stack.affine is None:
        raise SeriesGeometryError(f"{stack.label}: no patient geometry, so no reformatted "
                                  "planes")
    return Reformat.from_affine(stack.affine, (stack.n_frames, stack.rows, stack.columns))


def to_patient(stack: Stack, plane: str, index: int, points) -> np.ndarray:
    """Points ``(n, 2)`` (x, y) on image ``index`` of ``plane`` -> ``(n, 3)`` LPS mm."""
    r = reformat_of(stack)
    out = []
    for x, y in np.asarray(points, dtype=float).reshape(-1, 2):
        s, p, l_ = r.plane_to_canonical(plane, index, y - 0.5, x - 0.5)
        out.append((r.affine @ np.array([l_, p, s, 1.0]))[:3])
    return np.array(out)


def from_patient(stack: Stack, plane: str, points) -> tuple[int, np.ndarray]:
    """``(index, points (n, 2))`` of LPS points on one image of ``plane``.

    Raises
    ------
    ValueError
        The points do not lie on one image of that plane.
    """
    r = reformat_of(stack)
    inv = np.linalg.inv(r.affine)
    idx, xy = [], []
    for pt in np.asarray(points, dtype=float).reshape(-1, 3):
        l_, p, s, _ = inv @ np.array([*pt, 1.0])
        k, row, col = r.canonical_to_plane(plane, (s, p, l_))
        idx.append(k)
        xy.append((col + 0.5, row + 0.5))
    k = int(round(float(np.mean(idx))))
    if max(abs(i - k) for i in idx) > _ON_PLANE_TOL or not 0 <= k < r.n_slices(plane):
        raise ValueError(f"the points are not on one {plane} image of this series")
    return k, np.array(xy)
