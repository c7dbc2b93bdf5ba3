"""Angle, Cobb angle, polygon/freehand ROI and arrow: the core figures against hand
calculations, on a real CT slice for the ROI statistics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from viewer.dicom.spacing import PixelCalibration, SpacingSource
from viewer.display import shapes
from viewer.display.measure import Measurement, describe, roi_mask, roi_stats


def test_angle_of_a_right_angle_and_non_square_pixels():
    assert shapes.angle_deg([(10, 0), (0, 0), (0, 10)], (1, 1)) == pytest.approx(90.0)
    # 10 px wide, 10 px high arms at 45°, but rows are twice as tall: atan(2) from the x axis
    assert shapes.angle_deg([(10, 0), (0, 0), (10, 10)], (2.0, 1.0)) == \
        pytest.approx(math.degrees(math.atan(2.0)))
    assert math.isnan(shapes.angle_deg([(0, 0), (0, 0), (5, 5)], (1, 1)))


def test_cobb_is_the_acute_angle_between_the_lines_however_drawn():
    # line 1 along x; line 2 at 30° to it: 30° whichever direction each line was drawn
    c, s = math.cos(math.radians(30)), math.sin(math.radians(30))
    a = [(0, 0), (10, 0)]
    for b in ([(0, 5), (10 * c, 5 + 10 * s)], [(10 * c, 5 + 10 * s), (0, 5)]):
        assert shapes.cobb_deg(a + b, (1, 1)) == pytest.approx(30.0)
        flipped = shapes.cobb_as_drawn_acute(a + b)
        u, v = np.subtract(flipped[1], flipped[0]), np.subtract(flipped[3], flipped[2])
        assert math.degrees(math.acos(u @ v / np.linalg.norm(u) / np.linalg.norm(v))) == \
            pytest.approx(30.0)  # as a reader of the SR computes it
    assert "Cobb 30.0°" == describe(Measurement.of("cobb", a + b), None, (1.0, 1.0))


def test_polygon_area_mask_and_stats_on_a_real_ct_slice(shared_data):
    import pydicom

    ds = pydicom.dcmread(shared_data / "ct-chest-lidc0314" / "000100.dcm")
    real = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)  # HU
    spacing = tuple(float(v) for v in ds.PixelSpacing)
    square = [(100, 100), (140, 100), (140, 130), (100, 130)]  # 40 x 30 px
    m = Measurement.of("polygon", square)
    s = roi_stats(real, m, spacing)
    assert s.area_mm2 == pytest.approx(40 * spacing[1] * 30 * spacing[0])
    block = real[100:130, 100:140]
    assert s.n_pixels == 1200
    assert (s.mean, s.min, s.max) == pytest.approx((block.mean(), block.min(), block.max()))
    # the same square as a rectangle ROI gives the same pixels
    box, mask = roi_mask("rect", (100, 100), (140, 130), real.shape)
    assert real[box][mask].mean() == pytest.approx(s.mean)
    # a triangle: half the square's pixels, area by hand
    tri = Measurement.of("freehand", [(100, 100), (140, 100), (100, 140)])
    assert roi_stats(real, tri, (1.0, 1.0)).area_mm2 == pytest.approx(800.0)
    assert roi_stats(real, tri, (1.0, 1.0)).n_pixels == pytest.approx(800, abs=25)
    no_spacing = PixelCalibration(None, SpacingSource.NONE)
    assert "area 800.0 px²" in describe(tri, real, no_spacing)


def test_thin_trace_and_arrow_text():
    trace = [(0.0, 0.0), (0.5, 0.0), (2.0, 0.0), (2.2, 0.1), (4.0, 0.0)]
    assert shapes.thin_trace(trace) == [(0.0, 0.0), (2.0, 0.0), (4.0, 0.0)]
    arrow = Measurement.of("arrow", [(1, 2), (30, 40)], "nodule")
    assert (arrow.p0, arrow.p1, arrow.pts) == ((1, 2), (30, 40), [(1, 2), (30, 40)])
    assert describe(arrow, None, (0.7, 0.7)) == "nodule"
    old = Measurement("ruler", (0, 0), (3, 4))  # the two-point kinds work as before
    assert old.pts == [(0, 0), (3, 4)] and describe(old, None, (1.0, 1.0)) == "5.0 mm"
