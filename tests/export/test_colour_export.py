"""``radviewer export`` draws colour images as stored (RGB, YBR, palette), including the
secondary captures radviewer writes, with the same pixels pydicom decodes."""

from __future__ import annotations

import shutil

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file

from viewer.cli import main as cli_main
from viewer.export.compose import blend_colour


def _study_of(name: str, tmp_path):
    """A folder holding one of pydicom's test files (pydicom-data files included)."""
    src = get_testdata_file(name)
    if src is None:
        pytest.skip(f"{name} is not installed (pip install pydicom-data)")
    folder = tmp_path / "study"
    folder.mkdir()
    shutil.copy(src, folder / name)
    return folder, src


@pytest.mark.parametrize("name", [
    "SC_rgb.dcm",                        # RGB, native
    "SC_ybr_full_422_uncompressed.dcm",  # YBR_FULL_422, native
    "US1_J2KR.dcm",                      # YBR_RCT in JPEG 2000 lossless
    "OBXXXX1A.dcm",                      # PALETTE COLOR
])
def test_colour_file_exports_as_stored(name, tmp_path, capsys):
    folder, src = _study_of(name, tmp_path)
    out = tmp_path / "view.png"
    assert cli_main(["export", str(folder), "--out", str(out)]) == 0, capsys.readouterr().err
    png = np.asarray(Image.open(out).convert("RGB"))
    ds = pydicom.dcmread(src)
    want = ds.pixel_array
    if ds.PhotometricInterpretation == "PALETTE COLOR":
        want = pydicom.pixels.apply_color_lut(want, ds)
        want = (want >> 8).astype(np.uint8) if want.dtype.itemsize == 2 else want
    want = want[0] if want.ndim == 4 else want
    assert png.shape == want.shape  # square pixels, scale 1: one output pixel per pixel
    # Corner text and the scale bar are drawn over a small part; the rest is the image.
    same = np.all(png == want, axis=2)
    assert same.mean() > 0.85, same.mean()
    r, c = want.shape[0] // 3, want.shape[1] // 2
    assert np.array_equal(png[r - 3:r + 3, c - 3:c + 3], want[r - 3:r + 3, c - 3:c + 3])
    assert np.any(png[..., 0] != png[..., 2])  # still in colour, not made grey


def test_window_options_on_colour_warn_and_change_nothing(tmp_path, capsys):
    folder, _ = _study_of("SC_rgb.dcm", tmp_path)
    plain, windowed = tmp_path / "plain.png", tmp_path / "windowed.png"
    assert cli_main(["export", str(folder), "--out", str(plain)]) == 0
    capsys.readouterr()
    assert cli_main(["export", str(folder), "--preset", "lung", "--out", str(windowed)]) == 0
    err = capsys.readouterr().err
    assert "is colour (RGB): it is drawn as stored; --preset is not used" in err
    assert np.array_equal(np.asarray(Image.open(plain)), np.asarray(Image.open(windowed)))


def test_a_secondary_capture_radviewer_wrote_exports_again(tmp_path, capsys):
    sc_folder = tmp_path / "captures"
    sc = sc_folder / "view.dcm"
    assert cli_main(["export", "--sample", "--series", "2", "--out", str(sc), "--quiet"]) == 0
    ds = pydicom.dcmread(sc)
    assert ds.PhotometricInterpretation == "RGB"
    out = tmp_path / "again.png"
    assert cli_main(["export", str(sc_folder), "--out", str(out)]) == 0, capsys.readouterr().err
    png = np.asarray(Image.open(out).convert("RGB"))
    assert png.shape == ds.pixel_array.shape
    # The capture's pixels are kept; only the new corner text and scale bar are drawn on top.
    assert np.all(png == ds.pixel_array, axis=2).mean() > 0.9


def test_overlay_on_colour_blends_labels_only():
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[..., 0] = 200  # red image
    labels = np.zeros((4, 4), np.uint8)
    labels[1, 2] = 1
    lut = np.zeros((256, 4), np.uint8)
    lut[1] = (0, 255, 0, 255)  # label 1: opaque green
    out = blend_colour(rgb, labels, lut)
    assert tuple(out[1, 2]) == (0, 255, 0)
    assert np.array_equal(np.delete(out.reshape(-1, 3), 6, axis=0),
                          np.delete(rgb.reshape(-1, 3), 6, axis=0))
    lut[1, 3] = 128  # half transparent: halfway between
    assert tuple(blend_colour(rgb, labels, lut)[1, 2]) == (100, 128, 0)
