"""Monochrome JPEG-LS frames go straight to CharLS (frame_decode._decode_jpeg_ls_direct), with
the same values pydicom's pyjpegls plugin gives: signed data (sign extended from the
codestream's precision), 12-bit multi-frame, near-lossless 8 and 16 bit."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from viewer.dicom import frame_decode
from viewer.dicom.scan import scan_folder

pytest.importorskip("jpeg_ls")

FILES = ["MR_small_jpeg_ls_lossless.dcm",  # signed 16-bit
         "emri_small_jpeg_ls_lossless.dcm",  # 10 frames, 12 of 16 bits
         "JPEGLSNearLossless_08.dcm", "JPEGLSNearLossless_16.dcm"]


@pytest.fixture(scope="module")
def jls_frames(tmp_path_factory):
    from pydicom.data import get_testdata_file

    folder = tmp_path_factory.mktemp("jls")
    for name in FILES:
        shutil.copy(get_testdata_file(name), folder / name)
    return [ref for st in scan_folder(str(folder)).stacks() for ref in st.frames]


def test_direct_path_gives_pydicoms_values(jls_frames, monkeypatch):
    assert len(jls_frames) == 13
    assert any(ref.header.pixel_representation == 1 for ref in jls_frames)
    calls = []
    real = frame_decode._decode_jpeg_ls_direct
    for ts in frame_decode._JPEG_LS:  # what decode_frame dispatches to
        monkeypatch.setitem(frame_decode._DIRECT, ts, lambda h, f: calls.append(f) or real(h, f))
    for ref in jls_frames:
        got = frame_decode.decode_frame(ref.header, ref.frame)
        want = frame_decode._decode_with_pydicom(ref.header, ref.frame)
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)
    assert len(calls) == 13  # every frame went the direct way
    signed = next(ref for ref in jls_frames if ref.header.pixel_representation == 1)
    assert frame_decode.decode_frame(signed.header, 0).dtype == np.int16


def test_colour_jpeg_ls_is_left_to_pydicom(tmp_path):
    from pydicom.data import get_testdata_file

    shutil.copy(get_testdata_file("SC_rgb_jls_lossy_line.dcm"), tmp_path / "rgb.dcm")
    h = scan_folder(str(tmp_path)).stacks()[0].first
    assert h.samples_per_pixel == 3
    assert frame_decode._decode_jpeg_ls_direct(h, 0) is None
    assert frame_decode.decode_frame(h, 0).shape == (h.rows, h.columns, 3)
