"""How each output plane of a resampling is computed, in this process or in a decoder worker
(:mod:`viewer.ai.resample_pool`): the same arguments build the same plan, and the same plan
gives the same values bit for bit.

:class:`Plan`: trilinear intensities onto a model's grid (:func:`viewer.ai.resample.
resample_to_grid`); :class:`BackPlan`: nearest-neighbour labels back onto the stack
(:func:`viewer.ai.resample.labels_to_stack`). Arrays are indexed ``[k, j, i]``; affines map
voxel indices ``(i, j, k, 1)`` to patient LPS millimetres.

Each plane runs compiled (:data:`NATIVE`, ``viewer/ai/_resample.c``: the numpy code below
operation for operation, the same bits) where the extension was built at install, else in
numpy.
"""

from __future__ import annotations

import numpy as np

try:  # the same values compiled (optional: built where a C compiler was at install)
    from viewer.ai import _resample as NATIVE
except ImportError:  # pragma: no cover - depends on the install
    NATIVE = None


def _gaps(slice_mm, nk: int):
    """``slice_mm`` as a float array of ``nk`` ascending distances, or None (uniform)."""
    if slice_mm is None:
        return None
    d = np.asarray(slice_mm, float)
    if d.shape != (nk,) or nk < 2 or not np.all(np.diff(d) > 0):
        return None  # duplicates or one slice: the uniform affine is all there is
    return d - d[0]


def _step_mm(affine: np.ndarray, real_mm) -> float:
    """Length (mm) of the affine's slice column along the slice normal."""
    if real_mm is None:
        return 1.0
    a = np.asarray(affine, float)[:3, :3]
    n = np.cross(a[:, 0], a[:, 1])
    return float(abs(a[:, 2] @ (n / np.linalg.norm(n))))


