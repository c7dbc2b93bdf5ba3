"""Percentile bootstrap confidence intervals with a fixed seed (reproducible reports).

Default: 1000 resamples, seed 0, 95 % percentile interval (Efron & Tibshirani). The unit that
is resampled is stated in metrics.json: cases when there are at least two (a case's metrics
move together), else the slices of the single case (a cluster bootstrap: a slice's voxels and
surface points move together); for classification, the evaluated samples (slices or series).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

RESAMPLES = 1000
SEED = 0
LEVEL = 0.95


def interval(stat: Callable[[np.ndarray], dict[str, float]], n_units: int,
             resamples: int = RESAMPLES, seed: int = SEED) -> dict[str, list[float]]:
    """``{metric: [low, high]}`` over ``resamples`` draws of ``n_units`` units with
    replacement; ``stat(weights)`` gets how often each unit was drawn (float, length
    ``n_units``) and returns metric values. NaN draws are left out of a metric's interval."""
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {}
    for _ in range(resamples):
        w = np.bincount(rng.integers(0, n_units, n_units), minlength=n_units).astype(float)
        for k, v in stat(w).items():
            draws.setdefault(k, []).append(v)
    lo, hi = 100 * (1 - LEVEL) / 2, 100 * (1 + LEVEL) / 2
    out = {}
    for k, vals in draws.items():
        a = np.asarray(vals, dtype=float)
        a = a[~np.isnan(a)]
        out[k] = [float(np.percentile(a, lo)), float(np.percentile(a, hi))] if len(a) else \
            [float("nan"), float("nan")]
    return out
