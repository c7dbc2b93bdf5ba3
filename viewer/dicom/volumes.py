"""4-D series: stacks of one series that are volumes of the same geometry, one per time point,
diffusion weighting, echo or acquisition.

:mod:`viewer.dicom.stacks` already splits repeated slice positions into one :class:`Stack` per
echo, time point, diffusion weighting or acquisition; here those stacks are put back together as
the ordered volumes of one :class:`VolumeSeries`, so the browser shows the series once and the
viewer steps through its volumes. Every volume stays a full Stack (pixels, MPR, AI and export work
per volume unchanged).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field

import numpy as np

from viewer.dicom import geometry
from viewer.dicom.stacks import Stack

KINDS = ("time", "diffusion", "echo", "acquisition")
_POSITION_TOL_MM = 0.1


@dataclass(eq=False)
class VolumeSeries:
    """Volumes (Stacks of identical geometry) of one series along one dimension ``kind``.

    ``volumes`` are in acquisition order along that dimension; ``labels[i]`` says what volume i
    is ("t = 2.0 s", "b = 1000 (0.49, 0.84, -0.21)", "echo 2, TE 20 ms", "acquisition 3").
    """

    kind: str
    volumes: list[Stack]
    labels: list[str]
    label: str = ""
    warnings: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.volumes)

    def index_of(self, stack: Stack) -> int:
        """Position of ``stack`` among the volumes (ValueError when it is not one)."""
        for i, st in enumerate(self.volumes):
            if st is stack:
                return i
        raise ValueError("stack is not a volume of this series")

    def summary(self) -> str:
        """'10 volumes (time)'."""
        return f"{self.count} volumes ({self.kind})"


def volume_series(stack: Stack) -> VolumeSeries | None:
    """The 4-D series ``stack`` is a volume of, or None."""
    v = stack.volumes
    return v if isinstance(v, VolumeSeries) else None


def _same_geometry(a: Stack, b: Stack) -> bool:
    if a.orientation is None or b.orientation is None:
        return False
    if (a.rows, a.columns, a.n_frames) != (b.rows, b.columns, b.n_frames):
        return False
    ha, hb = a.first, b.first
    if (ha.samples_per_pixel, ha.bits_allocated, ha.photometric) != (
            hb.samples_per_pixel, hb.bits_allocated, hb.photometric):
        return False
    if geometry.orientation_key(a.orientation) != geometry.orientation_key(b.orientation):
        return False
    if ha.frame_group != hb.frame_group:  # enhanced: magnitude and field map are no 4-D pair
        return False
    pa = np.array([f.position for f in a.frames], dtype=float)
    pb = np.array([f.position for f in b.frames], dtype=float)
    return bool(np.allclose(pa, pb, atol=_POSITION_TOL_MM, rtol=0))


def _seconds(tm: str) -> float | None:
    """Seconds since midnight of a DICOM TM value ('HHMMSS.ffffff'), or None."""
    tm = (tm or "").strip()
    if len(tm) < 2 or not tm.replace(".", "", 1).isdigit():
        return None
    hh, mm, ss = tm[0:2], tm[2:4] or "0", tm[4:] or "0"
    try:
        return _dt.timedelta(hours=int(hh), minutes=int(mm), seconds=float(ss)).total_seconds()
    except ValueError:
        return None


def _min_trigger(st: Stack) -> float | None:
    t = [f.header.trigger_time for f in st.frames if f.header.trigger_time is not None]
    return min(t) if t else None


def _min_acq_time(st: Stack) -> float | None:
    t = [s for s in (_seconds(f.header.acquisition_time) for f in st.frames) if s is not None]
    return min(t) if t else None


def _min_instance(st: Stack) -> int:
    n = [f.header.instance_number for f in st.frames if f.header.instance_number is not None]
    return min(n) if n else 0


def _values(st: Stack) -> dict[str, object]:
    """What may tell volumes apart, per dimension kind."""
    h = st.first
    return {
        "echo": (h.echo_number, h.echo_time),
        "diffusion": h.diffusion,
        "time": (h.temporal_position, _min_trigger(st), _min_acq_time(st)),
        "acquisition": h.acquisition_number,
    }


def _varying(stacks: list[Stack]) -> list[str]:
    vals = [_values(st) for st in stacks]
    return [k for k in ("echo", "diffusion", "time", "acquisition")
            if len({repr(v[k]) for v in vals}) > 1]


def _order_key(kind: str, st: Stack) -> tuple:
    h = st.first
    big = float("inf")

    def num(x):
        return big if x is None else x

    if kind == "echo":
        return (num(h.echo_number), num(h.echo_time), _min_instance(st))
    if kind == "time":
        return (num(h.temporal_position), num(_min_trigger(st)), num(_min_acq_time(st)),
                _min_instance(st))
    if kind == "acquisition":
        return (num(h.acquisition_number), _min_instance(st))
    # Diffusion: acquisition order (what dcm2niix's .bval/.bvec list), not sorted by b.
    return (_min_instance(st), num(_min_acq_time(st)))


def _time_label(st: Stack, first: Stack, index: int) -> str:
    for get in (_min_trigger, _min_acq_time):
        t, t0 = get(st), get(first)
        if t is not None and t0 is not None:
            scale = 1000.0 if get is _min_trigger else 1.0  # Trigger Time is in ms
            return f"t = {(t - t0) / scale:.1f} s"
    tp = st.first.temporal_position
    return f"time point {tp if tp is not None else index + 1}"


def volume_label(kind: str, st: Stack, first: Stack, index: int) -> str:
    """What volume ``st`` is along ``kind`` ('b = 0', 'echo 2, TE 20 ms', 't = 2.0 s')."""
    h = st.first
    if kind == "diffusion":
        b = h.diffusion_b_value
        if b is None:
            return f"volume {index + 1}"
        d = h.diffusion_direction
        if b == 0 or d is None or not any(d):
            return f"b = {b:g}"
        return f"b = {b:g} ({d[0]:.2f}, {d[1]:.2f}, {d[2]:.2f})"
    if kind == "echo":
        parts = []
        if h.echo_number is not None:
            parts.append(f"echo {h.echo_number}")
        if h.echo_time is not None:
            parts.append(f"TE {h.echo_time:g} ms")
        return ", ".join(parts) or f"echo {index + 1}"
    if kind == "time":
        return _time_label(st, first, index)
    return f"acquisition {h.acquisition_number if h.acquisition_number is not None else index + 1}"


def _make(kinds: list[str], stacks: list[Stack]) -> list[VolumeSeries]:
    """Volume series of one geometry group; echo splits first when it varies with others."""
    if "echo" in kinds and len(kinds) > 1:
        by_echo: dict[str, list[Stack]] = {}
        for st in stacks:
            by_echo.setdefault(repr(_values(st)["echo"]), []).append(st)
        out = []
        for group in by_echo.values():
            if len(group) > 1:
                out.extend(_make(_varying(group), group))
        return out
    kind = next((k for k in ("diffusion", "echo", "time", "acquisition") if k in kinds), "")
    if not kind:
        return []
    ordered = sorted(stacks, key=lambda st: _order_key(kind, st))
    labels = [volume_label(kind, st, ordered[0], i) for i, st in enumerate(ordered)]
    return [VolumeSeries(kind, ordered, labels)]


def group_volumes(stacks: list[Stack], base_label: str = "") -> list[VolumeSeries]:
    """Find the 4-D series among one series' stacks and link each volume to it.

    Sets ``stack.volumes`` and ``stack.label`` (``base_label`` plus the volume's label) on each
    volume, and renumbers ``index_in_series`` within each volume series so that volume 0 has
    the lowest index (its uid is the series UID when the series has no other stack before it).
    Stacks that are not volumes of anything are left as they are.
    """
    groups: list[list[Stack]] = []
    for st in stacks:
        if st.orientation is None:
            continue
        for g in groups:
            if _same_geometry(g[0], st):
                g.append(st)
                break
        else:
            groups.append([st])
    found: list[VolumeSeries] = []
    for g in groups:
        if len(g) > 1:
            found.extend(_make(_varying(g), g))
    others = len(stacks) - sum(vs.count for vs in found)
    for vs in found:
        first = vs.volumes[0]
        vs.label = base_label
        if others or len(found) > 1:
            extra = [first.plane.lower()] if first.plane else []
            if len(found) > 1 and vs.kind != "echo" and first.first.echo_number is not None:
                extra.append(f"echo {first.first.echo_number}")
            vs.label = f"{base_label} ({', '.join(extra)})" if extra else base_label
        indices = sorted(st.index_in_series for st in vs.volumes)
        for st, i, lab in zip(vs.volumes, indices, vs.labels, strict=True):
            st.index_in_series = i
            st.volumes = vs
            st.label = f"{vs.label} [{lab}]" if vs.label else lab
            st.split_reason = lab
        vs.warnings = list(dict.fromkeys(w for st in vs.volumes for w in st.warnings))
    return found


def entries(stacks: list[Stack]) -> list[Stack]:
    """What a browser lists: each stack that is no volume, and the first volume of each 4-D
    series (in place of all its volumes)."""
    out = []
    for st in stacks:
        vs = volume_series(st)
        if vs is None or vs.volumes[0] is st:
            out.append(st)
    return out
