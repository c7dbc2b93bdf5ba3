"""The pydicom path of :mod:`viewer.dicom.header`: headers the fast parser does not model
(multi-frame functional groups, LUT sequences, non-image objects, big endian, files without a
preamble), read by pydicom with large values deferred, so no pixel data is loaded."""

from __future__ import annotations

import numpy as np

from viewer.dicom import enhanced, sizes, tagparse
from viewer.dicom.header import (
    _PIXEL_ELEMENTS,
    LUT,
    NOT_AN_IMAGE,
    InstanceHeader,
    _claimed,
    _first_float,
    _first_int,
    _from_values,
    _orientation,
    _position,
    _spacing,
)
from viewer.errors import DicomReadError


def _lut_from_item(item) -> LUT | None:
    desc = item.get("LUTDescriptor")
    if desc is None or "LUTData" not in item:
        return None
    first = int(desc[1])
    raw = item.LUTData
    if isinstance(raw, (bytes, bytearray)):  # OW: 16-bit words
        data = np.frombuffer(raw, dtype="<u2")
    else:
        data = np.atleast_1d(np.asarray(raw))
    return LUT(first, data.astype(np.int64), str(item.get("LUTExplanation", "") or ""))


def read_with_pydicom(path: str) -> InstanceHeader:
    """``path``'s header read by pydicom (large values deferred; no pixel data), for what
    the fast parser does not model."""
    from viewer.dicom import lazy

    pydicom = lazy.pydicom()
    InvalidDicomError = lazy.load("pydicom.errors").InvalidDicomError  # noqa: N806

    try:
        ds = pydicom.dcmread(path, defer_size=4096, force=True)
        # Touch the top-level elements so a bad VR or truncation surfaces here.
        list(ds.keys())
        sop = str(ds.get("SOPClassUID", "") or "")
        if not sop and not ds.file_meta.get("MediaStorageSOPClassUID") and "Rows" not in ds:
            raise DicomReadError(f"{path}: {NOT_AN_IMAGE}")
    except DicomReadError:
        raise
    except InvalidDicomError:
        raise DicomReadError(f"{path}: not a DICOM file") from None
    except Exception as exc:  # pydicom raises many types on malformed input
        raise DicomReadError(f"{path}: damaged DICOM file ({type(exc).__name__})") from None

    try:
        return _header_from_dataset(path, ds)
    except DicomReadError:
        raise
    except Exception as exc:  # a bad value deep in the header: skip the file, keep scanning
        raise DicomReadError(f"{path}: damaged DICOM file ({type(exc).__name__})") from None


