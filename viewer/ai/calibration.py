"""How fast this computer runs float32 arithmetic, next to the machine where the manifests'
``resources.seconds`` were measured, so the picker's "about 5 s" is scaled to this computer.

The measurement is a fixed 512×512 float32 matrix product (numpy's BLAS), best of 3 (about
30 ms on 2 cores). It runs once and is cached in ``$XDG_CACHE_HOME/radviewer/calibration.json``;
it is measured again when the CPU count or the onnxruntime version changes, or when the cache
is damaged. Call :func:`machine_gflops` off the GUI thread; :func:`known_gflops` never measures.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from collections.abc import Callable
from importlib import metadata

import numpy as np

from viewer.ai.model_files import cache_dir

log = logging.getLogger(__name__)

CACHE_NAME = "calibration.json"
SCHEMA = "radviewer.calibration/1"
# measure_gflops() on the machine where the bundled manifests' seconds were measured (2 CPU
# cores, numpy OpenBLAS; best of several runs: 24-34 GFLOP/s there, the best is kept, as the
# manifests' seconds were the runs on an otherwise idle machine). A manifest can give its own
# figure as resources.reference_gflops.
REFERENCE_GFLOPS = 34.0
FACTOR_BOUNDS = (0.25, 20.0)  # a wild measurement (a busy machine) cannot make a silly estimate
_N = 512

_last: dict[str, float] = {}  # cache path -> figure, so a failed cache write measures once


def measure_gflops() -> float:
    """float32 matrix-product throughput of this computer (GFLOP/s), best of 3 runs."""
    a = np.random.default_rng(0).standard_normal((_N, _N), dtype=np.float32)
    b = np.ascontiguousarray(a.T)
    a @ b  # warm-up: BLAS threads start, pages are touched
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * _N**3 / max(best, 1e-9) / 1e9


def _machine_key() -> dict:
    try:
        ort = metadata.version("onnxruntime")
    except metadata.PackageNotFoundError:
        ort = None
    return {"cpu_count": os.cpu_count(), "onnxruntime": ort}


def _read_cache(path) -> float | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        g = data["gflops"]
        if (data.get("schema") == SCHEMA and data.get("machine") == _machine_key()
                and isinstance(g, int | float) and np.isfinite(g) and g > 0):
            return float(g)
    except FileNotFoundError:
        pass
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        log.warning("calibration cache %s ignored (%s); measuring again", path, exc)
    return None


def _write_cache(path, gflops: float) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    except OSError as exc:
        log.warning("calibration cache %s not written (%s)", path, exc.strerror)
        return
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"schema": SCHEMA, "machine": _machine_key(), "gflops": gflops}, fh)
        os.replace(tmp, path)  # atomic: a concurrent reader sees the old or the new file
    except OSError as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        log.warning("calibration cache %s not written (%s)", path, exc.strerror)


def machine_gflops(measure: Callable[[], float] | None = None) -> float:
    """This computer's figure (GFLOP/s): from the cache, else measured (``measure``, default
    :func:`measure_gflops`) and cached. Takes up to ~0.1 s: not on the GUI thread."""
    path = cache_dir() / CACHE_NAME
    g = _read_cache(path)
    if g is None:
        g = float((measure or measure_gflops)())
        _write_cache(path, g)
    _last[str(path)] = g
    return g


def known_gflops() -> float | None:
    """The figure already measured (this process or the cache), or None; never measures."""
    path = cache_dir() / CACHE_NAME
    return _last.get(str(path)) or _read_cache(path)


def time_factor(gflops: float, reference: float = REFERENCE_GFLOPS) -> float:
    """How many times longer a run takes here than on the reference machine, bounded."""
    lo, hi = FACTOR_BOUNDS
    if not gflops > 0 or not reference > 0:
        return 1.0
    return min(hi, max(lo, reference / gflops))
