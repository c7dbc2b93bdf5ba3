"""Measurements and annotations saved as a DICOM TID 1500 measurement report, and restored.

One Comprehensive 3D SR (highdicom ``Comprehensive3DSR`` + ``MeasurementReport``) per measured
series, ``radviewer-sr-<digest>.dcm`` in the study's output folder
(:mod:`viewer.persist.location`); saving again replaces it, so deleting a measurement lasts
too. Each annotation is one planar ROI measurement group (TID 1410): its shape as a SCOORD on
the source image (:mod:`viewer.persist.shapes`), its Tracking Identifier "radviewer <kind>
<n>[ (<plane>)][: <text>]" (what it is, for other viewers as a label, and for radviewer to
restore it), and its figures with UCUM units: Length (mm), Angle or Cobb angle (deg), Area
(mm2), Mean, Standard Deviation, Minimum and Maximum of the pixels inside (HU for CT). Figures
in millimetres are written only when the image has a millimetre calibration. An annotation on
the acquired slices is a SCOORD on its source image; one on a reformatted plane is a SCOORD3D
in the stack's Frame of Reference (:mod:`viewer.persist.planes`).
"""

from __future__ import annotations

import hashlib
import re
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from viewer.dicom import lazy, spacing
from viewer.dicom.stacks import Stack
from viewer.errors import DicomReadError, ExportError, SeriesGeometryError
from viewer.persist import dicom_common as common
from viewer.persist import location, planes, shapes
from viewer.persist.shapes import Annotation

# (plane, index) -> that image's real values (rows, columns), as the window shows it.
Images = Callable[[str, int], np.ndarray]

SERIES_DESCRIPTION = "radviewer measurements"
_TRACKING = re.compile(r"^radviewer (\w+) \d+(?: \((\w+)\))?(?:: (.*))?$", re.DOTALL)
COMPREHENSIVE_3D_SR = "1.2.840.10008.5.1.4.1.1.88.34"


def file_name(stack: Stack) -> str:
    digest = hashlib.sha256(stack.series_uid.encode()).hexdigest()[:12]
    return f"radviewer-sr-{digest}.dcm"


def _codes():
    from pydicom.sr.codedict import codes

    return codes


def value_unit(stack: Stack):
    """The UCUM unit of a stack's real values: Hounsfield units for CT, else "no units"."""
    codes = _codes()
    return codes.UCUM.HounsfieldUnit if stack.first.modality == "CT" else codes.UCUM.NoUnits


def _figures(a: Annotation, scale, values: np.ndarray | None, unit) -> list:
    """highdicom Measurements (TID 300) of one annotation."""
    import highdicom as hd

    codes = _codes()
    out = []
    mm = scale.unit == "mm"
    if a.kind == "ruler" and mm:
        out.append(hd.sr.Measurement(codes.SCT.Length, shapes.length_mm(a, scale.spacing),
                                     codes.UCUM.Millimeter))
    elif a.kind in ("angle", "cobb"):
        deg = shapes.angle_deg(a, scale.spacing if mm else (1.0, 1.0))
        if np.isfinite(deg):
            name = codes.SCT.Angle if a.kind == "angle" else codes.SCT.CobbAngle
            out.append(hd.sr.Measurement(name, deg, codes.UCUM.Degree))
    elif a.kind in shapes.ROI_KINDS:
        if mm:
            out.append(hd.sr.Measurement(codes.SCT.Area, shapes.area_mm2(a, scale.spacing),
                                         codes.UCUM.SquareMillimeter))
        inside = shapes.roi_values(a, values) if values is not None else np.empty(0)
        inside = inside[np.isfinite(inside)]
        if inside.size:
            for name, v in ((codes.SCT.Mean, inside.mean()),
                            (codes.SCT.StandardDeviation, inside.std()),
                            (codes.SCT.Minimum, inside.min()), (codes.SCT.Maximum, inside.max())):
                out.append(hd.sr.Measurement(name, float(v), unit))
    return out


def _region(a: Annotation, stack: Stack):
    """The SCOORD (acquired plane) or SCOORD3D (reformatted plane) of an annotation."""
    import highdicom as hd

    graphic, data = shapes.to_scoord(a)
    if a.plane != "acquired":
        if a.kind in shapes.ROI_KINDS and graphic == "POLYLINE":
            graphic = "POLYGON"  # SCOORD3D has closed polygons of its own
        return hd.sr.ImageRegion3D(graphic, planes.to_patient(stack, a.plane, a.slice_index,
                                                              data),
                                   stack.first.frame_of_reference_uid)
    ref = stack.frames[a.slice_index]
    frames = [ref.frame + 1] if ref.header.number_of_frames > 1 else None
    source = hd.sr.SourceImageForRegion(ref.header.sop_class_uid, ref.header.sop_instance_uid,
                                        frames)
    return hd.sr.ImageRegion(graphic, data, source)


