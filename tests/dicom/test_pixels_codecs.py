"""Pixel decoding against pydicom's and pydicom-data's reference files."""

from __future__ import annotations

import sys

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from viewer.dicom import codecs
from viewer.dicom.header import read_header
from viewer.dicom.pixels import FrameCache, StackPixels, decode_frame, to_real
from viewer.display.window import Window, apply_window, displayable
from viewer.errors import MissingCodecError


def _local(name: str) -> str:
    # download=False: tests never reach the network.
    path = get_testdata_file(name, download=False)
    if path is None:
        pytest.skip(f"{name} is not installed (pip install pydicom-data)")
    return path


def _reference(name: str) -> np.ndarray:
    return pydicom.dcmread(_local(name)).pixel_array


@pytest.mark.parametrize(
    ("compressed", "reference"),
    [
        ("MR_small_RLE.dcm", "MR_small.dcm"),
        ("MR_small_jpeg_ls_lossless.dcm", "MR_small.dcm"),
        ("MR_small_jp2klossless.dcm", "MR_small.dcm"),
        ("SC_rgb_rle.dcm", "SC_rgb.dcm"),
        ("SC_rgb_jpeg_gdcm.dcm", "SC_rgb.dcm"),  # JPEG lossless, RGB
        # pydicom-data's *_J2KI files hold exactly reversible data (its *_J2KR are lossy).
        ("RG1_J2KI.dcm", "RG1_UNCI.dcm"),  # MONOCHROME1 CR, 1955x1841, 15 bits
        ("693_J2KI.dcm", "693_UNCI.dcm"),  # signed CT, 14 bits
        ("MR2_J2KI.dcm", "MR2_UNCI.dcm"),
    ],
)
def test_lossless_codecs_match_uncompressed(compressed, reference):
    h = read_header(_local(compressed))
    got = decode_frame(h)
    ref = _reference(reference)
    assert got.shape == ref.shape
    np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize(
    "name", ["JPGExtended.dcm", "SC_rgb_jpeg_dcmtk.dcm", "US1_J2KR.dcm",
             "JPEGLSNearLossless_16.dcm", "SC_jpeg_no_color_transform.dcm", "MR2_J2KR.dcm"]
)
def test_lossy_and_colour_codecs_decode(name):
    h = read_header(_local(name))
    got = decode_frame(h)
    ref = pydicom.dcmread(_local(name)).pixel_array
    if ref.ndim == 3 and h.samples_per_pixel == 1:
        ref = ref[0]
    assert got.shape == ref.shape
    diff = np.abs(got.astype(np.int32) - ref.astype(np.int32))
    assert diff.mean() < 2.0  # decoders of lossy streams may differ by rounding


def test_ybr_full_422_jpeg_shown_as_rgb():
    h = read_header(_local("SC_rgb_jpeg_dcmtk.dcm"))
    rgb = decode_frame(h)
    ref = _reference("SC_rgb.dcm")
    assert rgb.shape == (100, 100, 3) and rgb.dtype == np.uint8
    # Lossy JPEG of the same red/green/blue test card: colours within JPEG error.
    assert np.abs(rgb.astype(int) - ref.astype(int)).mean() < 8


def test_palette_colour_applied():
    h = read_header(_local("OBXXXX1A.dcm"))
    assert h.photometric == "PALETTE COLOR"
    rgb = decode_frame(h)
    assert rgb.shape == (600, 800, 3) and rgb.dtype == np.uint8
    assert len(np.unique(rgb.reshape(-1, 3), axis=0)) > 10


def test_deflate_and_big_endian():
    h = read_header(_local("image_dfl.dcm"))
    np.testing.assert_array_equal(decode_frame(h), _reference("image_dfl.dcm"))
    h = read_header(_local("MR_small_bigendian.dcm"))
    np.testing.assert_array_equal(decode_frame(h), _reference("MR_small.dcm"))


def test_multiframe_frames_decode_individually():
    h = read_header(_local("emri_small.dcm"))
    assert h.number_of_frames == 10
    ref = _reference("emri_small.dcm")
    for k in (0, 9):
        np.testing.assert_array_equal(decode_frame(h, k), ref[k])


def test_modality_lut_sequence():
    h = read_header(_local("mlut_18.dcm"))
    assert h.modality_lut is not None
    ds = pydicom.dcmread(_local("mlut_18.dcm"))
    from pydicom.pixels import apply_modality_lut

    expected = apply_modality_lut(ds.pixel_array, ds)
    np.testing.assert_array_equal(to_real(decode_frame(h), h), expected)


def test_voi_lut_sequence_used_for_display():
    h = read_header(_local("vlut_04.dcm"))
    assert h.voi_luts and not h.windows
    img = displayable(decode_frame(h), h)
    assert img.dtype == np.uint8 and img.max() == 255 and img.min() == 0


def test_rescale_slope_intercept_to_hu():
    h = read_header(_local("CT_small.dcm"))
    ds = pydicom.dcmread(_local("CT_small.dcm"))
    hu = to_real(decode_frame(h), h)
    slope, intercept = float(ds.RescaleSlope), float(ds.RescaleIntercept)
    np.testing.assert_allclose(hu, ds.pixel_array * slope + intercept)


def test_monochrome1_inverted_for_display():
    h = read_header(_local("RG1_UNCI.dcm"))
    assert h.photometric == "MONOCHROME1"
    stored = decode_frame(h)
    img = displayable(stored, h)
    # MONOCHROME1: low stored values are white. The brightest stored pixels become darkest.
    hi = stored >= np.percentile(stored, 99.5)
    lo = stored <= np.percentile(stored, 0.5)
    assert img[hi].mean() < img[lo].mean()


