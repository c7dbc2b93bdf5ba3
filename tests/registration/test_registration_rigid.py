"""Rigid registration on real MR: a known motion applied to the sample T1 is recovered within
1 mm and 1 degree, and the sample T2 registers to the T1 of the same session with a small
correction (head motion between the two acquisitions), as the scanner geometry predicts."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from reg_data import rigid, rotation_deg

pytest.importorskip("SimpleITK")

from viewer.errors import OperationCancelled, SeriesGeometryError  # noqa: E402
from viewer.registration.images import (  # noqa: E402
    block_affine,
    block_mean,
    image_affine,
    image_from,
    stack_image,
)
from viewer.registration.quality import resample_onto  # noqa: E402
from viewer.registration.rigid import RegistrationError, register  # noqa: E402


def test_image_geometry_matches_the_stack_affine(mr_t1_t2):
    """Index (i=column, j=row, k=slice) lands where the stack's affine puts it: catches a
    swapped axis order between numpy (slice, row, column) and ITK (x, y, z)."""
    _, _, t2, v2 = mr_t1_t2
    img = stack_image(t2, v2, target_mm=None)
    assert img.GetSize() == (t2.columns, t2.rows, t2.n_frames)
    for ijk in [(0, 0, 0), (383, 0, 0), (0, 511, 0), (0, 0, 54), (100, 200, 30)]:
        want = t2.affine @ np.array([*ijk, 1.0])
        assert np.allclose(img.TransformIndexToPhysicalPoint(ijk), want[:3], atol=1e-3)
    assert img.GetPixel(100, 200, 30) == pytest.approx(float(v2[30, 200, 100]))
    assert np.allclose(image_affine(img), t2.affine, atol=1e-6)


def test_block_mean_keeps_voxel_centres(mr_t1_t2):
    """A 1x3x3 block average of the T2 is centred on the mean of its voxels' centres."""
    _, _, t2, v2 = mr_t1_t2
    f = (1, 3, 3)
    small, a = block_mean(v2, f), block_affine(t2.affine, f)
    assert small.shape == (55, 170, 128)
    assert small[10, 20, 30] == pytest.approx(float(v2[10, 60:63, 90:93].mean()), rel=1e-5)
    centres = [t2.affine @ np.array([i, j, 10, 1.0]) for i in range(90, 93) for j in range(60, 63)]
    assert np.allclose(a @ np.array([30, 20, 10, 1.0]), np.mean(centres, axis=0), atol=1e-6)


def test_sheared_geometry_is_refused(mr_t1_t2):
    _, _, t2, v2 = mr_t1_t2
    sheared = t2.affine.copy()
    sheared[:3, 2] += 0.3 * sheared[:3, 1]  # a gantry tilt moves slices along the rows
    with pytest.raises(SeriesGeometryError, match="sheared"):
        image_from(v2[:4], sheared)


def test_known_motion_is_recovered(mr_t1_t2):
    """5 degrees about the patient's left-right axis and a 4 mm shift, applied to the T1's
    anatomy by resampling (so the moving voxels are interpolated, as in a real second
    acquisition), are recovered within 1 degree and 1 mm (at the image centre; the worst
    corner of the field of view is printed). Registered at 3 mm voxels, for speed."""
    t1, v1, _, _ = mr_t1_t2
    centre = t1.affine @ np.array([(t1.columns - 1) / 2, (t1.rows - 1) / 2,
                                   (t1.n_frames - 1) / 2, 1.0])
    to_centre, back = np.eye(4), np.eye(4)
    to_centre[:3, 3], back[:3, 3] = -centre[:3], centre[:3]
    motion = back @ rigid(5.0, 0, [0.0, 4.0, 0.0]) @ to_centre  # fixed -> moving, LPS mm
    moved = resample_onto(v1, t1.affine, v1.shape, t1.affine, np.linalg.inv(motion))
    fixed, moving = stack_image(t1, v1, target_mm=3.0), stack_image(t1, moved, target_mm=3.0)
    t0 = time.perf_counter()
    r = register(fixed, moving)
    print(f"\nknown motion: {time.perf_counter() - t0:.2f} s, {r.iterations} iterations, "
          f"MI {r.metric_before:.3f} -> {r.metric_after:.3f}")
    err = r.fixed_to_moving @ np.linalg.inv(motion)
    corners = [t1.affine @ np.array([i, j, k, 1.0]) for i in (0, t1.columns - 1)
               for j in (0, t1.rows - 1) for k in (0, t1.n_frames - 1)]
    worst = max(np.linalg.norm((err @ c - c)[:3]) for c in corners)
    print(f"error: {rotation_deg(err):.3f} deg, {np.linalg.norm((err @ centre - centre)[:3]):.3f}"
          f" mm at the centre, {worst:.3f} mm at the worst corner")
    assert rotation_deg(r.fixed_to_moving) == pytest.approx(5.0, abs=1.0)
    assert rotation_deg(err) < 1.0
    assert np.linalg.norm((err @ centre - centre)[:3]) < 1.0
    assert r.metric_after < r.metric_before


