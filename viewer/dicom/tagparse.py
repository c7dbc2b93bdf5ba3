"""A minimal DICOM header parser for the fast scan path.

pydicom builds a full ``Dataset`` for every element, which costs about a millisecond per file;
a folder scan only needs some thirty top-level attributes and the offset of Pixel Data
(7FE0,0010). This parser walks the elements of Little Endian files (implicit or explicit VR),
skips sequences without looking inside them, and decodes only the wanted attributes.

It handles the common case and says so when it does not: :func:`parse_header` raises
:class:`NeedsFullParser` for anything it does not model (big endian, deflate, multi-frame
functional groups, LUT sequences, non-image objects whose references live in sequences), and
the caller then falls back to pydicom.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

IMPLICIT_VR_LE = "1.2.840.10008.1.2"
EXPLICIT_VR_LE = "1.2.840.10008.1.2.1"
DEFLATED_EXPLICIT_VR_LE = "1.2.840.10008.1.2.1.99"
EXPLICIT_VR_BE = "1.2.840.10008.1.2.2"

# Explicit-VR elements whose length is 4 bytes after 2 reserved bytes (PS3.5 7.1.2).
_LONG_VRS = frozenset(
    (b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"UC", b"UR", b"UT", b"UN", b"SV", b"UV")
)

# tag -> (keyword, VR). The VR is needed for implicit VR files, where it is not stored.
WANTED: dict[int, tuple[str, str]] = {
    0x00080005: ("SpecificCharacterSet", "CS"),
    0x00080008: ("ImageType", "CS"),
    0x00080016: ("SOPClassUID", "UI"),
    0x00080018: ("SOPInstanceUID", "UI"),
    0x00080020: ("StudyDate", "DA"),
    0x00080030: ("StudyTime", "TM"),
    0x00080032: ("AcquisitionTime", "TM"),
    0x00080033: ("ContentTime", "TM"),
    0x00080050: ("AccessionNumber", "SH"),
    0x00080060: ("Modality", "CS"),
    0x00080070: ("Manufacturer", "LO"),
    0x00081030: ("StudyDescription", "LO"),
    0x0008103E: ("SeriesDescription", "LO"),
    0x00100010: ("PatientName", "PN"),
    0x00100020: ("PatientID", "LO"),
    0x00100030: ("PatientBirthDate", "DA"),
    0x00100040: ("PatientSex", "CS"),
    0x00180015: ("BodyPartExamined", "CS"),
    0x00180024: ("SequenceName", "SH"),
    0x00180050: ("SliceThickness", "DS"),
    0x00180081: ("EchoTime", "DS"),
    0x00180086: ("EchoNumbers", "IS"),
    0x00180088: ("SpacingBetweenSlices", "DS"),
    0x00181060: ("TriggerTime", "DS"),
    0x00189087: ("DiffusionBValue", "FD"),
    0x00189089: ("DiffusionGradientOrientation", "FD"),
    0x00181114: ("EstimatedRadiographicMagnificationFactor", "DS"),
    0x00181120: ("GantryDetectorTilt", "DS"),
    0x00181164: ("ImagerPixelSpacing", "DS"),
    0x00182010: ("NominalScannedPixelSpacing", "DS"),
    0x0020000D: ("StudyInstanceUID", "UI"),
    0x0020000E: ("SeriesInstanceUID", "UI"),
    0x00200010: ("StudyID", "SH"),
    0x00200011: ("SeriesNumber", "IS"),
    0x00200012: ("AcquisitionNumber", "IS"),
    0x00200013: ("InstanceNumber", "IS"),
    0x00200032: ("ImagePositionPatient", "DS"),
    0x00200037: ("ImageOrientationPatient", "DS"),
    0x00200052: ("FrameOfReferenceUID", "UI"),
    0x00200100: ("TemporalPositionIdentifier", "IS"),
    0x00200105: ("NumberOfTemporalPositions", "IS"),
    0x00201041: ("SliceLocation", "DS"),
    0x00280002: ("SamplesPerPixel", "US"),
    0x00280004: ("PhotometricInterpretation", "CS"),
    0x00280006: ("PlanarConfiguration", "US"),
    0x00280008: ("NumberOfFrames", "IS"),
    0x00280010: ("Rows", "US"),
    0x00280011: ("Columns", "US"),
    0x00280030: ("PixelSpacing", "DS"),
    0x00280A02: ("PixelSpacingCalibrationType", "CS"),
    0x00280A04: ("PixelSpacingCalibrationDescription", "LO"),
    0x00280100: ("BitsAllocated", "US"),
    0x00280101: ("BitsStored", "US"),
    0x00280103: ("PixelRepresentation", "US"),
    0x00281050: ("WindowCenter", "DS"),
    0x00281051: ("WindowWidth", "DS"),
    0x00281052: ("RescaleIntercept", "DS"),
    0x00281053: ("RescaleSlope", "DS"),
    0x00281054: ("RescaleType", "LO"),
    0x00281055: ("WindowCenterWidthExplanation", "LO"),
    0x00281056: ("VOILUTFunction", "CS"),
}

# Private diffusion tags at the fixed element numbers dcm2niix reads (see viewer.dicom.diffusion);
# pydicom has no keyword for them, so its path reads them by tag.
PRIVATE_WANTED: dict[int, tuple[str, str]] = {
    0x0019100C: ("SiemensBValue", "IS"),
    0x0019100E: ("SiemensDiffusionGradientDirection", "FD"),
    0x001910BB: ("GEDiffusionX", "DS"),
    0x001910BC: ("GEDiffusionY", "DS"),
    0x001910BD: ("GEDiffusionZ", "DS"),
    0x00431039: ("GESlopInt6to9", "IS"),
    0x20011003: ("PhilipsDiffusionBFactor", "FL"),
    0x200510B0: ("PhilipsDiffusionDirectionRL", "FL"),
    0x200510B1: ("PhilipsDiffusionDirectionAP", "FL"),
    0x200510B2: ("PhilipsDiffusionDirectionFH", "FL"),
    # Siemens mosaics (see viewer.dicom.mosaic): slice count and the CSA Image Header (raw).
    0x0019100A: ("SiemensNumberOfImagesInMosaic", "US"),
    0x00291010: ("SiemensCSAImageHeader", "OB"),
}
WANTED.update(PRIVATE_WANTED)

# Attributes whose meaning lives in nested items or in more than one frame: pydicom reads those.
_NEEDS_FULL = frozenset(
    (
        0x00081115,  # Referenced Series Sequence (SEG, KO, PR)
        0x00186011,  # Sequence of Ultrasound Regions (calibrated regions of US images)
        0x00283000,  # Modality LUT Sequence
        0x00283010,  # VOI LUT Sequence
        0x52009229,  # Shared Functional Groups Sequence
        0x52009230,  # Per-frame Functional Groups Sequence
        0x0040A730,  # Content Sequence (SR)
        0x30060010,  # Referenced Frame of Reference Sequence (RTSTRUCT)
    )
)

PIXEL_DATA = 0x7FE00010
_ITEM = 0xFFFEE000
_ITEM_DELIM = 0xFFFEE00D
_SEQ_DELIM = 0xFFFEE0DD
_UNDEFINED = 0xFFFFFFFF


class NeedsFullParser(Exception):
    """The file is valid-looking DICOM that this parser does not model; use pydicom."""


class NotDicom(Exception):
    """The bytes are not DICOM (no DICM prefix and no recognisable element at the start)."""


class NeedMoreBytes(Exception):
    """The header continues past the end of the buffer.

    ``resume`` (when set) is where the data set's walk stopped: pass it back to
    :func:`parse_header` with the longer buffer (the same bytes at its start) and the walk goes
    on from there instead of from the first element. Headers of 100 KB (Siemens MR) were
    parsed four times over as the buffer doubled from 16 KB.
    """

    def __init__(self, resume: _Resume | None = None):
        super().__init__()
        self.resume = resume


@dataclass(slots=True)
class _Resume:
    """The data set walk's state at the start of an element (see :class:`NeedMoreBytes`)."""

    pos: int
    ts: str
    media_sop_class: str | None
    implicit: bool
    values: dict[str, object]
    charset: str


