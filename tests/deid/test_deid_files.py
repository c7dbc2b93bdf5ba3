"""File handling of the de-identified export: the burned-in rule, bad files, cancel, and the
output folder, on pydicom's real test files (ultrasound, secondary capture, CT)."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file

from viewer.deid import burned_in_reason, export_deidentified, find_burned_in
from viewer.errors import ExportError


def _real(name: str) -> str:
    path = get_testdata_file(name, download=False)  # tests never reach the network
    if path is None:
        pytest.skip(f"{name} is not installed (pip install pydicom-data)")
    return path


@pytest.fixture
def sources(tmp_path) -> dict[str, str]:
    """An ultrasound and a JPEG secondary capture without Burned In Annotation, a CT that
    says YES, and the same CT as stored (no such attribute: a CT is not flagged)."""
    ct = _real("CT_small.dcm")
    yes = pydicom.dcmread(ct)
    yes.BurnedInAnnotation = "YES"
    yes.SOPInstanceUID = pydicom.uid.generate_uid()
    yes.save_as(tmp_path / "ct_burned.dcm", enforce_file_format=True)
    return {"us": _real("US1_UNCR.dcm"), "sc": _real("SC_rgb_jpeg.dcm"),
            "yes": str(tmp_path / "ct_burned.dcm"), "ct": ct}


@pytest.mark.filterwarnings("ignore:Expected explicit VR")  # SC_rgb_jpeg.dcm as stored
def test_burned_in_images_held_back_unless_confirmed(sources, tmp_path):
    files = list(sources.values())
    report = export_deidentified(files, tmp_path / "a")
    assert report.sources == [sources["ct"]]
    flagged = dict(report.flagged)
    assert set(flagged) == {sources["us"], sources["sc"], sources["yes"]}
    assert "Burned In Annotation is YES" in flagged[sources["yes"]]
    assert "ultrasound" in flagged[sources["us"]] and "secondary capture" in flagged[sources["sc"]]
    assert all("\n" not in r and Path(p).name in r for p, r in report.flagged)
    assert find_burned_in(files) == report.flagged  # what a dialog asks about beforehand

    confirmed = export_deidentified(files, tmp_path / "b", include_burned_in=True)
    assert len(confirmed.written) == 4 and not confirmed.flagged
    sc = confirmed.written[confirmed.sources.index(sources["sc"])]
    before, after = pydicom.dcmread(sources["sc"]), pydicom.dcmread(sc)
    assert after.file_meta.TransferSyntaxUID == before.file_meta.TransferSyntaxUID  # JPEG
    assert after.PixelData == before.PixelData


def test_burned_in_reason_reads_the_attribute():
    ds = pydicom.dcmread(_real("US1_UNCR.dcm"), stop_before_pixels=True)
    assert burned_in_reason(ds)
    ds.BurnedInAnnotation = "NO"  # the modality says its pixels carry no text
    assert burned_in_reason(ds) == ""


@pytest.mark.filterwarnings("ignore:Expected implicit VR")  # the text file, read by force
def test_a_bad_file_is_reported_and_the_rest_go_on(sources, tmp_path):
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(Path(sources["ct"]).read_bytes()[:700])  # a transfer that stopped early
    text = tmp_path / "notes.txt"
    text.write_text("not DICOM")
    report = export_deidentified([str(cut), sources["ct"], str(text)], tmp_path / "out")
    assert report.sources == [sources["ct"]]
    failed = dict(report.failed)
    assert set(failed) == {str(cut), str(text)}
    assert failed[str(cut)].startswith("cut.dcm: ") and "\n" not in failed[str(cut)]


def test_cancel_stops_between_files_leaving_complete_ones(sources, tmp_path):
    cancel = threading.Event()
    report = export_deidentified([sources["ct"], sources["yes"], sources["ct"]],
                                 tmp_path / "out", include_burned_in=True,
                                 progress=lambda done, total: cancel.set(), cancel=cancel)
    assert report.cancelled and len(report.written) == 1
    files = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert files == report.written  # no temporary file left behind
    assert pydicom.dcmread(files[0]).PatientIdentityRemoved == "YES"


def test_output_folder_must_be_new_or_empty(sources, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("someone's file")
    with pytest.raises(ExportError, match="not an empty folder"):
        export_deidentified([sources["ct"]], out)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_layout_names_nothing_from_the_patient(sources, tmp_path):
    src = tmp_path / "Doe_Jane"
    src.mkdir()
    shutil.copy(sources["ct"], src / "IM1")
    report = export_deidentified([str(src / "IM1")], tmp_path / "out")
    (written,) = report.written
    assert written.relative_to(tmp_path / "out").parts == (
        "ANON0001", "study01", "series01_CT", "00001.dcm")


def test_clean_descriptors_cuts_the_identity_out_of_descriptions(sources, tmp_path):
    """With Clean Descriptors a description is kept without the patient's name, ID and birth
    date written into it; without the option it is removed (Basic Profile: X)."""
    from viewer.deid import DeidOptions

    ds = pydicom.dcmread(sources["ct"])
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = "Doe^Jane", "MRN777", "19700203"
    ds.SeriesDescription = "Doe chest 1970-02-03 MRN777 contrast"
    ds.StudyDescription = "CT CHEST (JANE DOE)"
    ds.save_as(tmp_path / "ct.dcm", enforce_file_format=True)
    cleaned = export_deidentified([str(tmp_path / "ct.dcm")], tmp_path / "a",
                                  DeidOptions(clean_descriptors=True))
    after = pydicom.dcmread(cleaned.written[0])
    assert after.SeriesDescription == "chest contrast"
    assert after.StudyDescription == "CT CHEST"
    removed = export_deidentified([str(tmp_path / "ct.dcm")], tmp_path / "b")
    after = pydicom.dcmread(removed.written[0])
    assert "SeriesDescription" not in after and "StudyDescription" not in after


def test_structured_report_keeps_its_tree_without_free_text(tmp_path):
    """An SR's content tree stays (codes, references, remapped UIDs); its free text becomes a
    dummy, so the report is as valid as before and names no one."""
    src = _real("test-SR.dcm")
    report = export_deidentified([src], tmp_path / "out")

    def walk(ds, found):
        for e in ds:
            if e.VR == "SQ":
                for item in e.value:
                    walk(item, found)
            elif e.keyword in ("TextValue", "ConceptNameCodeSequence", "UID"):
                found.append((e.keyword, str(e.value)))
        return found

    before = walk(pydicom.dcmread(src), [])
    after = walk(pydicom.dcmread(report.written[0]), [])
    assert [k for k, _ in after] == [k for k, _ in before]
    texts = [v for k, v in after if k == "TextValue"]
    assert len(texts) >= 5 and set(texts) == {"ANONYMIZED"}
    uids = [(b, a) for (k, b), (_, a) in zip(before, after, strict=True) if k == "UID"]
    assert uids and all(b != a for b, a in uids)
