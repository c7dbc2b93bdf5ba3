"""Scrolling two registered series together: a point of one, the same anatomy in the other.

``fixed_to_moving`` is a :class:`~viewer.registration.rigid.RegistrationResult` matrix (4x4,
patient LPS mm); without a registration, the identity (scanner coordinates) does the same job.
"""

from __future__ import annotations

import numpy as np

from viewer.dicom.stacks import Stack
from viewer.errors import SeriesGeometryError


def voxel_of(stack: Stack, point_lps) -> np.ndarray:
    """Continuous voxel index ``(k, j, i)`` = (slice, row, column) of a patient point (mm)."""
    if stack.affine is None:
        raise SeriesGeometryError(f"{stack.label}: no patient geometry to scroll by")
    i, j, k, _ = np.linalg.solve(stack.affine, np.array([*np.asarray(point_lps, float), 1.0]))
    return np.array([k, j, i])


def point_of(stack: Stack, k: float, j: float, i: float) -> np.ndarray:
    """Patient point (LPS mm) of voxel index ``(k, j, i)`` of ``stack``."""
    if stack.affine is None:
        raise SeriesGeometryError(f"{stack.label}: no patient geometry to scroll by")
    return (stack.affine @ np.array([i, j, k, 1.0]))[:3]


def matching_slice(fixed: Stack, k: int, moving: Stack, fixed_to_moving: np.ndarray,
                   row: float | None = None, col: float | None = None) -> int | None:
    """The slice of ``moving`` (0-based, stack order) that holds the anatomy of slice ``k`` of
    ``fixed`` at pixel (``row``, ``col``) (default: the slice's centre), or None when that
    point lies outside ``moving``'s slices (more than half a slice beyond either end)."""
    row = (fixed.rows - 1) / 2 if row is None else row
    col = (fixed.columns - 1) / 2 if col is None else col
    p = point_of(fixed, k, row, col)
    q = (np.asarray(fixed_to_moving, dtype=float) @ np.array([*p, 1.0]))[:3]
    km = float(voxel_of(moving, q)[0])
    if not -0.5 <= km <= moving.n_frames - 0.5:
        return None
    return min(moving.n_frames - 1, max(0, int(round(km))))
