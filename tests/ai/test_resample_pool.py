"""Resampling in the decoder processes (viewer.ai.resample_pool): the same bits as the threads,
the workers really used, a lost share redone here, and cancel."""

from __future__ import annotations

import os

import numpy as np
import pytest

from viewer.ai import resample_pool
from viewer.ai.resample import Plan, resample_to_grid
from viewer.dicom import shm_volume
from viewer.errors import OperationCancelled

pytestmark = pytest.mark.skipif(not shm_volume._ENABLED, reason="needs Linux memfd")


@pytest.fixture(autouse=True)
def numpy_planes_here(monkeypatch):
    """The processes take only numpy's planes (compiled ones run on threads here): planned
    here as numpy's, the workers still use their compiled planes where built (the same bits,
    so the comparisons below check those too)."""
    from viewer.ai import resample_plan

    monkeypatch.setattr(resample_plan, "NATIVE", None)


@pytest.fixture(scope="module")
def case():
    """An oblique 40-slice volume with a missing slice onto a 128^3 grid (2.1 M voxels: over
    resample_pool.MIN_VOXELS, so the processes take it)."""
    rng = np.random.default_rng(11)
    vol = rng.normal(500, 120, (40, 70, 64)).astype(np.float32)
    c, s = np.cos(0.2), np.sin(0.2)
    src = np.array([[1.1 * c, -1.1 * s, 0.05, -30.2], [1.1 * s, 1.1 * c, 0.0, -41.7],
                    [0.0, 0.02, 2.0, -35.3], [0, 0, 0, 1]])
    dst = np.diag([0.9, 0.9, 0.9, 1.0])
    dst[:3, 3] = [-52.1, -50.3, -44.9]
    mm = np.arange(41, dtype=float) * 2.0
    slice_mm = np.delete(mm, 17)  # slice 17 missing
    return vol, src, dst, (128, 128, 128), slice_mm


def test_processes_give_the_threads_values_bit_for_bit(case):
    vol, src, dst, shape, mm = case
    threads = resample_to_grid(vol, src, dst, shape, slice_mm=mm, ijk=True, threads=2)
    procs = resample_to_grid(vol, src, dst, shape, slice_mm=mm, ijk=True, processes=True)
    run = dict(resample_pool.LAST_RUN)
    assert run["here"] == 0 and run["pids"] and os.getpid() not in run["pids"]
    assert procs.dtype == np.float32 and procs.shape == threads.shape
    assert 0 < np.count_nonzero(threads) < threads.size  # part of the grid is outside
    assert np.array_equal(procs.view(np.uint32), threads.view(np.uint32))


def test_a_share_lost_in_the_workers_is_computed_here(case, monkeypatch):
    vol, src, dst, shape, mm = case
    want = resample_to_grid(vol, src, dst, shape, slice_mm=mm, threads=1)
    from viewer.dicom import decode_pool

    real_run_each = decode_pool.run_each

    def losing(fn, jobs, **kw):  # every other share comes back as a worker's failure
        for i, result in real_run_each(fn, jobs, **kw):
            yield i, ("lost" if i % 2 else result)

    monkeypatch.setattr(decode_pool, "run_each", losing)
    got = resample_to_grid(vol, src, dst, shape, slice_mm=mm, processes=True)
    assert resample_pool.LAST_RUN["here"] > 0
    assert np.array_equal(got.view(np.uint32), want.view(np.uint32))


def test_cancel_stops_the_processes(case):
    vol, src, dst, shape, mm = case
    with pytest.raises(OperationCancelled):
        resample_to_grid(vol, src, dst, shape, slice_mm=mm, processes=True, cancel=lambda: True)


def test_a_worker_refuses_a_descriptor_whose_number_was_reused(case):
    vol, src, dst, shape, mm = case
    a = shm_volume.allocate((4, 5), np.float32)
    b = shm_volume.allocate((4, 5), np.float32)
    assert shm_volume.open_region(a.region()) is not None
    other = a.region()
    forged = shm_volume.Region(other.pid, other.fd, b.dev, b.ino, other.shape, other.dtype)
    assert shm_volume.open_region(forged) is None  # a's number, b's inode: not written
    job = resample_pool._Job("Plan", Plan(vol.shape, src, dst, shape, mm).args, forged, forged,
                             (0,))
    assert isinstance(resample_pool._run_one(job), str)  # why, and the app does the planes


