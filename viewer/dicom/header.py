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

from viewer.dicom import diffusion, enhanced, geometry, mosaic, sizes, tagparse
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
    "1.2.840.10008.5.1.4.1.1.66.1": "REG",  # Spatial Registration
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

_PIXEL_ELEMENTS = {0x7FE00010: None, 0x7FE00008: 32, 0x7FE00009: 64}  # tag: bits, None = header


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
    column spacing) as in Pixel Spacing (0028,0030) only; the other in-plane spacings (Imager /
    Nominal Scanned Pixel Spacing, magnification, calibration, ultrasound regions) are kept raw
    for :mod:`viewer.dicom.spacing`, which decides what a measurement uses.
    ``pixel_offset`` / ``pixel_length`` locate native pixel data in the file (``pixel_length``
    is None when encapsulated);
    ``encapsulated_offset`` is where encapsulated pixel data (its first item) starts.
    Unusable geometry values (degenerate orientation, NaN) are dropped, as if absent, and
    ``geometry_warnings`` says which.
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
    temporal_positions: int | None = None  # Number of Temporal Positions (0020,0105)
    diffusion_b_value: float | None = None  # s/mm², see viewer.dicom.diffusion
    diffusion_direction: tuple[float, float, float] | None = None  # unit vector, vendor frame
    trigger_time: float | None = None
    acquisition_time: str = ""
    image_type: tuple[str, ...] = ()
    body_part: str = ""  # Body Part Examined (0018,0015), as written (CS, e.g. HEAD)
    frame_of_reference_uid: str = ""
    orientation: tuple[float, ...] | None = None
    frame_positions: tuple[tuple[float, float, float] | None, ...] = ()
    frame_orientations: tuple[tuple[float, ...] | None, ...] = ()
    pixel_spacing: tuple[float, float] | None = None
    imager_pixel_spacing: tuple[float, float] | None = None  # (0018,1164), at the detector
    nominal_scanned_pixel_spacing: tuple[float, float] | None = None  # (0018,2010)
    magnification_factor: float | None = None  # Estimated Radiographic Magnification (0018,1114)
    spacing_calibration: tuple[str, str] = ("", "")  # (0028,0A02) type, (0028,0A04) description
    # Sequence of Ultrasound Regions (0018,6011), one tuple per item: (x0, y0, x1, y1, units x,
    # units y, physical delta x, physical delta y); None where an item lacks the value.
    us_regions: tuple[tuple[float | None, ...], ...] = ()
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
    voi_lut_function: str = ""  # VOI LUT Function (0028,1056): LINEAR, LINEAR_EXACT, SIGMOID
    has_pixel_data: bool = False
    pixel_offset: int | None = None
    pixel_length: int | None = None
    encapsulated_offset: int | None = None
    referenced_series_uids: tuple[str, ...] = field(default=())
    geometry_warnings: tuple[str, ...] = ()
    # Enhanced multi-frame (viewer.dicom.enhanced): each frame's functional-group values, the
    # Dimension Index Pointers (tags), and, on a per-frame header, the key of its frame group.
    frame_values: tuple[enhanced.FrameValues, ...] = ()
    dimension_pointers: tuple[int, ...] = ()
    frame_group: tuple = ()
    # Siemens mosaic (see viewer.dicom.mosaic): (slices, tile rows, tile columns); rows,
    # columns, frames and frame positions then describe the unpacked slices, not the file.
    mosaic: tuple[int, int, int] | None = None

    @property
    def kind(self) -> str:
        """'IMAGE' for pixel images to stack, else the object kind (SEG, SR, KO, PR, ...)."""
        known = NON_IMAGE_KINDS.get(self.sop_class_uid)
        if known:
            return known
        return "IMAGE" if self.has_pixel_data else "OTHER"

    @property
    def diffusion(self) -> tuple[float, ...] | None:
        """(b-value, direction x, y, z) rounded for grouping; None without a b-value."""
        if self.diffusion_b_value is None:
            return None
        d = self.diffusion_direction or (0.0, 0.0, 0.0)
        return (round(self.diffusion_b_value, 1), *(round(x, 4) for x in d))

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


