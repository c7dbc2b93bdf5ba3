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
                     cancel=None, slice_mm=None, ijk: bool = False,
                     threads: int | None = None) -> np.ndarray:
    """Trilinear sample of ``vol[k, j, i]`` onto the destination grid; returns float32
    ``[k, j, i]`` of the destination (``[i, j, k]``, C-contiguous, with ``ijk``: the order
    most 3-D networks take, without a transposing copy). Points outside get ``fill``.
    ``threads``: planes are shared among that many threads (default: one per core).

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
    # The output's first axis is walked plane by plane: k (default) or i (``ijk``); ``a`` and
    # ``b`` are the destination axes of each plane's rows and columns.
    outer, a, b = (0, 1, 2) if ijk else (2, 1, 0)
    shape = (di, dj, dk) if ijk else (dk, dj, di)
    # zeros: pages the OS hands over already zeroed, first touched by the worker threads
    out = np.zeros(shape, np.float32) if fill == 0 else np.full(shape, fill, np.float32)
    rr, cc = np.mgrid[0:shape[1], 0:shape[2]].astype(np.float64)
    base = m[:3, a, None, None] * rr + m[:3, b, None, None] * cc + m[:3, 3, None, None]
    flat = src.reshape(-1)
    # Flat offsets of the +1 neighbours along i, j, k (none along an axis of size 1).
    step = (1 if ni > 1 else 0, ni if nj > 1 else 0, ni * nj if nk > 1 else 0)

    def one(k: int) -> None:
        x, y, z = base + m[:3, outer, None, None] * k  # source i, j, k
        e = 1e-4  # rounding of the affine product must not drop the edge voxels
        if real_mm is not None:  # uniform index -> mm along the normal -> real index
            d = z * step_mm
            z = np.where((d >= -e * step_mm) & (d <= real_mm[-1] + e * step_mm),
                         np.interp(d, real_mm, np.arange(nk, dtype=float)), -1.0)
        inside = ((x >= -e) & (x <= ni - 1 + e) & (y >= -e) & (y <= nj - 1 + e)
                  & (z >= -e) & (z <= nk - 1 + e))
        if inside.any():
            out[k][inside] = _trilinear(flat, (ni, nj, nk), step, x[inside], y[inside],
                                        z[inside])

    _each_slice(one, shape[0], cancel, threads)
    return out


def _trilinear(flat, sizes, step, x, y, z) -> np.ndarray:
    """Trilinear values (float32) of ``flat`` (a C-order ``[k, j, i]`` volume, raveled) at
    source indices x, y, z (float64, inside the volume up to rounding)."""
    idx = np.zeros(x.shape, np.int64)
    frac = []
    for pos, n, stride in zip((x, y, z), sizes, (1, sizes[0], sizes[0] * sizes[1]),
                              strict=True):
        pos = np.clip(pos, 0, n - 1)
        p0 = np.minimum(np.floor(pos).astype(np.int64), max(n - 2, 0))
        # Positions stay float64 (which voxel is picked must not drift); the weights and the
        # sums are float32, the network's own precision: half the memory traffic.
        frac.append((pos - p0).astype(np.float32))
        idx += p0 * stride
    fx, fy, fz = frac
    sx, sy, sz = step

    def lerp(a, b, f):  # a + f (b - a), in place in a
        b -= a
        b *= f
        a += b
        return a

    def row(o):  # along i at flat offset o
        return lerp(flat[idx + o], flat[idx + (o + sx)], fx)

    return lerp(lerp(row(0), row(sy), fy), lerp(row(sz), row(sz + sy), fy), fz)


def _each_slice(fn, n: int, cancel=None, threads: int | None = None) -> None:
    """``fn(k)`` for k in 0..n-1 on ``threads`` threads (default one per core; numpy
    releases the GIL in its gathers and arithmetic); ``cancel()`` polled between slices."""
    import os
    from concurrent.futures import ThreadPoolExecutor

    from viewer.errors import OperationCancelled

    def run(ks):
        for k in ks:
            if cancel is not None and k % 16 == 0 and cancel():
                raise OperationCancelled("resampling cancelled")
            fn(k)

    workers = max(1, min(threads or os.cpu_count() or 1, n // 16))
    if workers == 1:
        run(range(n))
        return
    with ThreadPoolExecutor(workers) as pool:  # interleaved: each gets inner and outer slices
        for f in [pool.submit(run, range(w, n, workers)) for w in range(workers)]:
            f.result()


def _step_mm(affine: np.ndarray, real_mm) -> float:
    """Length (mm) of the affine's slice column along the slice normal."""
    if real_mm is None:
        return 1.0
    a = np.asarray(affine, float)[:3, :3]
    n = np.cross(a[:, 0], a[:, 1])
    return float(abs(a[:, 2] @ (n / np.linalg.norm(n))))


def labels_to_stack(labels: np.ndarray, grid_aff: np.ndarray, stack_affine: np.ndarray,
                    stack_shape_kji: tuple[int, ...], slice_mm=None,
                    threads: int | None = None) -> np.ndarray:
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

    def one(k: int) -> None:
        kk = k if real_mm is None else real_mm[k] / step_mm  # where slice k really is
        x, y, z = np.rint(base + m[:3, 2, None, None] * kk).astype(np.int64)
        inside = (x >= 0) & (x < gi) & (y >= 0) & (y < gj) & (z >= 0) & (z < gk)
        out[k][inside] = labels[z[inside], y[inside], x[inside]]

    _each_slice(one, nk, threads=threads)
    return out
