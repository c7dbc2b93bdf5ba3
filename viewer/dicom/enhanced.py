"""Enhanced multi-frame objects (Enhanced CT/MR/PET, ...): per-frame values from the Shared and
Per-Frame Functional Groups Sequences (PS3.3 C.7.6.16) and how they split frames into stacks.

:func:`read_frame_values` walks a pydicom dataset once, at scan time, into one
:class:`FrameValues` per frame (a Per-Frame item overrides the Shared one, C.7.6.16.1).
:func:`frame_headers` then gives each frame a header whose rescale, window, pixel measures,
temporal position, echo, b-value and :attr:`~viewer.dicom.header.InstanceHeader.frame_group`
are that frame's own, so every consumer that reads ``FrameRef.header`` (modality transform,
default window, stacks, volumes, export, AI) sees per-frame values without knowing about
functional groups. Frames that share those values share one header object.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

# Dimension Index Pointers (0020,9165) that order frames in space or in a volume dimension the
# header already models; any other dimension (Stack ID, a private image type, ...) separates
# frames into different stacks.
# In-Stack Position, Position, the Dimension Index Values themselves, Instance Number (what
# highdicom's legacy conversion indexes by when positions do not order the frames).
_SPATIAL = {0x00209057, 0x00200032, 0x00209157, 0x00200013}
_MODELLED = {
    0x00209128,  # Temporal Position Index -> temporal_position
    0x00209153,  # Nominal Cardiac Trigger Delay Time -> trigger_time
    0x00189087,  # Diffusion b-value -> diffusion_b_value
    0x00189089,  # Diffusion Gradient Orientation -> diffusion_direction
    0x00189082,  # Effective Echo Time -> echo_time
    0x00180081,  # Echo Time
}
_STACK_ID = 0x00209056


@dataclass(frozen=True, slots=True)
class FrameValues:
    """What the functional groups say about one frame; None (or ()) where they say nothing.

    ``rescale`` is (slope, intercept); ``windows`` are (center, width, explanation) like
    ``InstanceHeader.windows``; ``pixel_spacing`` is (row, column) mm; ``frame_type`` is the
    Frame Type (0008,9007) plus the Complex Image Component (0008,9208) when given;
    ``dimension`` the Dimension Index Values (0020,9157); ``acquisition_time`` a DICOM TM
    (from Frame Acquisition DateTime).
    """

    rescale: tuple[float, float] | None = None
    windows: tuple[tuple[float, float, str], ...] = ()
    pixel_spacing: tuple[float, float] | None = None
    slice_thickness: float | None = None
    frame_type: tuple[str, ...] = ()
    stack_id: str = ""
    in_stack_position: int | None = None
    temporal_position: int | None = None
    dimension: tuple[int, ...] = ()
    echo_time: float | None = None
    trigger_time: float | None = None
    b_value: float | None = None
    b_direction: tuple[float, float, float] | None = None
    acquisition_time: str = ""


def _item(group, keyword: str):
    """First item of sequence ``keyword`` in functional group item ``group``, or None."""
    if group is None or keyword not in group:
        return None
    seq = group[keyword].value
    return seq[0] if seq else None


def _lookup(groups, keyword: str):
    """The macro item ``keyword`` from the per-frame group, else the shared one."""
    for g in groups:
        item = _item(g, keyword)
        if item is not None:
            return item
    return None


def _float(v) -> float | None:
    """The first value of ``v`` as a float, or None."""
    t = _values(v)
    try:
        return float(t[0]) if t and t[0] != "" else None
    except (TypeError, ValueError):
        return None


def _int(v) -> int | None:
    f = _float(v)
    return int(f) if f is not None and f == int(f) else None


def _values(v) -> tuple:
    if v is None:
        return ()
    if isinstance(v, (str, bytes)) or not hasattr(v, "__len__"):
        return (v,)
    return tuple(v)


def _windows(voi) -> tuple[tuple[float, float, str], ...]:
    if voi is None:
        return ()
    cs, ws = _values(voi.get("WindowCenter")), _values(voi.get("WindowWidth"))
    ex = _values(voi.get("WindowCenterWidthExplanation"))
    out = []
    for i, (c, w) in enumerate(zip(cs, ws, strict=False)):
        cf, wf = _float(c), _float(w)
        if cf is not None and wf is not None and wf > 0:
            out.append((cf, wf, str(ex[i]) if i < len(ex) else ""))
    return tuple(out)


def _rescale(t) -> tuple[float, float] | None:
    if t is None or "RescaleSlope" not in t and "RescaleIntercept" not in t:
        return None
    slope = _float(t.get("RescaleSlope"))
    return (slope if slope else 1.0, _float(t.get("RescaleIntercept")) or 0.0)


def _spacing(pm) -> tuple[float, float] | None:
    s = tuple(_float(x) for x in _values(pm.get("PixelSpacing"))) if pm is not None else ()
    if len(s) == 2 and all(x is not None and x > 0 for x in s):
        return s  # type: ignore[return-value]
    return None


def _frame_type(groups) -> tuple[str, ...]:
    for kw in ("MRImageFrameTypeSequence", "CTImageFrameTypeSequence",
               "PETFrameTypeSequence", "XAXRFFrameCharacteristicsSequence"):
        ft = _lookup(groups, kw)
        if ft is not None:
            out = tuple(str(x) for x in _values(ft.get("FrameType")))
            cic = str(ft.get("ComplexImageComponent") or "").strip()
            return (*out, cic) if cic and cic not in out else out
    return ()


def _diffusion(groups) -> tuple[float | None, tuple[float, float, float] | None]:
    d = _lookup(groups, "MRDiffusionSequence")
    if d is None:
        return None, None
    b = _float(d.get("DiffusionBValue"))
    g = _item(d, "DiffusionGradientDirectionSequence")
    vec = tuple(_float(x) for x in _values(g.get("DiffusionGradientOrientation"))) if g else ()
    ok = len(vec) == 3 and all(x is not None for x in vec)
    return b, (vec if ok else None)  # type: ignore[return-value]


def _one_frame(groups) -> FrameValues:
    pm = _lookup(groups, "PixelMeasuresSequence")
    fc = _lookup(groups, "FrameContentSequence")
    echo = _lookup(groups, "MREchoSequence")
    cardiac = _lookup(groups, "CardiacSynchronizationSequence")
    b, direction = _diffusion(groups)
    dt = str(fc.get("FrameAcquisitionDateTime") or "") if fc is not None else ""
    return FrameValues(
        rescale=_rescale(_lookup(groups, "PixelValueTransformationSequence")),
        windows=_windows(_lookup(groups, "FrameVOILUTSequence")),
        pixel_spacing=_spacing(pm),
        slice_thickness=_float(pm.get("SliceThickness")) if pm is not None else None,
        frame_type=_frame_type(groups),
        stack_id=str(fc.get("StackID") or "") if fc is not None else "",
        in_stack_position=_int(fc.get("InStackPositionNumber")) if fc is not None else None,
        temporal_position=_int(fc.get("TemporalPositionIndex")) if fc is not None else None,
        dimension=tuple(int(x) for x in _values(fc.get("DimensionIndexValues"))
                        if _int(x) is not None) if fc is not None else (),
        echo_time=_float(echo.get("EffectiveEchoTime")) if echo is not None else None,
        trigger_time=(_float(cardiac.get("NominalCardiacTriggerDelayTime"))
                      if cardiac is not None else None),
        b_value=b,
        b_direction=direction,
        acquisition_time=dt[8:].split("+")[0].split("-")[0] if len(dt) > 8 else "",
    )


def read_frame_values(ds, frames: int) -> tuple[FrameValues, ...]:
    """One :class:`FrameValues` per frame (``frames`` of them) of a pydicom dataset with
    functional groups."""
    shared = ds.get("SharedFunctionalGroupsSequence")
    shared0 = shared[0] if shared else None
    per_frame = ds.get("PerFrameFunctionalGroupsSequence") or []
    out = []
    for i in range(frames):
        item = per_frame[i] if i < len(per_frame) else None
        out.append(_one_frame((item, shared0)))
    return tuple(out)


def dimension_pointers(ds) -> tuple[int, ...]:
    """The Dimension Index Pointers (0020,9165) in Dimension Index Sequence order."""
    out = []
    for item in ds.get("DimensionIndexSequence") or []:
        p = item.get("DimensionIndexPointer")
        if p is not None:
            out.append(int(p))
    return tuple(out)


def ordering_dimensions(values, pointers: tuple[int, ...]) -> frozenset[int]:
    """Positions in ``pointers`` of dimensions that give every frame its own value: those
    order frames (an index), they never separate them into stacks of one frame each."""
    n = len(values)
    out = set()
    for i in range(len(pointers)):
        seen = {fv.dimension[i] for fv in values if i < len(fv.dimension)}
        if n > 1 and len(seen) == n:
            out.add(i)
    return frozenset(out)


def group_key(fv: FrameValues, pointers: tuple[int, ...], spacing_varies: bool,
              ordering: frozenset[int] = frozenset()) -> tuple:
    """What separates a frame from frames of another stack: Frame Type, Stack ID and the
    values of dimensions that are neither spatial, nor a volume dimension the header models,
    nor an index giving each frame its own value (``ordering``) — e.g. the private image type
    of a Philips field map — plus the pixel spacing when the object's frames disagree on it."""
    other = tuple(v for i, (p, v) in enumerate(zip(pointers, fv.dimension, strict=False))
                  if p not in _SPATIAL and p not in _MODELLED and p != _STACK_ID
                  and i not in ordering)
    return (fv.frame_type, fv.stack_id, other,
            fv.pixel_spacing if spacing_varies else None)


