"""Siemens mosaics unpacked into slices at their true positions, against dcm2niix.

Real data: ../shared/data/mr-siemens-mosaic (Siemens TrioTim B17 EPI mosaics, 2 files = 2 time
points per series, axial/coronal/sagittal, ascending/descending/interleaved) with dcm2niix's
NIfTI in Ref/<name>_<series number>.nii.

Comparing with the NIfTI: its sform is RAS, the viewer's affine LPS (negate the first two rows);
dcm2niix flips the row axis (NIfTI j = rows - 1 - DICOM row); and it keeps the mosaic's slice
order (along the CSA SliceNormalVector), where the viewer sorts slices along row x column
direction: for these sagittal series the two point opposite ways, so the slice axis is reversed
too. Both flips are applied to the reference's indices, then affine and voxels must agree.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pydicom
import pytest

from viewer.cli import main
from viewer.dicom import siemens_csa
from viewer.dicom.header import read_header
from viewer.dicom.pixels import StackPixels, decode_frame
from viewer.dicom.scan import scan_folder
from viewer.dicom.stacks import build_stacks
from viewer.dicom.volumes import volume_series

_IN = ("mr-siemens-mosaic", "In", "Orientation")


def _folder(shared_data: Path, name: str) -> Path:
    return shared_data.joinpath(*_IN, name)


def _mosaics(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.name.startswith("MR."))


def _read_nifti(path: Path) -> tuple[np.ndarray, tuple[int, ...], np.ndarray]:
    """sform (4x4, RAS), dim[1:5] and int16 data indexed (t, k, j, i) of a NIfTI-1 file."""
    raw = path.read_bytes()
    assert struct.unpack_from("<i", raw, 0)[0] == 348, "not a little-endian NIfTI-1 file"
    dim = struct.unpack_from("<8h", raw, 40)
    assert struct.unpack_from("<h", raw, 70)[0] == 4, "reference is not int16"
    offset = int(struct.unpack_from("<f", raw, 108)[0])
    sform = np.eye(4)
    for row, at in enumerate((280, 296, 312)):  # srow_x, srow_y, srow_z
        sform[row] = struct.unpack_from("<4f", raw, at)
    nx, ny, nz, nt = dim[1], dim[2], dim[3], max(1, dim[4])
    data = np.frombuffer(raw, "<i2", nx * ny * nz * nt, offset).reshape(nt, nz, ny, nx)
    return sform, (nx, ny, nz, nt), data


# (series folder, dcm2niix slice order reversed relative to the viewer's)
CASES = [
    ("ax/axasc35", False), ("ax/axdesc36", False), ("ax/axint35", False),
    ("cor/corasc35", False), ("cor/cordesc36", False), ("cor/corint36", False),
    ("sag/sagasc36", True), ("sag/sagdesc35", True), ("sag/sagint35", True),
]


@pytest.mark.parametrize(("name", "reversed_slices"), CASES)
def test_unpacked_geometry_and_pixels_match_dcm2niix(shared_data, name, reversed_slices):
    files = _mosaics(_folder(shared_data, name))
    headers = [read_header(str(p)) for p in files]
    h = headers[0]
    (ref,) = shared_data.joinpath("mr-siemens-mosaic", "Ref").glob(f"*_{h.series_number}.nii")
    sform, (nx, ny, nz, nt), data = _read_nifti(ref)
    assert h.mosaic == (nz, 64, 64) and (h.rows, h.columns, h.number_of_frames) == (64, 64, nz)

    stacks = build_stacks(headers)
    assert [st.n_frames for st in stacks] == [nz] * nt  # one volume per mosaic file
    flip = np.eye(4)
    flip[1, 1], flip[1, 3] = -1, ny - 1  # dcm2niix's row flip
    if reversed_slices:
        flip[2, 2], flip[2, 3] = -1, nz - 1
    expected = np.diag([-1.0, -1.0, 1.0, 1.0]) @ sform @ flip  # RAS -> LPS
    for st in stacks:
        np.testing.assert_allclose(st.affine[:3, 3], expected[:3, 3], atol=0.01)
        np.testing.assert_allclose(st.affine[:3, :3], expected[:3, :3], atol=1e-4)
    # Voxels: volume t is the t-th file (acquisition order), slice k the reference's slice.
    ordered = sorted(stacks, key=lambda st: st.first.acquisition_number)
    for t, st in enumerate(ordered):
        vol = StackPixels(st).load_volume()
        want = data[t][:, ::-1, :]
        if reversed_slices:
            want = want[::-1]
        assert vol.shape == (nz, 64, 64)
        np.testing.assert_array_equal(vol, want)


def test_csa_header_gives_count_and_slice_normal(shared_data):
    f = _mosaics(_folder(shared_data, "sag/sagdesc35"))[0]
    raw = pydicom.dcmread(f, stop_before_pixels=True)[0x0029, 0x1010].value
    csa = siemens_csa.parse(raw)
    assert csa["NumberOfImagesInMosaic"] == [35]
    assert csa["SliceNormalVector"] == [1.0, 0.0, 0.0]
    assert len(csa["MosaicRefAcqTimes"]) == 35
    # Damage never raises: a cut header gives the tags before the cut, garbage gives nothing.
    partial = siemens_csa.parse(raw[: len(raw) // 2])
    assert 0 < len(partial) < len(csa)
    assert siemens_csa.parse(b"not a CSA header at all") == {}
    assert siemens_csa.parse(b"") == {}


def _rewrite(src: Path, dst: Path, edit) -> Path:
    """A copy of ``src`` with ``edit(dataset)`` applied."""
    ds = pydicom.dcmread(src)
    edit(ds)
    ds.save_as(dst)
    return dst


def test_count_from_csa_when_private_tag_is_absent(shared_data, tmp_path):
    src = _mosaics(_folder(shared_data, "ax/axasc35"))[0]
    f = _rewrite(src, tmp_path / "a.dcm", lambda ds: ds.__delitem__(0x0019100A))
    h = read_header(str(f))
    assert h.mosaic == (35, 64, 64)
    ref = read_header(str(src))
    assert h.frame_positions == ref.frame_positions
    np.testing.assert_array_equal(decode_frame(h, 34), decode_frame(ref, 34))


def test_not_a_mosaic_without_the_image_type(shared_data, tmp_path):
    src = _mosaics(_folder(shared_data, "ax/axasc35"))[0]

    def plain(ds):
        ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "ND"]

    h = read_header(str(_rewrite(src, tmp_path / "b.dcm", plain)))
    assert h.mosaic is None and (h.rows, h.columns, h.number_of_frames) == (384, 384, 1)


def test_slice_is_its_tile_of_the_stored_image(shared_data):
    f = _mosaics(_folder(shared_data, "cor/corint35"))[0]
    whole = pydicom.dcmread(f).pixel_array  # 384x384, 6x6 tiles of 64x64
    h = read_header(str(f))
    for k in (0, 5, 6, 34):
        r, c = divmod(k, 6)
        np.testing.assert_array_equal(decode_frame(h, k),
                                      whole[r * 64:(r + 1) * 64, c * 64:(c + 1) * 64])


def test_compressed_mosaic_unpacks(shared_data):
    pytest.importorskip("pylibjpeg", reason="no JPEG Lossless decoder installed")
    folder = _folder(shared_data, "axmb/AxAsc36mb2a")  # 516x516 JPEG Lossless, 36 of 86x86
    headers = [read_header(str(p)) for p in sorted(folder.iterdir())]
    assert headers[0].mosaic == (36, 86, 86)
    st = build_stacks(headers)[0]
    vol = StackPixels(st).load_volume()
    whole = pydicom.dcmread(st.frames[0].header.path).pixel_array
    r, c = divmod(st.frames[0].frame, 6)
    np.testing.assert_array_equal(vol[0], whole[r * 86:(r + 1) * 86, c * 86:(c + 1) * 86])
    np.testing.assert_allclose(st.spacing, (3.6, *headers[0].pixel_spacing), atol=1e-3)


def test_folder_of_mosaics_is_one_4d_series(shared_data, capsys):
    folder = _folder(shared_data, "sag/sagint36")
    catalog = scan_folder(folder)
    (entry,) = catalog.stacks()
    vs = volume_series(entry)
    assert vs is not None and vs.count == 2
    assert [v.n_frames for v in vs.volumes] == [36, 36]
    assert main(["info", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "1 series" in out and "2 volumes (time) x 36 slices" in out and "64x64" in out


def test_implicit_vr_and_pydicom_path_read_the_same_mosaic(shared_data, tmp_path):
    from viewer.dicom import header as header_module

    src = _mosaics(_folder(shared_data, "sag/sagint35"))[0]
    ref = read_header(str(src))

    def implicit(ds):
        ds.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian

    f = _rewrite(src, tmp_path / "implicit.dcm", implicit)
    for h in (read_header(str(f)), header_module._read_with_pydicom(str(src)),
              header_module._read_with_pydicom(str(f))):
        assert h.mosaic == (35, 64, 64)
        assert h.frame_positions == ref.frame_positions
    np.testing.assert_array_equal(decode_frame(read_header(str(f)), 20), decode_frame(ref, 20))
