"""viewer.numeric's median and percentile are numpy's, bit for bit, without importing
numpy.ma."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from viewer.numeric import median, percentile


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16, np.uint16])
@pytest.mark.parametrize("n", [1, 2, 3, 10, 101, 4096, 4097])
def test_median_equals_numpy_bit_for_bit(dtype, n):
    rng = np.random.default_rng(n)
    values = (rng.normal(100, 400, n)).astype(dtype)
    ours, theirs = median(values), np.median(values)
    assert ours.dtype == theirs.dtype
    assert ours.tobytes() == np.asarray(theirs).tobytes()


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16, np.uint16, np.uint8])
@pytest.mark.parametrize("n", [1, 2, 3, 7, 100, 101, 4097])
def test_percentile_equals_numpy_bit_for_bit(dtype, n):
    rng = np.random.default_rng(1000 + n)
    values = (rng.normal(100, 400, n)).astype(dtype)
    for q in ([1.0, 99.0], [0, 100], [50], [0.5, 2.5, 97.5, 99.5], [1, 99], [25.0, 75.0]):
        ours, theirs = percentile(values, q), np.percentile(values, q)
        assert ours.dtype == theirs.dtype and ours.shape == theirs.shape, q
        assert ours.tobytes() == theirs.tobytes(), (q, ours, theirs)
    assert values.tobytes() == values.copy().tobytes()  # the input is left as it was


@pytest.mark.parametrize("dtype,slope,intercept", [(np.uint16, 1.0, 0.0), (np.int16, 1.0, -1024.0),
                                                   (np.uint16, 0.37, 12.5), (np.int16, 2.5, -3.0)])
def test_percentile_of_converted_values_taken_among_the_stored_ones(dtype, slope, intercept):
    """Stored pixels with a positive rescale slope: the percentiles of the real values come
    from the stored order statistics, converted alone; numpy's values of the converted
    volume, bit for bit."""
    from viewer.dicom.pixels import to_real

    class Header:  # to_real reads these three
        modality_lut = None
        rescale_slope = slope
        rescale_intercept = intercept

    rng = np.random.default_rng(int(slope * 100))
    stored = rng.normal(300, 500, (7, 33, 41)).clip(np.iinfo(dtype).min).astype(dtype)
    real = to_real(stored, Header)
    for q in ([1, 99.5], [0, 100], [50], [0.5, 2.5, 97.5, 99.5]):
        ours = percentile(stored, q, convert=lambda v: to_real(v, Header))
        assert ours.tobytes() == np.percentile(real, q).tobytes(), q


@pytest.mark.parametrize("dtype", [np.uint16, np.int16, np.uint8, np.int8])
@pytest.mark.parametrize("transposed", [False, True])
def test_percentile_of_a_large_integer_volume_is_counted_with_numpy_s_values(dtype, transposed):
    """From COUNT_FROM elements on, 8- and 16-bit integers are counted, not partitioned:
    numpy's values bit for bit, plain or converted, contiguous or a transposed view, and the
    volume is not copied (nor changed)."""
    from viewer import numeric

    info = np.iinfo(dtype)
    rng = np.random.default_rng(info.bits)
    vol = rng.normal(20, 90, (9, 61, 130)).clip(info.min, info.max).astype(dtype)
    vol[0, 0, :3] = [info.min, info.max, 0]  # both ends of the type
    assert vol.size >= numeric.COUNT_FROM
    values = vol.transpose(2, 0, 1) if transposed else vol
    before = values.copy()
    for q in ([1, 99.5], [0, 100], [50], [0.5, 2.5, 97.5, 99.5], [33.3]):
        ours = percentile(values, q)
        assert ours.tobytes() == np.percentile(values, q).tobytes(), q
        conv = percentile(values, q, convert=lambda v: v.astype(np.float32) * 0.5 - 3)
        want = np.percentile(values.astype(np.float32) * 0.5 - 3, q)
        assert conv.tobytes() == want.tobytes(), q
    assert np.array_equal(values, before)


def test_median_of_a_real_slice_and_of_nothing(sample_catalog):
    from viewer.dicom.pixels import StackPixels

    px = StackPixels(sample_catalog.stacks()[1])
    real = px.real(px.stack.n_frames // 2)
    tissue = real[real > real.min()]
    assert median(tissue).tobytes() == np.asarray(np.median(tissue)).tobytes()
    assert percentile(real, [1, 99]).tobytes() == np.percentile(real, [1, 99]).tobytes()
    with pytest.raises(ValueError):
        median(np.array([]))
    with pytest.raises(ValueError):
        percentile(np.array([]), [50])


def test_neither_imports_numpy_ma():
    code = ("import sys, numpy as np; from viewer.numeric import median, percentile; "
            "median(np.arange(10.0)); percentile(np.arange(10.0), [1, 99]); "
            "print('numpy.ma' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "False"


@pytest.mark.parametrize("q", [[-5], [150], [1, 100.5], [float("nan")]])
def test_percentile_outside_0_100_is_refused_as_numpy_does(q):
    """np.percentile refuses such q; a silent clamp would hide a bad manifest or caller."""
    values = np.arange(10, dtype=np.int16)
    with pytest.raises(ValueError):
        np.percentile(values, q)
    with pytest.raises(ValueError, match="0, 100"):
        percentile(values, q)
