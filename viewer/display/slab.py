"""Thick-slab projections: MIP, MinIP and average over a thickness in millimetres.

A slab is centred on the shown slice of a plane (the acquired plane of ``vol[k, j, i]``, or an
axial/coronal/sagittal plane of :class:`viewer.dicom.reformat.Reformat`) and spans
``round(thickness / spacing)`` slices along the plane normal, the spacing being that plane's
slice spacing (mm). Thickness 0 (or one slice's worth) is "off": the plain slice.

:func:`slab_plane` reads strided views of the stored volume: one elementwise
``maximum``/``minimum``/``add`` per slab slice into one output plane. That is fast where a
plane image is contiguous rows (axial, coronal of an axial CT: under 1 ms for a 20 mm MIP),
but a sagittal plane of an axial stack is one value every row stride, so a projection over
views touches every cache line once per slice (~75 ms for 20 mm of the shared CT). Scrolling
therefore goes through :class:`SlabProjector`, a sliding window: it keeps the plane images of
the current slab as contiguous copies and, one slice step on, copies only the one plane that
enters (1.5 ms for that sagittal plane) before combining the contiguous planes
(tests/benchmarks/bench_slab.py prints the figures).
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

import numpy as np

from viewer.dicom.reformat import PLANES, Reformat


class SlabMode(StrEnum):
    """How the slices of a slab are combined."""

    MIP = "mip"  # maximum intensity projection (vessels, nodules)
    MINIP = "minip"  # minimum intensity projection (airways, emphysema)
    AVERAGE = "average"  # mean (a thicker slice: less noise)


def slab_count(thickness_mm: float, spacing_mm: float) -> int:
    """Slices in a slab ``thickness_mm`` thick at ``spacing_mm`` between slices (>= 1)."""
    if not thickness_mm > 0 or not spacing_mm > 0:
        return 1
    return max(1, int(round(thickness_mm / spacing_mm)))


def slab_range(index: int, count: int, n_slices: int) -> tuple[int, int]:
    """``[lo, hi)`` slice indices of a ``count``-slice slab centred on ``index``, clipped to
    the ``n_slices`` of the plane (a slab at the edge is thinner, never shifted)."""
    lo = index - (count - 1) // 2
    hi = lo + count
    return max(lo, 0), min(hi, n_slices)


def combine(planes: Sequence[np.ndarray], mode: SlabMode | str) -> np.ndarray:
    """Combine equal-shaped plane images: MIP and MinIP keep the stored dtype; the average
    is float32 (in the same stored units)."""
    mode = SlabMode(mode)
    if not len(planes):
        raise ValueError("an empty slab has no projection")
    if mode is SlabMode.AVERAGE:
        out = planes[0].astype(np.float32)
        for p in planes[1:]:
            np.add(out, p, out=out, casting="unsafe")
        out *= np.float32(1.0 / len(planes))
        return out
    out = np.array(planes[0], copy=True)
    ufunc = np.maximum if mode is SlabMode.MIP else np.minimum
    for p in planes[1:]:
        ufunc(out, p, out=out)
    return out


def _plane_of(c: np.ndarray, axis: int, k: int) -> np.ndarray:
    return c[(slice(None),) * axis + (k,)]  # a view, never a gathered copy


def slab_plane(vol: np.ndarray, reformat: Reformat | None, plane: str, index: int,
               thickness_mm: float, spacing_mm: float | None = None,
               mode: SlabMode | str = SlabMode.MIP) -> np.ndarray:
    """The slab image of ``plane`` at ``index``, rows and columns as the plain plane image.

    ``plane`` is "acquired" (slices of ``vol`` along axis 0; ``spacing_mm`` is then the
    stack's slice spacing) or one of :data:`PLANES` (needs ``reformat``; its slice spacing
    is used). ``vol`` is ``(slices, rows, columns)`` in stored units.
    """
    if plane in PLANES:
        if reformat is None:
            raise ValueError(f"the {plane} plane needs a reformat of the volume")
        spacing = reformat.slice_spacing(plane)
        n_total = reformat.n_slices(plane)
        axis = PLANES.index(plane)
        c = reformat.canonical(vol)
    else:
        if spacing_mm is None:
            raise ValueError("the acquired plane needs the slice spacing (mm)")
        spacing, n_total, axis, c = spacing_mm, vol.shape[0], 0, vol
    lo, hi = slab_range(index, slab_count(thickness_mm, spacing), n_total)
    out = combine([_plane_of(c, axis, k) for k in range(lo, hi)], mode)
    # Coronal and sagittal images run S at the top: canonical s grows towards S downwards.
    return out[::-1] if plane in ("coronal", "sagittal") else out


class SlabProjector:
    """Slab images of one volume while the user scrolls: a sliding window of contiguous
    plane images (see the module notes). ``vol`` is ``(slices, rows, columns)`` in stored
    units; ``reformat`` None allows the acquired plane only; ``spacing_mm`` is the acquired
    slice spacing. Not thread-safe: one projector per view."""

    def __init__(self, vol: np.ndarray, reformat: Reformat | None, spacing_mm: float | None):
        self.vol, self.reformat, self.spacing_mm = vol, reformat, spacing_mm
        self._plane: str | None = None
        self._planes: dict[int, np.ndarray] = {}  # slice index -> contiguous plane image

    def _source(self, plane: str) -> tuple[np.ndarray, int, float, int]:
        """(array, axis, slice spacing mm, slices) of ``plane``."""
        if plane in PLANES:
            if self.reformat is None:
                raise ValueError(f"the {plane} plane needs a reformat of the volume")
            r = self.reformat
            return (r.canonical(self.vol), PLANES.index(plane), r.slice_spacing(plane),
                    r.n_slices(plane))
        if self.spacing_mm is None:
            raise ValueError("the acquired plane needs the slice spacing (mm)")
        return self.vol, 0, self.spacing_mm, self.vol.shape[0]

    def image(self, plane: str, index: int, thickness_mm: float,
              mode: SlabMode | str = SlabMode.MIP) -> np.ndarray:
        """As :func:`slab_plane`, reusing the planes of the previous call's slab."""
        c, axis, spacing, n_total = self._source(plane)
        lo, hi = slab_range(index, slab_count(thickness_mm, spacing), n_total)
        if plane != self._plane:
            self._plane, self._planes = plane, {}
        kept = {k: self._planes[k] for k in range(lo, hi) if k in self._planes}
        for k in range(lo, hi):
            if k not in kept:
                kept[k] = np.ascontiguousarray(_plane_of(c, axis, k))
        self._planes = kept  # the window slides: planes that left the slab are dropped
        out = combine([kept[k] for k in range(lo, hi)], mode)
        return out[::-1] if plane in ("coronal", "sagittal") else out
