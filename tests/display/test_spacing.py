"""One spacing rule for every image: what a ruler reads, in which unit, with which label.

Files are real (pydicom-data's CR chest RG1 re-labelled per case; pydicom's ultrasound test
files as published), read through the scan as the window and the command line read them.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from spacing_files import (
    US_TWO_REGIONS,
    US_WITH_DOPPLER,
    projection_file,
    real_file,
    record_drawn_text,
    ultrasound_file,
)

from viewer.cli import catalog_json
from viewer.dicom.header import read_header
from viewer.dicom.pixels import StackPixels
from viewer.dicom.scan import scan_folder
from viewer.dicom.spacing import SpacingSource, for_header, for_stack, ultrasound_regions
from viewer.display.measure import Measurement, describe, length
from viewer.export import compose
from viewer.export.scene import slice_scene

RULER_100 = Measurement("ruler", (50.5, 200.5), (150.5, 200.5))  # 100 columns
BOX_100 = Measurement("rect", (50.0, 50.0), (150.0, 150.0))  # 100 x 100 pixels


def _stack(folder: Path):
    catalog = scan_folder(str(folder))
    assert not catalog.skipped, catalog.skipped
    [stack] = catalog.stacks()
    return catalog, stack


def _drawn_text(scene, monkeypatch) -> list[str]:
    """Every string the PNG export draws for ``scene``."""
    drawn = record_drawn_text(monkeypatch)
    compose.render(scene)
    return drawn


def test_imager_pixel_spacing_corrected_by_magnification(tmp_path):
    projection_file(tmp_path / "dx" / "dx.dcm", ImagerPixelSpacing=[0.2, 0.2],
                    EstimatedRadiographicMagnificationFactor=1.1)
    _, stack = _stack(tmp_path / "dx")
    cal = for_stack(stack)
    assert cal.source is SpacingSource.IMAGER_PIXEL_SPACING
    assert cal.spacing == pytest.approx((0.2 / 1.1, 0.2 / 1.1))
    mm, scale = length(RULER_100, cal)
    assert (round(mm, 2), scale.unit) == (18.18, "mm")
    assert describe(RULER_100, None, cal) == (
        "18.2 mm (at detector, corrected for magnification x1.1)")
    # Area in mm² from the same spacing, with the same label.
    assert describe(BOX_100, None, cal) == (
        "area 330.6 mm² (at detector, corrected for magnification x1.1)")


def test_fast_parser_and_pydicom_read_the_same_spacing_attributes(tmp_path):
    from viewer.dicom import header

    path = str(projection_file(tmp_path / "dx.dcm", PixelSpacing=[0.15, 0.15],
                               ImagerPixelSpacing=[0.2, 0.2], NominalScannedPixelSpacing=[0.5, 0.5],
                               EstimatedRadiographicMagnificationFactor=1.1,
                               PixelSpacingCalibrationType="FIDUCIAL",
                               PixelSpacingCalibrationDescription="ball"))
    fields = ("pixel_spacing", "imager_pixel_spacing", "nominal_scanned_pixel_spacing",
              "magnification_factor", "spacing_calibration")
    fast, full = read_header(path), header._read_with_pydicom(path)
    assert [getattr(fast, f) for f in fields] == [
        (0.15, 0.15), (0.2, 0.2), (0.5, 0.5), 1.1, ("FIDUCIAL", "ball")]
    assert [getattr(full, f) for f in fields] == [getattr(fast, f) for f in fields]


def test_imager_pixel_spacing_alone_is_at_detector(tmp_path):
    h = read_header(str(projection_file(tmp_path / "dx.dcm", ImagerPixelSpacing=[0.2, 0.1])))
    cal = for_header(h)
    assert (cal.source, cal.spacing, cal.note) == (
        SpacingSource.IMAGER_PIXEL_SPACING, (0.2, 0.1), "at detector")
    # Columns are 0.1 mm apart: 100 columns are 10 mm.
    assert describe(RULER_100, None, cal) == "10.0 mm (at detector)"


@pytest.mark.parametrize(("attrs", "text"), [
    ({"PixelSpacing": [0.15, 0.15]}, "15.0 mm"),
    ({"PixelSpacing": [0.15, 0.15], "ImagerPixelSpacing": [0.2, 0.2],
      "PixelSpacingCalibrationType": "GEOMETRY"}, "15.0 mm (calibrated: GEOMETRY)"),
    ({"PixelSpacing": [0.15, 0.15], "PixelSpacingCalibrationType": "FIDUCIAL",
      "PixelSpacingCalibrationDescription": "ball 25 mm"},
     "15.0 mm (calibrated: FIDUCIAL, ball 25 mm)"),
    # Pixel Spacing that only repeats Imager Pixel Spacing is still at the detector.
    ({"PixelSpacing": [0.2, 0.2], "ImagerPixelSpacing": [0.2, 0.2]}, "20.0 mm (at detector)"),
    # Pixel Spacing wins over Imager Pixel Spacing and its magnification.
    ({"PixelSpacing": [0.15, 0.15], "ImagerPixelSpacing": [0.2, 0.2],
      "EstimatedRadiographicMagnificationFactor": 1.1}, "15.0 mm"),
])
def test_pixel_spacing_with_its_calibration(tmp_path, attrs, text):
    h = read_header(str(projection_file(tmp_path / "dx.dcm", **attrs)))
    cal = for_header(h)
    assert cal.source is SpacingSource.PIXEL_SPACING
    assert describe(RULER_100, None, cal) == text


def test_nominal_scanned_pixel_spacing_of_a_secondary_capture(tmp_path):
    h = read_header(str(projection_file(
        tmp_path / "sc.dcm", modality="OT", sop_class="1.2.840.10008.5.1.4.1.1.7",
        NominalScannedPixelSpacing=[0.5, 0.5])))
    cal = for_header(h)
    assert cal.source is SpacingSource.NOMINAL_SCANNED
    assert describe(RULER_100, None, cal) == "50.0 mm (nominal scanned)"


def test_no_spacing_measures_pixels_and_the_export_never_says_mm(tmp_path, monkeypatch):
    _, stack = _stack(projection_file(tmp_path / "cr" / "cr.dcm").parent)
    cal = for_stack(stack)
    assert (cal.source, cal.spacing, cal.unit) == (SpacingSource.NONE, None, "px")
    assert describe(RULER_100, None, cal) == "100.0 px"
    scene = slice_scene(StackPixels(stack), 0, measurements=[RULER_100, BOX_100])
    assert scene.scale_note is None  # no scale bar
    drawn = _drawn_text(scene, monkeypatch)
    assert any("100.0 px" in t for t in drawn), drawn
    assert any("area 10000.0 px2" in t for t in drawn), drawn  # the font has no "²"
    assert any("pixel size unknown: px" in t for t in drawn), drawn
    assert not [t for t in drawn if "mm" in t], drawn


def test_the_export_scale_bar_says_what_its_millimetres_are(tmp_path, monkeypatch):
    _, stack = _stack(projection_file(tmp_path / "dx" / "dx.dcm",
                                      ImagerPixelSpacing=[0.2, 0.2]).parent)
    scene = slice_scene(StackPixels(stack), 0, measurements=[RULER_100])
    drawn = _drawn_text(scene, monkeypatch)
    assert "20.0 mm (at detector)" in drawn
    # 400 columns of 0.2 mm: a 10 mm bar, labelled like the ruler.
    assert "10 mm (at detector)" in drawn
    assert any("pixel 0.20 x 0.20 mm (at detector)" in t for t in drawn)


@pytest.mark.parametrize("bad", [["0", "0"], ["-0.5", "0.5"], ["nan", "nan"], ["inf", "1"]])
def test_unusable_pixel_spacing_is_absent_with_a_warning(tmp_path, bad):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns when writing NaN / inf as DS
        projection_file(tmp_path / "cr" / "cr.dcm", PixelSpacing=bad)
    catalog, stack = _stack(tmp_path / "cr")
    assert for_stack(stack).source is SpacingSource.NONE
    assert "Pixel Spacing is not a positive number: ignored" in stack.warnings
    [series] = catalog_json(catalog)["patients"][0]["studies"][0]["series"]
    assert series["pixel_spacing_mm"] is None
    assert series["pixel_spacing_source"] == "none"
    assert "Pixel Spacing is not a positive number: ignored" in series["warnings"]


def test_unusable_pixel_spacing_falls_back_to_the_detector(tmp_path):
    h = read_header(str(projection_file(tmp_path / "dx.dcm", PixelSpacing=[0, 0],
                                        ImagerPixelSpacing=[0.2, 0.2])))
    assert "Pixel Spacing is not a positive number: ignored" in h.geometry_warnings
    assert describe(RULER_100, None, for_header(h)) == "20.0 mm (at detector)"


def test_real_cr_with_zero_pixel_spacing_as_published(tmp_path):
    """pydicom-data's RG1 itself carries Pixel Spacing 0.000\\0.000."""
    h = read_header(real_file("RG1_UNCI.dcm"))
    assert h.pixel_spacing is None
    assert "Pixel Spacing is not a positive number: ignored" in h.geometry_warnings
    assert for_header(h).unit == "px"


