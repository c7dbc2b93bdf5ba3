"""PET/CT fusion: resample one volume onto another's geometry (trilinear, float32).

Both volumes are ``vol[k, j, i]`` with an affine mapping ``(i, j, k, 1)`` to patient LPS mm
(:mod:`viewer.dicom.geometry`). Fusion samples the moving volume (PET) at the patient
coordinates of each pixel of the fixed one's shown plane (CT), so only the shown plane is
ever resampled (a whole 512x512x275 CT grid in float32 would be 288 MB). Points outside the
moving volume are NaN: the overlay draws them transparent. Opacity is a display setting
(the GUI's), never applied here. Both series must share a Frame of Reference (the caller
checks), else their coordinates are unrelated.
"""

from __future__ import annotations

import numpy as np

from viewer.dicom.reformat import PLANES, Reformat


def sample(vol: np.ndarray, affine: np.ndarray, lps: np.ndarray) -> np.ndarray:
    """Trilinear samples of ``vol[k, j, i]`` at patient points ``lps`` (..., 3) in mm, as
    float32 of shape ``lps.shape[:-1]``; NaN outside the volume (beyond its voxel centres)."""
    inv = np.linalg.inv(np.asarray(affine, dtype=np.float64))
    pts = np.asarray(lps, dtype=np.float64).reshape(-1, 3)
    ijk = pts @ inv[:3, :3].T + inv[:3, 3]
    kji = ijk[:, ::-1]
    shape = np.array(vol.shape[:3])
    inside = np.all((kji >= -1e-6) & (kji <= shape - 1 + 1e-6), axis=1)
    kji = np.clip(kji, 0, shape - 1)
    base = np.minimum(np.floor(kji).astype(np.intp), np.maximum(shape - 2, 0))
    frac = (kji - base).astype(np.float32)
    out = np.zeros(len(pts), np.float32)
    for dk in (0, 1):
        wk = frac[:, 0] if dk else 1 - frac[:, 0]
        k = np.minimum(base[:, 0] + dk, shape[0] - 1)
        for dj in (0, 1):
            wj = frac[:, 1] if dj else 1 - frac[:, 1]
            j = np.minimum(base[:, 1] + dj, shape[1] - 1)
            for di in (0, 1):
                wi = frac[:, 2] if di else 1 - frac[:, 2]
                i = np.minimum(base[:, 2] + di, shape[2] - 1)
                out += wk * wj * wi * vol[k, j, i].astype(np.float32)
    out[~inside] = np.nan
    return out.reshape(np.asarray(lps).shape[:-1])


