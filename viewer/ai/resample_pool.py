"""Resampling in the decoder processes: the planes of :func:`viewer.ai.resample.resample_to_grid`
(and the stack slices of :func:`~viewer.ai.resample.labels_to_stack`) shared among processes
instead of threads, with the same values.

Two threads of numpy calls gained little on 2 cores (1.0-1.37x: each of the ~50 calls a plane
makes gives the GIL up and takes it back). The decoder processes (:mod:`viewer.dicom.decode_pool`),
idle once the volume is read, each take interleaved planes. The source and the output are memfd
volumes (:mod:`viewer.dicom.shm_volume`) that the workers map through ``/proc/<app pid>/fd``:
only the plan's arguments are pickled, and the output is the array handed to the network.
Planes that cannot go that way (no memfd, /proc hidden, a worker lost) are computed here on
threads, with the same values; nothing here is native code, so a worker's crash is not the
input's fault.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass

import numpy as np

from viewer.ai.resample_plan import BackPlan, Plan

MIN_VOXELS = 1 << 20  # a smaller grid is done on threads before the processes would answer
LAST_RUN: dict = {}  # what the last call did: {"pids": set of worker pids, "here": n planes}
_PLANS = {"Plan": Plan, "BackPlan": BackPlan}


@dataclass(frozen=True)
class _Job:
    """One worker's share: ``planes`` of the output, from the plan's kind and arguments."""

    kind: str
    plan_args: tuple
    src: object  # shm_volume.Region of the source
    dst: object  # shm_volume.Region of the output
    planes: tuple[int, ...]


class _Poll:
    """A cancel callable as the Event-like object decode_pool.run_each polls."""

    def __init__(self, cancel):
        self.cancel = cancel

    def is_set(self) -> bool:
        return bool(self.cancel is not None and self.cancel())


def resample_in_processes(src: np.ndarray, plan: Plan, cancel=None, shared=None):
    """``(output, [min, max] of it)`` of ``plan`` (zero outside the source) computed in the
    decoder processes, or None where they cannot take it (the caller then uses threads).
    ``src``: float32 [k, j, i]; ``shared``: the SharedVolume whose array ``src`` is (else it
    is copied into one).

    Raises OperationCancelled when ``cancel()`` turns true."""
    return run_in_processes(src, plan, np.float32, cancel, shared)


def run_in_processes(src: np.ndarray, plan, out_dtype, cancel=None, shared=None):
    """``(output, tally)`` of ``plan`` (a :class:`Plan` or :class:`BackPlan`: an output
    ``plan.shape`` of ``out_dtype``, zero where no plane writes; ``tally``: what its planes
    return, put together by ``plan.combine``) computed in the decoder processes; None where
    they cannot take it. ``src``: the plan's source (its memory is what the planes read);
    ``shared``: the SharedVolume of that memory (else it is copied into one)."""
    from viewer.dicom import decode_pool, shm_volume
    from viewer.errors import OperationCancelled

    LAST_RUN.clear()
    if (int(np.prod(plan.shape)) < MIN_VOXELS or decode_pool.workers() < 2
            or decode_pool.is_closed()):
        return None
    decode_pool.start()
    if not decode_pool.pids():  # no worker processes on this host: threads, not one loop
        return None
    src = np.ascontiguousarray(src)
    if shared is not None and not (shared.array.ctypes.data == src.ctypes.data
                                   and shared.array.nbytes == src.nbytes
                                   and shared.array.dtype == src.dtype):
        shared = None  # not the same memory: copied like any other volume
    shared_src = shared or shm_volume.allocate(src.shape, src.dtype)
    out = shm_volume.allocate(plan.shape, out_dtype)  # a memfd reads as zeros
    if shared_src is None or out is None:
        return None
    if shared_src is not shared:
        np.copyto(shared_src.array, src)
    n = plan.shape[0]
    parts = 4 * decode_pool.workers()  # interleaved: each share has inner and outer planes
    jobs = [_Job(type(plan).__name__, plan.args, shared_src.region(), out.region(),
                 tuple(range(p, n, parts))) for p in range(min(parts, n))]
    poll = _Poll(cancel)
    left = set(range(len(jobs)))
    pids = set()
    tally = None
    for i, result in decode_pool.run_each(_run_jobs, jobs, cancel=poll, batch=1):
        if isinstance(result, tuple):
            left.discard(i)
            pids.add(result[0])
            tally = _add(tally, result[1], plan.combine)
    if poll.is_set():
        raise OperationCancelled("resampling cancelled")
    here = sorted(k for i in left for k in jobs[i].planes)  # not done there: done here
    if here:
        import threading

        from viewer.ai.resample import _each_slice

        flat, local, lock = src.reshape(-1), threading.local(), threading.Lock()

        def one(j: int) -> None:
            nonlocal tally
            w = getattr(local, "w", None)
            if w is None:
                w = local.w = plan.workspace()
            r = plan.plane(flat, out.array[here[j]], here[j], w)
            with lock:
                tally = _add(tally, r, plan.combine)

        _each_slice(one, len(here), cancel)
    LAST_RUN.update(pids=pids, here=len(here))
    return out.array, tally  # the mapping outlives the descriptor, closed with ``out``


def _add(total, part, combine):
    if part is None:
        return total
    return part.copy() if total is None else combine(total, part)


_cached: tuple[bytes, object] | None = None  # (worker) the last plan, built once per run


def _run_jobs(jobs: list[_Job]) -> list:
    """(worker) Each job's planes written into the app's output; per job (this process's
    pid, what its planes returned, combined), or why it could not (then the app computes
    them)."""
    return [_run_one(job) for job in jobs]


def _run_one(job: _Job):
    global _cached
    from viewer.dicom.shm_volume import open_region

    try:
        src = open_region(job.src)
        dst = open_region(job.dst, write=True)
        if src is None or dst is None:
            return "the shared volumes cannot be opened here"
        key = pickle.dumps((job.kind, job.plan_args))
        if _cached is None or _cached[0] != key:
            _cached = (key, _PLANS[job.kind](*job.plan_args))
        plan = _cached[1]
        flat, w, tally = src.reshape(-1), plan.workspace(), None
        for k in job.planes:
            tally = _add(tally, plan.plane(flat, dst[k], k, w), plan.combine)
        return os.getpid(), tally
    except Exception as exc:  # noqa: BLE001 - any failure: the app does these planes itself
        return f"{type(exc).__name__}: {exc}"
