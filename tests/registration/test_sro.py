"""A registration saved as a DICOM Spatial Registration object: dciodvfy accepts it, and it
reads back as the same matrix, type and series."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from dciodvfy_tool import dciodvfy_errors
from reg_data import rigid

from viewer.errors import DicomReadError
from viewer.registration.sro import (
    find_registrations,
    matrix_type,
    read_registration,
    save_registration,
)


def test_round_trip_and_dciodvfy(mr_t1_t2, tmp_path):
    t1, _, t2, _ = mr_t1_t2
    m = rigid(1.9, 0, [0.5, 0.8, 1.2])
    path = save_registration(str(tmp_path), t1, t2, m)
    assert path.parent == tmp_path and path.suffix == ".dcm"
    assert dciodvfy_errors(path) == []
    back = read_registration(path)
    assert np.allclose(back.moving_to_fixed, m, atol=1e-9)
    assert back.matrix_type == "RIGID"
    assert (back.fixed_series_uid, back.moving_series_uid) == (t1.series_uid, t2.series_uid)
    ds = pydicom.dcmread(path)
    assert ds.Modality == "REG" and ds.StudyInstanceUID == t1.first.study_uid
    assert ds.FrameOfReferenceUID == t1.first.frame_of_reference_uid
    fixed_item, moving_item = ds.RegistrationSequence
    assert len(moving_item.ReferencedImageSequence) == t2.n_files
    # One Frame of Reference for both: the correction names the moving images, not the frame.
    assert "FrameOfReferenceUID" not in moving_item
    assert {s.SeriesInstanceUID for s in ds.ReferencedSeriesSequence} == {
        t1.series_uid, t2.series_uid}


def test_saving_again_replaces_and_is_found(mr_t1_t2, tmp_path):
    t1, _, t2, _ = mr_t1_t2
    first = save_registration(str(tmp_path), t1, t2, rigid(1.0, 2, [0, 0, 0]))
    second = save_registration(str(tmp_path), t1, t2, rigid(2.0, 2, [1, 0, 0]))
    assert first == second and len(list(tmp_path.iterdir())) == 1
    (found,) = find_registrations(str(tmp_path), t1, t2)
    assert np.allclose(found.moving_to_fixed, rigid(2.0, 2, [1, 0, 0]))
    assert find_registrations(str(tmp_path), t2, t1) == []


def test_matrix_types():
    assert matrix_type(rigid(10, 1, [3, 2, 1])) == "RIGID"
    scaled = rigid(10, 1, [3, 2, 1])
    scaled[:3, :3] *= 1.1
    assert matrix_type(scaled) == "RIGID_SCALE"
    sheared = np.eye(4)
    sheared[0, 1] = 0.2
    assert matrix_type(sheared) == "AFFINE"
    mirror = np.diag([-1.0, 1, 1, 1])
    assert matrix_type(mirror) == "AFFINE"


def test_bad_matrix_and_bad_file(mr_t1_t2, tmp_path):
    t1, _, t2, _ = mr_t1_t2
    with pytest.raises(ValueError, match="4x4"):
        save_registration(str(tmp_path), t1, t2, np.full((4, 4), np.nan))
    assert not list(tmp_path.iterdir())
    with pytest.raises(DicomReadError, match="not a Spatial Registration"):
        read_registration(t1.first.path)
