"""Synced scrolling through a registration: the T2 slice that holds a T1 point."""

from __future__ import annotations

import numpy as np
import pytest
from reg_data import rigid

from viewer.registration.sync import matching_slice, point_of, voxel_of


def test_matching_slice_follows_the_transform(mr_t1_t2):
    t1, _, t2, _ = mr_t1_t2
    # A T2 slice's centre, seen from the sagittal T1: the T1 voxel there maps straight back.
    p = point_of(t2, 30, 255.5, 191.5)
    k1, j1, i1 = voxel_of(t1, p)
    assert np.allclose(point_of(t1, k1, j1, i1), p)
    k = int(round(k1))
    row, col = j1, i1
    assert matching_slice(t1, k, t2, np.eye(4), row, col) == 30
    # Moving the anatomy 5 mm up in the T2 (fixed -> moving adds +5 mm along S) moves the
    # matching axial slice up by 5 mm / 2.5 mm = 2 slices (the T2's slices ascend along S).
    assert t2.affine[2, 2] == pytest.approx(2.5, abs=0.1)
    assert matching_slice(t1, k, t2, rigid(0, 0, [0, 0, 5.0]), row, col) == 32
    assert matching_slice(t1, k, t2, rigid(0, 0, [0, 0, 500.0]), row, col) is None
