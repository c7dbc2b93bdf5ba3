"""Move volumes between a stack's voxels and a model's grid (no resampling library needed).

Affines map voxel indices ``(i, j, k, 1)`` to patient LPS millimetres; arrays are indexed
``[k, j, i]`` (slice, row, column), as stack volumes are. Intensities go to the model grid
with trilinear interpolation; labels come back to the stack's own voxels by nearest neighbour,
so an overlay drawn on the stack lines up with its anatomy in every view.
"""

from __future__ import annotations

import numpy as np

from viewer.ai.manifest import Grid

_AXIS = {"L": (1, 0, 0), "R": (-1, 0, 0), "P": (0, 1, 0), "A": (0, -1, 0), "S": (0, 0, 1),
         "I": (0, 0, -1)}


def orientation_axes(code: str) -> np.ndarray:
    """3x3 matrix whose columns are the LPS unit vectors of voxel axes i, j, k (e.g. "LIA")."""
    if len(code) != 3 or any(c not in _AXIS for c in code.upper()):
        raise ValueError(f"orientation {code!r} should be three letters from L R P A S I")
    m = np.array([_AXIS[c] for c in code.upper()], dtype=float).T
    if abs(np.linalg.det(m)) != 1:
        raise ValueError(f"orientation {code!r} repeats an axis")
    return m


def stack_center(affine: np.ndarray, shape_kji: tuple[int, ...]) -> np.ndarray:
    """LPS position (mm) of the centre of a volume of ``shape_kji``."""
    k, j, i = shape_kji[:3]
    return (affine @ [(i - 1) / 2, (j - 1) / 2, (k - 1) / 2, 1.0])[:3]


def grid_affine(grid: Grid, center_lps: np.ndarray) -> np.ndarray:
    """Affine of ``grid`` centred on ``center_lps`` (as FreeSurfer's conform centres it)."""
    a = np.eye(4)
    a[:3, :3] = orientation_axes(grid.orientation) * np.asarray(grid.spacing_mm)
    half = (np.asarray(grid.shape, float) - 1) / 2
    a[:3, 3] = center_lps - a[:3, :3] @ half
    return a


def _gaps(slice_mm, nk: int):
    """``slice_mm`` as a float array of ``nk`` ascending distances, or None (uniform)."""
    if slice_mm is None:
        return None
    d = np.asarray(slice_mm, float)
    if d.shape != (nk,) or nk < 2 or not np.all(np.diff(d) > 0):
        return None  # duplicates or one slice: the uniform affine is all there is
    return d - d[0]