@pytest.mark.parametrize("slope,intercept,per_frame", [(1.0, 0.0, False), (0.37, -12.5, False),
                                                       (2.0, 5.0, True)])
def test_real_values_written_into_shared_memory_are_the_plain_conversion(slope, intercept,
                                                                         per_frame):
    """The runner writes a 3-D model's volume straight into shared memory: the values of
    to_real_volume, whatever the rescale (one for all slices, or one per slice)."""
    from viewer.dicom.pixels import to_real_volume

    class Head:
        modality_lut = None

        def __init__(self, k):
            self.rescale_slope = slope * (1 + k if per_frame else 1)
            self.rescale_intercept = intercept

    rng = np.random.default_rng(5)
    stored = rng.integers(-1000, 3000, (6, 9, 11)).astype(np.int16)
    heads = [Head(k) for k in range(6)]
    want = to_real_volume(stored, heads)
    shared = shm_volume.allocate(stored.shape, np.float32)
    got = to_real_volume(stored, heads, out=shared.array)
    assert got is shared.array and want.dtype == np.float32
    assert np.array_equal(got.view(np.uint32), want.view(np.uint32))


def test_a_volume_already_in_shared_memory_resamples_the_same(case):
    vol, src, dst, shape, mm = case
    shared = shm_volume.allocate(vol.shape, np.float32)
    np.copyto(shared.array, vol)
    want = resample_to_grid(vol, src, dst, shape, slice_mm=mm, threads=2)
    got = resample_to_grid(shared.array, src, dst, shape, slice_mm=mm, processes=True,
                           shared=shared)
    assert resample_pool.LAST_RUN["pids"] and resample_pool.LAST_RUN["here"] == 0
    assert np.array_equal(got.view(np.uint32), want.view(np.uint32))


def test_labels_map_back_in_the_processes_the_same_with_their_counts(case):
    """The runner's labels (an [i, j, k] array in shared memory, seen as [k, j, i]) come back
    onto a 1.1 M-voxel stack in the workers: the threads' labels and per-label counts."""
    from viewer.ai.resample import labels_to_stack

    vol, src, dst, shape, mm = case
    rng = np.random.default_rng(3)
    shared = shm_volume.allocate((60, 64, 56), np.uint8)
    shared.array[...] = rng.integers(0, 4, shared.array.shape)
    labels = shared.array.transpose(2, 1, 0)
    stack_shape = (40, 170, 160)  # 1.09 M voxels
    want_counts, got_counts = np.zeros(256, np.int64), np.zeros(256, np.int64)
    want = labels_to_stack(labels, np.linalg.inv(src) @ dst @ np.diag([0.4, 0.4, 0.4, 1]),
                           np.eye(4), stack_shape, threads=2, counts=want_counts)
    got = labels_to_stack(labels, np.linalg.inv(src) @ dst @ np.diag([0.4, 0.4, 0.4, 1]),
                          np.eye(4), stack_shape, counts=got_counts, processes=True,
                          shared=shared)
    assert resample_pool.LAST_RUN["pids"] and resample_pool.LAST_RUN["here"] == 0
    assert 0 < np.count_nonzero(want) < want.size
    assert np.array_equal(got, want) and np.array_equal(got_counts, want_counts)
    assert want_counts.sum() == want.size


@pytest.mark.parametrize("processes", [False, True])
def test_the_value_range_found_plane_by_plane_is_the_volumes(case, processes):
    """The planes' [min, max], put together, are the output's min() and max(); a minmax
    normalisation given them (and done block by block) gives the same bits as from scratch."""
    from viewer.ai.preprocess import apply_intensity

    vol, src, dst, shape, mm = case
    found: list = []
    x = resample_to_grid(vol, src, dst, shape, slice_mm=mm, processes=processes,
                         value_range=found)
    assert [float(v) for v in found] == [float(x.min()), float(x.max())]
    assert found[0] == 0.0 < found[1]  # part of the grid is outside the volume
    plain = apply_intensity(x.copy(), [{"op": "minmax"}])
    given = apply_intensity(x, [{"op": "minmax"}], inplace=True, value_range=found)
    assert given is x and np.array_equal(given.view(np.uint32), plain.view(np.uint32))