def _group(a: Annotation, n: int, stack: Stack, scale, values, unit):
    import highdicom as hd

    label = (f"radviewer {a.kind} {n}" + (f" ({a.plane})" if a.plane != "acquired" else "")
             + (f": {a.text}" if a.text else ""))
    return hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(), identifier=label),
        referenced_region=_region(a, stack),
        measurements=_figures(a, scale, values, unit) or None)


def _scale(a: Annotation, stack: Stack, calibration):
    if a.plane == "acquired":
        return calibration.scale_for(*a.points)
    return spacing.Scale(planes.reformat_of(stack).pixel_spacing(a.plane), "mm")


def _check(a: Annotation, stack: Stack) -> None:
    n = stack.n_frames if a.plane == "acquired" else planes.reformat_of(stack).n_slices(a.plane)
    if not 0 <= a.slice_index < n:
        raise ValueError(f"{a.plane} image {a.slice_index} is not in {stack.label} "
                         f"(0..{n - 1})")


def pixel_images(pixels) -> Images:
    """:data:`Images` of a ``StackPixels``: acquired slices decoded on demand; reformatted
    planes from its loaded volume (``load_volume()`` first), real values computed once."""
    cache: dict[str, np.ndarray] = {}

    def image(plane: str, index: int) -> np.ndarray:
        if plane == "acquired":
            return pixels.real(index)
        if "real" not in cache:
            from viewer.dicom.pixels import to_real_volume

            cache["real"] = to_real_volume(pixels.frame_volume(),
                                           [f.header for f in pixels.stack.frames])
        return planes.reformat_of(pixels.stack).plane(cache["real"], plane, index)

    return image


def build_report(stack: Stack, annotations: Sequence[Annotation], images: Images | None = None):
    """The highdicom Comprehensive3DSR of ``annotations`` on ``stack`` (nothing written).

    ``images(plane, index)`` gives an image's real values (:func:`pixel_images`) for ROI
    statistics; without it ROIs carry their area only.
    """
    import highdicom as hd

    codes = _codes()
    for a in annotations:
        _check(a, stack)
    calibration = spacing.for_stack(stack)
    unit = value_unit(stack)
    groups = []
    for n, a in enumerate(annotations, start=1):
        values = (images(a.plane, a.slice_index) if images is not None
                  and a.kind in shapes.ROI_KINDS else None)
        groups.append(_group(a, n, stack, _scale(a, stack, calibration), values, unit))
    # Evidence: the acquired images annotated, or the middle one for reformatted planes only.
    used = sorted({a.slice_index for a in annotations if a.plane == "acquired"}) or [
        stack.n_frames // 2]
    paths = list(dict.fromkeys(stack.frames[k].header.path for k in used))
    evidence = [common.read_header(p, "to reference it in the measurements") for p in paths]
    device = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=hd.UID(), name=common.MANUFACTURER, manufacturer_name=common.MANUFACTURER))
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=device),
        procedure_reported=codes.SCT.ImagingProcedure,
        imaging_measurements=groups,
        title=codes.DCM.ImagingMeasurementReport)
    return common.quietly(hd.sr.Comprehensive3DSR,
        evidence=evidence, content=report, series_instance_uid=hd.UID(), series_number=9902,
        sop_instance_uid=hd.UID(), instance_number=1, is_complete=True,
        series_description=SERIES_DESCRIPTION, **common.equipment_kwargs())


def save_measurements(study_dir: str, stack: Stack, annotations: Sequence[Annotation],
                      images: Images | None = None) -> Path | None:
    """Write the measurement report of ``stack`` (replacing the earlier one) into the study's
    output folder and return its path. With no ``annotations`` radviewer's earlier reports of
    the series are removed (a TID 1500 report holds at least one measurement) and None is
    returned.

    Raises
    ------
    ExportError
        A source header cannot be read or the file cannot be written.
    ValueError
        An annotation's image is not in the stack.
    """
    if not annotations:
        for folder in location.existing(study_dir):
            try:
                (folder / file_name(stack)).unlink(missing_ok=True)
            except OSError as exc:
                raise ExportError(f"{folder / file_name(stack)}: cannot remove the earlier "
                                  f"measurements ({exc.strerror})") from exc
        return None
    sr = build_report(stack, annotations, images)
    try:
        folder = location.output_folder(study_dir)
    except OSError as exc:
        raise ExportError(str(exc)) from exc
    return common.write_dataset(sr, folder / file_name(stack))