def _checked(values: tuple[float, ...] | None, problem: str, warnings: list[str]):
    """``values``, or None (with ``problem`` added to ``warnings`` once) when unusable."""
    if values is None or not problem:
        return values
    if problem not in warnings:
        warnings.append(problem)
    return None


def _orientation(v: object, warnings: list[str]) -> tuple[float, ...] | None:
    """Image Orientation (Patient), or None when degenerate (see geometry.orientation_problem)."""
    o = _floats(v, 6)
    why = geometry.orientation_problem(o) if o is not None else ""
    msg = f"Image Orientation (Patient) {why}: shown without geometry" if why else ""
    return _checked(o, msg, warnings)


def _position(v: object, warnings: list[str]) -> tuple[float, float, float] | None:
    """Image Position (Patient), or None when not finite or absurdly far (1e308 overflows)."""
    p = _floats(v, 3)
    bad = p is not None and not geometry.usable_mm(p)
    msg = "Image Position (Patient) is not a usable number: shown without geometry" if bad else ""
    return _checked(p, msg, warnings)  # type: ignore[return-value]


def _spacing(v: object, warnings: list[str], name: str = "Pixel Spacing"
             ) -> tuple[float, float] | None:
    """Pixel Spacing (or spacing attribute ``name``), or None unless both values are finite
    and positive."""
    s = _floats(v, 2)
    bad = s is not None and not (geometry.usable_mm(s) and min(s) > 0)
    return _checked(s, f"{name} is not a positive number: ignored" if bad else "",
                    warnings)  # type: ignore[return-value]


def _claimed(v: dict, float_bits: int | None = None) -> dict:
    """The image size a header claims, as keyword arguments of :func:`sizes.check_sizes`."""
    return dict(
        rows=_first_int(v.get("Rows")) or 0,
        columns=_first_int(v.get("Columns")) or 0,
        samples=_first_int(v.get("SamplesPerPixel")) or 1,
        bits=float_bits or _first_int(v.get("BitsAllocated")) or 16,
        frames=_first_int(v.get("NumberOfFrames")) or 1,
        photometric=str(v.get("PhotometricInterpretation", "") or "").strip(),
    )


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
    warnings: list[str] = list(extra.pop("geometry_warnings", ()))
    orientation = _orientation(v.get("ImageOrientationPatient"), warnings)
    position = _position(v.get("ImagePositionPatient"), warnings)
    spacing = _spacing(v.get("PixelSpacing"), warnings)
    b_value, b_direction = diffusion.read(v)
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
        temporal_positions=_first_int(v.get("NumberOfTemporalPositions")),
        diffusion_b_value=b_value,
        diffusion_direction=b_direction,
        acquisition_time=str(v.get("AcquisitionTime") or ""),
        image_type=tuple(str(x) for x in _as_tuple(v.get("ImageType"))),
        body_part=str(v.get("BodyPartExamined") or "").strip(),
        frame_of_reference_uid=str(v.get("FrameOfReferenceUID") or ""),
        orientation=orientation,
        frame_positions=(position,),
        frame_orientations=(orientation,),
        pixel_spacing=spacing,  # type: ignore[arg-type]
        imager_pixel_spacing=_spacing(
            v.get("ImagerPixelSpacing"), warnings, "Imager Pixel Spacing"),
        nominal_scanned_pixel_spacing=_spacing(
            v.get("NominalScannedPixelSpacing"), warnings, "Nominal Scanned Pixel Spacing"),
        magnification_factor=_first_float(v.get("EstimatedRadiographicMagnificationFactor")),
        spacing_calibration=(str(v.get("PixelSpacingCalibrationType") or "").strip(),
                             str(v.get("PixelSpacingCalibrationDescription") or "").strip()),
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
        voi_lut_function=str(v.get("VOILUTFunction") or "").strip().upper(),
        geometry_warnings=tuple(warnings),
    )
    kw.update(extra)
    if kw["number_of_frames"] == 1 and kw.get("has_pixel_data"):
        kw.update(mosaic.layout(v, kw) or {})  # a Siemens mosaic: N slices of the tile size
    return InstanceHeader(**kw)  # type: ignore[arg-type]