@dataclass(frozen=True, slots=True)
class ParsedHeader:
    """Wanted attribute values plus where the pixel data sits.

    ``pixel_offset`` is the byte offset of Pixel Data's value in the file; ``pixel_length`` is
    its length in bytes, or ``None`` when the pixel data is encapsulated (undefined length).
    """

    transfer_syntax: str
    media_sop_class: str | None
    values: dict[str, object]
    pixel_offset: int | None
    pixel_length: int | None


_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_TAG = struct.Struct("<HH")


def _decode_text(raw: bytes, charset: str) -> str:
    encoding = "utf-8" if "192" in charset else "latin-1"
    return raw.decode(encoding, errors="replace").strip("\x00 ")


def _decode_value(raw: bytes, vr: str, charset: str) -> object:
    if vr == "OB":  # binary blocks (Siemens CSA header), parsed by their own reader
        return bytes(raw)
    if vr == "US":
        count = len(raw) // 2
        vals = struct.unpack(f"<{count}H", raw[: 2 * count])
        return vals[0] if count == 1 else list(vals)
    if vr in ("FD", "FL"):  # binary floats (diffusion b-value and direction)
        size = 8 if vr == "FD" else 4
        count = len(raw) // size
        if count == 0:
            return None
        vals = struct.unpack(f"<{count}{'d' if size == 8 else 'f'}", raw[: size * count])
        return vals[0] if count == 1 else list(vals)
    text = _decode_text(raw, charset)
    if vr in ("DS", "IS"):
        parts = [p.strip() for p in text.split("\\")]
        nums: list[float | int] = []
        for p in parts:
            try:
                nums.append(int(float(p)) if vr == "IS" else float(p))
            except ValueError:
                continue  # an empty or malformed number ("12,5") is treated as absent
        if not nums:
            return None
        return nums[0] if len(nums) == 1 else nums
    if vr in ("CS", "LO") and "\\" in text:
        return [p.strip() for p in text.split("\\")]
    if vr == "UI":
        return text.rstrip("\x00")
    return text


