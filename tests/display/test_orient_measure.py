"""Display orientation (rotate/flip), measurements and MPR index mapping: pure numpy checks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from viewer.dicom.reformat import PLANES, Reformat
from viewer.display.measure import (
    Measurement,
    MeasurementStore,
    describe,
    roi_mask,
    roi_stats,
    ruler_length_mm,
)
from viewer.display.orient import ViewTransform

OPS = {
    "cw": (lambda t: t.rotated(True), lambda a: np.rot90(a, -1)),
    "ccw": (lambda t: t.rotated(False), lambda a: np.rot90(a, 1)),
    "fh": (lambda t: t.flipped_horizontal(), lambda a: a[:, ::-1]),
    "fv": (lambda t: t.flipped_vertical(), lambda a: a[::-1]),
}


def test_any_sequence_of_rotations_and_flips_matches_numpy():
    rng = np.random.default_rng(1)
    img = rng.normal(size=(4, 7))
    t, ref = ViewTransform(), img
    for _ in range(60):
        name = rng.choice(list(OPS))
        t, ref = OPS[name][0](t), OPS[name][1](ref)
        shown = t.apply(img)
        assert np.array_equal(shown, ref), (name, t)
        assert t.display_shape(img.shape) == shown.shape
        r, c = int(rng.integers(4)), int(rng.integers(7))
        x, y = t.to_display(c + 0.5, r + 0.5, img.shape)
        assert shown[int(y), int(x)] == img[r, c]
        assert t.to_source(x, y, img.shape) == pytest.approx((c + 0.5, r + 0.5))


def test_letters_and_spacing_follow_rotation():
    axial = {"left": "R", "right": "L", "top": "A", "bottom": "P"}
    cw = ViewTransform().rotated()
    assert cw.letters(axial) == {"left": "P", "right": "A", "top": "R", "bottom": "L"}
    assert ViewTransform().flipped_horizontal().letters(axial)["left"] == "L"
    assert ViewTransform().flipped_vertical().letters(axial) == {
        "left": "R", "right": "L", "top": "P", "bottom": "A"}
    assert cw.spacing(2.5, 0.5) == (0.5, 2.5)
    four = ViewTransform()
    for _ in range(4):
        four = four.rotated()
    assert four.is_identity


def test_ruler_uses_anisotropic_pixel_spacing():
    # 30 columns at 0.5 mm and 40 rows at 0.75 mm: a 15 x 30 mm leg pair.
    assert ruler_length_mm((10, 20), (40, 60), (0.75, 0.5)) == pytest.approx(math.hypot(15, 30))
    m = Measurement("ruler", (0, 0), (200, 0))
    assert describe(m, None, (0.7, 0.78125)) == "156.2 mm"


def test_ellipse_and_rectangle_statistics():
    values = np.arange(100 * 80, dtype=np.float64).reshape(100, 80)
    rect = Measurement("rect", (10, 20), (30, 25))  # columns 10..29, rows 20..24
    s = roi_stats(values, rect, (0.5, 0.5))
    inside = values[20:25, 10:30]
    assert s.n_pixels == inside.size == 100
    assert (s.mean, s.min, s.max) == (inside.mean(), inside.min(), inside.max())
    assert s.sd == pytest.approx(inside.std())
    assert s.area_mm2 == pytest.approx(20 * 0.5 * 5 * 0.5)

    ell = Measurement("ellipse", (40, 30), (80, 90))  # centre (60, 60), radii 20 x 30 px
    box, mask = roi_mask("ellipse", ell.p0, ell.p1, values.shape)
    yy, xx = np.mgrid[0:100, 0:80] + 0.5
    ref = ((xx - 60) / 20) ** 2 + ((yy - 60) / 30) ** 2 <= 1
    full = np.zeros(values.shape, bool)
    full[box] = mask
    assert np.array_equal(full, ref)
    s = roi_stats(values, ell, (1.0, 2.0))
    assert s.mean == pytest.approx(values[ref].mean())
    assert s.area_mm2 == pytest.approx(math.pi * 80 * 60 / 4)  # 80 x 60 mm box (2 mm columns)
    assert s.n_pixels == pytest.approx(math.pi * 20 * 30, rel=0.02)


def test_roi_outside_the_image_has_no_pixels():
    values = np.zeros((10, 10))
    s = roi_stats(values, Measurement("rect", (20, 20), (30, 30)), (1, 1))
    assert s.n_pixels == 0 and math.isnan(s.mean)
    assert "no pixel inside" in describe(Measurement("rect", (20, 20), (30, 30)), values, (1, 1))


def test_store_keeps_measurements_per_slice():
    store = MeasurementStore()
    a, b = Measurement("ruler", (0, 0), (1, 1)), Measurement("rect", (0, 0), (2, 2))
    store.add(("uid", "acquired", 3), a)
    store.add(("uid", "acquired", 4), b)
    assert store.on(("uid", "acquired", 3)) == [a]
    assert store.on(("uid", "axial", 3)) == []
    assert store.remove(("uid", "acquired", 3), a.id)
    assert not store.remove(("uid", "acquired", 3), a.id)
    assert len(store) == 1


def test_reformat_index_mapping_round_trips():
    rng = np.random.default_rng(7)
    shape = (5, 6, 7)
    vol = rng.normal(size=shape)
    for _ in range(12):
        perm, signs = rng.permutation(3), rng.choice([-1, 1], 3)
        affine = np.eye(4)
        for a in range(3):
            affine[perm[a], a] = signs[a] * rng.uniform(0.5, 2)
        r = Reformat.from_affine(affine, shape)
        canon = r.canonical(vol)
        for _ in range(10):
            kji = tuple(int(rng.integers(n)) for n in shape)
            spl = tuple(int(v) for v in r.volume_to_canonical(kji))
            assert canon[spl] == vol[kji]
            assert r.canonical_to_volume(spl) == kji
            for plane in PLANES:
                idx, row, col = (int(v) for v in r.canonical_to_plane(plane, spl))
                assert r.plane(vol, plane, idx)[row, col] == vol[kji]
                assert r.plane_to_canonical(plane, idx, row, col) == spl