def test_linear_window_function():
    # PS3.3 C.11.2.1.2.1 with c=40, w=400: -160.5 and below -> 0, 239.5 and above -> 255.
    x = np.array([-1000, -161, 40, 240, 3000], dtype=np.float32)
    out = apply_window(x, Window(40, 400))
    assert out.tolist()[0:2] == [0, 0] and out.tolist()[3:] == [255, 255]
    assert 126 <= out[2] <= 128


def test_undecodable_stream_reported_with_file_name(monkeypatch):
    # pydicom's JPEG-lossy.dcm is a 12-bit JPEG Extended stream that no plugin decodes; only
    # gdcm.ImageReader does (tests/dicom/test_recoverable.py): here as if it were absent.
    from viewer.dicom import frame_decode
    from viewer.errors import DicomReadError

    monkeypatch.setattr(frame_decode, "_decode_with_gdcm_reader", lambda h, frame: None)
    h = read_header(_local("JPEG-lossy.dcm"))
    with pytest.raises(DicomReadError) as err:
        decode_frame(h)
    msg = str(err.value)
    # One plain line: the file, the syntax and one decoder's reason (not every plugin's).
    assert msg.startswith(h.path) and "JPEG Extended" in msg and "re-export" in msg
    assert len(msg.splitlines()) == 1


def test_missing_codec_names_package(monkeypatch):
    h = read_header(_local("MR_small_jpeg_ls_lossless.dcm"))
    monkeypatch.setattr(codecs, "available_plugins", lambda ts: [])
    monkeypatch.setitem(sys.modules, "jpeg_ls", None)  # not installed: `import jpeg_ls` fails
    with pytest.raises(MissingCodecError) as err:
        decode_frame(h)
    assert "pyjpegls" in str(err.value) and "JPEG-LS" in str(err.value)
    assert h.path in str(err.value)


def test_frame_cache_is_bounded():
    cache = FrameCache(max_bytes=3 * 1024)
    for i in range(10):
        cache.put(("f", i), np.zeros(1024, np.uint8))
    assert cache.nbytes <= 3 * 1024 and len(cache) == 3
    assert cache.get(("f", 9)) is not None and cache.get(("f", 0)) is None


def test_default_window_keeps_ct_header_and_rejects_saturating_mr_window(
    ct_catalog, sample_catalog
):
    from viewer.display.window import default_window

    ct = ct_catalog.stacks()[0]
    px = StackPixels(ct)
    w = default_window(ct.first, px.real(100))
    assert (w.center, w.width) == (-450.0, 2000.0)
    t1, t2 = sample_catalog.stacks()[:2]
    # The T1's stored window (38/100) would paint the brain white: replaced by percentiles.
    w1 = default_window(t1.first, StackPixels(t1).real(87))
    assert w1.name == "auto" and w1.center + w1.width / 2 > 500
    w2 = default_window(t2.first, StackPixels(t2).real(27))
    assert (w2.center, w2.width) == (545.0, 1185.0)


def test_pydicom_path_keeps_multivalued_geometry():
    # Big endian goes through pydicom, whose multi-valued attributes are MultiValue objects.
    h = read_header(_local("MR_small_bigendian.dcm"))
    ds = pydicom.dcmread(_local("MR_small_bigendian.dcm"))
    assert h.orientation == pytest.approx([float(v) for v in ds.ImageOrientationPatient])
    assert h.frame_positions[0] == pytest.approx([float(v) for v in ds.ImagePositionPatient])
    assert h.pixel_spacing == pytest.approx([float(v) for v in ds.PixelSpacing])


def test_non_latin_character_sets_decoded_like_pydicom(tmp_path):
    ds = pydicom.dcmread(_local("CT_small.dcm"))
    ds.SpecificCharacterSet = "ISO_IR 144"  # Cyrillic: not latin-1, so pydicom decodes it
    ds.PatientName = "Люкceмбypг"
    path = tmp_path / "cyrillic.dcm"
    ds.save_as(path, enforce_file_format=True)
    assert read_header(str(path)).patient_name == "Люкceмбypг"


def test_implicit_data_set_under_explicit_syntax_is_read():
    # SC_rgb_jpeg.dcm: transfer syntax says explicit VR, the data set is implicit.
    h = read_header(_local("SC_rgb_jpeg.dcm"))
    assert (h.rows, h.columns) == (256, 256)
    assert decode_frame(h).shape == (256, 256, 3)


def test_voi_lut_input_is_rescaled_value():
    from dataclasses import replace

    from viewer.dicom.header import LUT

    h = read_header(_local("CT_small.dcm"))
    # Identity-like LUT over HU -1024..1023; stored 0 with intercept -1024 means -1024 HU.
    lut = LUT(-1024, np.arange(2048, dtype=np.int64))
    h2 = replace(h, windows=(), voi_luts=(lut,), rescale_slope=1.0, rescale_intercept=-1024.0)
    stored = np.array([[0, 1024, 2047]], dtype=np.int16)
    out = displayable(stored, h2)
    # -1024 HU -> LUT 0 -> black; 0 HU -> 1024/2047 -> mid grey; 1023 HU -> white.
    assert out[0, 0] == 0 and 120 <= out[0, 1] <= 135 and out[0, 2] == 255
