"""Axial, coronal and sagittal planes of a stack, whatever plane it was acquired in.

The volume ``vol[k, j, i]`` is re-indexed (transposed and flipped, never resampled) to the
nearest patient axes: a *canonical* array ``C[s, p, l]`` whose axes grow towards Superior,
Posterior and Left (LPS). Planes then follow radiological display convention:

- axial: rows top A -> bottom P, columns left R -> right L (seen from the feet);
- coronal: rows top S -> bottom I, columns left R -> right L;
- sagittal: rows top S -> bottom I, columns left A -> right P.

Oblique stacks map to the nearest axes; their edge letters then show the true obliquity
(e.g. "LP"). Pixel spacing per plane is (row mm, column mm) for aspect-correct display.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import permutations

import numpy as np

from viewer.dicom import geometry

PLANES = ("axial", "coronal", "sagittal")


@dataclass(frozen=True)
class Reformat:
    """Index mapping from a stack volume to the canonical ``C[s, p, l]`` array.

    ``perm[m]`` is the volume axis that becomes canonical axis ``m``; ``flip[m]`` says whether it
    is reversed. ``affine`` maps canonical ``(l, p, s, 1)`` indices to patient LPS mm.
    """

    perm: tuple[int, int, int]
    flip: tuple[bool, bool, bool]
    shape: tuple[int, int, int]
    affine: np.ndarray

    @classmethod
    def from_affine(cls, affine: np.ndarray, shape: tuple[int, ...]) -> Reformat:
        """Build from a stack affine (index ``(i, j, k)``) and volume shape ``(k, j, i, ...)``."""
        # Direction of each volume axis (0=k, 1=j, 2=i) in patient space.
        dirs = [affine[:3, 2], affine[:3, 1], affine[:3, 0]]
        units = [d / (np.linalg.norm(d) or 1.0) for d in dirs]
        # Assign volume axes to patient axes (x, y, z) maximising alignment; a permutation
        # search is exact for 3 axes and copes with 45-degree obliques.
        best, best_score = None, -1.0
        for p in permutations(range(3)):  # p[a] = patient axis of volume axis a
            score = sum(abs(units[a][p[a]]) for a in range(3))
            if score > best_score:
                best, best_score = p, score
        assert best is not None
        # Canonical axis m holds patient axis (2 - m): m=0 -> z (S), 1 -> y (P), 2 -> x (L).
        perm = tuple(best.index(2 - m) for m in range(3))
        flip = tuple(bool(units[perm[m]][2 - m] < 0) for m in range(3))
        vshape = tuple(int(s) for s in shape[:3])
        cshape = tuple(vshape[perm[m]] for m in range(3))
        # M maps canonical index (l, p, s, 1) to volume index (i, j, k, 1).
        m_mat = np.zeros((4, 4))
        m_mat[3, 3] = 1.0
        vol_to_ijk = {0: 2, 1: 1, 2: 0}  # volume axis -> position in (i, j, k)
        can_to_lps = {0: 2, 1: 1, 2: 0}  # canonical axis -> position in (l, p, s)
        for m in range(3):
            row = vol_to_ijk[perm[m]]
            col = can_to_lps[m]
            if flip[m]:
                m_mat[row, col] = -1.0
                m_mat[row, 3] = vshape[perm[m]] - 1
            else:
                m_mat[row, col] = 1.0
        return cls(perm, flip, cshape, affine @ m_mat)  # type: ignore[arg-type]

    def canonical(self, vol: np.ndarray) -> np.ndarray:
        """A view of ``vol`` as ``C[s, p, l]`` (extra trailing axes, e.g. RGB, kept)."""
        out = np.transpose(vol, (*self.perm, *range(3, vol.ndim)))
        for m in range(3):
            if self.flip[m]:
                out = np.flip(out, axis=m)
        return out

    def _dir(self, m: int) -> np.ndarray:
        """Patient-space step (mm) along canonical axis m (0=s, 1=p, 2=l)."""
        return self.affine[:3, 2 - m]

    def n_slices(self, plane: str) -> int:
        return self.shape[PLANES.index(plane)]

    def plane(self, vol: np.ndarray, plane: str, index: int) -> np.ndarray:
        """Image of ``plane`` at ``index`` (0-based along S, P or L), rows and columns in
        display order; a view where possible."""
        c = self.canonical(vol)
        if plane == "axial":
            return c[index]
        if plane == "coronal":
            return c[::-1, index]
        if plane == "sagittal":
            return c[::-1, :, index]
        raise ValueError(f"unknown plane {plane!r}; choose one of {PLANES}")

    def pixel_spacing(self, plane: str) -> tuple[float, float]:
        """(row spacing, column spacing) in mm of ``plane`` images."""
        n = [float(np.linalg.norm(self._dir(m))) for m in range(3)]
        return {"axial": (n[1], n[2]), "coronal": (n[0], n[2]), "sagittal": (n[0], n[1])}[plane]

    def slice_spacing(self, plane: str) -> float:
        return float(np.linalg.norm(self._dir(PLANES.index(plane))))

    def edge_letters(self, plane: str) -> dict[str, str]:
        """Orientation letters of the left/right/top/bottom screen edges of ``plane``."""
        d = [self._dir(m) for m in range(3)]
        row_dir, col_dir = {
            "axial": (d[2], d[1]),
            "coronal": (d[2], -d[0]),
            "sagittal": (d[1], -d[0]),
        }[plane]
        return geometry.edge_letters(row_dir, col_dir)

    def position_mm(self, plane: str, index: int) -> float:
        """Patient coordinate (mm) of the plane: z for axial, y for coronal, x for sagittal."""
        m = PLANES.index(plane)
        idx = np.zeros(4)
        idx[3] = 1.0
        idx[2 - m] = index
        return float((self.affine @ idx)[2 - m])

    # ------------------------------------------------------------------ index mapping

    def volume_to_canonical(self, kji: tuple[float, float, float]) -> tuple[float, float, float]:
        """Volume index ``(k, j, i)`` -> canonical index ``(s, p, l)``."""
        vshape = [self.shape[self.perm.index(a)] for a in range(3)]
        out = []
        for m in range(3):
            a = self.perm[m]
            v = kji[a]
            out.append(vshape[a] - 1 - v if self.flip[m] else v)
        return tuple(out)  # type: ignore[return-value]

    def canonical_to_volume(self, spl: tuple[float, float, float]) -> tuple[float, float, float]:
        """Canonical index ``(s, p, l)`` -> volume index ``(k, j, i)``."""
        out = [0.0, 0.0, 0.0]
        for m in range(3):
            a = self.perm[m]
            out[a] = self.shape[m] - 1 - spl[m] if self.flip[m] else spl[m]
        return tuple(out)  # type: ignore[return-value]

    def plane_to_canonical(self, plane: str, index: float, row: float,
                           col: float) -> tuple[float, float, float]:
        """Pixel ``(row, col)`` of ``plane`` image ``index`` -> canonical ``(s, p, l)``."""
        ns = self.shape[0]
        if plane == "axial":
            return (index, row, col)
        if plane == "coronal":
            return (ns - 1 - row, index, col)
        if plane == "sagittal":
            return (ns - 1 - row, col, index)
        raise ValueError(f"unknown plane {plane!r}; choose one of {PLANES}")

    def canonical_to_plane(self, plane: str,
                           spl: tuple[float, float, float]) -> tuple[float, float, float]:
        """Canonical ``(s, p, l)`` -> ``(index, row, col)`` in ``plane``."""
        s, p, l_ = spl
        ns = self.shape[0]
        if plane == "axial":
            return (s, p, l_)
        if plane == "coronal":
            return (p, ns - 1 - s, l_)
        if plane == "sagittal":
            return (l_, ns - 1 - s, p)
        raise ValueError(f"unknown plane {plane!r}; choose one of {PLANES}")