def test_t2_registers_to_t1_of_the_same_session(mr_t1_t2):
    """T2 (axial, 0.43 x 0.43 x 2.5 mm) to T1 (sagittal, 1 x 1.15 x 1.15 mm): both share one
    Frame of Reference, so the scanner geometry already aligns them up to head motion between
    the acquisitions. Asserted: mutual information improves; the correction is a small motion
    (under 5 degrees; under 5 mm within 80 mm of the T2's centre, i.e. across the brain, while
    the air in the corners of its 220 mm field of view may move a little more) but not nothing
    (the optimiser moved); registering the other way round gives the inverse within 1 mm."""
    t1, v1, t2, v2 = mr_t1_t2
    f, m = stack_image(t1, v1), stack_image(t2, v2)
    t0 = time.perf_counter()
    r = register(f, m)
    back = register(m, f)
    print(f"\nT2 -> T1 and back: {time.perf_counter() - t0:.2f} s; MI {r.metric_before:.4f} -> "
          f"{r.metric_after:.4f}; {rotation_deg(r.fixed_to_moving):.2f} deg, "
          f"{r.iterations} iterations ({r.stop_reason[:60]})")
    assert r.metric_after < r.metric_before - 0.01
    centre = t2.affine @ np.array([(t2.columns - 1) / 2, (t2.rows - 1) / 2,
                                   (t2.n_frames - 1) / 2, 1.0])
    # The 8 corners and 6 face centres of a cube inscribed in an 80 mm sphere, and the centre.
    dirs = [(x, y, z) for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)]
    dirs = np.array(dirs) / np.sqrt(3)
    dirs = np.vstack([dirs, np.eye(3), -np.eye(3), np.zeros((1, 3))])
    brain = np.hstack([centre[:3] + 80.0 * dirs, np.ones((len(dirs), 1))])
    moved = np.linalg.norm(brain @ r.moving_to_fixed.T - brain, axis=1)
    print(f"points within 80 mm of the T2's centre move {moved.min():.2f}..{moved.max():.2f} mm")
    assert rotation_deg(r.fixed_to_moving) < 5.0
    assert 0.2 < moved.max() < 5.0
    loop = back.fixed_to_moving @ r.fixed_to_moving  # T1 -> T2 -> T1
    assert np.max(np.linalg.norm(brain @ loop.T - brain, axis=1)) < 1.0


def test_cancel_stops_within_a_few_iterations(mr_t1_t2):
    t1, v1, t2, v2 = mr_t1_t2
    cancel = threading.Event()
    seen = []

    def progress(p):
        seen.append(p)
        if len(seen) == 3:
            cancel.set()

    f, m = stack_image(t1, v1, target_mm=4.0), stack_image(t2, v2, target_mm=4.0)
    with pytest.raises(OperationCancelled):
        register(f, m, progress=progress, cancel=cancel)
    assert len(seen) == 3
    assert seen[0].level == 0 and seen[0].levels == 2 and seen[0].metric < 0


def test_series_that_do_not_overlap_fail_with_a_message(mr_t1_t2):
    t1, v1, _, _ = mr_t1_t2
    far = t1.affine.copy()
    far[:3, 3] += [0.0, 0.0, 1000.0]  # a metre above the head
    with pytest.raises(RegistrationError, match="hardly overlap"):
        register(stack_image(t1, v1, 6.0), image_from(v1[::6, ::6, ::6], far @ np.diag(
            [6.0, 6.0, 6.0, 1.0])))
