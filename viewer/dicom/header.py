"""Header-only reading of one DICOM file into an :class:`InstanceHeader`.

The fast path (:mod:`viewer.dicom.tagparse`) reads the first few KiB of a file; anything it does
not model (multi-frame functional groups, LUT sequences, non-image objects, big endian, files
without a preamble) is read by pydicom with large values deferred, so no pixel data is loaded.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from viewer.dicom import tagparse
from viewer.errors import DicomReadError

# SOP classes that are DICOM objects but not images to show as a stack.
NON_IMAGE_KINDS: dict[str, str] = {
    "1.2.840.10008.5.1.4.1.1.66.4": "SEG",
    "1.2.840.10008.5.1.4.1.1.66.7": "SEG",  # Label Map Segmentation
    "1.2.840.10008.5.1.4.1.1.481.3": "RTSTRUCT",
    "1.2.840.10008.5.1.4.1.1.88.11": "SR",
    "1.2.840.10008.5.1.4.1.1.88.22": "SR",
    "1.2.840.10008.5.1.4.1.1.88.33": "SR",
    "1.2.840.10008.5.1.4.1.1.88.34": "SR",
    "1.2.840.10008.5.1.4.1.1.88.59": "KO",
    "1.2.840.10008.5.1.4.1.1.11.1": "PR",
    "1.2.840.10008.5.1.4.1.1.11.2": "PR",
    "1.2.840.10008.5.1.4.1.1.11.3": "PR",
    "1.2.840.10008.5.1.4.1.1.11.4": "PR",
    "1.2.840.10008.5.1.4.1.1.104.1": "DOC",
    "1.2.840.10008.5.1.4.1.1.481.2": "RTDOSE",
    "1.2.840.10008.5.1.4.1.1.481.5": "RTPLAN",
}
MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"

_HEAD_BYTES = 16 * 1024
_MAX_FAST_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class LUT:
    """A lookup table from a Modality or VOI LUT Sequence item.

    ``first_mapped`` is the first input value mapped; inputs below map to ``data[0]``, above to
    ``data[-1]``.
    """

    first_mapped: int
    data: np.ndarray
    explanation: str = ""


@dataclass(frozen=True, slots=True)
class InstanceHeader:
    """What the scan keeps of one DICOM file: identity, geometry and pixel description.

    Geometry is in DICOM patient coordinates (LPS, millimetres). ``frame_positions`` holds the
    Image Position (Patient) (0020,0032) of each frame; ``pixel_spacing`` is (row spacing,
    column spacing) as in Pixel Spacing (0028,0030). ``pixel_offset`` / ``pixel_length`` locate
    native pixel data in the file (``pixel_length`` is None when encapsulated).
    """

    path: str
    sop_class_uid: str
    sop_instance_uid: str
    transfer_syntax: str
    modality: str = ""
    patient_id: str = ""
    patient_name: str = ""
    patient_birth_date: str = ""
    study_uid: str = ""
    study_date: str = ""
    study_description: str = ""
    accession_number: str = ""
    series_uid: str = ""
    series_number: int | None = None
    series_description: str = ""
    instance_number: int | None = None
    acquisition_number: int | None = None
    echo_number: int | None = None
    echo_time: float | None = None
    temporal_position: int | None = None
    trigger_time: float | None = None
    acquisition_time: str = ""
    image_type: tuple[str, ...] = ()
    frame_of_reference_uid: str = ""
    orientation: tuple[float, ...] | None = None
    frame_positions: tuple[tuple[float, float, float] | None, ...] = ()
    frame_orientations: tuple[tuple[float, ...] | None, ...] = ()
    pixel_spacing: tuple[float, float] | None = None
    slice_thickness: float | None = None
    gantry_tilt: float | None = None
    rows: int = 0
    columns: int = 0
    number_of_frames: int = 1
    samples_per_pixel: int = 1
    photometric: str = "MONOCHROME2"
    planar_configuration: int = 0
    bits_allocated: int = 16
    bits_stored: int = 16
    pixel_representation: int = 0
    rescale_slope: float = 1.0
    rescale_intercept: float = 0.0
    rescale_type: str = ""
    modality_lut: LUT | None = None
    windows: tuple[tuple[float, float, str], ...] = ()
    voi_luts: tuple[LUT, ...] = ()
    has_pixel_data: bool = False
    pixel_offset: int | None = None
    pixel_length: int | None = None
    referenced_series_uids: tuple[str, ...] = field(default=())

    @property
    def kind(self) -> str:
        """'IMAGE' for pixel images to stack, else the object kind (SEG, SR, KO, PR, ...)."""
        known = NON_IMAGE_KINDS.get(self.sop_class_uid)
        if known:
            return known
        return "IMAGE" if self.has_pixel_data else "OTHER"

    @property
    def is_native(self) -> bool:
        """Whether pixel data is uncompressed little endian with a known offset."""
        return self.pixel_offset is not None and self.pixel_length is not None


def _as_tuple(v: object) -> tuple:
    """Values of a possibly multi-valued attribute (list, tuple or pydicom MultiValue)."""
    if v is None:
        return ()
    if isinstance(v, (str, bytes)) or not isinstance(v, Sequence):
        return (v,)
    return tuple(v)


def _floats(v: object, n: int) -> tuple[float, ...] | None:
    t = _as_tuple(v)
    if len(t) != n:
        return None
    try:
        return tuple(float(x) for x in t)
    except (TypeError, ValueError):
        return None


def _first_int(v: object) -> int | None:
    t = _as_tuple(v)
    try:
        return int(t[0]) if t else None
    except (TypeError, ValueError):
        return None


def _first_float(v: object) -> float | None:
    t = _as_tuple(v)
    try:
        return float(t[0]) if t else None
    except (TypeError, ValueError):
        return None


def _windows(center: object, width: object, explanation: object) -> tuple:
    cs, ws = _as_tuple(center), _as_tuple(width)
    ex = _as_tuple(explanation)
    out = []
    for i, (c, w) in enumerate(zip(cs, ws, strict=False)):
        try:
            cf, wf = float(c), float(w)
        except (TypeError, ValueError):
            continue
        if wf > 0:
            out.append((cf, wf, str(ex[i]) if i < len(ex) else ""))
    return tuple(out)


def _from_values(path: str, ts: str, media_sop: str | None, v: dict, **extra) -> InstanceHeader:
    orientation = _floats(v.get("ImageOrientationPatient"), 6)
    position = _floats(v.get("ImagePositionPatient"), 3)
    spacing = _floats(v.get("PixelSpacing"), 2) or _floats(v.get("ImagerPixelSpacing"), 2)
    kw = dict(
        path=path,
        sop_class_uid=str(v.get("SOPClassUID") or media_sop or ""),
        sop_instance_uid=str(v.get("SOPInstanceUID") or ""),
        transfer_syntax=ts,
        modality=str(v.get("Modality") or ""),
        patient_id=str(v.get("PatientID") or ""),
        patient_name=str(v.get("PatientName") or ""),
        patient_birth_date=str(v.get("PatientBirthDate") or ""),
        study_uid=str(v.get("StudyInstanceUID") or ""),
        study_date=str(v.get("StudyDate") or ""),
        study_description=str(v.get("StudyDescription") or ""),
        accession_number=str(v.get("AccessionNumber") or ""),
        series_uid=str(v.get("SeriesInstanceUID") or ""),
        series_number=_first_int(v.get("SeriesNumber")),
        series_description=str(v.get("SeriesDescription") or ""),
        instance_number=_first_int(v.get("InstanceNumber")),
        acquisition_number=_first_int(v.get("AcquisitionNumber")),
        echo_number=_first_int(v.get("EchoNumbers")),
        echo_time=_first_float(v.get("EchoTime")),
        temporal_position=_first_int(v.get("TemporalPositionIdentifier")),
        trigger_time=_first_float(v.get("TriggerTime")),
        acquisition_time=str(v.get("AcquisitionTime") or ""),
        image_type=tuple(str(x) for x in _as_tuple(v.get("ImageType"))),
        frame_of_reference_uid=str(v.get("FrameOfReferenceUID") or ""),
        orientation=orientation,
        frame_positions=(position,),
        frame_orientations=(orientation,),
        pixel_spacing=spacing,  # type: ignore[arg-type]
        slice_thickness=_first_float(v.get("SliceThickness")),
        gantry_tilt=_first_float(v.get("GantryDetectorTilt")),
        rows=_first_int(v.get("Rows")) or 0,
        columns=_first_int(v.get("Columns")) or 0,
        number_of_frames=_first_int(v.get("NumberOfFrames")) or 1,
        samples_per_pixel=_first_int(v.get("SamplesPerPixel")) or 1,
        photometric=str(v.get("PhotometricInterpretation") or "MONOCHROME2").strip(),
        planar_configuration=_first_int(v.get("PlanarConfiguration")) or 0,
        bits_allocated=_first_int(v.get("BitsAllocated")) or 16,
        bits_stored=_first_int(v.get("BitsStored")) or _first_int(v.get("BitsAllocated")) or 16,
        pixel_representation=_first_int(v.get("PixelRepresentation")) or 0,
        rescale_slope=_first_float(v.get("RescaleSlope")) or 1.0,
        rescale_intercept=_first_float(v.get("RescaleIntercept")) or 0.0,
        rescale_type=str(v.get("RescaleType") or ""),
        windows=_windows(
            v.get("WindowCenter"), v.get("WindowWidth"), v.get("WindowCenterWidthExplanation")
        ),
    )
    kw.update(extra)
    return InstanceHeader(**kw)  # type: ignore[arg-type]


def read_header(path: str) -> InstanceHeader:
    """Read the header of one file without decoding pixel data.

    Raises
    ------
    DicomReadError
        With a reason a user can act on: not DICOM, truncated, malformed.
    """
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            buf = f.read(_HEAD_BYTES)
            while True:
                try:
                    parsed = tagparse.parse_header(buf, size)
                    break
                except tagparse.NeedMoreBytes:
                    if len(buf) >= min(size, _MAX_FAST_BYTES):
                        raise tagparse.NeedsFullParser("header larger than limit") from None
                    buf += f.read(len(buf))
    except tagparse.NotDicom:
        raise DicomReadError(f"{path}: not a DICOM file (no DICM prefix)") from None
    except tagparse.NeedsFullParser:
        return _read_with_pydicom(path)
    except ValueError as exc:
        raise DicomReadError(f"{path}: damaged DICOM file ({exc})") from None
    except OSError as exc:
        raise DicomReadError(f"{path}: cannot read file ({exc.strerror})") from None
    v = parsed.values
    if not v.get("SOPClassUID") and not parsed.media_sop_class and "Rows" not in v:
        raise DicomReadError(f"{path}: not a DICOM file (no SOP Class UID)")
    _check_pixel_encoding(path, parsed, v)
    return _from_values(
        path,
        parsed.transfer_syntax,
        parsed.media_sop_class,
        v,
        has_pixel_data=parsed.pixel_offset is not None,
        pixel_offset=parsed.pixel_offset if parsed.pixel_length is not None else None,
        pixel_length=parsed.pixel_length,
    )


def _check_pixel_encoding(path: str, parsed: tagparse.ParsedHeader, v: dict) -> None:
    """Reject pixel data whose encoding contradicts the transfer syntax or the image size."""
    from viewer.dicom import codecs

    if parsed.pixel_offset is None:
        return
    ts = parsed.transfer_syntax
    if ts in codecs.NATIVE_SYNTAXES:
        if parsed.pixel_length is None:
            name = codecs.syntax_name(ts)
            raise DicomReadError(
                f"{path}: damaged DICOM file (transfer syntax says {name} but the pixel data "
                "is compressed); re-export it from the source system"
            )
        rows, cols = _first_int(v.get("Rows")) or 0, _first_int(v.get("Columns")) or 0
        spp = _first_int(v.get("SamplesPerPixel")) or 1
        bits = _first_int(v.get("BitsAllocated")) or 16
        frames = _first_int(v.get("NumberOfFrames")) or 1
        if str(v.get("PhotometricInterpretation", "")).strip() == "YBR_FULL_422":
            spp = 2  # chroma subsampled 2:1 horizontally: 2 samples per pixel on average
        expected = (rows * cols * spp * frames * bits + 7) // 8
        if parsed.pixel_length < expected:
            raise DicomReadError(
                f"{path}: damaged DICOM file (pixel data holds {parsed.pixel_length} bytes, "
                f"{rows}x{cols} pixels need {expected}); re-export it from the source system"
            )
    elif parsed.pixel_length is not None:
        name = codecs.syntax_name(ts)
        raise DicomReadError(
            f"{path}: damaged DICOM file (transfer syntax says {name} but the pixel data is "
            "not compressed); re-export it from the source system"
        )


# ----------------------------------------------------------------------------- pydicom path


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


def _read_with_pydicom(path: str) -> InstanceHeader:
    from viewer.dicom import lazy

    pydicom = lazy.pydicom()
    InvalidDicomError = lazy.load("pydicom.errors").InvalidDicomError  # noqa: N806

    try:
        ds = pydicom.dcmread(path, defer_size=4096, force=True)
        # Touch the top-level elements so a bad VR or truncation surfaces here.
        list(ds.keys())
        sop = str(ds.get("SOPClassUID", "") or "")
        if not sop and not ds.file_meta.get("MediaStorageSOPClassUID") and "Rows" not in ds:
            raise DicomReadError(f"{path}: not a DICOM file")
    except DicomReadError:
        raise
    except InvalidDicomError:
        raise DicomReadError(f"{path}: not a DICOM file") from None
    except Exception as exc:  # pydicom raises many types on malformed input
        raise DicomReadError(f"{path}: damaged DICOM file ({type(exc).__name__})") from None

    try:
        return _header_from_dataset(path, ds)
    except Exception as exc:  # a bad value deep in the header: skip the file, keep scanning
        raise DicomReadError(f"{path}: damaged DICOM file ({type(exc).__name__})") from None


def _header_from_dataset(path: str, ds) -> InstanceHeader:
    ts = str(ds.file_meta.get("TransferSyntaxUID", tagparse.IMPLICIT_VR_LE))
    values = {kw: ds.get(kw) for kw, _ in tagparse.WANTED.values() if kw in ds}
    for kw in ("PatientName",):
        if kw in values:
            values[kw] = str(values[kw])
    extra: dict = {"has_pixel_data": "PixelData" in ds or "FloatPixelData" in ds}

    frames = _first_int(values.get("NumberOfFrames")) or 1
    shared = ds.get("SharedFunctionalGroupsSequence")
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if per_frame is not None or shared is not None:
        positions, orientations, spacing = _functional_group_geometry(ds, frames)
        extra["frame_positions"] = positions
        extra["frame_orientations"] = orientations
        extra["orientation"] = next((o for o in orientations if o is not None), None)
        if spacing is not None:
            extra["pixel_spacing"] = spacing
        slope, intercept = _functional_group_rescale(shared, per_frame)
        if slope is not None:
            extra["rescale_slope"], extra["rescale_intercept"] = slope, intercept
    elif frames > 1:
        # Legacy multi-frame (US cine, NM, XA): one position for all frames, so the frames
        # stay together in acquisition order rather than being sorted in space.
        extra["frame_positions"] = (None,) * frames
        extra["frame_orientations"] = (None,) * frames

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


def _functional_group_geometry(ds, frames: int):
    shared = ds.get("SharedFunctionalGroupsSequence")
    shared0 = shared[0] if shared else None
    per_frame = ds.get("PerFrameFunctionalGroupsSequence") or []

    def pick(item, seq_kw, attr):
        if item is not None and seq_kw in item and item[seq_kw].value:
            return item[seq_kw][0].get(attr)
        return None

    spacing = _floats(pick(shared0, "PixelMeasuresSequence", "PixelSpacing"), 2)
    shared_orient = _floats(pick(shared0, "PlaneOrientationSequence", "ImageOrientationPatient"), 6)
    positions, orientations = [], []
    for i in range(frames):
        item = per_frame[i] if i < len(per_frame) else None
        positions.append(
            _floats(pick(item, "PlanePositionSequence", "ImagePositionPatient"), 3)
        )
        o = _floats(pick(item, "PlaneOrientationSequence", "ImageOrientationPatient"), 6)
        orientations.append(o or shared_orient)
        if spacing is None:
            spacing = _floats(pick(item, "PixelMeasuresSequence", "PixelSpacing"), 2)
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