def test_ultrasound_two_regions_mm_inside_one_px_across(tmp_path):
    _, stack = _stack(ultrasound_file(tmp_path / "us", US_TWO_REGIONS).parent)
    cal = for_stack(stack)
    assert cal.source is SpacingSource.ULTRASOUND_REGIONS
    assert [(r.x0, r.x1) for r in cal.regions] == [(32, 335), (336, 639)]
    left = Measurement("ruler", (60.5, 200.5), (160.5, 200.5))
    right = Measurement("ruler", (400.5, 200.5), (500.5, 200.5))
    across = Measurement("ruler", (300.5, 200.5), (400.5, 200.5))
    assert describe(left, None, cal) == "38.3 mm"  # 100 x 0.03827 cm
    assert describe(right, None, cal) == "38.3 mm"
    assert describe(across, None, cal) == "100.0 px (not inside one calibrated ultrasound region)"
    outside = Measurement("ruler", (2.5, 2.5), (12.5, 2.5))  # the label band above the image
    assert describe(outside, None, cal).startswith("10.0 px")


def test_ultrasound_doppler_strip_is_not_a_length(tmp_path):
    h = read_header(str(ultrasound_file(tmp_path, US_WITH_DOPPLER)))
    assert len(h.us_regions) == 2
    cal = for_header(h)
    [bmode] = cal.regions  # the spectral strip (seconds, no unit) is not spatial
    assert (bmode.x0, bmode.y0, bmode.x1, bmode.y1) == (120, 60, 800, 518)
    inside = Measurement("ruler", (200.5, 100.5), (300.5, 100.5))
    into_strip = Measurement("ruler", (300.5, 400.5), (300.5, 550.5))
    assert describe(inside, None, cal) == "26.2 mm"
    assert describe(into_strip, None, cal).startswith("150.0 px")


