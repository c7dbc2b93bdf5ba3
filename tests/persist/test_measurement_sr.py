"""Measurements that last: every kind of annotation saved as a TID 1500 measurement report
(dciodvfy finds no error, highdicom reads its figures back) and restored exactly; the scan
lists the report in its study; a read-only study writes beside itself."""

from __future__ import annotations

import math
import os

import highdicom as hd
import numpy as np
import pytest
from dciodvfy_tool import dciodvfy_errors

from viewer.dicom.pixels import StackPixels, to_real_volume
from viewer.dicom.reformat import Reformat
from viewer.dicom.scan import scan_folder
from viewer.display.measure import Measurement, roi_stats
from viewer.persist import location
from viewer.persist.measurements import (
    file_name,
    load_measurements,
    pixel_images,
    save_measurements,
)
from viewer.persist.shapes import Annotation


@pytest.fixture(scope="module")
def t2(mr_catalog):
    stack = next(s for s in mr_catalog.stacks() if "T2" in s.label)
    return stack, StackPixels(stack)


def every_kind() -> list[Annotation]:
    return [
        Annotation("ruler", 20, ((100.5, 100.5), (200.5, 150.5))),
        Annotation("angle", 20, ((10, 10), (50, 50), (90, 10))),
        Annotation("cobb", 21, ((10, 10), (100, 20), (10, 100), (100, 80))),
        Annotation("ellipse", 25, ((150, 150), (250, 220))),
        Annotation("rect", 25, ((50, 60), (90, 120))),
        Annotation("polygon", 30, ((100, 100), (200, 110), (150, 200))),
        Annotation("freehand", 30, ((300, 300), (320, 305), (330, 330), (310, 340),
                                    (295, 320))),
        Annotation("arrow", 30, ((10, 10), (40, 40)), "look here"),
    ]


@pytest.fixture(scope="module")
def saved(t2, tmp_path_factory):
    stack, px = t2
    study = tmp_path_factory.mktemp("study")
    path = save_measurements(str(study), stack, every_kind(), pixel_images(px))
    return study, path


def _figures(path) -> dict[str, dict[str, tuple[float, str]]]:
    """{tracking identifier: {measurement name: (value, UCUM unit)}} read by highdicom."""
    sr = hd.sr.srread(path)
    out = {}
    for g in sr.content.get_planar_roi_measurement_groups():
        out[str(g.tracking_identifier)] = {
            m.name.meaning: (float(m.value), m.unit.value) for m in g.get_measurements()}
    return out


def test_every_kind_round_trips(t2, saved):
    stack, _ = t2
    study, path = saved
    assert path.parent == study and path.name == file_name(stack)
    assert load_measurements(str(study), stack) == every_kind()


def test_dciodvfy_finds_no_errors(saved):
    assert dciodvfy_errors(saved[1]) == []