class Plan:
    """How each output plane of :func:`resample_to_grid` is computed: built from the same
    arguments, in this process or in a worker (:mod:`viewer.ai.resample_pool`), it gives the
    same values bit for bit."""

    def __init__(self, src_shape, src_affine, dst_affine, dst_shape_ijk, slice_mm=None,
                 ijk: bool = False):
        self.args = (tuple(src_shape), np.asarray(src_affine, float),
                     np.asarray(dst_affine, float), tuple(dst_shape_ijk),
                     None if slice_mm is None else np.asarray(slice_mm, float), ijk)
        nk, nj, ni = src_shape
        self.nk = nk
        self.real_mm = _gaps(slice_mm, nk)
        self.step_mm = _step_mm(src_affine, self.real_mm)
        m = self.m = np.linalg.inv(src_affine) @ dst_affine  # destination -> source index
        di, dj, dk = dst_shape_ijk
        # The output's first axis is walked plane by plane: k (default) or i (``ijk``); ``a``
        # and ``b`` are the destination axes of each plane's rows and columns.
        self.outer, a, b = (0, 1, 2) if ijk else (2, 1, 0)
        self.shape = (di, dj, dk) if ijk else (dk, dj, di)
        rr, cc = np.mgrid[0:self.shape[1], 0:self.shape[2]].astype(np.float64)
        base = m[:3, a, None, None] * rr + m[:3, b, None, None] * cc + m[:3, 3, None, None]
        self.sizes = (ni, nj, nk)
        # Flat offsets of the +1 neighbours along i, j, k (none along an axis of size 1).
        self.step = (1 if ni > 1 else 0, ni if nj > 1 else 0, ni * nj if nk > 1 else 0)
        e = 1e-4  # rounding of the affine product must not drop the edge voxels
        real_mm, step_mm = self.real_mm, self.step_mm
        self.hi = [ni - 1 + e, nj - 1 + e, nk - 1 + e]
        if real_mm is not None:  # the slice index is tested in mm along the normal instead
            self.hi[2] = real_mm[-1] + e * step_mm
        self.lo = [-e, -e, -e * step_mm if real_mm is not None else -e]
        self.bands = _Bands(base, self.lo, self.hi, step_mm if real_mm is not None else 1.0)
        self.base = base.reshape(3, -1)
        self.native = NATIVE is not None  # False: the numpy code (the tests compare the two)

    def workspace(self) -> _Workspace:
        """Scratch arrays for :meth:`plane` (one per thread)."""
        return _Workspace(min(CHUNK, self.base.shape[1]))

    def plane(self, flat: np.ndarray, out_plane: np.ndarray, k: int,
              w: _Workspace) -> np.ndarray:
        """Plane ``k`` of the output into ``out_plane`` (its voxels outside the source are
        left as they are); ``flat`` is the source volume, float32, raveled. Returns the
        plane's [minimum, maximum] (float32, taken while it is in cache; :meth:`combine` of
        every plane's is the volume's ``min()`` and ``max()``)."""
        kept = self.bands.kept(self.m[:3, self.outer] * k)  # the voxels that may fall inside
        if (kept is not None and self.native and flat.dtype == np.float32
                and out_plane.dtype == np.float32 and out_plane.flags.c_contiguous):
            real = b"" if self.real_mm is None else self.real_mm
            lo_hi = NATIVE.trilinear(flat, self.sizes, self.base, kept.start, kept.stop,
                                     tuple(self.m[:3, self.outer] * k), tuple(self.lo),
                                     tuple(self.hi), real, self.step_mm, out_plane)
            return np.array(lo_hi, np.float32)
        if kept is not None:
            flat_out = out_plane.reshape(-1)
            shift = self.m[:3, self.outer, None] * k
            for s0 in range(kept.start, kept.stop, CHUNK):
                self._part(flat, w, slice(s0, min(s0 + CHUNK, kept.stop)), shift, flat_out)
        return np.array([out_plane.min(), out_plane.max()])

    @staticmethod
    def combine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Two planes' [minimum, maximum] as one (NaN spreads, as ndarray.min)."""
        return np.array([np.minimum(a[0], b[0]), np.maximum(a[1], b[1])])

    def _part(self, flat, w, kept: slice, shift, flat_out) -> None:
        lo, hi, real_mm = self.lo, self.hi, self.real_mm
        c = np.add(self.base[:, kept], shift, out=w.c[:, :kept.stop - kept.start])
        if real_mm is not None:
            np.multiply(c[2], self.step_mm, out=c[2])  # mm along the normal, tested as such
        inside, test = w.inside[:c.shape[1]], w.test[:c.shape[1]]
        np.greater_equal(c[0], lo[0], out=inside)
        for ax in range(3):
            if ax:
                np.greater_equal(c[ax], lo[ax], out=test)
                inside &= test
            np.less_equal(c[ax], hi[ax], out=test)
            inside &= test
        nz = np.flatnonzero(inside)  # once: np.compress per axis searched the mask 3 times
        n = nz.size
        if not n:
            return
        if n == c.shape[1]:  # the whole range is inside: c itself (scratch from here)
            sel = list(c)
        else:
            sel = [np.take(c[ax], nz, out=w.sel[ax, :n], mode="clip") for ax in range(3)]
        if real_mm is not None:  # mm -> the real slice index (a missing slice is bridged)
            sel[2][:] = np.interp(sel[2], real_mm, np.arange(self.nk, dtype=float))
        plane = flat_out[kept]
        vals = _trilinear(flat, self.sizes, self.step, sel, w, n)
        if n == plane.size:
            plane[:] = vals
        else:
            plane[nz] = vals


# Voxels computed at a time: a whole 256^2 plane. Smaller blocks stay in cache but call numpy
# more often, and two threads then waited on each other for the GIL (no gain from the second).
CHUNK = 1 << 16