def frame_headers(header):
    """One header per frame of ``header``: the header itself for a file without functional
    groups, else a copy carrying the frame's own values (shared among frames that agree)."""
    values = header.frame_values
    n = max(1, header.number_of_frames)
    if not values:
        return [header] * n
    spacing_varies = len({fv.pixel_spacing for fv in values}) > 1
    ordering = ordering_dimensions(values, header.dimension_pointers)
    cache: dict = {}
    out = []
    for i in range(n):
        fv = values[i] if i < len(values) else FrameValues()
        change = {"frame_group": group_key(fv, header.dimension_pointers, spacing_varies,
                                           ordering)}
        if fv.rescale is not None:
            change["rescale_slope"], change["rescale_intercept"] = fv.rescale
        if fv.windows:
            change["windows"] = fv.windows
        if fv.pixel_spacing is not None:
            change["pixel_spacing"] = fv.pixel_spacing
        if fv.slice_thickness is not None:
            change["slice_thickness"] = fv.slice_thickness
        for attr, v in (("temporal_position", fv.temporal_position),
                        ("echo_time", fv.echo_time), ("trigger_time", fv.trigger_time),
                        ("diffusion_b_value", fv.b_value),
                        ("diffusion_direction", fv.b_direction)):
            if v is not None:
                change[attr] = v
        if fv.acquisition_time:
            change["acquisition_time"] = fv.acquisition_time
        key = tuple(sorted(change.items()))
        if key not in cache:
            cache[key] = dataclasses.replace(header, **change)
        out.append(cache[key])
    return out


def group_text(header, groups) -> str:
    """What tells this frame group from the others in ``groups`` (their ``frame_group``
    keys), for a split stack's label: 'M MAGNITUDE', 'FIELD_MAP REAL', 'stack 2', ..."""
    if not header.frame_group:
        return ""
    frame_type, stack_id, other, spacing = header.frame_group
    groups = [g for g in groups if g]
    parts = []
    types = {g[0] for g in groups}
    if len(types) > 1:
        # Only the Frame Type values that differ (ORIGINAL\PRIMARY says nothing here).
        width = max(len(t) for t in types)
        keep = [i for i in range(width)
                if len({t[i] if i < len(t) else "" for t in types}) > 1]
        parts.append(" ".join(frame_type[i] for i in keep if i < len(frame_type)))
    if len({g[1] for g in groups}) > 1 and stack_id:
        parts.append(f"stack {stack_id}")
    if len({g[2] for g in groups}) > 1 and len(types) < 2:
        parts.append("dimension " + ".".join(str(x) for x in other))
    if len({g[3] for g in groups}) > 1 and spacing:
        parts.append(f"{spacing[0]:g}x{spacing[1]:g} mm")
    return ", ".join(p for p in parts if p)