def test_figures_read_back_with_highdicom(t2, saved):
    stack, px = t2
    row_mm, col_mm = stack.spacing[1], stack.spacing[2]
    f = _figures(saved[1])
    assert set(f) == {"radviewer ruler 1", "radviewer angle 2", "radviewer cobb 3",
                      "radviewer ellipse 4", "radviewer rect 5", "radviewer polygon 6",
                      "radviewer freehand 7", "radviewer arrow 8: look here"}
    length, unit = f["radviewer ruler 1"]["Length"]
    assert unit == "mm" and length == pytest.approx(math.hypot(100 * col_mm, 50 * row_mm))
    assert f["radviewer angle 2"]["Angle"] == (pytest.approx(90.0), "deg")  # square pixels
    cobb = math.degrees(math.atan2(10, 90) - math.atan2(-20, 90))
    assert f["radviewer cobb 3"]["Cobb angle"] == (pytest.approx(cobb), "deg")
    # The rectangle's pixels by hand: centres (c + 0.5) inside x 50..90, y 60..120.
    values = px.real(25)
    rect = f["radviewer rect 5"]
    assert rect["Mean"] == (pytest.approx(float(values[60:120, 50:90].mean())), "1")
    assert rect["Maximum"][0] == pytest.approx(float(values[60:120, 50:90].max()))
    assert rect["Area"] == (pytest.approx(40 * col_mm * 60 * row_mm), "mm2")
    # The ellipse's statistics agree with the window's own (viewer.display.measure).
    shown = roi_stats(values, Measurement("ellipse", (150, 150), (250, 220)), (row_mm, col_mm))
    ell = f["radviewer ellipse 4"]
    assert ell["Mean"][0] == pytest.approx(shown.mean, rel=1e-6)
    assert ell["Standard Deviation"][0] == pytest.approx(shown.sd, rel=1e-6)
    assert ell["Area"][0] == pytest.approx(shown.area_mm2)
    tri = f["radviewer polygon 6"]["Area"][0]
    assert tri == pytest.approx(abs(100 * 100 - 10 * 50) / 2 * row_mm * col_mm, rel=1e-6)
    assert f["radviewer arrow 8: look here"] == {}


def test_the_scan_lists_the_report_with_its_series(t2, saved, tmp_path):
    """A study folder holding the images and the report: the scan links the SR to the T2, and
    the catalog alone finds it again."""
    stack, _ = t2
    src = os.path.dirname(stack.first.path)
    for f in stack.frames:
        os.symlink(f.header.path, tmp_path / os.path.basename(f.header.path))
    os.symlink(saved[1], tmp_path / "report.dcm")
    catalog = scan_folder(str(tmp_path))
    (sr,) = catalog.objects()
    assert sr.kind == "SR" and sr.header.study_uid == stack.first.study_uid
    (linked,) = sr.linked_stacks
    assert linked.series_uid == stack.series_uid and src != str(tmp_path)
    assert load_measurements(catalog, linked) == every_kind()


def test_saving_again_replaces_and_an_empty_save_clears(t2, tmp_path):
    stack, _ = t2
    first = save_measurements(str(tmp_path), stack, every_kind()[:2])
    second = save_measurements(str(tmp_path), stack, every_kind()[7:])
    assert first == second and len(list(tmp_path.iterdir())) == 1
    assert load_measurements(str(tmp_path), stack) == every_kind()[7:]
    assert save_measurements(str(tmp_path), stack, []) is None
    assert load_measurements(str(tmp_path), stack) == [] and not first.exists()


def test_ct_roi_in_hounsfield_units(ct_catalog, tmp_path):
    stack = ct_catalog.stacks()[0]
    px = StackPixels(stack)
    k = stack.n_frames // 2
    air = Annotation("ellipse", k, ((2, 2), (40, 40)))  # a corner of the field: air
    path = save_measurements(str(tmp_path), stack, [air], pixel_images(px))
    mean, unit = _figures(path)["radviewer ellipse 1"]["Mean"]
    assert unit == "[hnsf'U]" and mean < -900


def test_bad_input_writes_nothing(t2, tmp_path):
    stack, _ = t2
    with pytest.raises(ValueError, match="needs 2 points"):
        Annotation("ruler", 0, ((1, 1),))
    with pytest.raises(ValueError, match="not a measurement kind"):
        Annotation("spiral", 0, ((1, 1), (2, 2)))
    with pytest.raises(ValueError, match="acquired image 55 is not in"):
        save_measurements(str(tmp_path), stack, [Annotation("ruler", 55, ((1, 1), (2, 2)))])
    assert list(tmp_path.iterdir()) == []


def test_a_damaged_report_does_not_hide_a_good_one(t2, tmp_path):
    stack, _ = t2
    study = tmp_path / "study"
    save_measurements(str(study), stack, every_kind()[:1])
    beside = tmp_path / "study.radviewer"
    beside.mkdir()
    (beside / file_name(stack)).write_bytes(b"DICM" * 100)  # newer, but not DICOM
    assert load_measurements(str(study), stack) == every_kind()[:1]