def _is_vr(b: bytes) -> bool:
    return len(b) == 2 and 65 <= b[0] <= 90 and 65 <= b[1] <= 90


# Character sets decoded here; anything else (Cyrillic, CJK, ISO 2022 escapes) goes to pydicom.
_SIMPLE_CHARSETS = frozenset(("", "ISO_IR 6", "ISO_IR 100", "ISO_IR 192"))


def _find_dataset_start(buf: bytes) -> tuple[int, bool | None]:
    """Offset of the first element, and whether the data set is known to be implicit VR.

    Files without the 128-byte preamble and DICM prefix (old ACR-NEMA style, some PACS
    exports) start directly with an element of group 0002 or 0008.
    """
    if len(buf) >= 132 and buf[128:132] == b"DICM":
        return 132, None
    if len(buf) >= 8:
        group = _U16.unpack_from(buf, 0)[0]
        vr = buf[4:6]
        explicit = len(vr) == 2 and 65 <= vr[0] <= 90 and 65 <= vr[1] <= 90
        if group == 0x0002 and explicit:
            return 0, None
        if group == 0x0008:
            elem = _U16.unpack_from(buf, 2)[0]
            if explicit:
                return 0, False
            length = _U32.unpack_from(buf, 4)[0]
            if elem <= 0x0020 and length < 1024:
                return 0, True
    raise NotDicom("no DICM prefix")


