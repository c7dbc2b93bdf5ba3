"""Split a series' frames into geometrically consistent stacks and describe each stack.

One Series Instance UID may hold several stacks: localisers in three orientations, two echoes
at the same positions, time points, repeated acquisitions, images of other sizes. Each becomes
its own :class:`Stack`, ordered by position along the slice normal (never Instance Number or
file name), with spacing measured from positions (never Slice Thickness).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from viewer.dicom import enhanced, geometry
from viewer.dicom.header import InstanceHeader

_TILT_MIN_DEG = 0.5


@dataclass(frozen=True, slots=True)
class FrameRef:
    """One 2-D image: frame ``frame`` (0-based) of the file described by ``header``."""

    header: InstanceHeader
    frame: int
    position: tuple[float, float, float] | None
    orientation: tuple[float, ...] | None


@dataclass(eq=False)
class Stack:
    """Frames of one series that form a single volume (or an unordered set without geometry).

    ``frames`` are sorted by position along the slice normal (ascending). ``affine`` maps
    ``(i=column, j=row, k=slice, 1)`` to patient LPS mm; ``spacing`` is (slice, row, column)
    spacing in mm, the slice spacing measured from positions. Geometry fields are None for
    images without Image Position/Orientation (Patient) (e.g. CR, secondary capture).
    """

    series_uid: str
    label: str
    frames: tuple[FrameRef, ...]
    rows: int
    columns: int
    orientation: tuple[float, ...] | None = None
    affine: np.ndarray | None = None
    spacing: tuple[float, float, float] | None = None
    plane: str = ""
    warnings: tuple[str, ...] = ()
    split_reason: str = ""
    index_in_series: int = 0
    linked_objects: list = field(default_factory=list)
    # The 4-D series this stack is one volume of (viewer.dicom.volumes.VolumeSeries), or None.
    volumes: object | None = None
    # The catalog's key for the series when its UID alone is not unique (absent, or reused
    # by another patient or study); "" means the Series Instance UID is the key.
    series_key: str = ""

    @property
    def first(self) -> InstanceHeader:
        return self.frames[0].header

    @property
    def uid(self) -> str:
        """Stable identifier: the series key, plus the stack's index when split."""
        key = self.series_key or self.series_uid
        return key if self.index_in_series == 0 else f"{key}#{self.index_in_series}"

    @property
    def n_frames(self) -> int:
        return len(self.frames)

    @property
    def n_files(self) -> int:
        return len({f.header.path for f in self.frames})

    @property
    def slice_positions(self) -> np.ndarray | None:
        """Distance (mm) of each frame along the slice normal, in stack order."""
        if self.orientation is None:
            return None
        normal = geometry.slice_normal(self.orientation)
        return geometry.positions_along(normal, np.array([f.position for f in self.frames]))

    @property
    def edge_letters(self) -> dict[str, str] | None:
        """Orientation letters of the screen edges for the acquired plane."""
        if self.orientation is None:
            return None
        return geometry.edge_letters(self.orientation[:3], self.orientation[3:])


def expand_frames(header: InstanceHeader) -> list[FrameRef]:
    """One :class:`FrameRef` per frame of a file."""
    n = max(1, header.number_of_frames)
    out = []
    # Enhanced multi-frame: each frame's own rescale, window, frame type (viewer.dicom.enhanced).
    per_frame = enhanced.frame_headers(header)
    for i in range(n):
        pos = header.frame_positions[i] if i < len(header.frame_positions) else None
        ori = header.frame_orientations[i] if i < len(header.frame_orientations) else None
        out.append(FrameRef(per_frame[i], i, pos, ori or header.orientation))
    return out


def _has_geometry(f: FrameRef) -> bool:
    return f.position is not None and f.orientation is not None


def _group_key(f: FrameRef) -> tuple:
    h = f.header
    echo = h.echo_number if h.echo_number is not None else h.echo_time
    ori = geometry.orientation_key(f.orientation) if _has_geometry(f) else None
    return (ori, h.rows, h.columns, h.samples_per_pixel, echo, h.temporal_position,
            pixel_format(h), h.frame_group)


def pixel_format(h: InstanceHeader) -> tuple[int, int, str]:
    """(Bits Allocated, Bits Stored, Photometric Interpretation): frames that differ in any
    of these (or in Samples per Pixel or Rows x Columns) never share a stack, since one
    window, one decoder setting and one volume array cannot serve them all."""
    return (h.bits_allocated, h.bits_stored, h.photometric)