def test_read_only_study_writes_beside_it(t2, tmp_path, monkeypatch):
    """A study folder without write permission (read-only for root too, as the shared data
    folder is) gets its report in ``<study>.radviewer`` beside it, and loads it from there."""
    stack, _ = t2
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    study = tmp_path / "study"
    study.mkdir()
    study.chmod(0o555)
    try:
        path = save_measurements(str(study), stack, every_kind()[:2])
        assert path.parent == tmp_path / "study.radviewer" and list(study.iterdir()) == []
        assert load_measurements(str(study), stack) == every_kind()[:2]
    finally:
        study.chmod(0o755)


def test_unwritable_study_and_sibling_write_to_the_user_folder(t2, tmp_path, monkeypatch):
    """Neither the study nor a sibling can be written (here under /proc as root, a locked
    folder otherwise): the report goes under $XDG_DATA_HOME; the bundled sample is never
    written into."""
    stack, _ = t2
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    if os.geteuid() == 0:
        study = "/proc/radviewer-study"  # neither it nor a sibling can be made
    else:
        locked = tmp_path / "locked"
        (locked / "study").mkdir(parents=True)
        locked.chmod(0o555)
        study = str(locked / "study")
    path = save_measurements(study, stack, every_kind()[:3])
    assert path.is_relative_to(tmp_path / "data" / "radviewer" / "studies")
    assert load_measurements(study, stack) == every_kind()[:3]
    from viewer.paths import sample_study_dir

    assert location.output_folder(sample_study_dir()).is_relative_to(tmp_path / "data")


def test_reformatted_planes_round_trip_in_patient_coordinates(mr_catalog, tmp_path):
    """On the sagittal T1, annotations drawn on axial and coronal reformats (and one on the
    sagittal reformat) are saved as SCOORD3D and come back on the same image, at the same
    points (within float32, the SR's storage); the ROI's mean is the reformatted image's."""
    t1 = next(s for s in mr_catalog.stacks() if "MEMPRAGE" in s.label)
    px = StackPixels(t1)
    px.load_volume()
    drawn = [Annotation("ruler", 100, ((20.5, 30.25), (150.75, 160.5)), plane="axial"),
             Annotation("ellipse", 90, ((60, 40), (120, 90)), plane="coronal"),
             Annotation("polygon", 80, ((10, 10), (60, 15), (30, 70)), plane="sagittal"),
             Annotation("arrow", 95, ((5, 5), (25, 30)), "here", plane="coronal")]
    path = save_measurements(str(tmp_path), t1, drawn, pixel_images(px))
    assert dciodvfy_errors(path) == []
    back = load_measurements(str(tmp_path), t1)
    assert [(a.kind, a.plane, a.slice_index, a.text) for a in back] == [
        (a.kind, a.plane, a.slice_index, a.text) for a in drawn]
    for a, b in zip(drawn, back, strict=True):
        assert np.allclose(a.points, b.points, atol=1e-3)
    r = Reformat.from_affine(t1.affine, px.shape)
    coronal = to_real_volume(px.frame_volume(), [f.header for f in t1.frames])
    image = r.plane(coronal, "coronal", 90)
    shown = roi_stats(image, Measurement("ellipse", (60, 40), (120, 90)),
                      r.pixel_spacing("coronal"))
    ell = _figures(path)["radviewer ellipse 2 (coronal)"]
    assert ell["Mean"][0] == pytest.approx(shown.mean, rel=1e-6)
    assert ell["Area"][0] == pytest.approx(shown.area_mm2, rel=1e-6)
    length = _figures(path)["radviewer ruler 1 (axial)"]["Length"][0]
    ax = r.pixel_spacing("axial")
    assert length == pytest.approx(math.hypot(130.25 * ax[1], 130.25 * ax[0]), rel=1e-6)