def _header_from_dataset(path: str, ds) -> InstanceHeader:
    ts = str(ds.file_meta.get("TransferSyntaxUID", tagparse.IMPLICIT_VR_LE))
    values = {kw: ds.get(kw) for tag, (kw, _) in tagparse.WANTED.items()
              if tag not in tagparse.PRIVATE_WANTED and kw in ds}
    values.update({kw: ds[tag].value for tag, (kw, _) in tagparse.PRIVATE_WANTED.items()
                   if tag in ds})
    for kw in ("PatientName",):
        if kw in values:
            values[kw] = str(values[kw])
    extra: dict = {"has_pixel_data": False}
    frames = _first_int(values.get("NumberOfFrames")) or 1
    for tag, float_bits in _PIXEL_ELEMENTS.items():
        raw = sizes.raw_element(ds, tag)
        if raw is None:
            continue
        extra["has_pixel_data"] = True
        length, fragments, offset = sizes.pixel_layout(path, ts, raw, frames, float_bits is None)
        sizes.check_sizes(path, **_claimed(values, float_bits), pixel_length=length,
                          fragments=fragments)
        if offset is not None:
            extra["encapsulated_offset"] = offset
        break
    else:
        # No pixels: a claimed frame count allocates nothing, and drives no per-frame loop.
        frames = 1

    shared = ds.get("SharedFunctionalGroupsSequence")
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if per_frame is not None or shared is not None:
        warnings: list[str] = []
        positions, orientations, spacing = _functional_group_geometry(ds, frames, warnings)
        extra["frame_positions"] = positions
        extra["frame_orientations"] = orientations
        extra["orientation"] = next((o for o in orientations if o is not None), None)
        extra["geometry_warnings"] = tuple(warnings)
        if spacing is not None:
            extra["pixel_spacing"] = spacing
        extra["frame_values"] = enhanced.read_frame_values(ds, frames)
        extra["dimension_pointers"] = enhanced.dimension_pointers(ds)
        slope, intercept = _functional_group_rescale(shared, per_frame)
        if slope is not None:
            extra["rescale_slope"], extra["rescale_intercept"] = slope, intercept
    elif frames > 1:
        # Legacy multi-frame (US cine, NM, XA): one position for all frames, so the frames
        # stay together in acquisition order rather than being sorted in space.
        extra["frame_positions"] = (None,) * frames
        extra["frame_orientations"] = (None,) * frames

    regions = ds.get("SequenceOfUltrasoundRegions")
    if regions:
        extra["us_regions"] = tuple(_us_region(item) for item in regions)
    mlut = ds.get("ModalityLUTSequence")
    if mlut:
        extra["modality_lut"] = _lut_from_item(mlut[0])
    vlut = ds.get("VOILUTSequence")
    if vlut:
        extra["voi_luts"] = tuple(x for x in (_lut_from_item(i) for i in vlut) if x is not None)

    refs = []
    for item in ds.get("ReferencedSeriesSequence", []) or []:
        uid = item.get("SeriesInstanceUID")
        if uid:
            refs.append(str(uid))
    for item in ds.get("CurrentRequestedProcedureEvidenceSequence", []) or []:
        for s in item.get("ReferencedSeriesSequence", []) or []:
            if s.get("SeriesInstanceUID"):
                refs.append(str(s.SeriesInstanceUID))
    for fr in ds.get("ReferencedFrameOfReferenceSequence", []) or []:
        for st in fr.get("RTReferencedStudySequence", []) or []:
            for s in st.get("RTReferencedSeriesSequence", []) or []:
                if s.get("SeriesInstanceUID"):
                    refs.append(str(s.SeriesInstanceUID))
    extra["referenced_series_uids"] = tuple(dict.fromkeys(refs))
    return _from_values(path, ts, None, values, **extra)


_US_REGION_KEYWORDS = (
    "RegionLocationMinX0", "RegionLocationMinY0", "RegionLocationMaxX1", "RegionLocationMaxY1",
    "PhysicalUnitsXDirection", "PhysicalUnitsYDirection", "PhysicalDeltaX", "PhysicalDeltaY",
)


def _us_region(item) -> tuple[float | None, ...]:
    """One Sequence of Ultrasound Regions item as raw numbers (see ``InstanceHeader``)."""
    return tuple(_first_float(item.get(kw)) for kw in _US_REGION_KEYWORDS)


def _functional_group_geometry(ds, frames: int, warnings: list[str]):
    shared = ds.get("SharedFunctionalGroupsSequence")
    shared0 = shared[0] if shared else None
    per_frame = ds.get("PerFrameFunctionalGroupsSequence") or []

    def pick(item, seq_kw, attr):
        if item is not None and seq_kw in item and item[seq_kw].value:
            return item[seq_kw][0].get(attr)
        return None

    spacing = _spacing(pick(shared0, "PixelMeasuresSequence", "PixelSpacing"), warnings)
    shared_orient = _orientation(
        pick(shared0, "PlaneOrientationSequence", "ImageOrientationPatient"), warnings
    )
    positions, orientations = [], []
    for i in range(frames):
        item = per_frame[i] if i < len(per_frame) else None
        positions.append(
            _position(pick(item, "PlanePositionSequence", "ImagePositionPatient"), warnings)
        )
        o = _orientation(pick(item, "PlaneOrientationSequence", "ImageOrientationPatient"),
                         warnings)
        orientations.append(o or shared_orient)
        if spacing is None:
            spacing = _spacing(pick(item, "PixelMeasuresSequence", "PixelSpacing"), warnings)
    return tuple(positions), tuple(orientations), spacing


def _functional_group_rescale(shared, per_frame):
    for seq in (shared, per_frame):
        if seq:
            item = seq[0]
            if "PixelValueTransformationSequence" in item and item[
                "PixelValueTransformationSequence"
            ].value:
                t = item.PixelValueTransformationSequence[0]
                return float(t.get("RescaleSlope", 1) or 1), float(
                    t.get("RescaleIntercept", 0) or 0
                )
    return None, None
