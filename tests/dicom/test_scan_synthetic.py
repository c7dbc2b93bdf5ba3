"""Scan, stack and geometry on series written with pydicom in precise, awkward geometries."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest
from pydicom.uid import ImplicitVRLittleEndian, JPEGLSLossless, RLELossless
from synth import write_broken_files, write_series

from viewer.dicom.pixels import StackPixels
from viewer.dicom.scan import iter_scan, scan_folder


def _first_pixels(stack) -> list[int]:
    px = StackPixels(stack)
    return [int(px.frame(k)[0, 0]) for k in range(stack.n_frames)]


def test_shuffled_names_sorted_by_position_not_instance_number(tmp_path):
    s = write_series(tmp_path, n_slices=12, seed=3)
    cat = scan_folder(tmp_path)
    (stack,) = cat.stacks()
    assert stack.n_frames == 12
    # Default pixels encode the slice index k as 100*k at [0, 0].
    assert _first_pixels(stack) == [100 * k for k in range(12)]
    got = [f.position for f in stack.frames]
    np.testing.assert_allclose(got, s.positions, atol=1e-4)
    instance_order = [f.header.instance_number for f in stack.frames]
    assert instance_order != sorted(instance_order)
    assert stack.spacing[0] == pytest.approx(2.5, abs=1e-4)  # not the Slice Thickness (1.25)
    assert stack.spacing[1:] == pytest.approx((0.8, 0.7))
    assert stack.warnings == ()


def test_affine_maps_voxels_to_written_positions(tmp_path):
    s = write_series(tmp_path, n_slices=6, rows=20, cols=16, pixel_spacing=(0.9, 0.6))
    (stack,) = scan_folder(tmp_path).stacks()
    a = stack.affine
    for k, pos in enumerate(s.positions):
        np.testing.assert_allclose(a @ [0, 0, k, 1], [*pos, 1], atol=1e-3)
    # Column i moves along row_dir by the column spacing (0.6), row j along col_dir by 0.9.
    np.testing.assert_allclose(a @ [3, 0, 0, 1] - a @ [0, 0, 0, 1], [1.8, 0, 0, 0], atol=1e-6)
    np.testing.assert_allclose(a @ [0, 2, 0, 1] - a @ [0, 0, 0, 1], [0, 1.8, 0, 0], atol=1e-6)
    assert stack.plane == "AXIAL"
    assert stack.edge_letters == {"left": "R", "right": "L", "top": "A", "bottom": "P"}


def test_oblique_orientation(tmp_path):
    t = math.radians(25)
    row = (math.cos(t), math.sin(t), 0.0)
    col = (0.0, 0.0, -1.0)  # coronal-ish: rows go to the feet
    s = write_series(tmp_path, n_slices=8, row_dir=row, col_dir=col, spacing=3.0)
    (stack,) = scan_folder(tmp_path).stacks()
    assert _first_pixels(stack) == [100 * k for k in range(8)]
    assert stack.spacing[0] == pytest.approx(3.0, abs=1e-4)
    np.testing.assert_allclose(stack.affine @ [0, 0, 7, 1], [*s.positions[7], 1], atol=1e-3)
    letters = stack.edge_letters
    assert letters["right"] == "LP" and letters["left"] == "RA"
    assert letters["top"] == "S" and letters["bottom"] == "I"
    assert stack.plane == "CORONAL"


def test_missing_slice_is_reported(tmp_path):
    write_series(tmp_path, n_slices=10, skip=(4,))
    (stack,) = scan_folder(tmp_path).stacks()
    assert stack.n_frames == 9
    assert stack.spacing[0] == pytest.approx(2.5, abs=1e-4)
    assert any("1 missing slice" in w and "after slice 4" in w for w in stack.warnings)


def test_uneven_spacing_is_reported(tmp_path):
    write_series(tmp_path, n_slices=6, seed=1)
    # A second series-member slice 1 mm off the grid: same series UID, odd position.
    write_series(
        tmp_path / "odd", n_slices=1, origin=(-10.0, -20.0, 30.0 + 2.5 * 6 + 1.0), seed=2,
        series_uid=scan_folder(tmp_path).stacks()[0].series_uid,
        study_uid=scan_folder(tmp_path).stacks()[0].first.study_uid,
    )
    (stack,) = scan_folder(tmp_path).stacks()
    assert stack.n_frames == 7
    assert "uneven slice spacing" in stack.warnings


def test_interleaved_echoes_split_into_stacks(tmp_path):
    write_series(tmp_path, n_slices=7, echo_numbers=(1, 2), modality="MR", rescale=None)
    cat = scan_folder(tmp_path)
    stacks = cat.all_stacks()  # one browser entry (a 4-D echo series), two stacks
    assert len(stacks) == 2 and len(cat.stacks()) == 1
    assert {st.first.echo_number for st in stacks} == {1, 2}
    for st in stacks:
        e = st.first.echo_number - 1
        assert st.n_frames == 7
        assert _first_pixels(st) == [100 * k + 10 * e for k in range(7)]
        assert "echo" in st.label
        assert st.warnings == ()
    assert len({st.uid for st in stacks}) == 2


def test_gantry_tilt_detected_and_affine_sheared(tmp_path):
    s = write_series(tmp_path, n_slices=9, tilt_deg=15.0, spacing=2.0)
    (stack,) = scan_folder(tmp_path).stacks()
    assert any(w.startswith("gantry tilt 15.0") for w in stack.warnings)
    for k in (0, 4, 8):
        np.testing.assert_allclose(stack.affine @ [0, 0, k, 1], [*s.positions[k], 1], atol=1e-3)
    # Distance between slices along the normal is still the written spacing.
    assert np.diff(stack.slice_positions) == pytest.approx(2.0, abs=1e-3)
    assert stack.spacing[0] == pytest.approx(2.0, abs=1e-3)


def test_duplicated_positions_reported(tmp_path):
    s = write_series(tmp_path / "a", n_slices=5, seed=1)
    write_series(tmp_path / "b", n_slices=5, seed=2, series_uid=s.series_uid,
                 study_uid=s.study_uid)
    (stack,) = scan_folder(tmp_path).stacks()
    assert stack.n_frames == 10
    assert "5 duplicated slice position(s)" in stack.warnings


def test_acquisitions_at_same_positions_split(tmp_path):
    s = write_series(tmp_path / "a", n_slices=5, seed=1, extra={"AcquisitionNumber": 1})
    write_series(tmp_path / "b", n_slices=5, seed=2, series_uid=s.series_uid,
                 study_uid=s.study_uid, extra={"AcquisitionNumber": 2})
    cat = scan_folder(tmp_path)
    stacks = cat.all_stacks()  # one browser entry: a 4-D series of two acquisitions
    assert [st.n_frames for st in stacks] == [5, 5] and len(cat.stacks()) == 1
    assert all(st.warnings == () for st in stacks)
    assert {st.split_reason for st in stacks} == {"acquisition 1", "acquisition 2"}


def test_other_orientation_and_size_split(tmp_path):
    s = write_series(tmp_path / "ax", n_slices=6, seed=1)
    write_series(tmp_path / "sag", n_slices=3, rows=40, cols=40, seed=2, row_dir=(0, 1, 0),
                 col_dir=(0, 0, -1), series_uid=s.series_uid, study_uid=s.study_uid)
    stacks = scan_folder(tmp_path).stacks()
    assert [(st.n_frames, st.plane) for st in stacks] == [(6, "AXIAL"), (3, "SAGITTAL")]


def test_files_with_any_extension_and_nested_folders(tmp_path):
    write_series(tmp_path / "a" / "b" / "c", n_slices=4, extension=".IMA", seed=1)
    write_series(tmp_path / "d", n_slices=3, extension="", seed=2, modality="MR")
    cat = scan_folder(tmp_path)
    assert sorted(st.n_frames for st in cat.stacks()) == [3, 4]
    assert not cat.skipped


@pytest.mark.parametrize("syntax", [ImplicitVRLittleEndian, RLELossless, JPEGLSLossless])
def test_transfer_syntaxes_give_same_volume(tmp_path, syntax):
    write_series(tmp_path, n_slices=10, rows=32, cols=32, transfer_syntax=syntax)
    (stack,) = scan_folder(tmp_path).stacks()
    vol = StackPixels(stack).load_volume()
    assert vol.dtype == np.int16
    assert [int(v) for v in vol[:, 0, 0]] == [100 * k for k in range(10)]
    assert int(vol[3, -1, -1]) == -301  # signed values survive every codec


def test_broken_files_skipped_with_reasons(tmp_path):
    write_series(tmp_path / "good", n_slices=4)
    broken = write_broken_files(tmp_path / "broken")
    cat = scan_folder(tmp_path)
    reasons = {s.path: s.reason for s in cat.skipped}
    by_name = {name: reasons.get(str(path)) for name, path in broken.items()}
    assert "truncated" in by_name["truncated"] or "damaged" in by_name["truncated"]
    assert "damaged" in by_name["truncated_header"]
    assert "not DICOM" in by_name["text"]
    assert "not a DICOM file" in by_name["empty"]
    assert "not a DICOM file" in by_name["random"]
    # An unknown VR with an intact length keeps the parse in step: the file is still read.
    assert by_name["bad_vr"] is None
    assert "without pixel data" in by_name["no_pixel_data"]
    assert "not compressed" in by_name["wrong_transfer_syntax"]
    # A file without preamble is still DICOM: it is read, not skipped.
    assert by_name["no_preamble"] is None
    read = {st.first.path for st in cat.stacks()}
    assert {str(broken["no_preamble"]), str(broken["bad_vr"])} <= read
    assert max(st.n_frames for st in cat.stacks()) == 4
    no_pre = [st for st in cat.stacks() if st.first.path == str(broken["no_preamble"])]
    assert len(no_pre) == 1
    assert StackPixels(no_pre[0]).frame(0).shape == (no_pre[0].rows, no_pre[0].columns)


def test_scan_streams_progress_and_cancels(tmp_path):
    write_series(tmp_path, n_slices=40, rows=8, cols=8)
    updates = list(iter_scan(tmp_path))
    assert [u.done for u in updates] == list(range(1, 41))
    assert all(u.total == 40 for u in updates)
    cancel = threading.Event()
    seen = 0
    for _ in iter_scan(tmp_path, cancel=cancel, workers=1):
        seen += 1
        cancel.set()
    assert seen < 40
    cat = scan_folder(tmp_path, cancel=cancel)
    assert cat.cancelled


def test_volume_load_cancel_keeps_loaded_slices(tmp_path):
    write_series(tmp_path, n_slices=30, rows=16, cols=16)
    (stack,) = scan_folder(tmp_path).stacks()
    px = StackPixels(stack)
    cancel = threading.Event()
    arrived = []

    def on_slice(k):
        arrived.append(k)
        if len(arrived) == 5:
            cancel.set()

    from viewer.errors import OperationCancelled

    with pytest.raises(OperationCancelled):
        px.load_volume(cancel=cancel, on_slice=on_slice, workers=1)
    assert arrived[0] == 15  # the middle slice comes first
    assert 5 <= len(arrived) < 30
    assert all(px.is_loaded(k) for k in arrived)
    vol = px.load_volume()  # resumes
    assert [int(v) for v in vol[:, 0, 0]] == [100 * k for k in range(30)]


def test_garbage_vr_bytes_are_reported(tmp_path):
    s = write_series(tmp_path, n_slices=1, shuffle_names=False)
    data = bytearray(s.files[0].read_bytes())
    at = data.index(b"\x08\x00\x3e\x10")  # Series Description (0008,103E)
    data[at + 4 : at + 6] = b"\x01\x02"
    s.files[0].write_bytes(bytes(data))
    cat = scan_folder(tmp_path)
    assert not cat.stacks()
    (skipped,) = cat.skipped
    assert "invalid VR" in skipped.reason and "(0008,103E)" in skipped.reason


def test_dicomdir_folder_with_upper_case_names(tmp_path):
    from pydicom.fileset import FileSet

    src = tmp_path / "src"
    s = write_series(src, n_slices=5)
    fs = FileSet()
    for f in s.files:
        fs.add(str(f))
    cd = tmp_path / "cd"
    fs.write(str(cd))  # a CD layout: DICOMDIR plus PT000000/ST000000/... without extensions
    assert (cd / "DICOMDIR").is_file()
    cat = scan_folder(cd)
    (stack,) = cat.stacks()
    assert stack.n_frames == 5
    assert [int(StackPixels(stack).frame(k)[0, 0]) for k in range(5)] == [0, 100, 200, 300, 400]
    assert cat.skipped == []  # the DICOMDIR itself is an index, not a skipped file


def test_multiframe_counted_as_frames_and_non_image_objects_listed(tmp_path):
    import shutil

    from pydicom.data import get_testdata_file

    for name in ("emri_small.dcm", "rtstruct.dcm"):
        shutil.copy(get_testdata_file(name, download=False), tmp_path / name.upper())
    cat = scan_folder(tmp_path)
    (stack,) = cat.stacks()
    assert (stack.n_files, stack.n_frames) == (1, 10)
    (obj,) = cat.objects()
    assert obj.kind == "RTSTRUCT"
    assert cat.skipped == []


def test_unused_high_bits_cleared(tmp_path):
    def pixels(k, e, rows, cols):
        return np.full((rows, cols), 0xF000 | (100 * k), dtype=np.uint16)  # overlay bits set

    write_series(tmp_path, n_slices=3, pixel_fn=pixels, rescale=None,
                 extra={"BitsStored": 12, "HighBit": 11})
    (stack,) = scan_folder(tmp_path).stacks()
    vol = StackPixels(stack).load_volume()
    assert vol.dtype == np.uint16
    assert vol[:, 0, 0].tolist() == [0, 100, 200]


def test_patient_coordinates_exact_after_missing_slice(tmp_path):
    s = write_series(tmp_path, n_slices=8, skip=(3,))
    (stack,) = scan_folder(tmp_path).stacks()
    # Slice index 3 of the stack is the written slice k=4 (k=3 is missing).
    assert s.slice_indices[3] == 4
    assert stack.frames[3].position == pytest.approx(s.positions[3], abs=1e-4)
    assert stack.slice_positions[3] - stack.slice_positions[2] == pytest.approx(5.0, abs=1e-3)


def test_bad_value_on_pydicom_path_skips_file_not_scan(tmp_path):
    import pydicom

    s = write_series(tmp_path / "ok", n_slices=3)
    ds = pydicom.dcmread(s.files[0])
    ds.SpecificCharacterSet = "ISO_IR 144"  # forces the pydicom path
    ds.SOPInstanceUID = ds.SOPInstanceUID + ".9"
    out = tmp_path / "bad.dcm"
    ds.save_as(out, enforce_file_format=True)
    data = bytearray(out.read_bytes())
    at = data.index(b"\x08\x00\x3e\x10")  # Series Description (0008,103E)
    data[at + 4 : at + 6] = b"ZZ"
    out.write_bytes(bytes(data))
    cat = scan_folder(tmp_path)
    assert [st.n_frames for st in cat.stacks()] == [3]
    (skipped,) = cat.skipped
    assert skipped.path == str(out) and "damaged" in skipped.reason
