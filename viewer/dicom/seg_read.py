"""Reading a DICOM Segmentation (SEG) file onto a stack's grid: :func:`read_seg`.

Uses pydicom only (highdicom's import and its checks would cost more than the whole read) and
puts the SEG's frames on a :class:`~viewer.dicom.stacks.Stack`'s grid (``label_volume`` uint8
``[k, j, i]``): by the referenced source SOP Instance UID (+ frame number) when the SEG names
images of the stack, else by Plane Position (Patient) within half a slice spacing. A SEG on
another grid (other rows/columns, orientation, pixel spacing or in-plane offset) is refused:
resampling is out of scope. Where segments overlap, the higher segment number wins. FRACTIONAL
SEGs are thresholded at half the Maximum Fractional Value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from viewer.ai.manifest import Label
from viewer.dicom import geometry, lazy, seg_pixels
from viewer.dicom.seg_codes import (
    DEFAULT_PALETTE,
    LABELMAP_SEG_SOP_CLASS,
    SEG_SOP_CLASS,
    lab_to_rgb,
)
from viewer.errors import DicomReadError

if TYPE_CHECKING:
    from viewer.dicom.stacks import Stack


@dataclass(eq=False)
class SegOverlay:
    """A SEG put on a stack's grid.

    ``label_volume`` is uint8 ``[k, j, i]`` shaped like the stack; a voxel holds the number of
    the segment covering it (0: none; where segments overlap, the higher number wins).
    ``labels`` has one :class:`Label` per described segment (value = segment number).
    """

    path: str
    label_volume: np.ndarray
    labels: tuple[Label, ...]
    series_description: str
    series_uid: str
    sop_instance_uid: str
    study_uid: str
    referenced_series_uids: tuple[str, ...]
    algorithm: str  # "name version" for (semi)automatic segments, else "manual"
    segmentation_type: str  # BINARY, FRACTIONAL or LABELMAP
    content_label: str = ""
    content_description: str = ""
    content_creator: str = ""
    frames_mapped: int = 0
    frames_unmapped: int = 0
    mapped_by: str = ""  # "reference", "position" or "reference+position"
    notes: tuple[str, ...] = field(default=())


def _first(seq, *keywords):
    """The first item of sequence attribute chain ``keywords`` in ``seq`` (a Dataset) or None."""
    cur = seq
    for kw in keywords:
        s = cur.get(kw) if cur is not None else None
        if not s:
            return None
        cur = s[0]
    return cur


def _frame_attr(shared, per_frame, seq_kw: str, attr: str):
    """``attr`` of functional group ``seq_kw``: per-frame item first, then shared."""
    for group in (per_frame, shared):
        item = _first(group, seq_kw) if group is not None else None
        if item is not None and attr in item:
            return item.get(attr)
    return None


def _algorithm(segments) -> str:
    names = []
    for s in segments:
        kind = str(s.get("SegmentAlgorithmType", "") or "").upper()
        alg = _first(s, "SegmentationAlgorithmIdentificationSequence")
        if alg is not None:
            text = " ".join(str(v) for v in (alg.get("AlgorithmName"),
                                            alg.get("AlgorithmVersion")) if v)
        else:
            text = str(s.get("SegmentAlgorithmName", "") or "")
        if kind == "MANUAL" and not text:
            text = "manual"
        elif kind == "SEMIAUTOMATIC":
            text = f"semiautomatic: {text}" if text else "semiautomatic"
        elif not text:
            text = kind.lower() or "unknown"
        names.append(text)
    return "; ".join(dict.fromkeys(names)) or "unknown"


def read_seg(path: Path | str, stack: Stack) -> SegOverlay:
    """Read the DICOM SEG at ``path`` onto ``stack``'s grid (see the module docstring).

    Raises :class:`DicomReadError` naming the file when it is not a readable SEG, when it lies
    on another grid (resampling is out of scope) or when none of its frames fall on the stack.
    """
    path = str(path)
    lazy.pydicom_pixels()
    ds = seg_pixels.open_dataset(path)  # regular files only, size-capped
    sop_class = str(ds.get("SOPClassUID", "") or "")
    if sop_class not in (SEG_SOP_CLASS, LABELMAP_SEG_SOP_CLASS):
        what = str(ds.get("Modality", "") or "") or "an unknown object"
        raise DicomReadError(f"{path}: not a DICOM Segmentation (it is {what}); "
                             f"choose a SEG object")
    try:
        return _read_dataset(path, ds, stack)
    except DicomReadError:
        raise
    except Exception as exc:  # malformed attributes, undecodable pixel data
        raise DicomReadError(f"{path}: cannot read this SEG ({type(exc).__name__}: {exc})"
                             ) from exc


def _read_dataset(path: str, ds, stack: Stack) -> SegOverlay:
    shape = (stack.n_frames, stack.rows, stack.columns)
    rows, cols = int(ds.Rows), int(ds.Columns)
    if (rows, cols) != (stack.rows, stack.columns):
        raise DicomReadError(f"{path}: the SEG's frames are {cols}x{rows} but the series' "
                             f"images are {stack.columns}x{stack.rows}; resampling a SEG is "
                             f"not supported")
    seg_type = str(ds.get("SegmentationType", "BINARY")).upper()
    labelmap = ds.SOPClassUID == LABELMAP_SEG_SOP_CLASS or seg_type == "LABELMAP"
    n = int(ds.get("NumberOfFrames", 1) or 1)
    shared = _first(ds, "SharedFunctionalGroupsSequence")
    per_frame = list(ds.get("PerFrameFunctionalGroupsSequence", []) or [])
    if len(per_frame) not in (0, n):
        raise DicomReadError(f"{path}: {len(per_frame)} per-frame functional groups for {n} "
                             f"frames; the SEG is damaged")

    # --- segments and their labels
    segments = [s for s in (ds.get("SegmentSequence", []) or [])]
    labels = []
    for s in segments:
        num = int(s.SegmentNumber)
        if num == 0:  # LABELMAP background
            continue
        if num > 255:
            raise DicomReadError(f"{path}: segment number {num} is above 255; radviewer shows "
                                 f"up to 255 segments")
        lab = s.get("RecommendedDisplayCIELabValue")
        color = (lab_to_rgb(list(lab)) if lab is not None and len(lab) == 3
                 else DEFAULT_PALETTE[(num - 1) % len(DEFAULT_PALETTE)])
        labels.append(Label(num, str(s.get("SegmentLabel", "") or f"Segment {num}"), color))
    labels.sort(key=lambda lab: lab.value)

    # --- geometry checks (only needed when frames are mapped by position, but a SEG on another
    # grid is refused in any case: its pixels would not line up with the stack's)
    ori = _frame_attr(shared, per_frame[0] if per_frame else None,
                      "PlaneOrientationSequence", "ImageOrientationPatient")
    if ori is None:
        ori = ds.get("ImageOrientationPatient")
    if ori is not None and stack.orientation is not None:
        if not np.allclose(np.asarray(ori, float), np.asarray(stack.orientation, float),
                           atol=1e-3):
            raise DicomReadError(f"{path}: the SEG's image orientation differs from the "
                                 f"series'; resampling a SEG is not supported")
    ps = _frame_attr(shared, per_frame[0] if per_frame else None,
                     "PixelMeasuresSequence", "PixelSpacing")
    if ps is not None and stack.spacing is not None:
        if not np.allclose(np.asarray(ps, float), stack.spacing[1:], rtol=1e-3, atol=1e-4):
            raise DicomReadError(f"{path}: the SEG's pixel spacing {tuple(float(v) for v in ps)}"
                                 f" differs from the series'; resampling a SEG is not supported")

    # --- where each frame goes
    by_ref: dict[tuple[str, int], int] = {}
    for k, f in enumerate(stack.frames):
        by_ref[(f.header.sop_instance_uid, f.frame + 1)] = k
    positions = slice_pos = normal = None
    if stack.orientation is not None and all(f.position is not None for f in stack.frames):
        normal = geometry.slice_normal(stack.orientation)
        positions = np.array([f.position for f in stack.frames], dtype=float)
        slice_pos = positions @ normal
    half = 0.5 * (stack.spacing[0] if stack.spacing and stack.spacing[0] > 0 else
                  (stack.first.slice_thickness or 1.0))
    seg_for = str(ds.get("FrameOfReferenceUID", "") or "")
    stack_for = stack.first.frame_of_reference_uid
    same_for = not seg_for or not stack_for or seg_for == stack_for

    def by_position(pffg) -> int | None:
        pos = _frame_attr(shared, pffg, "PlanePositionSequence", "ImagePositionPatient")
        if pos is None or positions is None or not same_for or len(pos) != 3:
            return None
        p = np.asarray(pos, dtype=float)
        k = int(np.argmin(np.abs(slice_pos - p @ normal)))
        if abs(slice_pos[k] - p @ normal) > half:
            return None
        # Same plane: the frame's origin must sit on the slice's origin (half a pixel).
        d = p - positions[k]
        o = np.asarray(stack.orientation, float)
        drow, dcol = float(d @ o[:3]), float(d @ o[3:6])
        if abs(drow) > 0.5 * stack.spacing[2] or abs(dcol) > 0.5 * stack.spacing[1]:
            raise DicomReadError(f"{path}: the SEG's frames are shifted in-plane by "
                                 f"({drow:.1f}, {dcol:.1f}) mm from the series' images; "
                                 f"resampling a SEG is not supported")
        return k

    def by_reference(pffg) -> int | None:
        for der in pffg.get("DerivationImageSequence", []) or []:
            for src in der.get("SourceImageSequence", []) or []:
                uid = str(src.get("ReferencedSOPInstanceUID", "") or "")
                frames = src.get("ReferencedFrameNumber")
                if frames is None or frames == "":
                    nums = [1]  # a single-frame source
                elif isinstance(frames, (int, str)):
                    nums = [int(frames)]
                else:
                    nums = [int(v) for v in frames]
                for fn in nums:
                    k = by_ref.get((uid, fn))
                    if k is not None:
                        return k
        return None

    targets: list[int | None] = []
    how = set()
    for i in range(n):
        pffg = per_frame[i] if per_frame else None
        k = by_reference(pffg) if pffg is not None else None
        if k is not None:
            how.add("reference")
        else:
            k = by_position(pffg)
            if k is not None:
                how.add("position")
        targets.append(k)
    mapped = sum(k is not None for k in targets)
    if mapped == 0:
        refs = ", ".join(str(s.get("SeriesInstanceUID", ""))
                         for s in ds.get("ReferencedSeriesSequence", []) or []) or "none named"
        raise DicomReadError(f"{path}: none of the SEG's {n} frames fall on this series "
                             f"(it references series {refs}); open it with the series it "
                             f"was made on")

    # --- pixels
    pixels = seg_pixels.pixel_frames(path, ds)  # sizes checked; codecs in a worker process
    if pixels.ndim == 2:
        pixels = pixels[np.newaxis]
    if pixels.shape[0] != n:
        raise DicomReadError(f"{path}: {pixels.shape[0]} frames of pixel data for {n} frames")
    if not labelmap:
        if seg_type == "FRACTIONAL":
            maxv = float(ds.get("MaximumFractionalValue", 255) or 255)
            pixels = pixels >= 0.5 * maxv
        else:
            pixels = pixels != 0
        seg_numbers = []
        for i in range(n):
            pffg = per_frame[i] if per_frame else None
            num = _frame_attr(shared, pffg, "SegmentIdentificationSequence",
                              "ReferencedSegmentNumber")
            seg_numbers.append(int(num) if num is not None else 1)
    out = np.zeros(shape, dtype=np.uint8)
    if labelmap:
        for i, k in enumerate(targets):
            if k is None:
                continue
            frame = pixels[i]
            m = frame != 0
            out[k][m] = np.minimum(frame[m], 255).astype(np.uint8)
    else:
        # Ascending segment number, so the higher number wins where segments overlap.
        for i in sorted(range(n), key=lambda i: seg_numbers[i]):
            k = targets[i]
            if k is not None and seg_numbers[i] <= 255:
                out[k][pixels[i]] = seg_numbers[i]
    notes = []
    if mapped < n:
        notes.append(f"{n - mapped} of {n} SEG frames do not fall on this series")
    return SegOverlay(
        path=path,
        label_volume=out,
        labels=tuple(labels),
        series_description=str(ds.get("SeriesDescription", "") or ""),
        series_uid=str(ds.get("SeriesInstanceUID", "") or ""),
        sop_instance_uid=str(ds.get("SOPInstanceUID", "") or ""),
        study_uid=str(ds.get("StudyInstanceUID", "") or ""),
        referenced_series_uids=tuple(str(s.get("SeriesInstanceUID", ""))
                                     for s in ds.get("ReferencedSeriesSequence", []) or []),
        algorithm=_algorithm(segments),
        segmentation_type="LABELMAP" if labelmap else seg_type,
        content_label=str(ds.get("ContentLabel", "") or ""),
        content_description=str(ds.get("ContentDescription", "") or ""),
        content_creator=str(ds.get("ContentCreatorName", "") or ""),
        frames_mapped=mapped,
        frames_unmapped=n - mapped,
        mapped_by="+".join(sorted(how, reverse=True)),
        notes=tuple(notes),
    )