def parse_header(buf: bytes, file_size: int, resume: _Resume | None = None) -> ParsedHeader:
    """Parse the header in ``buf`` (the file's first bytes) up to Pixel Data.

    ``resume``: the state a previous call's :class:`NeedMoreBytes` carried, for the same file
    with more of its bytes in ``buf``.

    Raises
    ------
    NotDicom
        The bytes are not DICOM.
    NeedsFullParser
        Valid DICOM this parser does not model; read it with pydicom instead.
    NeedMoreBytes
        ``buf`` ends inside the header; call again with more of the file.
    ValueError
        The header is malformed (bad VR, lengths past the end of the file).
    """
    if resume is not None:
        return _walk_dataset(buf, file_size, resume)
    pos, implicit_no_meta = _find_dataset_start(buf)
    # File meta group (0002): always explicit VR little endian.
    meta: dict[str, str] = {}
    meta_end: int | None = None  # from the group length (0002,0000), when the file has one
    while True:
        if pos + 8 > len(buf):
            raise NeedMoreBytes
        group, elem = _TAG.unpack_from(buf, pos)
        if group != 0x0002 or (meta_end is not None and pos >= meta_end):
            break  # a stray group-0002 element inside the data set is not File Meta
        vr = buf[pos + 4 : pos + 6]
        if vr in _LONG_VRS:
            length = _U32.unpack_from(buf, pos + 8)[0]
            start = pos + 12
        else:
            length = _U16.unpack_from(buf, pos + 6)[0]
            start = pos + 8
        if start + length > len(buf):
            raise NeedMoreBytes
        if elem == 0x0000 and length == 4:
            meta_end = start + 4 + _U32.unpack_from(buf, start)[0]
        elif elem == 0x0010:  # the first one wins (File Meta before any stray copy)
            meta.setdefault(
                "ts", buf[start : start + length].decode("ascii", "replace").strip("\x00 "))
        elif elem == 0x0002:
            meta.setdefault(
                "sop", buf[start : start + length].decode("ascii", "replace").strip("\x00 "))
        pos = start + length
    default_ts = EXPLICIT_VR_LE if implicit_no_meta is False else IMPLICIT_VR_LE
    ts = meta.get("ts", default_ts)
    if ts in (EXPLICIT_VR_BE, DEFLATED_EXPLICIT_VR_LE):
        raise NeedsFullParser(f"transfer syntax {ts}")
    implicit = ts == IMPLICIT_VR_LE
    if not implicit and pos + 6 <= len(buf) and not _is_vr(buf[pos + 4 : pos + 6]):
        # Some writers encode the data set in implicit VR despite an explicit transfer
        # syntax; like pydicom, trust the bytes (checked on the first element only).
        implicit = True
    return _walk_dataset(buf, file_size, _Resume(pos, ts, meta.get("sop"), implicit, {}, ""))


