"""Siemens mosaics: one stored image tiling the N slices of a volume (EPI, DTI, fMRI).

A mosaic is recognised by ImageType (0008,0008) containing ``MOSAIC`` and the slice count in
NumberOfImagesInMosaic, private (0019,100A) or the CSA Image Header (0029,1010). The stored
``Rows x Columns`` image holds ``tiles x tiles`` tiles (``tiles = ceil(sqrt(N))``) of
``Rows/tiles x Columns/tiles``; slice ``k`` is tile ``(k // tiles, k % tiles)`` in row-major
order. The header describes the stored image, so its geometry is corrected as dcm2niix and
nibabel do: Image Position (Patient) is the top-left of the whole mosaic, slice 0's is moved by
half the size difference along the row and column directions, and slice ``k`` is ``k`` slice
spacings further along the CSA SliceNormalVector (whose sign says which way the slices go).
"""

from __future__ import annotations

import dataclasses
import math
import struct
import threading
from collections import OrderedDict
from collections.abc import Callable

import numpy as np

from viewer.dicom import siemens_csa

_CACHE_ITEMS = 4  # decoded mosaics kept: each slice of a volume is cut from the same image
_cache: OrderedDict[tuple, np.ndarray] = OrderedDict()
_cache_lock = threading.Lock()


def _count(value: object) -> int | None:
    """NumberOfImagesInMosaic as read: an int, a list, or raw US bytes (implicit VR)."""
    if isinstance(value, (bytes, bytearray)):
        return struct.unpack_from("<H", value)[0] if len(value) >= 2 else None
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
    try:
        return int(value) if value is not None else None  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _normal(csa: dict, orientation: tuple[float, ...]) -> np.ndarray:
    """Unit slice normal: the CSA SliceNormalVector, else row x column direction."""
    cross = np.cross(np.asarray(orientation[:3], float), np.asarray(orientation[3:], float))
    cross /= np.linalg.norm(cross)
    vec = csa.get("SliceNormalVector") or []
    if len(vec) == 3 and all(isinstance(x, float) for x in vec):
        n = np.asarray(vec, float)
        norm = np.linalg.norm(n)
        # A normal not along the plane's normal is damage: only its sign would be usable.
        if norm > 0 and abs(float(np.dot(n / norm, cross))) > 0.99:
            return cross if np.dot(n, cross) > 0 else -cross
    return cross


def layout(v: dict, kw: dict) -> dict | None:
    """Header fields that describe a mosaic as N frames of the tile size, or None.

    ``v`` are the attribute values the header was built from, ``kw`` the header fields so far
    (rows, columns, orientation, pixel spacing, ...). Returned: ``rows``/``columns`` (tile),
    ``number_of_frames``, ``frame_positions``/``frame_orientations`` (LPS mm) and
    ``mosaic = (N, tile rows, tile columns)``; None when the file is not a usable mosaic.
    """
    if "MOSAIC" not in {s.strip().upper() for s in kw.get("image_type", ())}:
        return None
    csa = siemens_csa.parse(v.get("SiemensCSAImageHeader") or b"")
    n = _count(v.get("SiemensNumberOfImagesInMosaic"))
    if not n:
        n = _count(csa.get("NumberOfImagesInMosaic"))
    rows, cols = kw.get("rows", 0), kw.get("columns", 0)
    if not n or n < 1 or not rows or not cols:
        return None
    tiles = math.ceil(math.sqrt(n))
    if rows % tiles or cols % tiles:
        return None  # not a tiling of this image: show it as stored
    tile_rows, tile_cols = rows // tiles, cols // tiles
    out: dict = {"rows": tile_rows, "columns": tile_cols, "number_of_frames": n,
                 "mosaic": (n, tile_rows, tile_cols)}
    orientation = kw.get("orientation")
    ipp = (kw.get("frame_positions") or (None,))[0]
    spacing = kw.get("pixel_spacing")
    if orientation is None or ipp is None or spacing is None:
        out["frame_positions"] = (None,) * n
        out["frame_orientations"] = (orientation,) * n
        return out
    row_dir = np.asarray(orientation[:3], float)  # along a row: column index grows
    col_dir = np.asarray(orientation[3:], float)  # down a column: row index grows
    first = (np.asarray(ipp, float)
             + (cols - tile_cols) / 2 * spacing[1] * row_dir
             + (rows - tile_rows) / 2 * spacing[0] * col_dir)
    step = _first_positive(v.get("SpacingBetweenSlices"), kw.get("slice_thickness")) or 1.0
    normal = _normal(csa, orientation)
    out["frame_positions"] = tuple(
        tuple(float(x) for x in first + k * step * normal) for k in range(n))
    out["frame_orientations"] = (tuple(orientation),) * n
    return out


def _first_positive(*values: object) -> float | None:
    for value in values:
        if isinstance(value, (list, tuple)):
            value = value[0] if value else None
        try:
            f = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue
        if math.isfinite(f) and f > 0:
            return f
    return None


def stored_header(h):
    """The header of the stored (whole-mosaic) image of mosaic header ``h``: one frame."""
    n, tile_rows, tile_cols = h.mosaic
    tiles = math.ceil(math.sqrt(n))
    return dataclasses.replace(h, rows=tile_rows * tiles, columns=tile_cols * tiles,
                               number_of_frames=1, mosaic=None,
                               frame_positions=h.frame_positions[:1],
                               frame_orientations=h.frame_orientations[:1])


def tile(h, frame: int, decode: Callable[[object, int], np.ndarray]) -> np.ndarray:
    """Slice ``frame`` (0-based) of mosaic header ``h``: ``(tile rows, tile columns)`` cut
    from the stored image, which ``decode(header, 0)`` decodes once per file (cached)."""
    n, tile_rows, tile_cols = h.mosaic
    if not 0 <= frame < n:
        raise IndexError(f"mosaic slice {frame} of {n}")
    # Headers reach worker processes as copies: key by what identifies the stored image.
    key = (h.path, h.sop_instance_uid, h.pixel_offset, h.encapsulated_offset)
    with _cache_lock:
        image = _cache.get(key)
        if image is not None:
            _cache.move_to_end(key)
    if image is None:
        image = decode(stored_header(h), 0)
        with _cache_lock:
            _cache[key] = image
            while len(_cache) > _CACHE_ITEMS:
                _cache.popitem(last=False)
    tiles = math.ceil(math.sqrt(n))
    r, c = divmod(frame, tiles)
    return image[r * tile_rows:(r + 1) * tile_rows, c * tile_cols:(c + 1) * tile_cols].copy()