class _Bands:
    """Which rows of a destination plane can reach the source: planes are split in bands of
    rows, and a band whose four corners (an affine map: they bound it) all miss the source
    along one axis is skipped. Half of a 256^3 grid lies outside a head's field of view."""

    ROWS = 16

    def __init__(self, base: np.ndarray, lo, hi, z_scale: float, margin: float = 1e-2):
        rows, cols = base.shape[1:]
        self.cols = cols
        self.starts = np.arange(0, rows, self.ROWS)
        self.ends = np.minimum(self.starts + self.ROWS, rows)
        r = np.stack([self.starts, self.starts, self.ends - 1, self.ends - 1], axis=1)
        c = np.array([0, cols - 1, 0, cols - 1])
        self.corners = base[:, r, c[None, :]]  # (3, bands, 4) source indices, less the plane
        self.scale = np.array([1.0, 1.0, z_scale])[:, None, None]
        # margin voxels of slack: only a band that clearly misses is skipped; the
        # per-voxel test decides the rest
        self.lo = np.asarray(lo, float)[:, None, None] - margin * self.scale
        self.hi = np.asarray(hi, float)[:, None, None] + margin * self.scale

    def kept(self, offset: np.ndarray) -> slice | None:
        """The flat voxel range of the plane at source ``offset`` (3,) to compute, or None."""
        c = (self.corners + offset[:, None, None]) * self.scale
        miss = ((c < self.lo).all(axis=2) | (c > self.hi).all(axis=2)).any(axis=0)
        keep = np.flatnonzero(~miss)
        if not keep.size:
            return None
        return slice(int(self.starts[keep[0]]) * self.cols, int(self.ends[keep[-1]]) * self.cols)


class _Workspace:
    """One thread's scratch arrays for :func:`resample_to_grid`, reused for every plane of
    ``n`` voxels: fresh 0.5 MB temporaries per plane went through mmap and page faults
    (150k-250k faults, +0.2 s of CPU in a fresh process for a 256^3 grid)."""

    def __init__(self, n: int):
        self.c = np.empty((3, n))  # source indices, float64 (which voxel: no drift)
        self.inside, self.test = np.empty(n, bool), np.empty(n, bool)
        self.sel = np.empty((3, n))  # the inside voxels' source indices
        self.pos = np.empty(n)
        self.idx = np.empty(n, np.int64)
        self.frac = np.empty((3, n), np.float32)
        self.val = np.empty((4, n), np.float32)


def _trilinear(flat, sizes, step, sel, w: _Workspace, n: int) -> np.ndarray:
    """Trilinear values (float32, a view into ``w``) of ``flat`` (a C-order ``[k, j, i]``
    volume, raveled) at the ``n`` source indices ``sel`` = (x, y, z) (float64, inside the
    volume up to rounding). Weights and sums are float32, the network's own precision."""
    idx, pos = w.idx[:n], w.pos[:n]
    # Whole-number steps stay float64 (exact below 2**53) and become one flat index at the
    # end: the same values as integer arithmetic, with fewer and cheaper passes.
    acc = sel[0]
    for ax, (q, size, stride) in enumerate(zip(sel, sizes, (1, sizes[0], sizes[0] * sizes[1]),
                                               strict=True)):
        np.maximum(q, 0, out=pos)  # clip to the volume (np.clip's values, faster)
        np.minimum(pos, size - 1, out=pos)
        np.floor(pos, out=q)  # q is scratch now
        np.minimum(q, max(size - 2, 0), out=q)  # the lower corner
        np.subtract(pos, q, out=w.frac[ax, :n], casting="same_kind")  # float64 -> float32
        if ax:
            q *= stride
            acc += q
    np.copyto(idx, acc, casting="unsafe")  # whole numbers: exact
    fx, fy, fz = w.frac[:, :n]
    sx, sy, sz = step
    a, b, c, d = w.val[:, :n]

    def take(o, dst):  # flat[idx + o]; every index is inside (mode "clip" skips the
        return np.take(flat[o:], idx, out=dst, mode="clip")  # buffered copy of "raise")

    def lerp(lo, hi, f):  # lo + f (hi - lo), in place in lo
        hi -= lo
        hi *= f
        lo += hi
        return lo

    def row(o, dst, tmp):  # along i at flat offset o, into dst
        return lerp(take(o, dst), take(o + sx, tmp), fx)

    lerp(row(0, a, b), row(sy, b, c), fy)
    lerp(row(sz, b, c), row(sz + sy, c, d), fy)
    return lerp(a, b, fz)