def read_header(path: str) -> InstanceHeader:
    """Read the header of one file without decoding pixel data.

    Declared sizes are checked against the bytes present before anything is allocated (see
    :mod:`viewer.dicom.sizes`).

    Raises
    ------
    DicomReadError
        With a reason a user can act on: not DICOM, truncated, malformed, sizes that the file
        cannot hold.
    """
    try:
        with sizes.open_regular(path) as f:
            size = os.fstat(f.fileno()).st_size
            buf = f.read(_HEAD_BYTES)
            resume = None
            while True:
                try:
                    parsed = tagparse.parse_header(buf, size, resume)
                    break
                except tagparse.NeedMoreBytes as more:  # goes on where it stopped
                    if len(buf) >= min(size, _MAX_FAST_BYTES):
                        raise tagparse.NeedsFullParser("header larger than limit") from None
                    resume = more.resume
                    chunk = f.read(len(buf))
                    if not chunk:  # cut short since its size was taken: more never comes
                        raise ValueError("truncated while it was read; open the folder "
                                         "again once it is complete") from None
                    buf += chunk
    except tagparse.NotDicom:
        raise DicomReadError(f"{path}: not a DICOM file (no DICM prefix)") from None
    except tagparse.NeedsFullParser:
        return _read_with_pydicom(path)
    except ValueError as exc:
        if "truncated" in str(exc) or "past the end" in str(exc):
            raise DicomReadError(f"{path}: damaged DICOM file ({exc})") from None
        # Something the fast parser does not model (a sequence it cannot skip): pydicom, the
        # reference, may still read the file. Only a read that reaches the pixel data counts
        # (on garbage bytes pydicom guesses on and loses it); else the first reason is clearer.
        try:
            h = _read_with_pydicom(path)
        except DicomReadError:
            h = None
        if h is None or not h.has_pixel_data:
            raise DicomReadError(f"{path}: damaged DICOM file ({exc})") from None
        return h
    except OSError as exc:
        raise DicomReadError(f"{path}: cannot read file ({exc.strerror})") from None
    v = parsed.values
    if not v.get("SOPClassUID") and not parsed.media_sop_class and "Rows" not in v:
        raise DicomReadError(f"{path}: {NOT_AN_IMAGE}")
    has_pixels = parsed.pixel_offset is not None
    encapsulated = has_pixels and parsed.pixel_length is None
    if has_pixels:
        sizes.check_encoding(path, parsed.transfer_syntax, encapsulated)
        sizes.check_sizes(path, **_claimed(v), pixel_length=parsed.pixel_length)
    return _from_values(
        path,
        parsed.transfer_syntax,
        parsed.media_sop_class,
        v,
        has_pixel_data=has_pixels,
        pixel_offset=parsed.pixel_offset if parsed.pixel_length is not None else None,
        pixel_length=parsed.pixel_length,
        encapsulated_offset=parsed.pixel_offset if encapsulated else None,
    )


# Elements were read, so it may well be DICOM: say what is missing rather than "not DICOM".
NOT_AN_IMAGE = ("no SOP Class UID (0008,0016) and no Rows (0028,0010), so not an image; "
                "if it is DICOM, re-export it from the source system")


def _read_with_pydicom(path: str) -> InstanceHeader:
    """The pydicom path (:mod:`viewer.dicom.header_pydicom`), imported when first needed."""
    from viewer.dicom.header_pydicom import read_with_pydicom

    return read_with_pydicom(path)
