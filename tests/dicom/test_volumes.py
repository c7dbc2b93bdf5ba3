"""4-D series: repeated slice positions (diffusion, time points, echoes) become one series with
volumes, each volume a full Stack.

Real data: ../shared/data/mr-ge-4d (GE DWI with dcm2niix's .bval/.bvec, GE multiphase fMRI).
Synthetic: multi-echo and Siemens/Philips private diffusion tags written with pydicom.
"""

from __future__ import annotations

import json

import numpy as np
import pydicom
import pytest
from synth import write_series

from viewer.cli import catalog_json
from viewer.dicom.header import read_header
from viewer.dicom.pixels import StackPixels
from viewer.dicom.scan import scan_folder
from viewer.dicom.volumes import volume_series


def load_volume(stack) -> np.ndarray:
    return StackPixels(stack).load_volume()


@pytest.fixture(scope="module")
def ge_dwi(shared_data):
    return scan_folder(shared_data / "mr-ge-4d" / "In" / "04_Ax_DWI_TENSOR_R2MB2")


def test_ge_dwi_is_one_series_with_dcm2niix_bvals_and_bvecs(ge_dwi, shared_data):
    ref = shared_data / "mr-ge-4d" / "Ref" / "Ax_DWI_TENSOR_R2MB2_4"
    bval = np.loadtxt(f"{ref}.bval")
    bvec = np.loadtxt(f"{ref}.bvec")  # 3 rows (x, y, z), one column per volume
    entries = ge_dwi.stacks()
    assert len(entries) == 1
    vs = volume_series(entries[0])
    assert vs is not None and vs.kind == "diffusion"
    assert vs.count == len(bval) == 7
    assert all(v.n_frames == 9 for v in vs.volumes)
    assert sum(v.n_files for v in vs.volumes) == 63
    b = np.array([v.first.diffusion_b_value for v in vs.volumes])
    np.testing.assert_array_equal(b, bval)
    # GE stores the gradient in (0019,10BB..BD); dcm2niix writes it in NIfTI image space,
    # which for this axial (row = +x LPS) acquisition negates x only. Compare after that flip.
    g = np.array([v.first.diffusion_direction for v in vs.volumes]).T
    np.testing.assert_allclose(g * np.array([[-1.0], [1.0], [1.0]]), bvec, atol=1e-5)
    assert vs.labels[0] == "b = 0"
    assert vs.labels[1] == "b = 1000 (0.49, 0.84, -0.21)"
    # Each volume is a real stack: its own slices, no duplicated positions.
    for v in vs.volumes:
        assert not any("duplicated" in w for w in v.warnings)
        assert len(set(np.round(v.slice_positions, 2))) == 9


def test_ge_dwi_volumes_share_positions_not_files(ge_dwi):
    # The QA data's pixel values repeat from volume to volume (only headers differ), so the
    # volumes are told apart by their files: slice k of every volume sits at the same
    # position and comes from a different file.
    vs = volume_series(ge_dwi.stacks()[0])
    paths = [f.header.path for v in vs.volumes for f in v.frames]
    assert len(set(paths)) == 63
    ref = vs.volumes[0].slice_positions
    for v in vs.volumes[1:]:
        np.testing.assert_allclose(v.slice_positions, ref, atol=0.01)
    assert load_volume(vs.volumes[3]).shape == (9, 256, 256)


def test_ge_multiphase_fmri_is_three_series_of_ten_time_volumes(shared_data):
    cat = scan_folder(shared_data / "mr-ge-4d" / "In" / "SliceTimingMPh")
    entries = cat.stacks()
    assert len(entries) == 3
    for e in entries:
        vs = volume_series(e)
        assert vs is not None and vs.kind == "time"
        assert vs.count == 10
        assert [v.n_frames for v in vs.volumes] == [10] * 10
        assert [v.first.temporal_position for v in vs.volumes] == list(range(1, 11))
        assert vs.labels[0] == "t = 0.0 s"
    first = volume_series(entries[0])
    assert first.labels[2] == "t = 2.0 s"  # TR 1000 ms, trigger times step by 1000 ms
    doc = catalog_json(cat)
    series = [se for p in doc["patients"] for s in p["studies"] for se in s["series"]]
    assert doc["counts"]["series"] == 3 == len(series)
    assert series[0]["volumes"]["count"] == 10
    assert series[0]["volumes"]["kind"] == "time"
    assert series[0]["volumes"]["images"] == 100
    assert len(series[0]["volumes"]["labels"]) == 10
    json.dumps(doc)