def resample_to_grid(vol: np.ndarray, src_affine: np.ndarray, dst_affine: np.ndarray,
                     dst_shape_ijk: tuple[int, int, int], fill: float = 0.0,
                     cancel=None, slice_mm=None) -> np.ndarray:
    """Trilinear sample of ``vol[k, j, i]`` onto the destination grid; returns float32
    ``[k, j, i]`` of the destination. Points outside the source get ``fill``.

    Gap-aware with ``slice_mm`` (each source slice's own distance along the slice normal,
    mm, ascending; the stack's ``slice_positions``): ``src_affine``'s slice column is then
    taken as one step of the median spacing along the normal, and each point's slice index
    comes from the slices' real positions (a missing slice is bridged between its
    neighbours, and slices after it are not shifted by one)."""
    src = np.asarray(vol, dtype=np.float32)
    nk, nj, ni = src.shape
    real_mm = _gaps(slice_mm, nk)
    step_mm = _step_mm(src_affine, real_mm)
    m = np.linalg.inv(src_affine) @ dst_affine  # destination index -> source index
    di, dj, dk = dst_shape_ijk
    out = np.full((dk, dj, di), fill, dtype=np.float32)
    jj, ii = np.mgrid[0:dj, 0:di].astype(np.float64)
    base = m[:3, 0, None, None] * ii + m[:3, 1, None, None] * jj + m[:3, 3, None, None]
    flat = src.reshape(-1)
    for k in range(dk):
        if cancel is not None and k % 16 == 0 and cancel():
            from viewer.errors import OperationCancelled

            raise OperationCancelled("resampling cancelled")
        x, y, z = base + m[:3, 2, None, None] * k  # source i, j, k
        e = 1e-4  # rounding of the affine product must not drop the edge voxels
        if real_mm is not None:  # uniform index -> mm along the normal -> real index
            d = z * step_mm
            z = np.where((d >= -e * step_mm) & (d <= real_mm[-1] + e * step_mm),
                         np.interp(d, real_mm, np.arange(nk, dtype=float)), -1.0)
        inside = ((x >= -e) & (x <= ni - 1 + e) & (y >= -e) & (y <= nj - 1 + e)
                  & (z >= -e) & (z <= nk - 1 + e))
        if not inside.any():
            continue
        x = np.clip(x[inside], 0, ni - 1)
        y = np.clip(y[inside], 0, nj - 1)
        z = np.clip(z[inside], 0, nk - 1)
        x0 = np.minimum(np.floor(x).astype(np.int64), max(ni - 2, 0))
        y0 = np.minimum(np.floor(y).astype(np.int64), max(nj - 2, 0))
        z0 = np.minimum(np.floor(z).astype(np.int64), max(nk - 2, 0))
        fx, fy, fz = x - x0, y - y0, z - z0
        x1 = np.minimum(x0 + 1, ni - 1)
        y1 = np.minimum(y0 + 1, nj - 1)
        z1 = np.minimum(z0 + 1, nk - 1)
        acc = np.zeros(x.shape, np.float64)
        for zz, wz in ((z0, 1 - fz), (z1, fz)):
            for yy, wy in ((y0, 1 - fy), (y1, fy)):
                row = (zz * nj + yy) * ni
                acc += wz * wy * ((1 - fx) * flat[row + x0] + fx * flat[row + x1])
        out[k][inside] = acc
    return out


def _step_mm(affine: np.ndarray, real_mm) -> float:
    """Length (mm) of the affine's slice column along the slice normal."""
    if real_mm is None:
        return 1.0
    a = np.asarray(affine, float)[:3, :3]
    n = np.cross(a[:, 0], a[:, 1])
    return float(abs(a[:, 2] @ (n / np.linalg.norm(n))))


def labels_to_stack(labels: np.ndarray, grid_aff: np.ndarray, stack_affine: np.ndarray,
                    stack_shape_kji: tuple[int, ...], slice_mm=None) -> np.ndarray:
    """Nearest-neighbour labels (``labels[k, j, i]`` on the grid) at every stack voxel;
    returns uint8 ``[k, j, i]`` of the stack, 0 outside the grid. ``slice_mm``: each
    slice's own position, as for :func:`resample_to_grid`."""
    nk, nj, ni = stack_shape_kji[:3]
    real_mm = _gaps(slice_mm, nk)
    step_mm = _step_mm(stack_affine, real_mm)
    gk, gj, gi = labels.shape
    m = np.linalg.inv(grid_aff) @ stack_affine  # stack index -> grid index
    out = np.zeros((nk, nj, ni), dtype=np.uint8)
    jj, ii = np.mgrid[0:nj, 0:ni].astype(np.float64)
    base = m[:3, 0, None, None] * ii + m[:3, 1, None, None] * jj + m[:3, 3, None, None]
    for k in range(nk):
        kk = k if real_mm is None else real_mm[k] / step_mm  # where slice k really is
        x, y, z = np.rint(base + m[:3, 2, None, None] * kk).astype(np.int64)
        inside = (x >= 0) & (x < gi) & (y >= 0) & (y < gj) & (z >= 0) & (z < gk)
        out[k][inside] = labels[z[inside], y[inside], x[inside]]
    return out
