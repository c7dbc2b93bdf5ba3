"""VOI LUT Function (0028,1056), tiny real-valued windows and blank slices (PS3.3 C.11.2.1)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from viewer.dicom.header import read_header
from viewer.dicom.pixels import decode_frame, to_real
from viewer.display.window import (
    Window,
    apply_window,
    auto_window,
    default_window,
    displayable,
    header_windows,
)


def _sigmoid(x: float, c: float, w: float) -> int:
    return int(255.0 / (1.0 + math.exp(-4.0 * (x - c) / w)))  # C.11.2.1.3.1, ymin 0, ymax 255


def test_sigmoid_matches_the_standard():
    x = np.array([[-100.0, 0.0, 30.0, 40.0, 50.0, 80.0, 1000.0]])
    out = apply_window(x, Window(40, 80, function="SIGMOID"))
    # by hand: 255/(1+e^(-4(x-40)/80)): x=40 -> 127.5, x=80 -> 255/(1+e^-2) = 224.7
    assert out.tolist() == [[0, 30, 96, 127, 158, 224, 255]]
    assert out.tolist() == [[_sigmoid(v, 40, 80) for v in x[0]]]


def test_linear_exact_matches_the_standard():
    x = np.array([[-1.0, 0.0, 20.0, 40.0, 60.0, 79.0, 80.0, 81.0]])
    out = apply_window(x, Window(40, 80, function="LINEAR_EXACT"))
    # ((x - c) / w + 0.5) * 255: x=0 -> 0, 20 -> 63.75, 40 -> 127.5, 60 -> 191.25, 79 -> 251.8
    assert out.tolist() == [[0, 0, 63, 127, 191, 251, 255, 255]]
    # LINEAR differs: ((x - (c - 0.5)) / (w - 1) + 0.5) * 255: 20 -> 64.6, 40 -> 129.1, 79 -> 255
    assert apply_window(x, Window(40, 80)).tolist() == [[0, 0, 64, 129, 193, 255, 255, 255]]


def test_linear_exact_allows_a_width_below_one():
    x = np.array([[0.0, 0.0025, 0.005, 0.0075, 0.01]])
    out = apply_window(x, Window(0.005, 0.01, function="LINEAR_EXACT"))
    assert out.tolist() == [[0, 63, 127, 191, 255]]


def test_header_voi_lut_function_is_read(tmp_path):
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID = generate_uid()
    ds.Modality = "MR"
    ds.Rows = ds.Columns = 2
    ds.BitsAllocated = ds.BitsStored = 16
    ds.SamplesPerPixel, ds.PixelRepresentation = 1, 0
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.WindowCenter, ds.WindowWidth, ds.VOILUTFunction = 100, 50, "SIGMOID"
    ds.PixelData = np.array([[0, 100], [125, 1000]], "<u2").tobytes()
    path = tmp_path / "sig.dcm"
    ds.save_as(path, enforce_file_format=True)
    h = read_header(str(path))
    assert h.voi_lut_function == "SIGMOID"
    assert header_windows(h)[0].function == "SIGMOID"
    # 255/(1+e^(-4(x-100)/50)): 0 -> 0.08, 100 -> 127.5, 125 -> 224.7
    assert displayable(decode_frame(h), h).tolist() == [[0, 127], [224, 255]]


@pytest.fixture(scope="module")
def pet_slice(shared_data):
    h = read_header(str(shared_data / "pet-seg-headneck" / "PET" / "000153.dcm"))
    return h, decode_frame(h)


def test_tiny_pet_values_keep_a_narrow_window(pet_slice):
    h, stored = pet_slice
    # The same slice in Bq/ml x 1e-6 (as in MBq/ml): real values far below 1.
    tiny = dataclasses.replace(h, rescale_slope=h.rescale_slope * 1e-6,
                               rescale_intercept=h.rescale_intercept * 1e-6, windows=())
    real = to_real(stored, tiny)
    assert 0 < float(real.max()) < 1
    w = default_window(tiny, real)
    assert 0 < w.width < 1  # not clamped to 1
    shown = displayable(stored, tiny)
    assert len(np.unique(shown)) > 50  # grey levels, not a black/white threshold
    # the same picture as at the original scale
    orig = dataclasses.replace(h, windows=())
    diff = np.abs(shown.astype(int) - displayable(stored, orig).astype(int))
    assert diff.max() <= 1


@pytest.mark.parametrize("modality", ["MR", "PT", "RTDOSE"])
def test_blank_slice_is_black(pet_slice, modality):
    h, stored = pet_slice
    zero = np.zeros_like(stored)
    for windows in ((), ((0.0, 100.0, ""),)):  # with and without a stored window
        hh = dataclasses.replace(h, modality=modality, windows=windows)
        assert displayable(zero, hh).max() == 0
    w = auto_window(np.zeros((4, 4), np.float32))
    assert math.isfinite(w.center) and w.width > 0
    assert apply_window(np.zeros((4, 4)), w).max() == 0
    assert apply_window(np.full((4, 4), 7.5), auto_window(np.full((4, 4), 7.5))).max() == 0


def test_blank_slice_exports_black(pet_slice):
    from viewer.export.compose import Scene, render_image

    h, stored = pet_slice
    hh = dataclasses.replace(h, windows=((0.0, 100.0, ""),))
    real = to_real(np.zeros_like(stored), hh)
    rgb, _ = render_image(Scene(real=real, window=default_window(hh, real), spacing=(1.0, 1.0)))
    assert rgb.shape[:2] == stored.shape and rgb.max() == 0
