"""The viewport model's patient-space geometry (no Qt): slice planes of real stacks against
the reformat's own index mapping, nearest slice by position, reference lines, series
matching for comparison, layouts."""

from __future__ import annotations

import numpy as np
import pytest

from viewer.dicom.pixels import StackPixels
from viewer.dicom.reformat import PLANES
from viewer.display.viewport import (
    ACQUIRED,
    LAYOUTS,
    SlicePlanes,
    ViewportModel,
    canonical_of,
    match_series,
    point_of,
    slice_planes,
    stack_reformat,
)


@pytest.fixture(scope="module")
def t1(sample_catalog):
    return next(st for st in sample_catalog.stacks() if st.n_frames == 175)


def test_planes_agree_with_the_reformat_index_mapping(t1):
    shape = StackPixels(t1).shape
    r = stack_reformat(t1, shape)
    for plane in PLANES:
        sp = slice_planes(t1, plane, shape)
        rows, cols = sp.shape
        for index, row, col in ((0, 0, 0), (r.n_slices(plane) - 1, rows - 1, cols - 1),
                                (7, 30, 50)):
            spl = r.plane_to_canonical(plane, index, row, col)
            assert sp.point_at(index, row, col) == pytest.approx(point_of(r, spl), abs=1e-6)
            assert canonical_of(r, point_of(r, spl)) == pytest.approx(spl, abs=1e-6)
    # The acquired plane: every frame's own Image Position is its origin.
    acq = slice_planes(t1, ACQUIRED, shape)
    assert acq.origins[10] == pytest.approx(t1.frames[10].position)
    assert acq.positions == pytest.approx(t1.slice_positions, abs=1e-6)


def test_nearest_slice_is_by_position_not_index(t1):
    shape = StackPixels(t1).shape
    sp = slice_planes(t1, ACQUIRED, shape)
    step = float(np.median(np.diff(sp.positions)))
    target = sp.point_at(40, 10, 10) + 0.4 * step * sp.normal  # 0.4 slice beyond slice 40
    assert sp.nearest_slice(target) == 40
    assert sp.nearest_slice(sp.point_at(40, 0, 0) + 0.6 * step * sp.normal) == 41
    far = sp.point_at(174, 0, 0) + 50 * sp.normal  # beyond the stack: clamped, not contained
    assert sp.nearest_slice(far) == 174 and not sp.contains(far)
    assert sp.contains(sp.point_at(100, 20, 20))


def test_reference_line_of_a_perpendicular_plane():
    # A 100x200 image in the z=0 plane, 1 mm pixels, rows along +y, columns along +x.
    sp = SlicePlanes(np.array([[0.0, 0.0, 0.0]]), np.array([0.0, 1.0, 0.0]),
                     np.array([1.0, 0.0, 0.0]), (100, 200))
    # The plane x = 49.5 cuts it along column 49.5, i.e. source x = 50, top to bottom.
    seg = sp.reference_line(0, (49.5, 0, 0), (1, 0, 0))
    assert sorted(seg) == [pytest.approx((50.0, 0.0)), pytest.approx((50.0, 100.0))]
    # A 45° plane through the first pixel centre runs corner to corner of a square part.
    (a, b) = sp.reference_line(0, (0, 0, 0), (1, -1, 0))
    assert abs(a[0] - a[1]) < 1e-9 and abs(b[0] - b[1]) < 1e-9
    assert sp.reference_line(0, (0, 0, 5), (0, 0, 1)) is None  # parallel
    assert sp.reference_line(0, (500, 0, 0), (1, 0, 0)) is None  # misses the image


def test_match_series_prefers_the_same_description():
    cur = [("MR", "sagittal", "t1"), ("MR", "axial", "t2"), ("CT", "axial", "chest")]
    pri = [("MR", "axial", "t2 fse"), ("MR", "sagittal", "t1"), ("MR", "axial", "t2")]
    assert match_series(cur, pri, lambda s: s) == [(0, 1), (1, 2)]
    # Without an exact match, modality and plane pair them.
    assert match_series(cur[1:2], pri[:1], lambda s: s) == [(0, 0)]


def test_layout_model():
    m = ViewportModel()
    for name, (rows, cols) in LAYOUTS.items():
        m.set_layout(name)
        assert m.shown() == list(range(rows * cols))
    m.set_layout("2x2")
    assert m.grid_cell(3) == (1, 1)
    m.toggle_maximised(2)
    assert m.shown() == [2] and m.active == 2
    m.toggle_maximised(2)
    assert m.shown() == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="unknown layout"):
        m.set_layout("3x3")