def _walk_dataset(buf: bytes, file_size: int, state: _Resume) -> ParsedHeader:
    """The data set's elements from ``state.pos`` up to Pixel Data (see :func:`parse_header`).

    Raises :class:`NeedMoreBytes` carrying the walk's state at the start of the element that
    did not fit: ``pos`` moves only once an element is done, so it is that element's start."""
    pos, ts, implicit, values, charset = (state.pos, state.ts, state.implicit, state.values,
                                          state.charset)
    sop = state.media_sop_class
    n = len(buf)
    try:
        while True:
            if pos + 8 > n:
                if pos >= file_size:
                    return ParsedHeader(ts, sop, values, None, None)
                raise NeedMoreBytes
            group, elem = _TAG.unpack_from(buf, pos)
            tag = (group << 16) | elem
            if implicit:
                length = _U32.unpack_from(buf, pos + 4)[0]
                start = pos + 8
                vr_s = WANTED[tag][1] if tag in WANTED else ""
            else:
                vr = buf[pos + 4 : pos + 6]
                if vr in _LONG_VRS:
                    if pos + 12 > n:
                        raise NeedMoreBytes
                    length = _U32.unpack_from(buf, pos + 8)[0]
                    start = pos + 12
                elif len(vr) == 2 and 65 <= vr[0] <= 90 and 65 <= vr[1] <= 90:
                    length = _U16.unpack_from(buf, pos + 6)[0]
                    start = pos + 8
                else:
                    raise ValueError(f"invalid VR {vr!r} in element ({group:04X},{elem:04X})")
                vr_s = vr.decode("ascii")
            if tag == PIXEL_DATA:
                if length == _UNDEFINED:
                    return ParsedHeader(ts, sop, values, start, None)
                if start + length > file_size:
                    raise ValueError(
                        f"pixel data truncated: needs {start + length} bytes, file has {file_size}"
                    )
                return ParsedHeader(ts, sop, values, start, length)
            if tag in _NEEDS_FULL:
                raise NeedsFullParser(f"({group:04X},{elem:04X}) present")
            if length == _UNDEFINED:
                # UN of undefined length holds an implicit VR sequence (PS3.5 6.2.2).
                pos = _skip_undefined(buf, start, implicit or vr_s == "UN")
                continue
            end = start + length
            if end > file_size:
                raise ValueError(f"element ({group:04X},{elem:04X}) runs past the end of the file")
            if tag in WANTED:
                if end > n:
                    raise NeedMoreBytes
                keyword, wanted_vr = WANTED[tag]
                if implicit or vr_s in ("UN",):
                    vr_s = wanted_vr
                value = _decode_value(buf[start:end], vr_s, charset)
                values[keyword] = value
                if keyword == "SpecificCharacterSet":
                    charset = str(value).strip()
                    if charset not in _SIMPLE_CHARSETS:
                        raise NeedsFullParser(f"character set {charset}")
                elif keyword == "NumberOfFrames" and isinstance(value, int) and value > 1:
                    raise NeedsFullParser("multi-frame")
            pos = end
    except NeedMoreBytes:
        raise NeedMoreBytes(_Resume(pos, ts, sop, implicit, values, charset)) from None


def _skip_undefined(buf: bytes, pos: int, implicit: bool) -> int:
    """Skip a sequence of undefined length starting at its first item; return the end."""
    n = len(buf)
    while True:
        if pos + 8 > n:
            raise NeedMoreBytes
        group, elem = _TAG.unpack_from(buf, pos)
        tag = (group << 16) | elem
        length = _U32.unpack_from(buf, pos + 4)[0]
        pos += 8
        if tag == _SEQ_DELIM:
            return pos
        if tag != _ITEM:
            raise ValueError(f"unexpected ({group:04X},{elem:04X}) inside a sequence")
        if length != _UNDEFINED:
            pos += length
            continue
        pos = _skip_item_elements(buf, pos, implicit)


def _skip_item_elements(buf: bytes, pos: int, implicit: bool) -> int:
    """Skip the elements of an item of undefined length; return the position after it."""
    n = len(buf)
    while True:
        if pos + 8 > n:
            raise NeedMoreBytes
        group, elem = _TAG.unpack_from(buf, pos)
        tag = (group << 16) | elem
        if tag == _ITEM_DELIM:
            return pos + 8
        nested_implicit = False
        if implicit:
            length = _U32.unpack_from(buf, pos + 4)[0]
            start = pos + 8
        else:
            vr = buf[pos + 4 : pos + 6]
            nested_implicit = vr == b"UN"
            if vr in _LONG_VRS:
                if pos + 12 > n:
                    raise NeedMoreBytes
                length = _U32.unpack_from(buf, pos + 8)[0]
                start = pos + 12
            else:
                length = _U16.unpack_from(buf, pos + 6)[0]
                start = pos + 8
        if length == _UNDEFINED:
            pos = _skip_undefined(buf, start, implicit or nested_implicit)
        else:
            pos = start + length