def plane_frame(affine: np.ndarray, vol_shape: tuple[int, ...], reformat: Reformat | None,
                plane: str, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    """``(origin, row_step, col_step, rows, cols)`` of a stack's plane image in patient LPS
    mm: pixel ``(r, c)`` lies at ``origin + r * row_step + c * col_step``. ``plane`` is
    "acquired" (slice ``index`` of ``vol[k, j, i]``, through ``affine``) or one of
    :data:`PLANES` (through ``reformat``, rows and columns as :meth:`Reformat.plane`)."""
    if plane in PLANES:
        if reformat is None:
            raise ValueError(f"the {plane} plane needs a reformat of the volume")
        m = reformat.affine  # canonical (l, p, s, 1) -> LPS
        ns, np_, nl = reformat.shape
        if plane == "axial":
            o, dr, dc, rows, cols = (0, 0, index), m[:3, 1], m[:3, 0], np_, nl
        elif plane == "coronal":
            o, dr, dc, rows, cols = (0, index, ns - 1), -m[:3, 2], m[:3, 0], ns, nl
        else:
            o, dr, dc, rows, cols = (index, 0, ns - 1), -m[:3, 2], m[:3, 1], ns, np_
    else:
        m = np.asarray(affine, dtype=np.float64)
        o, dr, dc = (0, 0, index), m[:3, 1], m[:3, 0]
        rows, cols = int(vol_shape[1]), int(vol_shape[2])
    origin = m[:3, :3] @ np.asarray(o, dtype=np.float64) + m[:3, 3]
    return origin, np.asarray(dr, np.float64), np.asarray(dc, np.float64), rows, cols


def plane_lps(affine: np.ndarray, vol_shape: tuple[int, ...], reformat: Reformat | None,
              plane: str, index: int) -> np.ndarray:
    """Patient LPS coordinates (rows, cols, 3) mm of every pixel of a plane image (see
    :func:`plane_frame`)."""
    origin, dr, dc, rows, cols = plane_frame(affine, vol_shape, reformat, plane, index)
    r = np.arange(rows, dtype=np.float64)[:, None, None]
    c = np.arange(cols, dtype=np.float64)[None, :, None]
    return origin + r * dr + c * dc


def _lerp_axis(a: np.ndarray, axis: int, coords: np.ndarray) -> np.ndarray:
    """Linear interpolation of ``a`` along ``axis`` at float ``coords`` (NaN outside)."""
    n = a.shape[axis]
    inside = (coords >= -1e-6) & (coords <= n - 1 + 1e-6)
    x = np.clip(coords, 0, n - 1)
    lo = np.minimum(np.floor(x).astype(np.intp), max(n - 2, 0))
    hi = np.minimum(lo + 1, n - 1)
    shape = [1] * a.ndim
    shape[axis] = len(coords)
    w = (x - lo).astype(np.float32).reshape(shape)
    out = np.take(a, lo, axis=axis).astype(np.float32) * (1 - w)
    out += np.take(a, hi, axis=axis).astype(np.float32) * w
    if not inside.all():
        out = np.where(inside.reshape(shape), out, np.float32(np.nan))
    return out


def _sample_aligned(vol: np.ndarray, o: np.ndarray, u: np.ndarray, v: np.ndarray,
                    rows: int, cols: int) -> np.ndarray | None:
    """Separable trilinear sampling when each image axis runs along one volume axis (PET and
    CT both axial, or any reformat of them): three 1-D interpolations instead of 8 gathers
    per pixel. ``o``, ``u``, ``v`` are in volume index space ``(i, j, k)``; None if the
    plane is oblique to the volume."""
    tol = 1e-6 * max(float(np.abs(u).max()), float(np.abs(v).max()), 1e-12)
    au, av = int(np.argmax(np.abs(u))), int(np.argmax(np.abs(v)))
    if au == av or (np.abs(np.delete(u, au)) > tol).any() or \
            (np.abs(np.delete(v, av)) > tol).any():
        return None
    aw = 3 - au - av
    # (i, j, k) component a is array axis 2 - a of vol[k, j, i].
    plane = np.take(_lerp_axis(vol, 2 - aw, np.array([o[aw]])), 0, axis=2 - aw)
    left = [2 - a for a in (2, 1, 0) if a != aw]  # array axes of ``plane``, in order
    ax_u, ax_v = left.index(2 - au), left.index(2 - av)
    out = _lerp_axis(plane, ax_u, o[au] + np.arange(rows) * u[au])
    out = _lerp_axis(out, ax_v, o[av] + np.arange(cols) * v[av])
    return out if ax_u == 0 else out.T


def resample_plane(moving: np.ndarray, moving_affine: np.ndarray, fixed_affine: np.ndarray,
                   fixed_shape: tuple[int, ...], reformat: Reformat | None, plane: str,
                   index: int) -> np.ndarray:
    """``moving`` (e.g. PET real values) resampled onto one plane image of the fixed stack
    (e.g. CT): float32 (rows, cols), NaN outside the moving volume. Planes along the moving
    volume's axes take a separable path (a few ms for 512x512); oblique ones 8 gathers."""
    origin, dr, dc, rows, cols = plane_frame(fixed_affine, fixed_shape, reformat, plane, index)
    inv = np.linalg.inv(np.asarray(moving_affine, dtype=np.float64))
    o = inv[:3, :3] @ origin + inv[:3, 3]
    fast = _sample_aligned(moving, o, inv[:3, :3] @ dr, inv[:3, :3] @ dc, rows, cols)
    if fast is not None:
        return np.ascontiguousarray(fast, dtype=np.float32)
    return sample(moving, moving_affine, origin + np.arange(rows)[:, None, None] * dr
                  + np.arange(cols)[None, :, None] * dc)


def resample_volume(moving: np.ndarray, moving_affine: np.ndarray, fixed_affine: np.ndarray,
                    fixed_shape: tuple[int, int, int]) -> np.ndarray:
    """``moving`` resampled onto the whole fixed grid ``(k, j, i)`` (float32; small grids:
    the GUI resamples the shown plane only)."""
    return np.stack([resample_plane(moving, moving_affine, fixed_affine, fixed_shape, None,
                                    "acquired", k) for k in range(fixed_shape[0])])


def colour_overlay(values: np.ndarray, lo: float, hi: float, lut: np.ndarray) -> np.ndarray:
    """RGBA (rows, cols, 4) uint8 of ``values`` windowed ``lo``..``hi`` through ``lut``
    (256x4, e.g. :func:`viewer.display.colormaps.colormap_lut`); NaN (outside the moving
    volume) and values at or below ``lo`` are transparent, so the fixed image shows there."""
    if not hi > lo:
        raise ValueError(f"an overlay window needs hi > lo, not {lo}..{hi}")
    v = np.asarray(values, dtype=np.float32)
    with np.errstate(invalid="ignore"):
        scaled = (v - np.float32(lo)) * np.float32(255.0 / (hi - lo))
        idx = np.clip(np.nan_to_num(scaled, nan=0.0), 0, 255).astype(np.uint8)
        show = np.isfinite(v) & (v > lo)
    out = lut[idx].copy()
    out[..., 3] = np.where(show, lut[idx, 3], 0)
    return out


def fusion_partner(stacks, stack, modalities: tuple[str, ...] = ("PT",)):
    """The stack to fuse over ``stack``: of one of ``modalities``, in the same Frame of
    Reference (0020,0052), with geometry and several slices; the one with most slices, or
    None when the study has none."""
    uid = stack.first.frame_of_reference_uid
    if not uid or stack.affine is None:
        return None
    found = [s for s in stacks if s is not stack and s.first.modality in modalities
             and s.first.frame_of_reference_uid == uid and s.affine is not None
             and s.n_frames > 1]
    return max(found, key=lambda s: s.n_frames) if found else None
