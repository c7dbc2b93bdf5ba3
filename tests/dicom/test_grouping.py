"""A series is what the scanner meant: never a mix of patients, studies or pixel formats.

Files are written with pydicom: copies of pydicom's CT_small.dcm / MR_small.dcm with changed
identifiers, and synthetic series (synth.write_series) that share or lack UIDs on purpose.
"""

from __future__ import annotations

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid
from synth import write_series

from viewer.dicom.scan import scan_folder


def _copy_real(src: str, dest, **changes) -> None:
    """Write ``src`` (a pydicom test file) to ``dest`` with a new SOP Instance UID and
    ``changes`` (keyword -> value; None deletes the element)."""
    ds = pydicom.dcmread(get_testdata_file(src))
    uid = generate_uid()
    ds.SOPInstanceUID = uid
    ds.file_meta.MediaStorageSOPInstanceUID = uid
    for kw, value in changes.items():
        if value is None:
            delattr(ds, kw)
        else:
            setattr(ds, kw, value)
    dest.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(dest)


def test_two_patients_sharing_a_series_uid_are_two_series(tmp_path):
    shared = generate_uid()
    for who in ("A", "B"):
        for name in ("CT_small.dcm", "MR_small.dcm"):
            _copy_real(name, tmp_path / who / name, PatientID=f"PAT{who}",
                       PatientName=f"Test^{who}", SeriesInstanceUID=shared,
                       StudyInstanceUID=generate_uid())
    cat = scan_folder(tmp_path)
    assert not cat.skipped
    assert [p.patient_id for p in cat.patients] == ["PATA", "PATB"]
    for p in cat.patients:
        # CT_small and MR_small of one patient are in two studies, one series each.
        assert len(p.studies) == 2
        for st in p.studies:
            (se,) = st.series
            assert se.uid == shared
            assert {s.first.patient_id for s in se.stacks} == {p.patient_id}
    stacks = cat.stacks()
    assert len(stacks) == 4
    assert len({st.uid for st in stacks}) == 4  # the GUI and the CLI address stacks by uid
    assert all(st.series_uid == shared for st in stacks)  # SEG export references the real UID
    assert cat.multiple_patients_warning == (
        "This folder holds 2 patients — check which one you are reading")


def test_one_patient_has_no_warning(tmp_path):
    write_series(tmp_path / "a", n_slices=3, seed=1)
    write_series(tmp_path / "b", n_slices=3, seed=2)
    cat = scan_folder(tmp_path)
    assert len(cat.patients) == 1
    assert cat.multiple_patients_warning == ""


def test_same_study_uid_for_two_patients_is_two_studies(tmp_path):
    s = write_series(tmp_path / "a", n_slices=4, seed=1, patient_id="P1")
    write_series(tmp_path / "b", n_slices=4, seed=2, patient_id="P2", study_uid=s.study_uid,
                 series_uid=s.series_uid)
    cat = scan_folder(tmp_path)
    assert [(p.patient_id, len(p.studies)) for p in cat.patients] == [("P1", 1), ("P2", 1)]
    assert [st.n_frames for st in cat.stacks()] == [4, 4]
    assert all(st.warnings == () for st in cat.stacks())  # not 4 duplicated positions


def test_files_without_series_uid_in_two_studies_stay_apart(tmp_path):
    no_uid = {"SeriesInstanceUID": None}
    # Same seed: the same Series Number (1) in both studies.
    write_series(tmp_path / "a", n_slices=4, seed=1, study_uid=generate_uid(), extra=no_uid)
    write_series(tmp_path / "b", n_slices=3, seed=1, study_uid=generate_uid(), extra=no_uid)
    cat = scan_folder(tmp_path)
    assert not cat.skipped
    (p,) = cat.patients
    assert sorted(len(st.series) for st in p.studies) == [1, 1]
    stacks = cat.stacks()
    assert sorted(st.n_frames for st in stacks) == [3, 4]
    assert all(st.series_uid == "" for st in stacks)
    assert sorted(st.uid for st in stacks) == ["no-series-uid@1", "no-series-uid@2"]
    assert cat.find_stack("no-series-uid@2") in stacks


def test_files_without_series_uid_group_by_series_number(tmp_path):
    study = generate_uid()
    write_series(tmp_path / "a", n_slices=4, seed=1, study_uid=study,
                 extra={"SeriesInstanceUID": None})
    write_series(tmp_path / "b", n_slices=5, seed=2, study_uid=study,
                 extra={"SeriesInstanceUID": None})
    cat = scan_folder(tmp_path)
    (p,) = cat.patients
    (st,) = p.studies
    assert [(se.number, sum(s.n_frames for s in se.stacks)) for se in st.series] == [
        (2, 4), (3, 5)]


@pytest.mark.parametrize(
    ("other", "label_part"),
    [
        ({"extra": {"BitsStored": 12, "HighBit": 11}}, "MONOCHROME2 12-bit"),
        ({"extra": {"PhotometricInterpretation": "MONOCHROME1"}}, "MONOCHROME1 16-bit"),
        ({"rows": 40, "cols": 40}, "40x40"),
    ],
    ids=["bits-stored", "photometric", "frame-size"],
)
def test_mixed_pixel_format_splits_stacks_with_warning(tmp_path, other, label_part):
    s = write_series(tmp_path / "a", n_slices=6, seed=1)
    # Other positions, so only the pixel format can be what splits them.
    write_series(tmp_path / "b", n_slices=3, seed=2, origin=(-10.0, -20.0, 60.0),
                 series_uid=s.series_uid, study_uid=s.study_uid, **other)
    stacks = scan_folder(tmp_path).stacks()
    assert [st.n_frames for st in stacks] == [6, 3]
    for st in stacks:
        assert len({(f.header.bits_stored, f.header.photometric, f.header.rows)
                    for f in st.frames}) == 1
        assert any(w.startswith("series mixes 2 pixel formats") for w in st.warnings), (
            st.warnings)
    assert label_part in stacks[1].label
    assert stacks[0].uid == s.series_uid and stacks[1].uid == f"{s.series_uid}#1"


def test_one_pixel_format_is_one_stack_without_warning(tmp_path):
    s = write_series(tmp_path / "a", n_slices=6, seed=1)
    write_series(tmp_path / "b", n_slices=3, seed=2, origin=(-10.0, -20.0, 60.0),
                 series_uid=s.series_uid, study_uid=s.study_uid)
    (stack,) = scan_folder(tmp_path).stacks()
    assert not any("pixel format" in w for w in stack.warnings)


def test_info_text_warns_of_two_patients(tmp_path, capsys):
    from viewer.cli import main

    write_series(tmp_path / "a", n_slices=3, seed=1, patient_id="P1", patient_name="One^A")
    write_series(tmp_path / "b", n_slices=3, seed=2, patient_id="P2", patient_name="Two^B")
    assert main(["info", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "! This folder holds 2 patients — check which one you are reading" in out
    assert sum(line.startswith("Patient ") for line in out) == 2


def test_info_text_one_patient_no_warning(tmp_path, capsys):
    from viewer.cli import main

    write_series(tmp_path / "a", n_slices=3, seed=1)
    assert main(["info", str(tmp_path)]) == 0
    assert "patients —" not in capsys.readouterr().out
