"""Move volumes between a stack's voxels and a model's grid (no resampling library needed).

Affines map voxel indices ``(i, j, k, 1)`` to patient LPS millimetres; arrays are indexed
``[k, j, i]`` (slice, row, column), as stack volumes are. Intensities go to the model grid
with trilinear interpolation; labels come back to the stack's own voxels by nearest neighbour,
so an overlay drawn on the stack lines up with its anatomy in every view.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import numpy as np

from viewer.ai.resample_plan import NATIVE, BackPlan, Plan, flat_view

if TYPE_CHECKING:  # only a type here: the decoder workers import this module, not manifest
    from viewer.ai.manifest import Grid

__all__ = ["BackPlan", "Plan", "grid_affine", "labels_to_stack", "orientation_axes",
           "processes_help", "resample_to_grid", "stack_center"]

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


def processes_help() -> bool:
    """Whether ``processes=True`` sends the planes to the decoder processes, so that the
    caller's volumes are best made in shared memory (``shared``). Only for the numpy planes:
    the compiled ones (:data:`~viewer.ai.resample_plan.NATIVE`) hold no GIL and run here on
    threads as fast, in ordinary memory (numpy's arrays fault in huge pages; a memfd faults
    4 KiB at a time: 20-70 ms more per 26 MB, measured on the sample T1)."""
    return NATIVE is None


def resample_to_grid(vol: np.ndarray, src_affine: np.ndarray, dst_affine: np.ndarray,
                     dst_shape_ijk: tuple[int, int, int], fill: float = 0.0,
                     cancel=None, slice_mm=None, ijk: bool = False,
                     threads: int | None = None, processes: bool = False,
                     shared=None, value_range: list | None = None) -> np.ndarray:
    """Trilinear sample of ``vol[k, j, i]`` onto the destination grid; returns float32
    ``[k, j, i]`` of the destination (``[i, j, k]``, C-contiguous, with ``ijk``: the order
    most 3-D networks take, without a transposing copy). Points outside get ``fill``.
    ``threads``: planes are shared among that many threads (default: one per core).
    ``processes``: shared among the decoder processes instead where they can take it
    (:mod:`viewer.ai.resample_pool`; the same values, without the GIL between the threads),
    when the planes are numpy's (:func:`processes_help`);
    ``shared``: the :class:`~viewer.dicom.shm_volume.SharedVolume` that ``vol`` already is
    (not copied there). ``value_range``: a list that gets the output's ``[min(), max()]``
    (found plane by plane as they are made: no pass over the whole output).

    Gap-aware with ``slice_mm`` (each source slice's own distance along the slice normal,
    mm, ascending; the stack's ``slice_positions``): ``src_affine``'s slice column is then
    taken as one step of the median spacing along the normal, and each point's slice index
    comes from the slices' real positions (a missing slice is bridged between its
    neighbours, and slices after it are not shifted by one)."""
    src = np.asarray(vol, dtype=np.float32)
    plan = Plan(src.shape, src_affine, dst_affine, dst_shape_ijk, slice_mm, ijk)
    if processes and fill == 0 and not plan.native:
        from viewer.ai.resample_pool import resample_in_processes

        done = resample_in_processes(src, plan, cancel, shared=shared)
        if done is not None:
            if value_range is not None:
                value_range[:] = [done[1][0], done[1][1]]
            return done[0]
    # zeros: pages the OS hands over already zeroed, first touched by the worker threads
    out = (np.zeros(plan.shape, np.float32) if fill == 0
           else np.full(plan.shape, fill, np.float32))
    flat = src.reshape(-1)
    local, lock, tally = threading.local(), threading.Lock(), []

    def one(k: int) -> None:
        w = getattr(local, "w", None)
        if w is None:
            w = local.w = plan.workspace()
        r = plan.plane(flat, out[k], k, w)
        with lock:
            tally[:] = [r if not tally else Plan.combine(tally[0], r)]

    _each_slice(one, plan.shape[0], cancel, threads)
    if value_range is not None:
        value_range[:] = [tally[0][0], tally[0][1]]
    return out


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


def labels_to_stack(labels: np.ndarray, grid_aff: np.ndarray, stack_affine: np.ndarray,
                    stack_shape_kji: tuple[int, ...], slice_mm=None,
                    threads: int | None = None, counts: np.ndarray | None = None,
                    processes: bool = False, shared=None) -> np.ndarray:
    """Nearest-neighbour labels (``labels[k, j, i]`` on the grid) at every stack voxel;
    returns uint8 ``[k, j, i]`` of the stack, 0 outside the grid. ``slice_mm``: each
    slice's own position, as for :func:`resample_to_grid`. ``counts`` (int64, 256): the
    result's voxels per label value are added to it, counted slice by slice on the same
    threads (a whole-volume np.bincount cast 8 bytes a voxel: 0.03-0.18 s for the sample).
    ``processes``, ``shared``: as for :func:`resample_to_grid` (``shared``: the SharedVolume
    whose memory ``labels`` views, e.g. transposed)."""
    flat, strides = flat_view(labels)
    plan = BackPlan(labels.shape, strides, grid_aff, stack_affine, stack_shape_kji, slice_mm)
    if processes and not plan.native:
        from viewer.ai.resample_pool import run_in_processes

        done = run_in_processes(flat, plan, np.uint8, shared=shared)
        if done is not None:
            out, tally = done
            if counts is not None:
                counts[:tally.size] += tally
            return out
    out = np.zeros(plan.shape, dtype=np.uint8)
    lock = threading.Lock()
    local = threading.local()

    def one(k: int) -> None:
        w = getattr(local, "w", None)
        if w is None:  # one thread's scratch, reused for every slice
            w = local.w = plan.workspace()
        here = plan.plane(flat, out[k], k, w)
        if counts is not None:
            with lock:
                counts[:here.size] += here

    _each_slice(one, plan.shape[0], threads=threads)
    return out
