"""The 3-D analysis path's fast pieces give the values of the plain ones they replace:
running-max labels = argmax (ties, NaN), float32 trilinear = the float64 formula, resampling
straight into [i, j, k] = the transpose, in-place normalisation = the copying one, snapshots
from three planes = snapshots from the whole volume."""

from __future__ import annotations

import numpy as np
import pytest

from viewer.ai.labels import channel_labels
from viewer.ai.preprocess import apply_intensity
from viewer.ai.resample import resample_to_grid


def test_running_max_labels_equal_argmax_with_ties_across_blocks():
    rng = np.random.default_rng(0)
    # 3 values in 5 channels: most voxels tie; 64*64*40 voxels span two of the blocks.
    logits = rng.integers(0, 3, (5, 64, 64, 40)).astype(np.float32)
    values = np.array([0, 3, 7, 9, 200], np.uint8)
    got = channel_labels(logits, values)
    assert got.dtype == np.uint8 and got.shape == (64, 64, 40)
    assert np.array_equal(got, values[np.argmax(logits, axis=0)])
    assert (np.sort(logits, 0)[-1] == np.sort(logits, 0)[-2]).mean() > 0.3  # ties were tested


def test_running_max_labels_skip_nan_logits():
    logits = np.array([[np.nan, 1, 5, np.nan], [2, np.nan, 5, np.nan], [1, 3, 4, np.nan]],
                      np.float32)  # (C=3, 4 voxels)
    got = channel_labels(logits, np.array([10, 20, 30], np.uint8))
    assert list(got) == [20, 30, 10, 10]  # nanargmax; ties -> first; all NaN -> channel 0


def _trilinear_float64(vol, m, shape_ijk):
    """The textbook formula in float64 at every destination voxel ([k, j, i] out)."""
    nk, nj, ni = vol.shape
    di, dj, dk = shape_ijk
    kk, jj, ii = np.mgrid[0:dk, 0:dj, 0:di].astype(float)
    x, y, z = (m[r, 0] * ii + m[r, 1] * jj + m[r, 2] * kk + m[r, 3] for r in range(3))
    e = 1e-4
    inside = ((x >= -e) & (x <= ni - 1 + e) & (y >= -e) & (y <= nj - 1 + e) & (z >= -e)
              & (z <= nk - 1 + e))
    out = np.zeros(kk.shape)
    x, y, z = (np.clip(v[inside], 0, n - 1) for v, n in ((x, ni), (y, nj), (z, nk)))
    x0, y0, z0 = (np.minimum(np.floor(v).astype(int), max(n - 2, 0))
                  for v, n in ((x, ni), (y, nj), (z, nk)))
    acc = 0.0
    for dz in (0, 1):
        for dy in (0, 1):
            for dx in (0, 1):
                w = ((x - x0 if dx else 1 - (x - x0)) * (y - y0 if dy else 1 - (y - y0))
                     * (z - z0 if dz else 1 - (z - z0)))
                acc = acc + w * vol[np.minimum(z0 + dz, nk - 1), np.minimum(y0 + dy, nj - 1),
                                    np.minimum(x0 + dx, ni - 1)]
    out[inside] = acc
    return out


@pytest.mark.parametrize("shape", [(20, 24, 28), (1, 24, 28)])  # a volume and a single slice
def test_float32_resampling_matches_float64_and_ijk_is_the_transpose(shape):
    rng = np.random.default_rng(1)
    vol = rng.uniform(0, 1000, shape).astype(np.uint16).astype(np.float32)
    src = np.eye(4)
    src[:3, :3] = np.diag([0.9, 1.1, 2.0])
    c, s = np.cos(0.3), np.sin(0.3)  # oblique: a rotation about the slice normal and a shift
    dst = np.eye(4)
    dst[:3, :3] = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]) * 0.8
    dst[:3, 3] = [2.3, -1.7, 0.0 if shape[0] == 1 else 3.1]
    grid = (30, 26, 1 if shape[0] == 1 else 18)
    got = resample_to_grid(vol, src, dst, grid)
    ref = _trilinear_float64(vol, np.linalg.inv(src) @ dst, grid)
    assert got.dtype == np.float32 and got.shape == ref.shape[::1]
    assert (ref > 0).mean() > 0.3  # most of the grid is inside the volume
    assert np.abs(got - ref).max() <= 1e-3  # float32 of values up to 1000
    ijk = resample_to_grid(vol, src, dst, grid, ijk=True)
    assert ijk.flags.c_contiguous and ijk.shape == grid
    assert np.allclose(ijk, got.transpose(2, 1, 0), atol=1e-3, rtol=0)


