"""The compiled resampling planes (viewer/ai/_resample.c) against the numpy code they replace:
the same values bit for bit (intensities onto a model's grid, labels back onto the series), on
the sample T1's own geometry (oblique, a missing slice) and on edge cases, and a clear error
(not a crash) for arrays of the wrong size."""

from __future__ import annotations

import shutil
import sysconfig
from pathlib import Path

import numpy as np
import pytest

from viewer.ai import resample_plan
from viewer.ai.resample import grid_affine, labels_to_stack, resample_to_grid, stack_center

HAVE_COMPILER = shutil.which("cc") is not None and (
    Path(sysconfig.get_paths()["include"]) / "Python.h").exists()


def _need_native():
    if resample_plan.NATIVE is None and HAVE_COMPILER:
        pytest.fail("viewer.ai._resample is not built although a C compiler and Python's "
                    "headers are here: reinstall (pip install -e .)")
    if resample_plan.NATIVE is None:
        pytest.skip("no C compiler at install: the numpy code runs (the same values)")


def _both(vol, src, dst, shape, monkeypatch, **kw):
    """(compiled, numpy) resampling of the same case, with their [min, max]."""
    _need_native()
    got = []
    for native in (True, False):
        monkeypatch.setattr(resample_plan, "NATIVE", resample_plan.NATIVE if native else None)
        rng: list = []
        out = resample_to_grid(vol, src, dst, shape, threads=1, value_range=rng, **kw)
        got.append((out, rng))
    monkeypatch.undo()
    return got


def _same_bits(a, b) -> bool:
    return a.dtype == b.dtype == np.float32 and np.array_equal(a.view(np.uint32),
                                                                b.view(np.uint32))


@pytest.fixture(scope="module")
def t1():
    """The bundled sample T1 (JPEG-LS, 175 oblique sagittal slices, one missing), its real
    values and the tissue model's grid around it."""
    from viewer.ai.registry import discover, find
    from viewer.dicom.pixels import StackPixels, to_real_volume
    from viewer.dicom.scan import scan_folder
    from viewer.paths import sample_study_dir

    stack = scan_folder(str(sample_study_dir())).stacks()[0]
    real = to_real_volume(StackPixels(stack).load_volume(), [f.header for f in stack.frames])
    grid = find("brainchop-tissue", discover()).manifest.grid
    return stack, real.astype(np.float32), grid


@pytest.mark.parametrize("ijk", [True, False])
def test_the_sample_t1_resamples_to_the_same_bits(t1, ijk, monkeypatch):
    stack, real, grid = t1
    g = grid_affine(grid, stack_center(stack.affine, real.shape))
    (fast, fast_rng), (ref, ref_rng) = _both(real, stack.affine, g, grid.shape, monkeypatch,
                                              slice_mm=stack.slice_positions, ijk=ijk)
    assert _same_bits(fast, ref)
    assert 0.2 < np.count_nonzero(ref) / ref.size < 0.6  # the head, not the whole grid
    assert fast_rng == ref_rng == [ref.min(), ref.max()]


@pytest.mark.parametrize("transposed", [True, False])
def test_labels_come_back_onto_the_sample_t1_the_same(t1, transposed, monkeypatch):
    """Labels on the tissue grid (the runner's [i, j, k] output seen as [k, j, i] through a
    transposed view, or a plain array) mapped back onto the series' voxels, slice gap
    included: the same labels and the same voxel counts as the numpy code."""
    _need_native()
    stack, real, grid = t1
    g = grid_affine(grid, stack_center(stack.affine, real.shape))
    rng = np.random.default_rng(3)
    on_grid = rng.integers(0, 4, grid.shape, dtype=np.uint8)  # [i, j, k]
    labels = on_grid.transpose(2, 1, 0) if transposed else np.ascontiguousarray(on_grid.T)
    got = []
    for native in (True, False):
        monkeypatch.setattr(resample_plan, "NATIVE", resample_plan.NATIVE if native else None)
        counts = np.zeros(256, np.int64)
        out = labels_to_stack(labels, g, stack.affine, real.shape,
                              slice_mm=stack.slice_positions, threads=1, counts=counts)
        got.append((out, counts))
    (fast, fast_n), (ref, ref_n) = got
    assert fast.dtype == ref.dtype == np.uint8 and np.array_equal(fast, ref)
    assert np.array_equal(fast_n, ref_n) and fast_n[:4].sum() == ref.size
    assert np.array_equal(ref_n, np.bincount(ref.reshape(-1), minlength=256))
    assert np.count_nonzero(ref) > 0.5 * ref.size  # the grid covers the head


def test_edge_cases_give_the_same_bits(monkeypatch):
    """A single-slice source (k has size 1: no neighbour along it), a rotation that leaves
    part of the grid outside, no slice gaps, and a grid finer than the source."""
    rng = np.random.default_rng(5)
    vol = rng.normal(100, 40, (1, 13, 9)).astype(np.float32)
    src = np.array([[1.0, 0, 0, 0], [0, 0.8, 0, 0], [0, 0, 2.5, 0], [0, 0, 0, 1]])
    c, s = np.cos(0.4), np.sin(0.4)
    dst = np.array([[0.3 * c, -0.3 * s, 0, 1.0], [0.3 * s, 0.3 * c, 0, -2.0],
                    [0, 0, 1.0, 0.0], [0, 0, 0, 1]])
    (a, ra), (b, rb) = _both(vol, src, dst, (30, 40, 3), monkeypatch)
    assert _same_bits(a, b) and ra == rb
    assert 0 < np.count_nonzero(b[0]) < b[0].size  # plane 0 meets the slice, in part
    assert not b[1:].any()  # the others miss it


def test_not_a_number_spreads_to_the_value_range_as_numpy_does(monkeypatch):
    vol = np.full((6, 8, 8), 3.0, np.float32)
    vol[3, 4, 4] = np.nan
    (a, ra), (b, rb) = _both(vol, np.eye(4), np.eye(4), (8, 8, 6), monkeypatch)
    assert np.array_equal(a, b, equal_nan=True) and np.isnan(b).any()
    assert np.isnan(ra).all() and np.isnan(rb).all()


def test_arrays_of_the_wrong_size_are_refused_with_an_error():
    native = resample_plan.NATIVE
    if native is None:
        pytest.skip("viewer.ai._resample is not built here")
    src = np.zeros(4 * 4 * 4, np.float32)
    base = np.zeros((3, 16))
    out = np.zeros(16, np.float32)
    args = [src, (4, 4, 4), base, 0, 16, (0.0, 0.0, 0.0), (0.0,) * 3, (3.0,) * 3, b"", 1.0, out]
    assert native.trilinear(*args) == (0.0, 0.0)
    for i, bad in ((0, np.zeros(10, np.float32)), (2, np.zeros((3, 15))), (4, 17),
                   (8, np.zeros(3))):
        wrong = list(args)
        wrong[i] = bad
        with pytest.raises(ValueError, match="wrong size"):
            native.trilinear(*wrong)
    labels, out, counts = np.zeros(64, np.uint8), np.zeros(16, np.uint8), np.zeros(256, np.int64)
    args = [labels, (1, 4, 16), (3.0,) * 3, base, (0.0,) * 3, out, counts]
    assert native.nearest(*args) is None and counts[0] == 16
    for i, bad in ((3, np.zeros((3, 15))), (6, np.zeros(255, np.int64))):
        wrong = list(args)
        wrong[i] = bad
        with pytest.raises(ValueError, match="wrong size"):
            native.nearest(*wrong)
