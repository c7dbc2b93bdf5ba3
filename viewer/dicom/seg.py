"""DICOM Segmentation (SEG) out and in: an AI label volume to a SEG file, a SEG file to an overlay.

Writing (:func:`write_seg`) uses highdicom, imported on first use so that start-up stays fast.
The SEG is a **BINARY** Segmentation Storage object (1.2.840.10008.5.1.4.1.1.66.4) with one
segment per non-zero label: that is what 3D Slicer (dcmqi), OHIF/cornerstone, dcm4che and
pydicom-seg read, and dciodvfy validates it. highdicom 0.28 can also write the newer Label Map
Segmentation Storage (…66.7, ``LABELMAP``), which would be smaller, but few viewers read it yet.
Frames are on the source stack's own grid (no resampling): each frame references its source
image in the per-frame Derivation Image Sequence, empty frames are omitted. A SEG has one
Frame of Reference: when the source slices carry several (LIDC gives each slice its own) but
form one geometric stack (:mod:`viewer.dicom.frame_of_reference`), the first slice's is used
and the SEG says so in Content Description and Image Comments; otherwise it is refused.

Reading (:func:`read_seg`) uses pydicom only (highdicom's import and its checks would cost more
than the whole read) and puts the SEG's frames on a :class:`~viewer.dicom.stacks.Stack`'s grid:
by the referenced source SOP Instance UID (+ frame number) when the SEG names images of the
stack, else by Plane Position (Patient) within half a slice spacing. A SEG on another grid (other
rows/columns, orientation, pixel spacing or in-plane offset) is refused: resampling is out of
scope. Where segments overlap, the higher segment number wins. FRACTIONAL SEGs are thresholded at
half the Maximum Fractional Value.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from viewer.ai.manifest import Label
from viewer.dicom import frame_of_reference, geometry, lazy, seg_pixels
from viewer.errors import DicomReadError, ExportError
from viewer.export.atomic import atomic_open

if TYPE_CHECKING:
    from viewer.ai.result import AnalysisResult
    from viewer.dicom.stacks import Stack

SEG_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"
LABELMAP_SEG_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.66.7"
RESEARCH_NOTE = "Research use - not a diagnosis"
CONTENT_DESCRIPTION = f"AI segmentation. {RESEARCH_NOTE}"
ASSUMED_FOR_DESCRIPTION = f"AI SEG, one Frame of Ref assumed. {RESEARCH_NOTE}"  # LO: 64
MANUFACTURER = "radviewer"

# Colours for segments that carry no Recommended Display CIELab Value.
DEFAULT_PALETTE: tuple[tuple[int, int, int], ...] = (
    (230, 80, 60), (80, 190, 110), (90, 140, 230), (240, 170, 40), (180, 90, 200),
    (60, 200, 200), (240, 120, 180), (160, 160, 60), (120, 80, 40), (200, 200, 200),
)


# ----------------------------------------------------------------------------- codes

# Segmented Property Category / Type per label name (normalised: lower case, "-"/"_" as spaces,
# "grey" as "gray"). Codes are SNOMED CT from DICOM CID 7150 (categories) and CID 7151 / 7140
# (types); values copied from pydicom's codedict so that no import is needed to look them up.
_TISSUE = ("85756007", "SCT", "Tissue")
_ANATOMY = ("91723000", "SCT", "Anatomical Structure")
_ABNORMAL = ("49755003", "SCT", "Morphologically Abnormal Structure")
_TYPES: dict[str, tuple[tuple[str, str, str], tuple[str, str, str]]] = {
    "white matter": (_TISSUE, ("389080008", "SCT", "White Matter")),
    "gray matter": (_TISSUE, ("389081007", "SCT", "Gray Matter")),
    "brain": (_ANATOMY, ("12738006", "SCT", "Brain")),
    "cerebral white matter": (_ANATOMY, ("68523003", "SCT", "Cerebral White Matter")),
    "cerebral cortex": (_ANATOMY, ("40146001", "SCT", "Cerebral cortex")),
    "lateral ventricle": (_ANATOMY, ("66720007", "SCT", "Lateral Ventricle")),
    "inferior lateral ventricle": (_ANATOMY, ("53118009", "SCT",
                                              "Inferior Horn of Lateral Ventricle")),
    "cerebellum white matter": (_ANATOMY, ("33060004", "SCT", "Cerebellar White Matter")),
    "cerebellum cortex": (_ANATOMY, ("25991003", "SCT", "Cerebellar Cortex")),
    "cerebellum": (_ANATOMY, ("113305005", "SCT", "Cerebellum")),
    "thalamus": (_ANATOMY, ("42695009", "SCT", "Thalamus")),
    "caudate": (_ANATOMY, ("11000004", "SCT", "Caudate Nucleus")),
    "putamen": (_ANATOMY, ("89278009", "SCT", "Putamen")),
    "pallidum": (_ANATOMY, ("14738005", "SCT", "Globus Pallidus")),
    "3rd ventricle": (_ANATOMY, ("49841001", "SCT", "Third ventricle")),
    "4th ventricle": (_ANATOMY, ("35918002", "SCT", "Fourth Ventricle")),
    "brain stem": (_ANATOMY, ("119238007", "SCT", "Brain Stem")),
    "hippocampus": (_ANATOMY, ("5366008", "SCT", "Hippocampus")),
    "amygdala": (_ANATOMY, ("4958002", "SCT", "Amygdala")),
    "accumbens area": (_ANATOMY, ("427667007", "SCT", "Nucleus Accumbens")),
    "ventraldc": (_ANATOMY, ("110700", "DCM", "Ventral Diencephalon")),
    "lesion": (_ABNORMAL, ("52988006", "SCT", "Lesion")),
    "mass": (_ABNORMAL, ("4147007", "SCT", "Mass")),
}
_TUMOUR_WORDS = ("tumour", "tumor", "neoplasm", "glioma", "meningioma", "pituitary",
                 "metastasis", "cancer", "carcinoma")
_NEOPLASM = ("108369006", "SCT", "Neoplasm")


def _normalise(name: str) -> str:
    s = name.lower().replace("-", " ").replace("_", " ").replace("grey", "gray")
    return " ".join(s.split())


def property_codes(name: str) -> tuple[tuple[str, str, str], tuple[str, str, str]]:
    """(category, type) codes ``(value, scheme, meaning)`` for a label name.

    Known brain tissues and structures get their SNOMED CT codes; tumour words map to
    Morphologically Abnormal Structure / Neoplasm. Anything else falls back to the generic
    Tissue / Tissue pair: the standard needs some code, and the segment label keeps the name.
    """
    key = _normalise(name)
    if key in _TYPES:
        return _TYPES[key]
    if any(w in key for w in _TUMOUR_WORDS):
        return _ABNORMAL, _NEOPLASM
    return _TISSUE, _TISSUE  # fallback: generic tissue, the label names the segment


# ----------------------------------------------------------------------------- colour

# CIELab <-> sRGB as highdicom.color does it (D65 white), so a write/read round trip is exact
# up to the 16-bit quantisation. Implemented here so that reading needs no highdicom.


def lab_to_rgb(value: tuple[int, int, int] | list[int]) -> tuple[int, int, int]:
    """RGB 0-255 of a DICOM Recommended Display CIELab Value (three 16-bit integers)."""
    lv, av, bv = (int(v) for v in value)
    l_star = lv * 100.0 / 0xFFFF
    a_star = av * 255.0 / 0xFFFF - 128.0
    b_star = bv * 255.0 / 0xFFFF - 128.0
    y = (l_star + 16) / 116
    x = a_star / 500 + y
    z = y - b_star / 200

    def inv(c: float) -> float:
        c3 = c ** 3
        return c3 if c3 > 0.008856 else (c - 16.0 / 116) / 7.787

    x, y, z = 0.95047 * inv(x), 1.0 * inv(y), 1.08883 * inv(z)
    rgb = (x * 3.2406 - y * 1.5372 - z * 0.4986,
           -x * 0.9689 + y * 1.8758 + z * 0.0415,
           x * 0.0557 - y * 0.2040 + z * 1.0570)

    def gamma(c: float) -> int:
        c = 1.055 * (c ** (1 / 2.4)) - 0.055 if c > 0.0031308 else 12.92 * c
        return int(min(255, max(0, round(c * 255))))

    return gamma(rgb[0]), gamma(rgb[1]), gamma(rgb[2])


# ----------------------------------------------------------------------------- writing


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


# ----------------------------------------------------------------------------- reading


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


__all__ = ["SegOverlay", "build_seg", "lab_to_rgb", "property_codes", "read_seg", "write_seg"]