@pytest.mark.parametrize("ops", [[{"op": "minmax"}], [{"op": "zscore"}],
                                 [{"op": "percentile_clip", "low": 1, "high": 99},
                                  {"op": "minmax"}]])
def test_in_place_normalisation_gives_the_same_values(ops):
    x = np.random.default_rng(2).gamma(2.0, 100.0, (8, 30, 30)).astype(np.float32)
    ref = apply_intensity(x.copy(), ops)
    mine = x.copy()
    got = apply_intensity(mine, ops, inplace=True)
    assert np.array_equal(got, ref)
    if ops[0]["op"] != "percentile_clip":  # the linear op wrote into the caller's array
        assert got is mine
    flat = np.full((4, 4), 7.0, np.float32)
    assert not apply_intensity(flat, [{"op": "minmax"}], inplace=True).any()  # no range: 0


def test_snapshot_planes_equal_the_whole_volume_conversion():
    from viewer.ai.snapshot import representative_planes, to_grey
    from viewer.dicom.reformat import PLANES, Reformat

    rng = np.random.default_rng(3)
    real = rng.normal(300, 80, (12, 20, 16)).astype(np.float32)
    labels = np.zeros(real.shape, np.uint8)
    labels[3:9, 5:15, 2:7] = 1
    labels[6:11, 10:18, 9:14] = 2
    affine = np.diag([0.8, 0.8, 2.5, 1.0])
    colors = {1: (255, 0, 0), 2: (0, 255, 0)}
    got = list(representative_planes(real, labels, affine, colors))
    r = Reformat.from_affine(affine, real.shape)
    nz = np.argwhere(r.canonical(labels) > 0).mean(axis=0)  # the plain way, whole volume
    grey = to_grey(real)
    from viewer.ai.snapshot import blend

    for (plane, idx, rgb, _), m, want_plane in zip(got, range(3), PLANES, strict=True):
        assert plane == want_plane and idx == int(round(nz[m]))
        want = blend(np.ascontiguousarray(r.plane(grey, plane, idx)),
                     r.plane(labels, plane, idx), colors)
        assert np.array_equal(rgb, want)
    # From stored values with an increasing rescale: the same images, the volume unconverted.
    stored = rng.integers(0, 1200, real.shape).astype(np.uint16)

    def convert(v):
        return v.astype(np.float32) * np.float32(0.75) + np.float32(-20.0)

    direct = list(representative_planes(convert(stored), labels, affine, colors))
    taken = list(representative_planes(stored, labels, affine, colors, convert=convert))
    for (p1, i1, rgb1, s1), (p2, i2, rgb2, s2) in zip(direct, taken, strict=True):
        assert (p1, i1, s1) == (p2, i2, s2) and np.array_equal(rgb1, rgb2)


@pytest.mark.parametrize("gap", [False, True])
def test_resampling_a_grid_much_larger_than_the_volume_keeps_every_edge_voxel(gap):
    """The rows of a plane that cannot reach the source are skipped (bands bounded by their
    corners): the voxels inside, edges included, are the float64 formula's, the rest fill.
    With a missing slice, the gap-aware result is the uniform one of the volume with that
    slice put back as the mean of its neighbours (linear along the normal either way)."""
    rng = np.random.default_rng(4)
    vol = rng.uniform(1, 1000, (9, 14, 12)).astype(np.float32)  # > 0: inside shows
    src = np.eye(4)
    src[:3, :3] = np.diag([1.1, 0.9, 1.5])
    ax = np.array([0.3, -0.5, 0.8]) / np.linalg.norm([0.3, -0.5, 0.8])
    k = np.array([[0, -ax[2], ax[1]], [ax[2], 0, -ax[0]], [-ax[1], ax[0], 0]])
    rot = np.eye(3) + np.sin(0.2) * k + (1 - np.cos(0.2)) * k @ k  # 11 deg about a tilt
    dst = np.eye(4)
    dst[:3, :3] = rot * 0.7
    dst[:3, 3] = [-9.0, -8.0, -6.0]
    grid = (48, 44, 40)  # the volume fills a small part of it
    if gap:  # slice 5 of 10 missing: positions 0..4, 6..9 along the normal (1.5 mm steps)
        full = np.concatenate([vol[:5], (vol[4:5] + vol[5:6]) / 2, vol[5:]])
        mm = np.r_[0:5, 6:10] * 1.5
        got = resample_to_grid(vol, src, dst, grid, slice_mm=mm)
    else:
        full = vol
        got = resample_to_grid(vol, src, dst, grid)
    ref = _trilinear_float64(full, np.linalg.inv(src) @ dst, grid)
    assert 0.02 < (ref > 0).mean() < 0.3  # most rows and planes miss the volume
    assert np.array_equal(got > 0, ref > 0)  # no edge voxel dropped, none added
    assert np.abs(got - ref).max() <= 1e-3