def _format_text(h: InstanceHeader) -> str:
    """"256x256 MONOCHROME2 12-bit", the pixel format that tells split stacks apart."""
    implied = 3 if h.photometric.startswith(("RGB", "YBR")) else 1  # samples it implies
    return f"{h.columns}x{h.rows} {h.photometric} {h.bits_stored}-bit" + (
        f" x{h.samples_per_pixel}" if h.samples_per_pixel != implied else "")


def _warn_mixed_format(stacks: list[Stack], keys: list[tuple]) -> None:
    """Tell each stack of a series that mixed pixel formats why it was split off."""
    formats = {(k[1], k[2], k[3], k[6]) for k in keys}
    if len(formats) < 2:
        return
    texts = sorted({_format_text(st.first) for st in stacks})
    why = (f"series mixes {len(formats)} pixel formats ({'; '.join(texts)}): "
           "split into separate stacks")
    for st in stacks:
        st.warnings = (*st.warnings, why)


def _instance_sort_key(f: FrameRef) -> tuple:
    h = f.header
    return (h.instance_number if h.instance_number is not None else 0, h.path, f.frame)


def _split_duplicates(frames: list[FrameRef]) -> tuple[list[list[FrameRef]], str]:
    """Split frames sharing positions by diffusion, acquisition number, trigger time or time.

    Returns the groups and the attribute used ("" when no split resolved the duplicates).
    """
    normal = geometry.slice_normal(frames[0].orientation)
    d_all = np.sort(geometry.positions_along(normal, np.array([x.position for x in frames])))
    if not np.any(np.diff(d_all) <= 0.01):
        return [frames], ""
    for attr in ("diffusion", "acquisition_number", "trigger_time", "acquisition_time"):
        values = {getattr(f.header, attr) for f in frames}
        if len(values) < 2 or len(values) > len(frames) // 2:
            continue
        groups: dict = defaultdict(list)
        for f in frames:
            groups[getattr(f.header, attr)].append(f)
        ok = True
        for g in groups.values():
            d = np.sort(geometry.positions_along(normal, np.array([x.position for x in g])))
            if np.any(np.diff(d) <= 0.01):
                ok = False
                break
        if ok:
            return [groups[k] for k in sorted(groups, key=lambda v: (v is None, v))], attr
    return [frames], ""


def _header_warnings(frames: list[FrameRef]) -> list[str]:
    """Geometry values the headers dropped (degenerate orientation, NaN position), once each."""
    return list(dict.fromkeys(w for f in frames for w in f.header.geometry_warnings))


def _without_geometry(series_uid: str, frames: list[FrameRef], warnings: list[str]) -> Stack:
    h = frames[0].header
    frames = sorted(frames, key=_instance_sort_key)
    return Stack(series_uid, "", tuple(frames), h.rows, h.columns, warnings=tuple(warnings))


def _describe_safe(series_uid: str, frames: list[FrameRef]) -> Stack:
    """:func:`_describe`, or the frames without geometry when their geometry cannot be used.

    Headers already drop unusable values; this keeps a value combination they did not
    foresee to this one stack instead of the whole catalog.
    """
    try:
        with np.errstate(divide="raise", over="raise", invalid="raise"):
            return _describe(series_uid, frames)
    except (ValueError, ArithmeticError, TypeError) as exc:
        why = f"geometry unusable ({type(exc).__name__}): shown without geometry"
        return _without_geometry(series_uid, frames, [*_header_warnings(frames), why])


