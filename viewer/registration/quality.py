"""How good is a registration: the moving series resampled onto the fixed one, and the two
shown together as a checkerboard or a blend.

Volumes are ``(slice, row, column)`` numpy arrays placed by their 4x4 affines (index ``(i, j,
k, 1)`` -> patient LPS mm); transforms are :class:`~viewer.registration.rigid.RegistrationResult`
matrices (``fixed_to_moving``, LPS mm).
"""

from __future__ import annotations

import numpy as np

from viewer.registration.images import image_from
from viewer.registration.rigid import transform_from


def resample_onto(moving: np.ndarray, moving_affine: np.ndarray, fixed_shape: tuple[int, ...],
                  fixed_affine: np.ndarray, fixed_to_moving: np.ndarray,
                  fill: float = 0.0) -> np.ndarray:
    """``moving`` (real values) resampled on the fixed grid ``fixed_shape`` (slice, row,
    column) through ``fixed_to_moving``, linear interpolation, float32; voxels that map outside
    the moving volume are ``fill``."""
    import SimpleITK as sitk

    mov = image_from(moving, moving_affine)
    ref = image_from(np.zeros(fixed_shape[:3], dtype=np.float32), fixed_affine)
    out = sitk.Resample(mov, ref, transform_from(fixed_to_moving), sitk.sitkLinear,
                        float(fill), sitk.sitkFloat32)
    return sitk.GetArrayFromImage(out)


def normalise(values: np.ndarray, low: float = 1.0, high: float = 99.0) -> np.ndarray:
    """``values`` scaled so that its ``low``..``high`` percentiles span 0..1 (clipped), float32:
    two series of different contrast and units side by side."""
    v = np.asarray(values, dtype=np.float32)
    finite = v[np.isfinite(v)]
    if finite.size == 0:
        return np.zeros_like(v)
    lo, hi = np.percentile(finite, [low, high])
    if hi <= lo:
        return np.zeros_like(v)
    return np.clip((v - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)


def checkerboard(a: np.ndarray, b: np.ndarray, squares: int = 8) -> np.ndarray:
    """Alternating squares of two same-shape 2-D images (rows, columns), ``squares`` across the
    longer side: edges that continue across square borders show a good registration. Give
    :func:`normalise`\\ d images."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError("checkerboard needs two 2-D images of the same shape")
    side = max(1, int(np.ceil(max(a.shape) / max(1, squares))))
    rr = (np.arange(a.shape[0]) // side)[:, None]
    cc = (np.arange(a.shape[1]) // side)[None, :]
    return np.where((rr + cc) % 2 == 0, a, b)


def blend(a: np.ndarray, b: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """``(1 - alpha) * a + alpha * b`` of two same-shape images (give normalised ones)."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError("alpha must be between 0 and 1")
    a, b = np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32)
    if a.shape != b.shape:
        raise ValueError("blend needs two images of the same shape")
    return (1.0 - alpha) * a + alpha * b
