"""Key images flagged on a series: a Key Object Selection document that dciodvfy accepts,
highdicom reads, and radviewer restores to the same slices."""

from __future__ import annotations

import os

import highdicom as hd
import pydicom
import pytest
from dciodvfy_tool import dciodvfy_errors

from viewer.dicom.scan import scan_folder
from viewer.persist.key_images import file_name, load_key_images, save_key_images


@pytest.fixture(scope="module")
def t2(mr_catalog):
    return next(s for s in mr_catalog.stacks() if "T2" in s.label)


def test_key_images_round_trip(t2, tmp_path):
    path = save_key_images(str(tmp_path), t2, [30, 3, 10, 3], "for the tumour board")
    assert path == tmp_path / file_name(t2)
    assert dciodvfy_errors(path) == []
    assert load_key_images(str(tmp_path), t2) == [3, 10, 30]
    doc = hd.ko.KeyObjectSelectionDocument.from_dataset(pydicom.dcmread(path))
    refs = {str(r.ReferencedSOPSequence[0].ReferencedSOPInstanceUID)
            for r in doc.content.get_references()}
    assert refs == {t2.frames[k].header.sop_instance_uid for k in (3, 10, 30)}
    assert doc.StudyInstanceUID == t2.first.study_uid
    assert doc.ConceptNameCodeSequence[0].CodeMeaning == "Of Interest"
    save_key_images(str(tmp_path), t2, [7])  # flagging again replaces the selection
    assert load_key_images(str(tmp_path), t2) == [7]


def test_the_scan_links_key_images_to_their_series(t2, tmp_path):
    for f in t2.frames:
        os.symlink(f.header.path, tmp_path / os.path.basename(f.header.path))
    kept = tmp_path.parent / f"{tmp_path.name}-ko"
    kept.mkdir()
    os.symlink(save_key_images(str(kept), t2, [4, 5]), tmp_path / "key.dcm")
    catalog = scan_folder(str(tmp_path))
    (ko,) = catalog.objects()
    assert ko.kind == "KO" and [s.series_uid for s in ko.linked_stacks] == [t2.series_uid]
    assert load_key_images(catalog, ko.linked_stacks[0]) == [4, 5]


def test_other_series_and_bad_selections(mr_catalog, t2, tmp_path):
    t1 = next(s for s in mr_catalog.stacks() if "MEMPRAGE" in s.label)
    save_key_images(str(tmp_path), t2, [1])
    assert load_key_images(str(tmp_path), t1) == []
    with pytest.raises(ValueError, match="at least one"):
        save_key_images(str(tmp_path), t2, [])
    with pytest.raises(ValueError, match="slices 0..54"):
        save_key_images(str(tmp_path), t2, [55])
