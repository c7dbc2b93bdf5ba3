"""Tests of the synthetic-DICOM test helper ``synth.py`` (not of the viewer)."""

from __future__ import annotations

import importlib.util
import math
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import (
    CTImageStorage,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
    MRImageStorage,
    RLELossless,
)

try:  # tests/dicom as a package (tests/__init__.py present) or as a rootdir module
    from .synth import JPEG_BASELINE, default_pixels, write_broken_files, write_series
except ImportError:
    from synth import JPEG_BASELINE, default_pixels, write_broken_files, write_series


def _read_all(files: list[Path]) -> list[pydicom.Dataset]:
    return [pydicom.dcmread(f) for f in files]


def _proj(ds: pydicom.Dataset, normal: tuple[float, float, float]) -> float:
    return float(np.dot([float(v) for v in ds.ImagePositionPatient], normal))


def test_defaults_geometry_and_header(tmp_path: Path) -> None:
    s = write_series(tmp_path)
    assert s.slice_indices == list(range(10))
    assert len(s.files) == 10
    assert sorted(tmp_path.iterdir()) == sorted(s.files)
    assert s.normal == (0.0, 0.0, 1.0)
    assert s.orientation == (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    for i, (path, ds) in enumerate(zip(s.files, _read_all(s.files), strict=True)):
        k = s.slice_indices[i]
        assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert path.read_bytes()[128:132] == b"DICM"
        assert ds.SOPClassUID == CTImageStorage
        assert ds.Modality == "CT"
        assert ds.SeriesInstanceUID == s.series_uid
        assert ds.StudyInstanceUID == s.study_uid
        assert ds.FrameOfReferenceUID == s.frame_of_reference_uid
        assert ds.SOPInstanceUID == s.sop_instance_uids[i]
        assert ds.InstanceNumber == s.instance_numbers[i]
        assert ds.PatientID == "SYNTH001"
        assert str(ds.PatientName) == "Synth^Patient"
        assert ds.StudyDate and ds.SeriesDescription and ds.SeriesNumber == 1
        expected = (-10.0, -20.0, 30.0 + 2.5 * k)
        assert tuple(float(v) for v in ds.ImagePositionPatient) == expected == s.positions[i]
        assert [float(v) for v in ds.ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]
        assert [float(v) for v in ds.PixelSpacing] == [0.8, 0.7]
        assert float(ds.SliceThickness) == 1.25  # deliberately not the 2.5 spacing
        assert float(ds.SliceLocation) == pytest.approx(30.0 + 2.5 * k)
        assert float(ds.GantryDetectorTilt) == 0.0
        assert (float(ds.RescaleSlope), float(ds.RescaleIntercept)) == (1.0, -1024.0)
        assert (ds.WindowCenter, ds.WindowWidth) == (40, 400)
        assert "EchoNumbers" not in ds and "EchoTime" not in ds
        assert (ds.Rows, ds.Columns) == (32, 24)
        assert (ds.BitsAllocated, ds.BitsStored, ds.HighBit) == (16, 16, 15)
        assert ds.PixelRepresentation == 1
        assert ds.PhotometricInterpretation == "MONOCHROME2"
        arr = ds.pixel_array
        assert arr.dtype == np.int16
        np.testing.assert_array_equal(arr, default_pixels(k, 0, 32, 24))
        assert arr[0, 0] == 100 * k
        assert arr[-1, -1] < 0


def test_default_pixels_decode() -> None:
    arr = default_pixels(7, 2, 5, 4)
    assert arr.dtype == np.int16 and arr.shape == (5, 4)
    body = arr.ravel()[:-1]
    assert np.all(body // 100 == 7) and np.all(body % 100 // 10 == 2)
    assert arr[0, 0] == 720 and arr[1, 0] != arr[0, 1]
    assert arr[-1, -1] == -721
    with pytest.raises(ValueError):
        default_pixels(400, 0, 2, 2)


def test_recovered_positions_follow_normal_not_names_or_instance_numbers(tmp_path: Path) -> None:
    s = write_series(tmp_path, n_slices=12, seed=3)
    datasets = {f: pydicom.dcmread(f) for f in s.files}
    by_position = sorted(s.files, key=lambda f: _proj(datasets[f], s.normal))
    assert by_position == s.files  # canonical order is position order
    by_instance = sorted(s.files, key=lambda f: datasets[f].InstanceNumber)
    assert by_instance != by_position and by_instance != by_position[::-1]
    by_name = sorted(s.files, key=lambda f: f.name)
    assert by_name != by_position
    assert all(len(f.name) == 32 and int(f.name, 16) >= 0 for f in s.files)
    assert sorted(s.instance_numbers) == list(range(1, 13))
    # Pixel values alone recover the slice order.
    recovered = [int(datasets[f].pixel_array[0, 0]) // 100 for f in by_position]
    assert recovered == s.slice_indices


def test_instance_numbers_scrambled_for_small_series(tmp_path: Path) -> None:
    for n in (2, 3, 4):
        for seed in range(5):
            s = write_series(tmp_path / f"{n}_{seed}", n_slices=n, seed=seed)
            if n == 2:
                assert s.instance_numbers == [2, 1]
            else:
                pairs = list(zip(s.instance_numbers, s.instance_numbers[1:], strict=False))
                assert not all(a < b for a, b in pairs)
                assert not all(a > b for a, b in pairs)


def test_oblique_orientation_and_spacing(tmp_path: Path) -> None:
    s = write_series(
        tmp_path, n_slices=4, row_dir=(1, 1, 0), col_dir=(0, 0, -2), spacing=-1.5,
        pixel_spacing=(0.5, 0.25), origin=(1.0, 2.0, 3.0), modality="MR", rescale=None,
    )  # fmt: skip
    h = round(1 / math.sqrt(2), 6)
    assert s.orientation == (h, h, 0.0, 0.0, 0.0, -1.0)
    normal = np.cross([h, h, 0], [0, 0, -1])
    normal /= np.linalg.norm(normal)
    np.testing.assert_allclose(s.normal, normal)
    for i, ds in enumerate(_read_all(s.files)):
        assert [float(v) for v in ds.ImageOrientationPatient] == list(s.orientation)
        assert [float(v) for v in ds.PixelSpacing] == [0.5, 0.25]
        ipp = np.array([float(v) for v in ds.ImagePositionPatient])
        np.testing.assert_allclose(ipp, np.array([1.0, 2.0, 3.0]) - 1.5 * i * normal, atol=1e-6)
        assert ds.SOPClassUID == MRImageStorage and ds.Modality == "MR"
        assert "RescaleSlope" not in ds and "GantryDetectorTilt" not in ds
    steps = np.diff(np.array(s.positions) @ normal)
    np.testing.assert_allclose(steps, -1.5, atol=1e-5)  # positions rounded to 1 um


def test_echo_interleave(tmp_path: Path) -> None:
    s = write_series(tmp_path, n_slices=5, echo_numbers=(1, 2), modality="MR")
    assert len(s.files) == 10 == len(set(s.files))
    assert len(s.positions) == 5
    datasets = _read_all(s.files)
    assert sorted(ds.InstanceNumber for ds in datasets) == list(range(1, 11))
    for j, ds in enumerate(datasets):
        e, i = divmod(j, 5)
        assert ds.EchoNumbers == e + 1
        assert float(ds.EchoTime) == 10.0 * (e + 1)
        assert tuple(float(v) for v in ds.ImagePositionPatient) == s.positions[i]
        assert ds.pixel_array[0, 0] == 100 * s.slice_indices[i] + 10 * e
        assert ds.SeriesInstanceUID == s.series_uid

    plain = write_series(tmp_path / "plain", n_slices=3, echo_numbers=(1, 2), shuffle_names=False)
    names = sorted(f.name for f in (tmp_path / "plain").iterdir())
    assert names == ["IM0000_E0", "IM0000_E1", "IM0001_E0", "IM0001_E1", "IM0002_E0", "IM0002_E1"]
    assert [f.name for f in plain.files[:3]] == ["IM0000_E0", "IM0001_E0", "IM0002_E0"]


def test_skip_leaves_gaps(tmp_path: Path) -> None:
    s = write_series(tmp_path, n_slices=8, skip=(3, 4), shuffle_names=False, extension=".dcm")
    assert s.slice_indices == [0, 1, 2, 5, 6, 7]
    assert [f.name for f in s.files] == [f"IM{k:04d}.dcm" for k in s.slice_indices]
    z = [p[2] for p in s.positions]
    assert np.diff(z).tolist() == [2.5, 2.5, 7.5, 2.5, 2.5]
    for k, ds in zip(s.slice_indices, _read_all(s.files), strict=True):
        assert float(ds.ImagePositionPatient[2]) == 30.0 + 2.5 * k
        assert ds.pixel_array[0, 0] == 100 * k


def test_gantry_tilt_shears_stack(tmp_path: Path) -> None:
    s = write_series(tmp_path, n_slices=6, tilt_deg=20.0)
    shift = 2.5 * math.tan(math.radians(20.0))
    for i, ds in enumerate(_read_all(s.files)):
        k = s.slice_indices[i]
        assert float(ds.GantryDetectorTilt) == 20.0
        x, y, z = (float(v) for v in ds.ImagePositionPatient)
        assert (x, z) == (-10.0, 30.0 + 2.5 * k)
        assert y == pytest.approx(-20.0 + k * shift, abs=1e-6)
        # Slices stay parallel; only the positions are sheared.
        assert [float(v) for v in ds.ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]
        assert float(ds.SliceLocation) == pytest.approx(30.0 + 2.5 * k)


def test_window_strings_written_verbatim(tmp_path: Path) -> None:
    s = write_series(tmp_path, n_slices=1, window=("40\\400", "-0450"), rescale=(2.0, -10.0))
    raw = s.files[0].read_bytes()
    assert b"40\\400" in raw and b"-0450" in raw
    ds = pydicom.dcmread(s.files[0])
    assert list(ds.WindowCenter) == [40, 400]
    assert ds.WindowWidth == -450
    assert (float(ds.RescaleSlope), float(ds.RescaleIntercept)) == (2.0, -10.0)


def test_pixel_fn_and_dtypes(tmp_path: Path) -> None:
    def fn(k: int, e: int, rows: int, cols: int) -> np.ndarray:
        return np.full((rows, cols), 1000 + k, dtype=np.uint16)

    s = write_series(tmp_path / "u16", n_slices=3, rows=8, cols=6, pixel_fn=fn)
    for k, ds in zip(s.slice_indices, _read_all(s.files), strict=True):
        assert ds.PixelRepresentation == 0
        np.testing.assert_array_equal(ds.pixel_array, np.full((8, 6), 1000 + k))

    s = write_series(
        tmp_path / "u8", n_slices=2, rows=4, cols=4,
        pixel_fn=lambda k, e, r, c: np.full((r, c), k + 1, np.uint8),
    )  # fmt: skip
    ds = pydicom.dcmread(s.files[1])
    assert (ds.BitsAllocated, ds.PixelRepresentation) == (8, 0)
    assert ds.pixel_array.dtype == np.uint8 and ds.pixel_array[0, 0] == 2

    s = write_series(
        tmp_path / "i64", n_slices=1, rows=2, cols=2,
        pixel_fn=lambda k, e, r, c: np.array([[-3000, 0], [1, 2]], dtype=np.int64),
    )  # fmt: skip
    assert pydicom.dcmread(s.files[0]).pixel_array.tolist() == [[-3000, 0], [1, 2]]

    with pytest.raises(ValueError, match="shape"):
        write_series(tmp_path / "bad1", pixel_fn=lambda k, e, r, c: np.zeros((2, 2)))
    with pytest.raises(ValueError, match="int16"):
        write_series(
            tmp_path / "bad2", rows=2, cols=2, pixel_fn=lambda k, e, r, c: np.full((r, c), 0.5)
        )


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


@pytest.mark.parametrize(
    ("tsyntax", "size", "plugin"),
    [
        (ImplicitVRLittleEndian, (32, 24), None),
        (ExplicitVRBigEndian, (32, 24), None),
        (DeflatedExplicitVRLittleEndian, (32, 24), None),
        (RLELossless, (32, 24), None),
        (JPEGLSLossless, (32, 24), "jpeg_ls"),
        (JPEG2000Lossless, (32, 32), "openjpeg"),
    ],
)
def test_transfer_syntaxes_roundtrip(
    tmp_path: Path, tsyntax: str, size: tuple[int, int], plugin: str | None
) -> None:
    if plugin is not None and not _has(plugin):
        pytest.skip(f"{plugin} not installed")
    rows, cols = size
    s = write_series(tmp_path, n_slices=3, rows=rows, cols=cols, transfer_syntax=tsyntax)
    for i, ds in enumerate(_read_all(s.files)):
        assert ds.file_meta.TransferSyntaxUID == tsyntax
        assert ds.SOPInstanceUID == s.sop_instance_uids[i]  # compress() kept our UID
        expected = default_pixels(s.slice_indices[i], 0, rows, cols)
        np.testing.assert_array_equal(ds.pixel_array, expected)


def test_deterministic_uids_and_names(tmp_path: Path) -> None:
    a = write_series(tmp_path / "a", n_slices=4, seed=5)
    b = write_series(tmp_path / "b", n_slices=4, seed=5)
    assert (a.series_uid, a.study_uid, a.sop_instance_uids) == (
        b.series_uid, b.study_uid, b.sop_instance_uids,
    )  # fmt: skip
    assert [f.name for f in a.files] == [f.name for f in b.files]
    assert a.instance_numbers == b.instance_numbers
    assert [f.read_bytes() for f in a.files] == [f.read_bytes() for f in b.files]

    # Same seed, other parameters: same study, other series, no name clash in one folder.
    c = write_series(tmp_path / "a", n_slices=4, seed=5, modality="MR")
    assert c.study_uid == a.study_uid and c.series_uid != a.series_uid
    assert c.frame_of_reference_uid == a.frame_of_reference_uid
    assert len(list((tmp_path / "a").iterdir())) == 8

    d = write_series(tmp_path / "d", n_slices=4, seed=6, series_uid="1.2.3", study_uid="1.2.4")
    assert (d.series_uid, d.study_uid) == ("1.2.3", "1.2.4")
    assert pydicom.dcmread(d.files[0]).SeriesNumber == 7
    assert not set(d.sop_instance_uids) & set(a.sop_instance_uids)


def test_refuses_to_overwrite(tmp_path: Path) -> None:
    write_series(tmp_path, n_slices=2)
    with pytest.raises(FileExistsError):
        write_series(tmp_path, n_slices=2)


def test_extra_sets_and_deletes(tmp_path: Path) -> None:
    s = write_series(
        tmp_path, n_slices=1, extra={"SliceLocation": None, "SeriesDescription": "custom"}
    )
    ds = pydicom.dcmread(s.files[0])
    assert "SliceLocation" not in ds and ds.SeriesDescription == "custom"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"row_dir": (1, 0, 0), "col_dir": (1, 1, 0)},
        {"row_dir": (0, 0, 0)},
        {"modality": "PT"},
        {"echo_numbers": (1, 1)},
        {"n_slices": 2, "skip": (0, 1)},
        {"transfer_syntax": "1.2.3.4"},
    ],
)
def test_invalid_arguments(tmp_path: Path, kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        write_series(tmp_path, **kwargs)  # type: ignore[arg-type]
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


def test_broken_files(tmp_path: Path) -> None:
    paths = write_broken_files(tmp_path)
    assert set(paths) == {
        "truncated", "truncated_header", "no_preamble", "no_pixel_data", "bad_vr",
        "wrong_transfer_syntax", "text", "empty", "random",
    }  # fmt: skip
    assert all(p.is_file() and p.parent == tmp_path for p in paths.values())
    assert paths["text"].name == "README.txt"
    assert paths["empty"].stat().st_size == 0
    assert paths["random"].stat().st_size == 4096

    # Not DICOM at all.
    for name in ("text", "empty", "random"):
        with pytest.raises(InvalidDicomError):
            pydicom.dcmread(paths[name])
    assert len(pydicom.dcmread(paths["empty"], force=True)) == 0

    # Header reads fine, pixels are short.
    ds = pydicom.dcmread(paths["truncated"])
    assert (ds.Rows, ds.Columns) == (16, 16) and len(ds.PixelData) < 16 * 16 * 2
    with pytest.raises(ValueError, match="less than expected"):
        _ = ds.pixel_array

    # Silently partial data set.
    ds = pydicom.dcmread(paths["truncated_header"])
    assert "SOPClassUID" in ds
    assert "SeriesInstanceUID" not in ds and "Rows" not in ds and "PixelData" not in ds

    # No preamble / DICM / file meta: needs force=True and a transfer syntax fix-up.
    assert paths["no_preamble"].read_bytes()[128:132] != b"DICM"
    with pytest.raises(InvalidDicomError):
        pydicom.dcmread(paths["no_preamble"])
    ds = pydicom.dcmread(paths["no_preamble"], force=True)
    assert ds.SOPClassUID == CTImageStorage and (ds.Rows, ds.Columns) == (16, 16)
    with pytest.raises(AttributeError):
        _ = ds.pixel_array
    assert ds.original_encoding == (True, True)  # (implicit VR, little endian)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    np.testing.assert_array_equal(ds.pixel_array, default_pixels(0, 0, 16, 16))

    ds = pydicom.dcmread(paths["no_pixel_data"])
    assert ds.SOPClassUID == CTImageStorage and ds.Rows == 16 and "PixelData" not in ds
    with pytest.raises(AttributeError):
        _ = ds.pixel_array

    ds = pydicom.dcmread(paths["bad_vr"])
    np.testing.assert_array_equal(ds.pixel_array, default_pixels(0, 0, 16, 16))
    with pytest.raises(NotImplementedError, match="ZZ"):
        _ = ds.SeriesDescription
    with pytest.raises(NotImplementedError):
        str(ds)

    ds = pydicom.dcmread(paths["wrong_transfer_syntax"])
    assert ds.file_meta.TransferSyntaxUID == JPEG_BASELINE
    assert len(ds.PixelData) == 16 * 16 * 2  # native, not encapsulated
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError):
            _ = ds.pixel_array

    with pytest.raises(FileExistsError):
        write_broken_files(tmp_path)


def test_broken_files_beside_a_series(tmp_path: Path) -> None:
    s = write_series(tmp_path, n_slices=3)
    broken = write_broken_files(tmp_path)
    assert len(list(tmp_path.iterdir())) == 3 + len(broken)
    uids = {pydicom.dcmread(broken["no_pixel_data"]).SeriesInstanceUID}
    uids.add(pydicom.dcmread(broken["no_preamble"], force=True).SeriesInstanceUID)
    assert s.series_uid not in uids and len(uids) == 2
