"""Quality views of a registration (resample, checkerboard, blend) and the affine option."""

from __future__ import annotations

import numpy as np
import pytest
from reg_data import rigid, rotation_deg

pytest.importorskip("SimpleITK")

from viewer.registration.images import block_affine, block_mean, stack_image  # noqa: E402
from viewer.registration.quality import blend, checkerboard, normalise, resample_onto  # noqa: E402
from viewer.registration.rigid import register  # noqa: E402
from viewer.registration.sro import matrix_type  # noqa: E402


def test_resample_with_identity_gives_the_volume_back(mr_t1_t2):
    _, _, t2, v2 = mr_t1_t2
    crop = v2[20:24]
    a = t2.affine.copy()
    a[:3, 3] = (t2.affine @ np.array([0, 0, 20, 1.0]))[:3]
    out = resample_onto(crop, a, crop.shape, a, np.eye(4))
    assert out.shape == crop.shape and np.allclose(out, crop, atol=1e-3)


def test_resample_t2_onto_t1_lands_on_the_t1_grid(mr_t1_t2):
    """The T2 resampled on the T1's sagittal grid: T1 shape, brain where the T1 has brain
    (the two normalised volumes agree where both have signal)."""
    t1, v1, t2, v2 = mr_t1_t2
    f = (2, 2, 2)  # a 2x coarser T1 grid, for speed
    small, grid = block_mean(v1, f), block_affine(t1.affine, f)
    out = resample_onto(v2, t2.affine, small.shape, grid, np.eye(4))
    assert out.shape == small.shape == (87, 96, 96)
    covered = out > 0
    assert 0.2 < covered.mean() < 0.9  # the T2's 137 mm slab covers part of the T1's head
    a, b = normalise(small)[covered] > 0.2, normalise(out)[covered] > 0.05  # head vs air
    assert (a == b).mean() > 0.85


def test_checkerboard_and_blend():
    a, b = np.zeros((8, 8), np.float32), np.ones((8, 8), np.float32)
    board = checkerboard(a, b, squares=4)
    assert board[0, 0] == 0 and board[0, 2] == 1 and board[2, 0] == 1 and board[2, 2] == 0
    assert board.sum() == 32
    assert np.allclose(blend(a, b, 0.25), 0.25)
    with pytest.raises(ValueError):
        checkerboard(a, b[:4])
    with pytest.raises(ValueError):
        blend(a, b, 1.5)
    v = normalise(np.arange(101, dtype=float))
    assert v.min() == 0.0 and v.max() == 1.0 and v[50] == pytest.approx(0.5)


def test_affine_refines_a_rigid_motion(mr_t1_t2):
    """kind="affine" on a known rigid motion (4 mm voxels): the result is still nearly rigid,
    within 1 degree and 1 mm of the motion at the centre."""
    t1, v1, _, _ = mr_t1_t2
    c = t1.affine @ np.array([(t1.columns - 1) / 2, (t1.rows - 1) / 2, (t1.n_frames - 1) / 2, 1])
    to_c, back = np.eye(4), np.eye(4)
    to_c[:3, 3], back[:3, 3] = -c[:3], c[:3]
    motion = back @ rigid(4.0, 2, [3.0, 0.0, 0.0]) @ to_c
    moved = resample_onto(v1, t1.affine, v1.shape, t1.affine, np.linalg.inv(motion))
    r = register(stack_image(t1, v1, 4.0), stack_image(t1, moved, 4.0), kind="affine")
    assert r.kind == "affine" and matrix_type(r.moving_to_fixed) == "AFFINE"
    err = r.fixed_to_moving @ np.linalg.inv(motion)
    u, _, vt = np.linalg.svd(err[:3, :3])
    assert rotation_deg(np.block([[u @ vt, np.zeros((3, 1))], [np.zeros((1, 3)), 1]])) < 1.0
    assert np.linalg.norm((err @ c - c)[:3]) < 1.0
    assert np.allclose(np.linalg.svd(r.fixed_to_moving[:3, :3])[1], 1.0, atol=0.03)