# ----------------------------------------------------------------------------- reading


def _slice_of(stack: Stack) -> dict[tuple[str, int], int]:
    return {(f.header.sop_instance_uid, f.frame + 1 if f.header.number_of_frames > 1 else 0): k
            for k, f in enumerate(stack.frames)}


def read_measurements(path: str | Path, stack: Stack) -> list[Annotation]:
    """The annotations of a TID 1500 report on ``stack``'s images (others' are left out).

    Raises
    ------
    DicomReadError
        Not a TID 1500 measurement report that highdicom can read.
    """
    import highdicom as hd

    try:
        sr = hd.sr.srread(path)
        groups = sr.content.get_planar_roi_measurement_groups()
    except Exception as exc:  # highdicom raises ValueError/AttributeError on other SRs
        raise DicomReadError(f"{path}: not a measurement report radviewer can read "
                             f"({type(exc).__name__})") from exc
    index = _slice_of(stack)
    out = []
    for g in groups:
        m = _TRACKING.match(str(g.tracking_identifier or ""))
        kind = m.group(1) if m and m.group(1) in shapes.KINDS else None
        plane = (m.group(2) or "acquired") if m else "acquired"
        text = (m.group(3) or "") if m else ""
        roi = g.roi
        try:
            if isinstance(roi, hd.sr.ImageRegion3D):
                if roi.ReferencedFrameOfReferenceUID != stack.first.frame_of_reference_uid:
                    continue
                if plane == "acquired":
                    plane = "axial"  # another program's 3-D shape: shown on the axial plane
                k, xy = planes.from_patient(stack, plane, np.asarray(roi.value))
            elif isinstance(roi, hd.sr.ImageRegion):
                k = _source_slice(roi, index)
                xy = np.asarray(roi.value)
                plane = "acquired"
            else:
                continue  # segment references are not shapes on one image
            if k is None:
                continue
            out.append(shapes.from_scoord(str(roi.GraphicType), xy, kind, k, text, plane))
        except (ValueError, SeriesGeometryError):
            continue  # a shape radviewer cannot draw here: the others still load
    return out


def _source_slice(roi, index: dict[tuple[str, int], int]) -> int | None:
    ref = roi.ContentSequence[0].ReferencedSOPSequence[0]
    frames = ref.get("ReferencedFrameNumber")
    frame = int(frames if not isinstance(frames, list | tuple) else frames[0]) if frames else 0
    return index.get((str(ref.ReferencedSOPInstanceUID), frame))


def _report_paths(source, stack: Stack) -> list[Path]:
    """Candidate reports: radviewer's file for this series in each output folder, and, from a
    catalog, every SR the scan linked to the series."""
    from viewer.dicom.catalog import Catalog

    root = source.root if isinstance(source, Catalog) else str(source)
    found = [f / file_name(stack) for f in location.existing(root)]
    if isinstance(source, Catalog):
        found += [Path(o.header.path) for o in source.objects()
                  if o.kind == "SR" and stack.series_uid in o.referenced_series_uids]
    unique = {p.resolve(): p for p in found if p.is_file()}
    return list(unique.values())


def load_measurements(source, stack: Stack) -> list[Annotation]:
    """The annotations saved for ``stack``: ``source`` is the study folder or its
    :class:`~viewer.dicom.catalog.Catalog`. radviewer's newest report wins; without one, the
    newest other TID 1500 report on the series is read (shapes guessed from SCOORDs).
    Unreadable reports are passed over."""
    paths = _report_paths(source, stack)
    if not paths:  # the usual first open: no pydicom import (~0.15 s beside the first paint)
        return []
    pydicom = lazy.pydicom()
    ranked = []
    for p in paths:
        try:
            with warnings.catch_warnings():  # a damaged file's encoding quirks are not news
                warnings.simplefilter("ignore")
                ds = pydicom.dcmread(p, stop_before_pixels=True)
        except Exception:  # a damaged report costs itself only
            continue
        if ds.get("SOPClassUID") != COMPREHENSIVE_3D_SR and not str(
                ds.get("SOPClassUID", "")).startswith("1.2.840.10008.5.1.4.1.1.88."):
            continue
        ours = ds.get("Manufacturer") == common.MANUFACTURER
        when = f"{ds.get('ContentDate', '')}{ds.get('ContentTime', '')}"
        ranked.append((ours, when, p.stat().st_mtime, p))
    for *_, p in sorted(ranked, reverse=True):
        try:
            return read_measurements(p, stack)
        except DicomReadError:
            continue
    return []
