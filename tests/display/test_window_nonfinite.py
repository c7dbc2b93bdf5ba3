"""Windowing real values that are NaN or infinite (a damaged Rescale Slope/Intercept, found by
tests/fuzz): the finite pixels keep their window, the rest are black (NaN, -inf) or white
(+inf), and numpy never warns about an invalid cast."""

from __future__ import annotations

import contextlib
import warnings

import numpy as np
import pytest
from pydicom.data import get_testdata_file

from viewer.dicom.header import LUT, read_header
from viewer.dicom.pixels import decode_frame, to_real
from viewer.display.window import Window, apply_voi_lut, apply_window, auto_window


@pytest.fixture(scope="module")
def ct_real():
    h = read_header(get_testdata_file("CT_small.dcm"))
    return to_real(decode_frame(h, 0), h)  # HU, (rows, columns) float32


@contextlib.contextmanager
def _strict():
    """numpy's RuntimeWarnings (invalid value in cast, ...) become errors."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        yield


def test_auto_window_ignores_non_finite_values(ct_real):
    damaged = ct_real.copy()
    damaged[::7, ::5] = np.nan
    damaged[3, :] = np.inf
    damaged[4, :] = -np.inf
    clean = auto_window(ct_real[np.isfinite(damaged)].reshape(1, -1))
    with _strict():
        got = auto_window(damaged)
        out = apply_window(damaged, got)
    assert np.isfinite(got.center) and np.isfinite(got.width)
    assert got.center == pytest.approx(clean.center, abs=40)
    assert got.width == pytest.approx(clean.width, rel=0.1)
    ok = np.isfinite(damaged)
    assert np.array_equal(out[ok], apply_window(ct_real, got)[ok])
    assert (out[np.isnan(damaged)] == 0).all()
    assert (out[3] == 255).all() and (out[4] == 0).all()


def test_all_nan_slice_is_black_not_a_warning(ct_real):
    real = np.full_like(ct_real, np.nan)
    with _strict():
        win = auto_window(real)
        out = apply_window(real, win)
        out_nan_window = apply_window(ct_real, Window(float("nan"), float("inf")))
    assert out.dtype == np.uint8 and out.shape == real.shape and not out.any()
    # A window that is not finite falls back to the automatic one of the values.
    assert np.array_equal(out_nan_window, apply_window(ct_real, auto_window(ct_real)))


def test_voi_lut_with_non_finite_values():
    lut = LUT(first_mapped=-100, data=np.arange(0, 256, dtype=np.uint16))
    values = np.array([[np.nan, -np.inf, np.inf, -100.0, 155.0, 1e30]], dtype=np.float32)
    with _strict():
        out = apply_voi_lut(values, lut)
    assert out.tolist() == [[0, 0, 255, 0, 255, 255]]


def test_all_nan_slice_and_a_centre_that_swallows_its_width(ct_real):
    """Found by the long fuzz run (seed 2026): Rescale Intercept NaN makes every real value NaN
    (default_window warned "All-NaN slice"); Window Center 1e308 leaves no width at float
    precision (apply_window divided by zero). Both draw without a warning or an error."""
    from viewer.display.window import default_window

    h = read_header(get_testdata_file("MR_small.dcm"))
    nan = np.full_like(ct_real, np.nan)
    with _strict():
        w = default_window(h, nan)
        assert (apply_window(nan, w) == 0).all()
    huge = Window(1e308, 400.0, "header")
    with _strict():
        out = apply_window(ct_real, huge)
    assert out.dtype == np.uint8 and out.std() > 10  # the automatic window, not a blank