def test_every_volume_resolves_by_uid(shared_data):
    cat = scan_folder(shared_data / "mr-ge-4d" / "In" / "SliceTimingMPh")
    vs = volume_series(cat.stacks()[0])
    for v in vs.volumes:
        assert cat.find_stack(v.uid) is v
    assert cat.find_stack(1) is vs.volumes[0]


def test_synthetic_multi_echo_becomes_echo_volumes(tmp_path):
    write_series(tmp_path, n_slices=6, modality="MR", echo_numbers=(1, 2, 3))
    cat = scan_folder(tmp_path)
    entries = cat.stacks()
    assert len(entries) == 1
    vs = volume_series(entries[0])
    assert vs is not None and vs.kind == "echo"
    assert vs.labels == ["echo 1, TE 10 ms", "echo 2, TE 20 ms", "echo 3, TE 30 ms"]
    assert [v.n_frames for v in vs.volumes] == [6, 6, 6]
    # The default pattern encodes the echo index in the tens digit of each pixel.
    for e, v in enumerate(vs.volumes):
        vol = load_volume(v)
        assert int((vol[0, 0, 0] % 100) // 10) == e


def test_single_echo_series_is_no_volume_series(tmp_path):
    write_series(tmp_path, n_slices=5, modality="MR")
    cat = scan_folder(tmp_path)
    assert len(cat.stacks()) == 1
    assert volume_series(cat.stacks()[0]) is None
    assert catalog_json(cat)["patients"][0]["studies"][0]["series"][0]["volumes"] is None


def _add_private_diffusion(path, vendor: str, b: float, d: tuple[float, float, float]):
    ds = pydicom.dcmread(path)
    if vendor == "SIEMENS":
        ds.Manufacturer = "SIEMENS"
        ds.private_block(0x0019, "SIEMENS MR HEADER", create=True)
        ds.add_new(0x0019100C, "IS", str(int(b)))
        ds.add_new(0x0019100E, "FD", list(d))
    else:
        ds.Manufacturer = "Philips Medical Systems"
        ds.private_block(0x2001, "Philips Imaging DD 001", create=True)
        ds.private_block(0x2005, "Philips MR Imaging DD 001", create=True)
        ds.add_new(0x20011003, "FL", float(b))
        for i, tag in enumerate((0x200510B0, 0x200510B1, 0x200510B2)):
            ds.add_new(tag, "FL", float(d[i]))
    ds.save_as(path)


@pytest.mark.parametrize("vendor", ["SIEMENS", "PHILIPS"])
def test_private_diffusion_tags_split_and_label(tmp_path, vendor):
    dirs = [(0.0, 0.0, 0.0), (1.0, 0.0, 0.0), (0.0, 0.6, 0.8)]
    bs = [0.0, 800.0, 800.0]
    uid = pydicom.uid.generate_uid()
    for i in range(3):
        s = write_series(tmp_path / f"v{i}", n_slices=4, modality="MR", series_uid=uid,
                         seed=i + 1, study_uid="1.2.3.4")
        for f in s.files:
            _add_private_diffusion(f, vendor, bs[i], dirs[i])
    h = read_header(str(s.files[0]))
    assert h.diffusion_b_value == 800.0
    np.testing.assert_allclose(h.diffusion_direction, (0.0, 0.6, 0.8), atol=1e-6)
    cat = scan_folder(tmp_path)
    entries = cat.stacks()
    assert len(entries) == 1
    vs = volume_series(entries[0])
    assert vs is not None and vs.kind == "diffusion" and vs.count == 3
    assert sorted(vs.labels) == sorted(
        ["b = 0", "b = 800 (1.00, 0.00, 0.00)", "b = 800 (0.00, 0.60, 0.80)"])
