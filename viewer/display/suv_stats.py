"""ROI statistics in SUV: SUVmax, SUVmean and SUVpeak (PERCIST 1.0).

SUVpeak is the mean SUV in a 1 cm^3 sphere (radius (3 / (4 pi))^(1/3) cm = 6.20 mm) centred
on the ROI's hottest voxel; the sphere may reach outside the ROI (PERCIST measures the peak of
the lesion's uptake, not of its drawn outline) but not outside the volume. A voxel belongs to
the sphere when its centre does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

PEAK_RADIUS_MM = (3.0 / (4.0 * math.pi)) ** (1.0 / 3.0) * 10.0  # 1 cm^3 sphere, 6.204 mm


@dataclass(frozen=True)
class SuvStats:
    """SUV statistics (g/ml) of one ROI; ``peak_at`` is the hottest voxel ``(k, j, i)``."""

    suv_max: float
    suv_mean: float
    suv_peak: float
    n_voxels: int
    peak_voxels: int
    peak_at: tuple[int, int, int]


def sphere_offsets(spacing: tuple[float, float, float],
                   radius_mm: float = PEAK_RADIUS_MM) -> np.ndarray:
    """Integer ``(dk, dj, di)`` offsets (n, 3) of voxels whose centres lie within
    ``radius_mm`` of a voxel centre, for voxel ``spacing`` (slice, row, column) in mm."""
    r = [int(math.floor(radius_mm / s)) for s in spacing]
    grid = np.stack(np.meshgrid(*[np.arange(-n, n + 1) for n in r], indexing="ij"), -1)
    d2 = sum((grid[..., a] * spacing[a]) ** 2 for a in range(3))
    return grid[d2 <= radius_mm * radius_mm + 1e-9]


def suv_stats(suv: np.ndarray, mask: np.ndarray,
              spacing: tuple[float, float, float]) -> SuvStats:
    """Statistics of ``suv[mask]``: ``suv`` is a ``(k, j, i)`` SUV volume (float), ``mask``
    a boolean array of the same shape, ``spacing`` (slice, row, column) mm."""
    if suv.shape != mask.shape:
        raise ValueError(f"mask shape {mask.shape} is not the volume's {suv.shape}")
    inside = suv[mask]
    if inside.size == 0:
        raise ValueError("the ROI holds no voxel")
    flat = np.flatnonzero(mask)[int(np.argmax(inside))]
    at = np.array(np.unravel_index(flat, suv.shape))
    pts = sphere_offsets(spacing) + at
    ok = np.all((pts >= 0) & (pts < np.array(suv.shape)), axis=1)
    pts = pts[ok]
    peak = suv[pts[:, 0], pts[:, 1], pts[:, 2]]
    return SuvStats(float(inside.max()), float(inside.mean(dtype=np.float64)),
                    float(peak.mean(dtype=np.float64)), int(inside.size), int(pts.shape[0]),
                    (int(at[0]), int(at[1]), int(at[2])))