def _describe(series_uid: str, frames: list[FrameRef]) -> Stack:
    h = frames[0].header
    if not all(_has_geometry(f) for f in frames):
        return _without_geometry(series_uid, frames, _header_warnings(frames))
    orientation = frames[0].orientation
    normal = geometry.slice_normal(orientation)
    positions = np.array([f.position for f in frames], dtype=float)
    dist = geometry.positions_along(normal, positions)
    # Sort by position; ties (duplicated positions) fall back to Instance Number.
    inst = np.array([_instance_sort_key(f)[0] for f in frames])
    order = np.lexsort((inst, dist))
    frames = [frames[i] for i in order]
    positions, dist = positions[order], dist[order]

    warnings: list[str] = _header_warnings(frames)
    spacing, dups, gaps, uneven = geometry.spacing_report(dist)
    if dups:
        warnings.append(f"{dups} duplicated slice position(s)")
    if gaps:
        missing = sum(m for _, m in gaps)
        where = ", ".join(f"after slice {i + 1}" for i, _ in gaps[:3])
        warnings.append(f"{missing} missing slice(s) ({where})")
    if uneven:
        warnings.append("uneven slice spacing")
    tilt = 0.0
    if len(frames) > 1 and dist[-1] > dist[0]:
        tilt = geometry.tilt_angle_deg(normal, positions[0], positions[-1])
        # Vector from one slice to the next at the median spacing; keeps a tilt's shear.
        step = (positions[-1] - positions[0]) * (spacing / (dist[-1] - dist[0]))
    else:
        step = normal * (spacing or (h.slice_thickness or 1.0))
    if tilt >= _TILT_MIN_DEG:
        warnings.append(f"gantry tilt {tilt:.1f}°")
    ps = h.pixel_spacing or (1.0, 1.0)
    if h.pixel_spacing is None:
        warnings.append("no pixel spacing: 1 mm assumed")
    # Some de-identifiers (LIDC) give each slice its own: a DICOM SEG then needs care.
    n_for = len({f.header.frame_of_reference_uid for f in frames})
    if n_for > 1:
        warnings.append(f"slices carry {n_for} different Frame of Reference UIDs")
    affine = geometry.affine_from(orientation, ps, positions[0], step)
    # Spacing along the normal; a tilt's shear lives only in the affine's slice column.
    slice_spacing = float(spacing)
    return Stack(
        series_uid,
        "",
        tuple(frames),
        h.rows,
        h.columns,
        orientation=tuple(orientation),
        affine=affine,
        spacing=(slice_spacing, float(ps[0]), float(ps[1])),
        plane=geometry.acquisition_plane(normal),
        warnings=tuple(warnings),
    )


def build_stacks(headers: Iterable[InstanceHeader]) -> list[Stack]:
    """Stacks of one series' image headers, largest first."""
    headers = list(headers)
    if not headers:
        return []
    series_uid = headers[0].series_uid
    groups: dict[tuple, list[FrameRef]] = defaultdict(list)
    for h in headers:
        for f in expand_frames(h):
            groups[_group_key(f)].append(f)

    described: list[tuple[tuple, str, Stack]] = []
    for key, frames in groups.items():
        parts, attr = [frames], ""
        if key[0] is not None and len(frames) > 1:
            try:
                parts, attr = _split_duplicates(frames)
            except (ValueError, ArithmeticError):  # kept as one stack; _describe_safe says why
                parts, attr = [frames], ""
        for part in parts:
            st = _describe_safe(series_uid, part)
            described.append((key, attr, st))

    described.sort(key=lambda t: (-t[2].n_frames, str(t[0])))
    stacks = [st for _, _, st in described]
    if len(stacks) > 1:
        _label_split(stacks, [(k, a) for k, a, _ in described])
        _warn_mixed_format(stacks, [k for k, _, _ in described])
    for i, st in enumerate(stacks):
        st.index_in_series = i
    return stacks


def _label_split(stacks: list[Stack], keys: list[tuple[tuple, str]]) -> None:
    """Say what distinguishes each stack of a split series ("echo 2", "coronal 256x256", ...)."""
    oris = {k[0] for k, _ in keys}
    sizes = {(k[1], k[2]) for k, _ in keys}
    echoes = {k[4] for k, _ in keys}
    times = {k[5] for k, _ in keys}
    for st, (_key, attr) in zip(stacks, keys, strict=True):
        h = st.first
        parts = []
        if len(oris) > 1:
            parts.append(st.plane.lower() if st.plane else "no geometry")
        if len(sizes) > 1:
            parts.append(f"{h.columns}x{h.rows}")
        if len({k[6] for k, _ in keys}) > 1:
            parts.append(f"{h.photometric} {h.bits_stored}-bit")
        if len({k[7] for k, _ in keys}) > 1:
            # What tells enhanced frame groups apart: frame type, Stack ID, ...
            parts.append(enhanced.group_text(h, {k[7] for k, _ in keys}))
        if len(echoes) > 1:
            if h.echo_number is not None:
                parts.append(f"echo {h.echo_number}")
            if h.echo_time is not None:
                parts.append(f"TE {h.echo_time:g} ms")
        if len(times) > 1 and h.temporal_position is not None:
            parts.append(f"time {h.temporal_position}")
        if attr == "diffusion" and h.diffusion_b_value is not None:
            parts.append(f"b {h.diffusion_b_value:g}")
        if attr == "acquisition_number":
            parts.append(f"acquisition {h.acquisition_number}")
        elif attr == "trigger_time":
            parts.append(f"trigger {h.trigger_time:g} ms")
        elif attr == "acquisition_time":
            parts.append(f"time {h.acquisition_time}")
        st.split_reason = ", ".join(parts)