class BackPlan:
    """How each stack slice of :func:`viewer.ai.resample.labels_to_stack` is computed (nearest
    neighbour): built from the same arguments here or in a worker, the same labels.
    ``strides``: the element strides of the label array's (x, y, z) = (i, j, k) axes in its
    flat memory (:func:`flat_view`)."""

    def __init__(self, labels_shape, strides, grid_aff, stack_affine, stack_shape_kji,
                 slice_mm=None):
        self.args = (tuple(labels_shape), tuple(strides), np.asarray(grid_aff, float),
                     np.asarray(stack_affine, float), tuple(stack_shape_kji[:3]),
                     None if slice_mm is None else np.asarray(slice_mm, float))
        nk, nj, ni = stack_shape_kji[:3]
        self.shape = (nk, nj, ni)
        self.real_mm = _gaps(slice_mm, nk)
        self.step_mm = _step_mm(stack_affine, self.real_mm)
        gk, gj, gi = labels_shape
        self.strides = strides
        m = self.m = np.linalg.inv(grid_aff) @ stack_affine  # stack index -> grid index
        jj, ii = np.mgrid[0:nj, 0:ni].astype(np.float64)
        base = m[:3, 0, None, None] * ii + m[:3, 1, None, None] * jj + m[:3, 3, None, None]
        self.base = base.reshape(3, -1)
        self.top = np.array([gi - 1, gj - 1, gk - 1], float)
        self.native = NATIVE is not None  # False: the numpy code (the tests compare the two)

    def workspace(self):
        """Scratch arrays for :meth:`plane` (one per thread)."""
        n = self.base.shape[1]
        return (np.empty((3, n)), np.empty(n, bool), np.empty(n, bool), np.empty(n),
                np.empty(n, np.int64))

    def plane(self, flat: np.ndarray, out_plane: np.ndarray, k: int, w) -> np.ndarray:
        """Stack slice ``k``'s labels into ``out_plane`` (uint8) from the grid's labels
        ``flat``; returns its voxels per label value (np.bincount)."""
        m, strides = self.m, self.strides
        kk = k if self.real_mm is None else self.real_mm[k] / self.step_mm  # slice k's place
        if (self.native and flat.dtype == np.uint8 and out_plane.dtype == np.uint8
                and out_plane.flags.c_contiguous and flat.flags.c_contiguous):
            counts = np.zeros(256, np.int64)
            NATIVE.nearest(flat, tuple(strides), tuple(self.top), self.base,
                           tuple(m[:3, 2] * kk), out_plane, counts)
            return counts
        c, inside, test, off, at = w
        np.add(self.base, m[:3, 2, None] * kk, out=c)
        np.rint(c, out=c)  # whole grid indices (x, y, z), compared as the integers they are
        np.greater_equal(c[0], 0, out=inside)
        for ax in range(3):
            if ax:
                np.greater_equal(c[ax], 0, out=test)
                inside &= test
            np.less_equal(c[ax], self.top[ax], out=test)
            inside &= test
        # The flat offset through the labels' own strides (exact in float64); an outside
        # voxel's offset is clipped into range by the gather and zeroed by the mask.
        np.multiply(c[0], strides[0], out=off)
        for ax in (1, 2):
            c[ax] *= strides[ax]
            off += c[ax]
        np.copyto(at, off, casting="unsafe")
        dst = out_plane.reshape(-1)
        np.take(flat, at, out=dst, mode="clip")
        dst *= inside  # 0 outside the grid
        return np.bincount(dst, minlength=256)

    combine = staticmethod(np.add)  # the slices' counts add up


def flat_view(labels: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int]]:
    """``labels`` as a 1-D view of its memory and the element strides of its axes (x, y, z)
    = (i, j, k) in that view: a transposed view (the runner's ``[i, j, k]`` output seen as
    ``[k, j, i]``) is gathered from without a copy."""
    order = np.argsort(labels.strides)[::-1]
    packed = labels.transpose(order)
    if not packed.flags.c_contiguous:  # a strided view: copied once
        labels = np.ascontiguousarray(labels)
        packed = labels
    st = [s // labels.itemsize for s in labels.strides]
    return packed.reshape(-1), (st[2], st[1], st[0])
