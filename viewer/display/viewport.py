"""Viewports and layouts without Qt: what each viewport shows, and the patient-space geometry
that links viewports (scroll by position, reference lines, the shared 3-D crosshair).

Patient coordinates are DICOM LPS in mm. Pixel coordinates of a plane image are ``(row, col)``
of pixel centres, 0-based; *source* coordinates (what the drawing widget uses) are
``(x, y) = (col + 0.5, row + 0.5)``, so pixel ``(r, c)`` covers ``[c, c+1] x [r, r+1]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from viewer.dicom.reformat import PLANES, Reformat

ACQUIRED = "acquired"

# Layout name -> (rows, columns) of the viewport grid. "single" is 1x1 (its historic name,
# kept in saved settings); "1x3" is the MPR layout (axial, coronal, sagittal of one series).
LAYOUTS: dict[str, tuple[int, int]] = {
    "single": (1, 1), "1x2": (1, 2), "2x1": (2, 1), "2x2": (2, 2), "1x3": (1, 3),
}
LAYOUT_TITLES = {
    "single": "1×1", "1x2": "1×2 side by side", "2x1": "2×1 one above the other",
    "2x2": "2×2", "1x3": "1×3 MPR (axial, coronal, sagittal)",
}
PARALLEL_COS = 0.9  # |cos| between normals above which two planes count as parallel (~26°)


@dataclass
class Viewport:
    """What one viewport shows. ``point`` is the patient position (LPS mm) its slice passes
    through, so that changing plane, layout or series keeps the place being read; the index
    follows from it. ``window`` is (centre, width) in real units; ``zoom`` is screen pixels per
    image pixel (None: fit); ``pan`` the view centre in source coordinates; ``rotation`` quarter
    turns clockwise (``flipped``: mirrored left-right first); ``slab_mm`` 0 for a plain slice,
    with ``slab_mode`` "mip", "minip" or "average"."""

    stack_uid: str | None = None
    plane: str = ACQUIRED
    point: tuple[float, float, float] | None = None
    window: tuple[float, float] | None = None
    zoom: float | None = None
    pan: tuple[float, float] | None = None
    rotation: int = 0
    flipped: bool = False
    slab_mm: float = 0.0
    slab_mode: str = "mip"


@dataclass
class ViewportModel:
    """The layout, its viewports (always four: a smaller layout uses the first ones and keeps
    the others' content for when it grows again), the active one, a maximised one, the sync
    toggles and the shared 3-D crosshair (patient LPS mm)."""

    layout: str = "single"
    viewports: list[Viewport] = field(default_factory=lambda: [Viewport() for _ in range(4)])
    active: int = 0
    maximised: int | None = None
    sync_position: bool = True
    sync_window: bool = False
    sync_zoom: bool = False
    reference_lines: bool = True
    crosshair: tuple[float, float, float] | None = None

    def set_layout(self, name: str) -> None:
        if name not in LAYOUTS:
            raise ValueError(f"unknown layout {name!r}; choose one of {', '.join(LAYOUTS)}")
        self.layout = name
        self.maximised = None
        self.active = min(self.active, self.count - 1)

    @property
    def count(self) -> int:
        rows, cols = LAYOUTS[self.layout]
        return rows * cols

    def shown(self) -> list[int]:
        """Indices of the viewports on screen (one while maximised)."""
        return [self.maximised] if self.maximised is not None else list(range(self.count))

    def grid_cell(self, i: int) -> tuple[int, int]:
        """(row, column) of viewport ``i`` in the layout grid."""
        return divmod(i, LAYOUTS[self.layout][1])

    def toggle_maximised(self, i: int) -> None:
        self.maximised = None if self.maximised is not None else i
        self.active = i


@dataclass(frozen=True)
class SlicePlanes:
    """Geometry of every slice of one plane of a stack: ``origins[k]`` is the patient
    position (mm) of the centre of pixel (row 0, col 0) of slice ``k``; ``row_step`` and
    ``col_step`` are the patient-space steps (mm) of one row down and one column right;
    ``shape`` is (rows, columns) of the plane images."""

    origins: np.ndarray
    row_step: np.ndarray
    col_step: np.ndarray
    shape: tuple[int, int]

    @property
    def normal(self) -> np.ndarray:
        n = np.cross(self.col_step, self.row_step)
        return n / (np.linalg.norm(n) or 1.0)

    @property
    def centre(self) -> np.ndarray:
        """Patient position (mm) of the centre of the stack (mid-plane, mid-image)."""
        rows, cols = self.shape
        mid = (self.origins[0] + self.origins[-1]) / 2
        return mid + (rows - 1) / 2 * self.row_step + (cols - 1) / 2 * self.col_step

    @property
    def positions(self) -> np.ndarray:
        """Distance (mm) of each slice along :attr:`normal`."""
        return self.origins @ self.normal

    def nearest_slice(self, point) -> int:
        """Index of the slice nearest ``point`` along the normal (clamped to the stack)."""
        d = float(np.asarray(point, float) @ self.normal)
        return int(np.argmin(np.abs(self.positions - d)))

    def distance(self, index: int, point) -> float:
        """Signed distance (mm) from slice ``index`` to ``point`` along the normal."""
        return float((np.asarray(point, float) - self.origins[index]) @ self.normal)

    def point_at(self, index: int, row: float, col: float) -> np.ndarray:
        """Patient position (mm) of pixel ``(row, col)`` of slice ``index``."""
        return self.origins[index] + row * self.row_step + col * self.col_step

    def pixel_of(self, index: int, point) -> tuple[float, float]:
        """``(row, col)`` of the projection of ``point`` onto slice ``index``."""
        rel = np.asarray(point, float) - self.origins[index]
        r = rel @ self.row_step / (self.row_step @ self.row_step)
        c = rel @ self.col_step / (self.col_step @ self.col_step)
        return float(r), float(c)

    def contains(self, point, index: int | None = None, margin_mm: float = 0.0) -> bool:
        """Whether ``point`` lies within the stack (in-plane extent and slice range)."""
        k = self.nearest_slice(point) if index is None else index
        r, c = self.pixel_of(k, point)
        rows, cols = self.shape
        pos = self.positions
        d = float(np.asarray(point, float) @ self.normal)
        half = (abs(pos[-1] - pos[0]) / max(len(pos) - 1, 1)) / 2 + margin_mm
        return (-0.5 <= r <= rows - 0.5 and -0.5 <= c <= cols - 0.5
                and min(pos) - half <= d <= max(pos) + half)

    def reference_line(self, index: int, other_point, other_normal
                       ) -> tuple[tuple[float, float], tuple[float, float]] | None:
        """Where the plane through ``other_point`` with normal ``other_normal`` cuts slice
        ``index``: two endpoints in source coordinates ``(x, y)`` clipped to the image, or None
        when the planes are parallel or do not meet inside the image."""
        n = np.asarray(other_normal, float)
        a = float(self.row_step @ n)  # per row
        b = float(self.col_step @ n)  # per column
        d = float((self.origins[index] - np.asarray(other_point, float)) @ n)
        scale = max(np.linalg.norm(self.row_step), np.linalg.norm(self.col_step))
        if abs(a) < 1e-6 * scale and abs(b) < 1e-6 * scale:
            return None
        rows, cols = self.shape
        # In source coordinates: a*(y - 0.5) + b*(x - 0.5) + d = 0.
        pts: list[tuple[float, float]] = []
        if abs(b) > 1e-12:
            for y in (0.0, float(rows)):
                x = 0.5 - (d + a * (y - 0.5)) / b
                if -1e-9 <= x <= cols + 1e-9:
                    pts.append((x, y))
        if abs(a) > 1e-12:
            for x in (0.0, float(cols)):
                y = 0.5 - (d + b * (x - 0.5)) / a
                if -1e-9 <= y <= rows + 1e-9:
                    pts.append((x, y))
        uniq: list[tuple[float, float]] = []
        for p in pts:
            if all(abs(p[0] - q[0]) + abs(p[1] - q[1]) > 1e-6 for q in uniq):
                uniq.append(p)
        if len(uniq) < 2:
            return None
        # The two farthest apart (a corner hit can give three).
        pair = max(((p, q) for i, p in enumerate(uniq) for q in uniq[i + 1:]),
                   key=lambda pq: (pq[0][0] - pq[1][0]) ** 2 + (pq[0][1] - pq[1][1]) ** 2)
        return pair


def stack_reformat(stack, shape) -> Reformat | None:
    """The reformat of a stack of volume shape ``(slices, rows, columns[, 3])`` (None without
    geometry or with one slice), built as the drawing widget builds it."""
    if stack.affine is None or stack.n_frames < 2:
        return None
    return Reformat.from_affine(stack.affine, shape)


def slice_planes(stack, plane: str, shape) -> SlicePlanes | None:
    """Geometry of ``plane`` ("acquired" or one of :data:`PLANES`) of ``stack`` (volume shape
    ``shape``); None for images without position and orientation."""
    if plane == ACQUIRED:
        if stack.orientation is None or any(f.position is None or f.orientation is None
                                            for f in stack.frames):
            return None
        o = np.asarray(stack.frames[0].orientation, float)
        row_mm, col_mm = stack.spacing[1], stack.spacing[2]
        origins = np.array([f.position for f in stack.frames], float)
        return SlicePlanes(origins, row_mm * o[3:], col_mm * o[:3],
                           (int(stack.rows), int(stack.columns)))
    r = stack_reformat(stack, shape)
    if r is None:
        return None
    return reformat_planes(r, plane)


def reformat_planes(r: Reformat, plane: str) -> SlicePlanes:
    """Geometry of ``plane`` of reformat ``r`` (display order as :meth:`Reformat.plane`)."""
    a = r.affine
    step_l, step_p, step_s, origin = a[:3, 0], a[:3, 1], a[:3, 2], a[:3, 3]
    ns, np_, nl = r.shape
    top = origin + (ns - 1) * step_s  # coronal and sagittal rows run from S down to I
    if plane == "axial":  # row = p, col = l, index = s
        origins = origin + np.arange(ns)[:, None] * step_s
        return SlicePlanes(origins, step_p, step_l, (np_, nl))
    if plane == "coronal":  # row = ns-1-s, col = l, index = p
        origins = top + np.arange(np_)[:, None] * step_p
        return SlicePlanes(origins, -step_s, step_l, (ns, nl))
    if plane == "sagittal":  # row = ns-1-s, col = p, index = l
        origins = top + np.arange(nl)[:, None] * step_l
        return SlicePlanes(origins, -step_s, step_p, (ns, np_))
    raise ValueError(f"unknown plane {plane!r}; choose one of {PLANES}")


def canonical_of(r: Reformat, point) -> tuple[float, float, float]:
    """Canonical voxel ``(s, p, l)`` (fractional) of patient ``point`` (mm)."""
    lps = np.linalg.solve(r.affine, [*np.asarray(point, float), 1.0])
    return float(lps[2]), float(lps[1]), float(lps[0])


def point_of(r: Reformat, spl) -> tuple[float, float, float]:
    """Patient position (mm) of canonical voxel ``(s, p, l)``."""
    v = r.affine @ [spl[2], spl[1], spl[0], 1.0]
    return float(v[0]), float(v[1]), float(v[2])


def parallel(a: SlicePlanes, b: SlicePlanes) -> bool:
    """Whether two planes are near enough parallel for scrolling one to move the other."""
    return abs(float(a.normal @ b.normal)) >= PARALLEL_COS


def match_series(current: list, prior: list, key) -> list[tuple[int, int]]:
    """Pairs ``(i, j)`` of current and prior series of the same kind. ``key(s)`` gives
    (modality, plane, description); an exact key wins, then modality and plane alone. Each
    series is used once; current order is kept."""
    used: set[int] = set()
    pairs = []
    for loose in (False, True):
        for i, s in enumerate(current):
            if any(p[0] == i for p in pairs):
                continue
            ks = key(s)
            for j, t in enumerate(prior):
                kt = key(t)
                if j in used:
                    continue
                if (ks[:2] == kt[:2]) if loose else (ks == kt):
                    pairs.append((i, j))
                    used.add(j)
                    break
    return sorted(pairs)
