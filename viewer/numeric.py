"""Small numeric helpers shared by the core packages (no Qt, numpy only).

:func:`median` and :func:`percentile` give exactly ``np.median``'s and ``np.percentile``'s
values for finite data without their first-call import of ``numpy.ma`` (30-100 ms, measured
at launch on 2 cores): the scan and the first slice's window take them on the path from
launch to the first image.
"""

from __future__ import annotations

import numpy as np


def median(values) -> np.floating:
    """``np.median(values)`` of finite ``values`` (all elements, flattened; not empty).

    Computed as numpy does (a partition, then the mean of the middle one or two elements, in
    the data's own float type), so the result is bit-for-bit the same; NaNs are not checked.
    """
    flat = np.asarray(values).ravel()
    n = flat.size
    if n == 0:
        raise ValueError("median of no values")
    k = n // 2
    if n % 2:
        part = np.partition(flat, k)
        return np.mean(part[k:k + 1])
    part = np.partition(flat, [k - 1, k])
    return np.mean(part[k - 1:k + 1])


def percentile(values, q, convert=None) -> np.ndarray:
    """``np.percentile(values, q)`` (its default "linear" method) of finite ``values``, all
    elements flattened; ``q`` a sequence of percentiles in 0..100 (else ValueError, as numpy).
    Returns a 1-D array.

    The same steps as numpy 2's ``_quantile``: virtual index ``(n - 1) * q / 100``, the
    neighbouring order statistics by partition, and its two-sided interpolation (``_lerp``),
    so the values are bit-for-bit numpy's; only its ``np.unique`` (which imports numpy.ma)
    is replaced by a set of the same indexes.

    ``convert``: the percentiles of ``convert(values)`` for an elementwise, non-decreasing
    ``convert`` (e.g. stored pixels to real values with a positive rescale slope), found among
    ``values`` themselves: the order statistics are the same elements, so only those are
    converted (no converted copy of the whole volume, and a narrower type to partition).

    Integers of 8 or 16 bits (stored pixels) are counted instead of partitioned: the order
    statistics are the same elements, found without a copy of the volume (the copy numpy
    partitions was 13 MB of a 3-D analysis's memory peak, made while the network runs).
    """
    arr = np.asarray(values)
    counted = arr.size >= COUNT_FROM and arr.dtype.kind in "iu" and arr.dtype.itemsize <= 2
    if not counted:
        arr = arr.flatten()  # a copy: partitioned in place
    n = arr.size
    if n == 0:
        raise ValueError("percentile of no values")
    qs = np.true_divide(np.asarray(q), 100)
    if not (np.all(qs >= 0) and np.all(qs <= 1)):  # as numpy (NaN too): no silent clamp
        raise ValueError("Percentiles must be in the range [0, 100]")
    virtual = (n - 1) * qs
    previous = np.floor(virtual)
    following = previous + 1
    above = virtual >= n - 1
    previous[above] = -1
    following[above] = -1
    below = virtual < 0
    previous[below] = 0
    following[below] = 0
    previous = previous.astype(np.intp)
    following = following.astype(np.intp)
    if counted:
        a, b = _order_statistics(arr, previous % n), _order_statistics(arr, following % n)
    else:
        kth = sorted({int(k) % n for k in (0, -1, *previous.ravel(), *following.ravel())})
        arr.partition(kth)
        a, b = arr[previous], arr[following]
    if convert is not None:
        a, b = np.asarray(convert(a)), np.asarray(convert(b))
    gamma = np.asanyarray(virtual - previous, dtype=virtual.dtype)
    diff_b_a = b - a
    out = np.add(a, diff_b_a * gamma)
    np.subtract(b, diff_b_a * (1 - gamma), out=out, where=gamma >= 0.5, casting="unsafe",
                dtype=type(out.dtype))
    return out


COUNT_FROM = 1 << 16  # elements: a smaller integer array is partitioned (a copy is small)
_BLOCK = 1 << 18  # elements counted at a time: np.bincount widens them to 8 bytes each


def _order_statistics(arr: np.ndarray, ks: np.ndarray) -> np.ndarray:
    """The ``ks``-th smallest elements (0-based, an intp array) of ``arr``, an integer array
    of at most 16 bits, as ``np.partition(arr.ravel(), ks)[ks]`` gives them: each value's
    count in blocks, then the first value whose running count passes k."""
    info = np.iinfo(arr.dtype)
    counts = np.zeros(int(info.max) - int(info.min) + 1, np.int64)
    flat = arr.reshape(-1)  # a view where arr is contiguous
    for s in range(0, flat.size, _BLOCK):
        block = flat[s:s + _BLOCK]
        if info.min:  # signed: shifted to start at 0
            block = block.astype(np.int32) - int(info.min)
        counts += np.bincount(block, minlength=counts.size)
    at = np.searchsorted(np.cumsum(counts), ks, side="right")
    return (at + int(info.min)).astype(arr.dtype)
