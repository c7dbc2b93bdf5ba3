"""Writing an AI label volume as a DICOM Segmentation (SEG) file: :func:`write_seg`.

Uses highdicom, imported on first use so that start-up stays fast.
The SEG is a **BINARY** Segmentation Storage object (1.2.840.10008.5.1.4.1.1.66.4) with one
segment per non-zero label: that is what 3D Slicer (dcmqi), OHIF/cornerstone, dcm4che and
pydicom-seg read, and dciodvfy validates it. highdicom 0.28 can also write the newer Label Map
Segmentation Storage (…66.7, ``LABELMAP``), which would be smaller, but few viewers read it yet.
Frames are on the source stack's own grid (no resampling): each frame references its source
image in the per-frame Derivation Image Sequence, empty frames are omitted. A SEG has one
Frame of Reference: when the source slices carry several (LIDC gives each slice its own) but
form one geometric stack (:mod:`viewer.dicom.frame_of_reference`), the first slice's is used
and the SEG says so in Content Description and Image Comments; otherwise it is refused.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from viewer.ai.manifest import Label
from viewer.dicom import frame_of_reference, lazy
from viewer.dicom.seg_codes import DEFAULT_PALETTE, property_codes
from viewer.errors import ExportError
from viewer.export.atomic import atomic_open

if TYPE_CHECKING:
    from viewer.ai.result import AnalysisResult
    from viewer.dicom.stacks import Stack

RESEARCH_NOTE = "Research use - not a diagnosis"
CONTENT_DESCRIPTION = f"AI segmentation. {RESEARCH_NOTE}"
ASSUMED_FOR_DESCRIPTION = f"AI SEG, one Frame of Ref assumed. {RESEARCH_NOTE}"  # LO: 64
MANUFACTURER = "radviewer"


def _segment_plan(result: AnalysisResult) -> tuple[np.ndarray, list[tuple[int, Label]]]:
    """The label volume renumbered to segment numbers 1..N, and (segment number, label) pairs.

    Every non-zero label the model describes becomes a segment, in label-value order; a value
    present in the volume but not described gets a generic "Label N". When the values already
    are 1..N (the usual case) the volume is used as is, so segment number == label value.
    """
    vol = result.label_volume
    present = {int(v) for v in np.unique(vol)} - {0}
    described = {lab.value: lab for lab in result.labels if lab.value != 0}
    for v in sorted(present - described.keys()):
        described[v] = Label(v, f"Label {v}", DEFAULT_PALETTE[v % len(DEFAULT_PALETTE)])
    values = sorted(described)
    if values == list(range(1, len(values) + 1)):
        pixels = vol
    else:
        lut = np.zeros(max(256, int(vol.max()) + 1), dtype=np.uint8)
        for n, v in enumerate(values, start=1):
            lut[v] = n
        pixels = lut[vol]
    return pixels, [(n, described[v]) for n, v in enumerate(values, start=1)]


def _read_sources(stack: Stack) -> list:
    """Source datasets in stack order (headers only: highdicom needs no pixel data)."""
    pydicom = lazy.pydicom()
    paths = list(dict.fromkeys(f.header.path for f in stack.frames))
    out = {}
    for p in paths:
        try:
            out[p] = pydicom.dcmread(p, stop_before_pixels=True)
        except Exception as exc:  # OSError, InvalidDicomError, damaged headers
            raise ExportError(f"{p}: cannot read the source image to reference it in the SEG "
                              f"({exc})") from exc
    datasets = [out[p] for p in paths]
    # highdicom copies these Patient/Study attributes unconditionally; absent ones would raise
    # AttributeError. They are type 2 (may be empty) in the SEG, so fill them in memory only.
    for ds in datasets[:1]:
        for kw in ("PatientID", "PatientName", "PatientBirthDate", "PatientSex",
                   "AccessionNumber", "StudyID", "StudyDate", "StudyTime"):
            if kw not in ds:
                setattr(ds, kw, "")
    return datasets


def _check_result(result: AnalysisResult, stack: Stack) -> None:
    if result.task != "segmentation" or result.label_volume is None:
        raise ExportError(f"only segmentation results can be saved as DICOM SEG; "
                          f"{result.title} is a {result.task} model")
    shape = (stack.n_frames, stack.rows, stack.columns)
    if result.label_volume.shape != shape:
        raise ExportError(f"the label volume {result.label_volume.shape} does not fit the "
                          f"series {shape}; run the model on this series again")
    if (result.series_uid and result.series_uid != stack.series_uid) or (
            result.stack_uid and result.stack_uid != stack.uid):
        raise ExportError("the result belongs to another series; choose the series the model "
                          "ran on")
    if not np.any(result.label_volume):
        raise ExportError("nothing to export: the model found no labelled voxels")


def _description(result: AnalysisResult, assumed: bool) -> str:
    """Content Description (LO, 64 characters): the research note always, and before it the
    first flag or geometry warning of the result (missing slices, tilt, implausible volume)
    in short, so a reader of the SEG alone sees it too."""
    warnings = [*getattr(result, "flags", []), *getattr(result, "geometry_warnings", [])]
    if not warnings:
        return ASSUMED_FOR_DESCRIPTION if assumed else CONTENT_DESCRIPTION
    import re

    first = re.sub(r"\s*\(.*?\)", "", warnings[0].split(":")[0]).strip()  # "implausible"
    parts = ["AI SEG", *(["FoR assumed"] if assumed else []), first]
    tail = f". {RESEARCH_NOTE}"
    return _fit(", ".join(parts), 64 - len(tail)) + tail


def _fit(text: str, n: int = 64) -> str:
    """``text`` cut to ``n`` characters (LO and SH values have a maximum length)."""
    return text if len(text) <= n else text[:n].rstrip()


def _one_frame_of_reference(stack: Stack, datasets: list) -> str:
    """Give ``datasets`` (in memory) one Frame of Reference UID when the stack's slices carry
    several but form one geometric stack; the assumption in words ("" when none was needed).
    Raises ExportError when they are not one stack."""
    uids = frame_of_reference.reference_uids(stack)
    if len(uids) < 2 or len(datasets) < 2:
        return ""
    reason = frame_of_reference.one_stack_reason(stack)
    if reason:
        raise ExportError(f"the {stack.n_frames} slices carry {len(uids)} different Frame of "
                          f"Reference UIDs and are not one evenly spaced stack ({reason}); a "
                          f"DICOM SEG needs one frame of reference, so none can be written for "
                          f"this series (PNG export works)")
    uid = uids[0] or next(u for u in uids if u)
    for ds in datasets:
        ds.FrameOfReferenceUID = uid
    spacing = f"{stack.spacing[0]:.3g} mm" if stack.spacing else "even"
    return (f"The {stack.n_frames} source slices carry {len(uids)} different Frame of "
            f"Reference UIDs (as some de-identification tools write them). They form one "
            f"stack (same orientation, parallel, evenly spaced at {spacing}, aligned "
            f"in-plane), so this segmentation assumes they share one frame of reference: that "
            f"of the first slice, {uid}.")


def build_seg(result: AnalysisResult, stack: Stack, *, series_number: int | None = None):
    """The highdicom ``Segmentation`` dataset for ``result`` on ``stack`` (not written)."""
    _check_result(result, stack)
    datasets = _read_sources(stack)
    assumed = _one_frame_of_reference(stack, datasets)
    hd = lazy.load("highdicom")  # on first use (~0.5 s of imports), under the import lock
    codes = lazy.load("pydicom.sr.codedict").codes
    lazy.load("highdicom.seg")

    import viewer

    pixels, segments = _segment_plan(result)
    algorithm = hd.AlgorithmIdentificationSequence(
        name=_fit(result.model_name), version=_fit(result.model_version or "unknown"),
        family=codes.cid7162.ArtificialIntelligence, source=MANUFACTURER,
        parameters={"model_id": result.model_id, "weights_sha256": result.sha256,
                    "mode": result.mode},
    )
    descriptions = []
    for number, lab in segments:
        category, kind = property_codes(lab.name)
        descriptions.append(hd.seg.SegmentDescription(
            segment_number=number,
            segment_label=_fit(lab.name),
            segmented_property_category=hd.sr.CodedConcept(*category),
            segmented_property_type=hd.sr.CodedConcept(*kind),
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=algorithm,
            display_color=hd.color.CIELabColor.from_rgb(*(min(255, max(0, int(c)))
                                                          for c in lab.color)),
        ))

    multiframe = len(datasets) == 1 and stack.first.number_of_frames > 1
    if len({f.header.path for f in stack.frames}) > 1 and stack.first.number_of_frames > 1:
        raise ExportError("this series is split over several multi-frame files; a SEG can "
                          "reference only one multi-frame source")
    plane_positions = None
    if multiframe:
        # highdicom pairs pixel_array[i] with source frame i+1 unless positions are given;
        # the stack is sorted along the normal, not in file order, so give the positions and
        # let highdicom match them to the source frames.
        if any(f.position is None for f in stack.frames):
            raise ExportError("this multi-frame series has no slice positions; a SEG cannot "
                              "place its frames")
        plane_positions = [hd.PlanePositionSequence(hd.CoordinateSystemNames.PATIENT,
                                                    list(f.position)) for f in stack.frames]
    src_number = stack.first.series_number
    if series_number is None:
        series_number = (src_number + 1000) if src_number is not None else 1000
    kwargs = dict(
        source_images=datasets,
        pixel_array=pixels,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=hd.UID(),
        series_number=int(series_number),
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        manufacturer_model_name=MANUFACTURER,
        software_versions=str(getattr(viewer, "__version__", "unknown")),
        device_serial_number="none",
        content_label="AI_SEG",
        content_description=_description(result, assumed),
        plane_positions=plane_positions,
        omit_empty_frames=True,
        series_description=_fit(f"AI SEG {result.model_name}"),
    )
    try:
        with warnings.catch_warnings():
            # highdicom warns about source values it finds odd (e.g. a one-part Patient's
            # Name); they are copied as they are, so the warning says nothing about the SEG.
            warnings.filterwarnings("ignore", message=".*unlikely to represent the intended "
                                    "person name", category=UserWarning)
            seg = hd.seg.Segmentation(**kwargs)
    except (ValueError, TypeError, AttributeError, KeyError) as exc:
        raise ExportError(f"cannot build a DICOM SEG for this series: {exc}") from exc
    if assumed:
        seg.ImageComments = assumed  # General Image module, LT: room for the whole statement
    return seg


def write_seg(result: AnalysisResult, stack: Stack, path: Path | str, *,
              overwrite: bool = False, series_number: int | None = None) -> Path:
    """Write ``result`` (a segmentation of ``stack``) as a DICOM SEG file at ``path``.

    Atomic: a failure leaves nothing behind, an existing file is kept unless ``overwrite``.
    Raises :class:`ExportError` (with the reason and what to do) for non-segmentation or empty
    results, an existing file, unreadable sources or write errors.
    """
    path = Path(path)
    if path.exists() and not overwrite:  # fail before the work; atomic_open checks again
        raise ExportError(f"{path}: already exists; choose another name or allow overwriting")
    seg = build_seg(result, stack, series_number=series_number)
    with atomic_open(path, "wb", overwrite) as fh:
        seg.save_as(fh, enforce_file_format=True)
    return path
