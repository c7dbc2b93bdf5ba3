"""Intensity transforms named in a manifest's ``input.intensity`` (applied in order)."""

from __future__ import annotations

import numpy as np

from viewer.numeric import percentile


def apply_intensity(x: np.ndarray, ops, inplace: bool = False,
                    value_range=None) -> np.ndarray:
    """Apply ``ops`` to real-valued pixels ``x``; returns float32. With ``inplace`` (``x`` a
    float32 array the caller gives up) the linear ops write into ``x``: no full-size copy,
    the same values. ``value_range``: ``x``'s ``[min(), max()]`` when known already (the
    resampling finds them), used by a first ``minmax`` instead of two passes over ``x``.

    - ``percentile_clip`` {low, high}: clip to those percentiles of ``x``;
    - ``minmax``: scale to [0, 1];
    - ``zscore``: zero mean, unit SD;
    - ``window`` {center, width}: clip to the window, scale to [0, 1];
    - ``percentile_window`` {low, high}: map those percentiles to 0..255 and round, as an
      8-bit picture (for models trained on PNG/JPEG images);
    - ``scale`` {factor}: multiply.
    """
    x = np.asarray(x, dtype=np.float32)
    for i, op in enumerate(ops):
        name = op["op"]
        if name == "percentile_clip":
            lo, hi = percentile(x, [op["low"], op["high"]])
            x = np.clip(x, lo, hi)
        elif name == "minmax":
            if i == 0 and value_range is not None:  # x is still the input they describe
                lo, hi = float(value_range[0]), float(value_range[1])
            else:
                lo, hi = float(x.min()), float(x.max())
            x = _affine(x, lo, hi - lo, inplace)
        elif name == "zscore":
            x = _affine(x, float(x.mean()), float(x.std()), inplace)
        elif name == "window":
            lo = op["center"] - op["width"] / 2
            x = np.clip((x - lo) / op["width"], 0, 1)
        elif name == "percentile_window":
            lo, hi = percentile(x, [op["low"], op["high"]])
            x = np.rint(np.clip((x - lo) / max(hi - lo, 1e-6), 0, 1) * 255)
        elif name == "scale":
            x = x * float(op["factor"])
        else:
            raise ValueError(f"unknown intensity op {name!r}")
        x = x.astype(np.float32, copy=False)
    return x


def _affine(x: np.ndarray, shift: float, scale: float, inplace: bool) -> np.ndarray:
    """(x - shift) / scale (0 where scale is 0), in place when allowed."""
    if not scale > 0:
        return np.zeros_like(x)
    if not (inplace and x.dtype == np.float32 and x.flags.writeable):
        return (x - shift) / scale
    if not x.flags.c_contiguous:
        np.subtract(x, shift, out=x)
        np.divide(x, scale, out=x)
        return x
    flat = x.reshape(-1)  # a view
    step = 1 << 16  # both steps on a block while it is in cache: one pass over memory
    for s in range(0, flat.size, step):
        part = flat[s:s + step]
        np.subtract(part, shift, out=part)
        np.divide(part, scale, out=part)
    return x


_FILTERS = {"nearest": 0, "bilinear": 2, "bicubic": 3, "lanczos": 1}


def resize_2d(img: np.ndarray, size_hw: tuple[int, int], method: str) -> np.ndarray:
    """Resize a float image with Pillow (as most 2-D models were trained); clip the filter's
    overshoot to the input range, as an 8-bit pipeline would."""
    from PIL import Image

    if img.shape == tuple(size_hw):
        return img.astype(np.float32)
    out = Image.fromarray(np.asarray(img, np.float32), mode="F").resize(
        (size_hw[1], size_hw[0]), resample=_FILTERS.get(method, 2))
    return np.clip(np.asarray(out, np.float32), float(img.min()), float(img.max()))
