"""viewer.numeric.median is np.median, bit for bit, without importing numpy.ma."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from viewer.numeric import median


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16, np.uint16])
@pytest.mark.parametrize("n", [1, 2, 3, 10, 101, 4096, 4097])
def test_median_equals_numpy_bit_for_bit(dtype, n):
    rng = np.random.default_rng(n)
    values = (rng.normal(100, 400, n)).astype(dtype)
    ours, theirs = median(values), np.median(values)
    assert ours.dtype == theirs.dtype
    assert ours.tobytes() == np.asarray(theirs).tobytes()


def test_median_of_a_real_slice_and_of_nothing(sample_catalog):
    from viewer.dicom.pixels import StackPixels

    px = StackPixels(sample_catalog.stacks()[1])
    real = px.real(px.stack.n_frames // 2)
    tissue = real[real > real.min()]
    assert median(tissue).tobytes() == np.asarray(np.median(tissue)).tobytes()
    with pytest.raises(ValueError):
        median(np.array([]))


def test_median_does_not_import_numpy_ma():
    code = ("import sys, numpy as np; from viewer.numeric import median; "
            "median(np.arange(10.0)); print('numpy.ma' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "False"