def _nearest_reference(labels, grid_aff, stack_aff, shape_kji):
    """Nearest-neighbour labels at every stack voxel, written the plain way."""
    k, j, i = np.meshgrid(*(np.arange(n) for n in shape_kji), indexing="ij")
    m = np.linalg.inv(grid_aff) @ stack_aff
    idx = np.stack([i, j, k, np.ones_like(i)], axis=-1).astype(float) @ m.T
    x, y, z = (np.rint(idx[..., a]).astype(np.int64) for a in range(3))
    gk, gj, gi = labels.shape
    inside = (x >= 0) & (x < gi) & (y >= 0) & (y < gj) & (z >= 0) & (z < gk)
    out = np.zeros(shape_kji, np.uint8)
    out[inside] = labels[z[inside], y[inside], x[inside]]
    return out


def test_labels_come_back_the_same_from_a_transposed_or_strided_label_array():
    """The runner hands its [i, j, k] output over as a transposed [k, j, i] view, gathered
    through its strides: the same labels as a contiguous copy and as the plain reference."""
    from viewer.ai.resample import labels_to_stack

    rng = np.random.default_rng(7)
    ijk = rng.integers(0, 5, (38, 34, 60)).astype(np.uint8)
    grid_aff = np.diag([1.0, 1.0, 1.0, 1.0])
    c, s = np.cos(0.3), np.sin(0.3)  # an oblique stack, partly outside the grid
    # (no voxel lands on a rounding tie, where the order of the sums decides)
    stack_aff = np.array([[1.2 * c, -1.2 * s, 0.1093, -3.0171], [1.2 * s, 1.2 * c, 0.0, 4.0313],
                          [0.0, 0.0537, 1.7311, -2.0219], [0, 0, 0, 1]])
    shape = (20, 26, 30)
    for labels in (ijk.transpose(2, 1, 0), np.ascontiguousarray(ijk.transpose(2, 1, 0)),
                   ijk[:, :, ::2].transpose(2, 1, 0)):
        ref = _nearest_reference(labels, grid_aff, stack_aff, shape)
        assert 0 < np.count_nonzero(ref) < ref.size
        assert np.array_equal(labels_to_stack(labels, grid_aff, stack_aff, shape), ref)


def test_label_counts_on_the_threads_equal_bincount_and_threads_give_the_same_labels():
    from viewer.ai.resample import labels_to_stack

    rng = np.random.default_rng(5)
    labels = rng.integers(0, 4, (30, 34, 38)).astype(np.uint8)
    grid_aff = np.diag([1.0, 1.0, 1.0, 1.0])
    stack_aff = np.diag([1.3, 1.3, 2.0, 1.0])
    stack_aff[:3, 3] = [-4.0, 2.0, 1.0]  # part of the stack lies outside the grid: 0 there
    counts = np.zeros(256, np.int64)
    got = labels_to_stack(labels, grid_aff, stack_aff, (20, 26, 30), threads=2, counts=counts)
    assert np.array_equal(counts, np.bincount(got.ravel(), minlength=256))
    assert counts[0] > counts[1] > 0
    logits = rng.normal(size=(6, 40, 50, 70)).astype(np.float32)  # 140k voxels: two blocks
    values = np.array([0, 2, 4, 6, 8, 250], np.uint8)
    one = channel_labels(logits, values)
    assert np.array_equal(channel_labels(logits, values, threads=2), one)
    assert np.array_equal(one, values[np.argmax(logits, axis=0)])
