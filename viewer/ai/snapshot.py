"""Snapshots for reports: a windowed slice with the label overlay blended in (no Qt)."""

from __future__ import annotations

import numpy as np

from viewer.dicom.reformat import PLANES, Reformat
from viewer.numeric import percentile


def blend(grey_u8: np.ndarray, labels: np.ndarray | None, colors: dict[int, tuple[int, int, int]],
          opacity: float = 0.45) -> np.ndarray:
    """RGB uint8 image: ``grey_u8`` with each label value painted in its colour."""
    rgb = np.repeat(grey_u8[..., None], 3, axis=-1).astype(np.float32)
    if labels is not None:
        for value, color in colors.items():
            m = labels == value
            if value != 0 and m.any():
                rgb[m] = (1 - opacity) * rgb[m] + opacity * np.asarray(color, np.float32)
    return np.clip(rgb + 0.5, 0, 255).astype(np.uint8)


def to_grey(real: np.ndarray, window=None, limits=None) -> np.ndarray:
    """Real values to uint8 with ``window`` (a display Window), ``limits`` (low, high) or the
    1st-99.5th percentiles of ``real``."""
    if window is not None:
        lo, hi = window.center - window.width / 2, window.center + window.width / 2
    elif limits is not None:
        lo, hi = limits
    else:
        lo, hi = percentile(real, [1, 99.5])
    return np.clip((real - lo) / max(hi - lo, 1e-6) * 255, 0, 255).astype(np.uint8)


def representative_planes(real: np.ndarray, labels: np.ndarray, affine: np.ndarray,
                          colors: dict[int, tuple[int, int, int]], convert=None, limits=None):
    """Axial, coronal and sagittal slices through the labels' centre of mass:
    yields ``(plane, index, rgb, (row_mm, col_mm))``. With ``convert`` (an increasing
    elementwise transform, :func:`viewer.dicom.pixels.increasing_transform`) ``real`` holds
    the stored values and only the three planes are converted: the same images. ``limits``:
    :func:`grey_limits` of the volume, when found already."""
    r = Reformat.from_affine(affine, real.shape)
    inside = r.canonical(labels) > 0
    n = int(np.count_nonzero(inside))
    centre = (np.asarray(inside.shape) - 1) / 2
    if n:  # the labelled voxels' mean index per axis, from per-axis counts (exact integers)
        centre = np.array([(np.arange(size) * inside.sum(axis=tuple(a for a in range(3)
                                                                     if a != m))).sum() / n
                           for m, size in enumerate(inside.shape)])
    if limits is None:
        limits = grey_limits(real, convert)
    for m, plane in enumerate(PLANES):
        idx = int(round(centre[m]))
        img = r.plane(real, plane, idx)  # only the planes shown
        if convert is not None:
            img = convert(img)
        img = to_grey(img, limits=limits)
        lab = r.plane(labels, plane, idx)
        yield plane, idx, blend(np.ascontiguousarray(img), lab, colors), r.pixel_spacing(plane)


def grey_limits(real: np.ndarray, convert=None) -> np.ndarray:
    """The snapshots' grey range: the 1st and 99.5th percentiles of the whole volume (real
    values, or stored ones with ``convert`` as in :func:`representative_planes`)."""
    return percentile(real, [1, 99.5], convert=convert)


def save_png(rgb: np.ndarray, path, spacing: tuple[float, float] = (1.0, 1.0), *,
             result=None, slice_index: int | None = None) -> None:
    """Write ``rgb`` as PNG, stretched to square pixels from ``spacing`` (row mm, col mm).

    With ``result`` (an AnalysisResult) the image gets its legend beside it (model, version,
    research-use notice, flags, scores of ``slice_index``) and PNG tEXt chunks with its
    provenance (:meth:`AnalysisResult.provenance`)."""
    from PIL import Image

    im = Image.fromarray(rgb)
    rows_mm, cols_mm = spacing
    if abs(rows_mm - cols_mm) > 1e-3:
        scale = rows_mm / cols_mm
        im = im.resize((im.width, max(1, round(im.height * scale))), Image.Resampling.NEAREST)
    info = None
    if result is not None:
        from viewer.export.compose import add_legend
        from viewer.export.images import png_info
        from viewer.export.scene import legend_for

        size = max(11, min(16, im.height // 24))
        im = Image.fromarray(add_legend(np.asarray(im), legend_for(result,
                                        slice_index=slice_index), size))
        info = png_info(result.provenance())
    im.save(path, compress_level=1, pnginfo=info)