def test_ultrasound_region_units_other_than_cm_are_ignored():
    cm = (0.0, 0.0, 99.0, 99.0, 3.0, 3.0, 0.05, -0.04)
    assert [r.spacing for r in ultrasound_regions((cm,))] == [pytest.approx((0.4, 0.5))]
    for bad in ((0.0, 0.0, 99.0, 99.0, 4.0, 3.0, 0.05, 0.05),  # seconds
                (0.0, 0.0, 99.0, 99.0, 3.0, 3.0, 0.0, 0.05),  # zero delta
                (0.0, 0.0, 99.0, 99.0, 3.0, 3.0, float("nan"), 0.05),
                (0.0, 0.0, None, 99.0, 3.0, 3.0, 0.05, 0.05)):
        assert ultrasound_regions((bad,)) == ()


def test_volumes_keep_pixel_spacing_in_mm(ct_catalog):
    stack = ct_catalog.stacks()[0]
    cal = for_stack(stack)
    assert (cal.source, cal.note) == (SpacingSource.PIXEL_SPACING, "")
    assert cal.spacing == tuple(stack.spacing[1:])
    assert describe(Measurement("ruler", (0.0, 0.0), (200.0, 0.0)), None, cal) == "156.2 mm"


def test_info_json_names_the_spacing_source(tmp_path):
    projection_file(tmp_path / "a" / "dx.dcm", ImagerPixelSpacing=[0.2, 0.2],
                    EstimatedRadiographicMagnificationFactor=1.25)
    ultrasound_file(tmp_path / "b", US_TWO_REGIONS)
    catalog = scan_folder(str(tmp_path))
    series = [se for p in catalog_json(catalog)["patients"] for s in p["studies"]
              for se in s["series"]]
    by_source = {se["pixel_spacing_source"]: se for se in series}
    assert set(by_source) == {"imager_pixel_spacing", "ultrasound_regions"}
    dx = by_source["imager_pixel_spacing"]
    assert dx["pixel_spacing_mm"] == pytest.approx([0.16, 0.16])
    assert dx["pixel_spacing_note"] == "at detector, corrected for magnification x1.25"
    us = by_source["ultrasound_regions"]
    assert us["pixel_spacing_mm"] is None
    assert [r["bounds_px"] for r in us["ultrasound_regions"]] == [[32, 24, 335, 415],
                                                                  [336, 24, 639, 415]]
