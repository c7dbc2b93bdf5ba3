"""The output against DICOM PS3.15 Table E.1-1, attribute by attribute.

A real CT (pydicom's CT_small.dcm, a GE scanner's file with its private tags) is given every
attribute of the table, each with an identifying value, and exported with no option and with
all four options; each attribute of the copy is then checked against the action the table
(Basic Profile column from dicom-anonymizer, option columns from viewer.deid.options_table)
requires. The expectations (table_check.py) come from the table, not from viewer.deid.profile.
"""

from __future__ import annotations

import datetime as dt

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.datadict import dictionary_has_tag, dictionary_VR, keyword_for_tag
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from table_check import ALL, BASIC, NAME, PID, TEXT, UID_ROOT, VALUES, check, expected

from viewer.deid import DeidOptions, export_deidentified
from viewer.deid import options_table as opt


def _item(sop_uid: str) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    item.ReferencedSOPInstanceUID = sop_uid
    return item


def _loaded_file(tmp_path) -> tuple[str, dict[int, object]]:
    """The CT with every table attribute set; returns its path and the tags set."""
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm", download=False))
    sop = ds.SOPInstanceUID
    used: dict[int, object] = {}
    for n, tag in enumerate(sorted(BASIC)):
        if tag >> 16 in (0x0000, 0x0002) or not dictionary_has_tag(tag):
            continue  # command and file-meta groups never stand in a stored data set
        vr = dictionary_VR(tag).split(" or ")[0]
        if tag == 0x00080018:
            continue  # SOP Instance UID: the file's own, referenced by the items below
        if vr == "SQ":
            value = [_item(sop)]
        elif vr == "UI":
            value = f"{UID_ROOT}{n}"
        elif vr in VALUES:
            value = VALUES[vr]
        else:
            continue
        ds[tag] = DataElement(tag, vr, value)
        used[tag] = value
    ds.PatientName, ds.PatientID = NAME, PID
    ds.add_new(0x00190011, "LO", "SIEMENS MR HEADER")  # beside GE's block (0019,0010)
    ds.add_new(0x0019110C, "IS", "1000")  # ... B value: safe
    ds.add_new(0x00191108, "CS", "IMAGE NUM 4")  # not listed: removed
    ds.add_new(0x00290010, "LO", "ACME PATIENT DATA")
    ds.add_new(0x00291001, "LO", TEXT)
    ds.add_new(0x60003000, "OW", b"\0" * 8)  # overlay data and comments, curve data: X
    ds.add_new(0x60004000, "LT", TEXT)
    ds.add_new(0x50003000, "OB", b"\0" * 8)
    path = tmp_path / "ct_all_attributes.dcm"
    ds.save_as(path, enforce_file_format=True)
    return str(path), used


@pytest.fixture(scope="module", params=[DeidOptions(), ALL], ids=["basic", "all-options"])
def exported(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("table")
    src, used = _loaded_file(tmp)
    report = export_deidentified([src], tmp / "out", request.param)
    assert len(report.written) == 1, report.failed
    return (request.param, pydicom.dcmread(src), pydicom.dcmread(report.written[0]), used)


def test_every_table_attribute_follows_its_action(exported):
    o, before, after, used = exported
    assert len(used) > 500  # the whole table, not a handful
    days = 0
    if o.modified_dates:
        shifted = dt.datetime.strptime(after.StudyDate, "%Y%m%d").date()
        days = (shifted - dt.date(2020, 1, 2)).days
        assert -3652 <= days <= -366
    wrong = {}
    for tag in used:
        if tag in (0x00100010, 0x00100020):  # Z/D: the pseudonym, checked below
            continue
        problem = check(expected(tag, o), tag, before[tag], after.get(tag), o, days)
        if problem:
            wrong[f"{keyword_for_tag(tag)} {expected(tag, o)}"] = problem
    assert not wrong, wrong
    assert str(after.PatientName) == after.PatientID == "ANON0001"


def test_identity_removed_and_method_recorded(exported):
    o, _, after, _ = exported
    assert after.PatientIdentityRemoved == "YES"
    codes = {i.CodeValue for i in after.DeidentificationMethodCodeSequence}
    want = {"113100"} | ({"113107", "113108", "113105", "113111"} if o.modified_dates else set())
    assert codes == want
    assert all(i.CodingSchemeDesignator == "DCM" for i in after.DeidentificationMethodCodeSequence)
    assert after.LongitudinalTemporalInformationModified == (
        "MODIFIED" if o.modified_dates else "REMOVED")


def test_private_attributes_only_safe_ones_kept(exported):
    """Retain Safe Private keeps what Table E.3.10-1 lists (here the GE scanner's own pitch
    and rotation attributes, and the Siemens b-value added above), with their creators."""
    o, before, after, _ = exported
    privates = {int(e.tag) for e in after if e.tag.is_private}
    if not o.safe_private:
        assert privates == set()
        return
    creators = {(e.tag.group, e.tag.element): str(e.value).strip() for e in before
                if e.tag.is_private_creator}
    safe = set()
    for e in before:
        block = (e.tag.group, e.tag.element >> 8)
        if e.tag.is_private and not e.tag.is_private_creator and (
                creators.get(block), e.tag.group, e.tag.element & 0xFF) in opt.SAFE_PRIVATE:
            safe |= {int(e.tag), (block[0] << 16) | block[1]}
    assert 0x0019110C in safe and 0x00431027 in safe  # Siemens B value, GE scan pitch ratio
    assert privates == safe
    assert str(after[0x0019110C].value) == "1000"
    assert 0x00291001 not in after and 0x00191108 not in after


def test_overlays_and_curves_removed_the_rest_kept(exported):
    _, before, after, _ = exported
    assert 0x60003000 not in after and 0x60004000 not in after and 0x50003000 not in after
    for kw in ("Rows", "Columns", "BitsAllocated", "PixelSpacing", "ImagePositionPatient",
               "RescaleSlope", "InstanceNumber", "SOPClassUID"):
        assert after[kw].value == before[kw].value, kw
    assert after.PixelData == before.PixelData
    assert after.file_meta.TransferSyntaxUID == before.file_meta.TransferSyntaxUID
    assert after.file_meta.MediaStorageSOPInstanceUID == after.SOPInstanceUID


def test_references_inside_the_file_follow_its_new_uid(exported):
    """Every kept reference to the file's own SOP Instance UID points at its new UID."""
    _, before, after, used = exported
    refs = [after[t].value[0].ReferencedSOPInstanceUID for t in used
            if before[t].VR == "SQ" and t in after and after[t].value]
    assert refs and set(refs) == {after.SOPInstanceUID}
    assert after.SOPInstanceUID != before.SOPInstanceUID
