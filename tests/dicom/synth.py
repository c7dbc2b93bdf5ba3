"""Synthetic DICOM files for tests (test helper; this module contains no tests).

Everything here writes real DICOM Part 10 files with pydicom 3 into a folder the caller
chooses (normally pytest's ``tmp_path``). The output is deterministic: the same arguments
and ``seed`` always give the same bytes, UIDs and file names.

Two entry points:

``write_series(folder, ...)``
    One series of single-frame CT or MR images with fully controlled geometry. It is built
    to trip readers that take shortcuts:

    * file names are random hex, so file-name order is not slice order;
    * ``InstanceNumber`` is a scrambled permutation, so sorting by it is wrong too;
    * ``SliceThickness`` is deliberately wrong (half the real spacing), so the spacing
      must come from ``ImagePositionPatient`` projected on the slice normal;
    * ``PixelSpacing`` is anisotropic by default (0.8 between rows, 0.7 between columns),
      so swapping its two values is visible;
    * slices can be missing (``skip``), the stack can be sheared (CT gantry ``tilt_deg``),
      several echoes can share the positions (``echo_numbers``);
    * the default pixel values encode the slice index and echo, so a test can check
      the order a reader produced from the pixels alone (see ``default_pixels``).

``write_broken_files(folder)``
    Files that a folder scan meets in the wild: truncated files, files without the
    Part 10 header, a garbage VR, a lying transfer syntax, non-DICOM files.
    The docstring lists, per file, what pydicom 3.0 does with it and what a reader
    should do.

Geometry conventions (DICOM patient coordinates, millimetres):

* ``ImageOrientationPatient`` = row direction (direction in which the column index
  grows, along a row) followed by the column direction (direction in which the row index
  grows), each normalised and rounded to 6 decimals as written.
* the slice normal is ``cross(row_dir, col_dir)`` of the written (rounded) vectors,
  normalised.
* slice ``k`` (0-based) sits at ``origin + k * spacing * normal``; with a gantry tilt it
  is additionally shifted by ``k * spacing * tan(tilt_deg)`` along ``col_dir``.
  Positions are rounded to 6 decimals (1 um) before being written, so slice-to-slice
  distances computed from them are exact to about 2e-6 mm, not to machine precision.
* ``PixelSpacing`` = ``[spacing between rows, spacing between columns]`` =
  ``pixel_spacing`` as given.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset, write_file_meta_info
from pydicom.uid import (
    UID,
    CTImageStorage,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    MRImageStorage,
    generate_uid,
)
from pydicom.valuerep import format_number_as_ds

__all__ = [
    "JPEG_BASELINE",
    "SynthSeries",
    "default_pixels",
    "write_broken_files",
    "write_series",
]

Vec3 = tuple[float, float, float]
PixelFn = Callable[[int, int, int, int], np.ndarray]

#: Transfer syntax UID that ``write_broken_files`` puts in the "wrong_transfer_syntax" file.
JPEG_BASELINE = UID("1.2.840.10008.1.2.4.50")

_SOP_CLASS_BY_MODALITY = {"CT": CTImageStorage, "MR": MRImageStorage}
_IMPLEMENTATION_VERSION = "RADVIEWER_SYNTH"
_ENTROPY_TAG = "radviewer-tests-synth"
_STUDY_DATE = "20240115"
_STUDY_TIME = "101500"


@dataclass(frozen=True)
class SynthSeries:
    """What ``write_series`` wrote.

    ``files`` is in canonical order, echo-major then slice: ``files[e * len(slice_indices)
    + i]`` is echo ``echo_numbers[e]`` (echo index ``e``) of slice ``slice_indices[i]``.
    This is *not* the order of the names on disk (they are random hex by default).
    ``instance_numbers`` and ``sop_instance_uids`` are parallel to ``files``.
    ``positions[i]`` is the ``ImagePositionPatient`` of slice ``slice_indices[i]``, exactly
    as written (floats parsed back from the DS strings), shared by all echoes.
    """

    folder: Path
    files: list[Path]
    series_uid: str
    study_uid: str
    positions: list[Vec3]
    normal: Vec3
    slice_indices: list[int]
    echo_numbers: tuple[int | None, ...]
    instance_numbers: list[int]
    sop_instance_uids: list[str]
    frame_of_reference_uid: str
    orientation: tuple[float, float, float, float, float, float]


def default_pixels(k: int, echo_index: int, rows: int, cols: int) -> np.ndarray:
    """Default int16 pixel pattern of slice ``k`` / echo ``echo_index`` (stored values).

    ``base = 100 * k + 10 * echo_index``; pixel ``[r, c] = base + (3 * r + c) % 10``, so the
    first pixel ``[0, 0]`` is exactly ``base`` and every pixel decodes as
    ``k = v // 100``, ``echo_index = (v % 100) // 10``. The pattern differs along rows
    and columns, so transposes and flips change the image. One exception: the last pixel
    ``[rows - 1, cols - 1]`` (when the image has more than one pixel) is ``-(base + 1)``,
    a negative value that a reader ignoring ``PixelRepresentation = 1`` gets wrong.
    Requires ``echo_index < 10`` and ``base + 9 <= 32767``.
    """
    base = 100 * k + 10 * echo_index
    if not 0 <= echo_index < 10:
        raise ValueError(f"default pattern supports echo_index 0..9, got {echo_index}")
    if k < 0 or base + 9 > np.iinfo(np.int16).max:
        raise ValueError(f"default pattern cannot encode slice {k} in int16; pass pixel_fn")
    r = np.arange(rows, dtype=np.int32)[:, None]
    c = np.arange(cols, dtype=np.int32)[None, :]
    arr = (base + (3 * r + c) % 10).astype(np.int16)
    if rows * cols > 1:
        arr[rows - 1, cols - 1] = -(base + 1)
    return arr


def write_series(
    folder: Path,
    *,
    n_slices: int = 10,
    rows: int = 32,
    cols: int = 24,
    pixel_spacing: tuple[float, float] = (0.8, 0.7),
    spacing: float = 2.5,
    row_dir: Sequence[float] = (1, 0, 0),
    col_dir: Sequence[float] = (0, 1, 0),
    origin: Sequence[float] = (-10.0, -20.0, 30.0),
    tilt_deg: float = 0.0,
    modality: str = "CT",
    skip: Iterable[int] = (),
    echo_numbers: Sequence[int | None] = (None,),
    shuffle_names: bool = True,
    seed: int = 0,
    series_uid: str | None = None,
    study_uid: str | None = None,
    patient_id: str = "SYNTH001",
    patient_name: str = "Synth^Patient",
    transfer_syntax: str = ExplicitVRLittleEndian,
    rescale: tuple[float, float] | None = (1.0, -1024.0),
    window: tuple[str, str] | None = ("40", "400"),
    pixel_fn: PixelFn | None = None,
    extension: str = "",
    extra: Mapping[str, object] | None = None,
) -> SynthSeries:
    """Write one series of single-frame images into ``folder`` (created if missing).

    One file per slice ``k`` in ``range(n_slices)`` not in ``skip`` (skipped slices model
    missing files; positions of the others are unchanged), and per echo: every entry of
    ``echo_numbers`` gets a full set of slices at the same positions. ``None`` as an echo
    number means "no EchoNumbers/EchoTime elements"; an int ``n`` writes
    ``EchoNumbers = n`` and ``EchoTime = 10 * n`` ms.

    Geometry: see the module docstring. ``row_dir``/``col_dir`` need not be unit vectors
    but must be orthogonal (``ValueError`` otherwise). ``spacing`` may be negative (the
    stack then runs against the normal). ``tilt_deg`` shears the stack along ``col_dir``
    and sets ``GantryDetectorTilt`` (CT always gets ``GantryDetectorTilt``). ``SliceLocation``
    is the position projected on the normal (correct); ``SliceThickness`` is
    ``abs(spacing) / 2`` (deliberately wrong).

    Pixels: ``pixel_fn(k, echo_index, rows, cols)`` returns the stored values (shape
    ``(rows, cols)``), else ``default_pixels`` is used. ``int16`` is written as signed
    16 bit (``PixelRepresentation = 1``), ``uint16`` as unsigned 16 bit, ``uint8`` as
    8 bit; other dtypes are converted to int16 if their values are integers in range.
    Always ``MONOCHROME2``. ``rescale = (slope, intercept)`` and ``window = (center,
    width)`` are written verbatim (``None`` omits them); window values are DS strings
    and may be multi-valued (``"40\\\\400"``) or zero-padded (``"-0450"``).

    ``transfer_syntax``: Explicit/Implicit VR Little Endian, Explicit VR Big Endian
    (pixels byte-swapped accordingly), Deflated Explicit VR Little Endian, or any
    syntax pydicom 3 can encode with the installed plugins (RLE Lossless natively,
    JPEG-LS with pyjpegls, JPEG 2000 with pylibjpeg-openjpeg; JPEG 2000 needs rows and
    cols >= 32). Lossy syntaxes change the pixel values.

    Names: random hex (``shuffle_names``), assigned so that name order is not slice
    order; otherwise ``IM0003`` (one echo) or ``IM0003_E1`` (echo index 1): sorted names
    then interleave the echoes. ``extension`` (e.g. ``".dcm"``) is appended. An existing
    file is never overwritten (``FileExistsError``): two series in one folder need
    different seeds, parameters or UIDs.

    UIDs: deterministic. The default study UID depends on ``seed`` and ``patient_id``
    only, so series written with the same seed and patient share a study; the default
    series UID depends on ``seed`` and on all other arguments except ``folder``;
    FrameOfReferenceUID is shared by the study. ``SeriesNumber`` is ``seed % 10000 + 1``.

    ``InstanceNumber`` is a seeded permutation of ``1..len(files)`` that, within each
    echo, is neither ascending nor descending in slice order (given at least 3 slices;
    with 2 it is descending).

    ``extra`` maps DICOM keywords to values set on every dataset after everything else;
    a value of ``None`` deletes the element (e.g. ``{"SliceLocation": None}``).
    """
    folder = Path(folder)
    modality = modality.upper()
    if modality not in _SOP_CLASS_BY_MODALITY:
        raise ValueError(f"modality must be one of {sorted(_SOP_CLASS_BY_MODALITY)}")
    tsyntax = UID(transfer_syntax)
    if not tsyntax.is_transfer_syntax:
        raise ValueError(f"{transfer_syntax!r} is not a known transfer syntax")
    if rows < 1 or cols < 1:
        raise ValueError("rows and cols must be >= 1")
    echoes = tuple(echo_numbers)
    if not echoes:
        raise ValueError("echo_numbers must not be empty")
    if len(set(echoes)) != len(echoes):
        raise ValueError(f"duplicate echo numbers in {echoes}")
    skipped = set(skip)
    slice_indices = [k for k in range(n_slices) if k not in skipped]
    if not slice_indices:
        raise ValueError("no slices left to write")

    row = _round_unit(row_dir, "row_dir")
    col = _round_unit(col_dir, "col_dir")
    if abs(float(np.dot(row, col))) > 1e-4:
        raise ValueError(f"row_dir {tuple(row_dir)} and col_dir {tuple(col_dir)} not orthogonal")
    normal_arr = np.cross(row, col)
    normal_arr /= np.linalg.norm(normal_arr)
    normal = _vec3(normal_arr)
    origin_arr = np.asarray(origin, dtype=float)
    if origin_arr.shape != (3,):
        raise ValueError("origin must have 3 components")
    shear = math.tan(math.radians(tilt_deg))
    step = spacing * (normal_arr + shear * col)

    # Positions exactly as written: rounded to 1 um, then DS-formatted.
    ipp_strings = [[_ds(v, 6) for v in origin_arr + k * step] for k in slice_indices]
    positions = [_vec3(float(s) for s in ipp) for ipp in ipp_strings]

    pixel_fn_name = getattr(pixel_fn, "__qualname__", repr(pixel_fn)) if pixel_fn else None
    if study_uid is None:
        study_uid = generate_uid(entropy_srcs=[_ENTROPY_TAG, "study", str(seed), patient_id])
    if series_uid is None:
        params = (
            n_slices, rows, cols, tuple(pixel_spacing), spacing, tuple(row_dir), tuple(col_dir),
            tuple(origin), tilt_deg, modality, sorted(skipped), echoes, shuffle_names,
            patient_id, patient_name, str(tsyntax), rescale, window, pixel_fn_name,
            extension, sorted((extra or {}).items(), key=lambda kv: kv[0]),
        )  # fmt: skip
        series_uid = generate_uid(entropy_srcs=[_ENTROPY_TAG, "series", str(seed), repr(params)])
    for_uid = generate_uid(entropy_srcs=[_ENTROPY_TAG, "frame-of-reference", study_uid])

    rng = np.random.default_rng(seed)
    n_per_echo = len(slice_indices)
    n_files = n_per_echo * len(echoes)
    instance_numbers = _scrambled_instance_numbers(n_files, n_per_echo, rng)

    # (echo_index, i) pairs in canonical (echo-major) order.
    slots = [(e, i) for e in range(len(echoes)) for i in range(n_per_echo)]
    sop_uids = [
        generate_uid(
            entropy_srcs=[_ENTROPY_TAG, "sop", series_uid, str(seed), str(e), str(slice_indices[i])]
        )
        for e, i in slots
    ]
    names = _file_names(slots, slice_indices, echoes, sop_uids, shuffle_names, rng)
    files = [folder / f"{name}{extension}" for name in names]

    sop_class = _SOP_CLASS_BY_MODALITY[modality]
    orientation = (*_vec3(row), *_vec3(col))
    folder.mkdir(parents=True, exist_ok=True)
    for j, (e, i) in enumerate(slots):
        k = slice_indices[i]
        arr = pixel_fn(k, e, rows, cols) if pixel_fn else default_pixels(k, e, rows, cols)
        ds = _base_dataset(
            sop_class=sop_class,
            sop_uid=sop_uids[j],
            study_uid=study_uid,
            series_uid=series_uid,
            patient_id=patient_id,
            patient_name=patient_name,
            modality=modality,
        )
        ds.FrameOfReferenceUID = for_uid
        ds.PositionReferenceIndicator = ""
        ds.SeriesNumber = seed % 10000 + 1
        ds.SeriesDescription = f"Synth {modality} {n_per_echo} slices {spacing:g} mm"[:64]
        ds.AcquisitionNumber = 1
        ds.InstanceNumber = instance_numbers[j]
        ds.ImagePositionPatient = ipp_strings[i]
        ds.ImageOrientationPatient = [_ds(v, 6) for v in orientation]
        ds.PixelSpacing = [_ds(v) for v in pixel_spacing]
        ds.SliceThickness = _ds(abs(spacing) * 0.5)  # deliberately wrong
        ds.SliceLocation = _ds(float(np.dot(positions[i], normal_arr)), 6)
        if modality == "CT" or tilt_deg != 0:
            ds.GantryDetectorTilt = _ds(tilt_deg)
        if modality == "CT":
            ds.KVP = "120"
        else:
            ds.ScanningSequence = "SE"
            ds.SequenceVariant = "NONE"
            ds.ScanOptions = ""
            ds.MRAcquisitionType = "2D"
            ds.RepetitionTime = "500"
            ds.MagneticFieldStrength = "1.5"
        echo = echoes[e]
        if echo is not None:
            ds.EchoNumbers = echo
            ds.EchoTime = _ds(10.0 * echo)
        if rescale is not None:
            ds.RescaleSlope = _ds(rescale[0])
            ds.RescaleIntercept = _ds(rescale[1])
            if modality == "CT":
                ds.RescaleType = "HU"
        if window is not None:
            ds.WindowCenter = window[0]
            ds.WindowWidth = window[1]
        _set_pixels(ds, _as_pixel_array(arr, rows, cols), tsyntax)
        for keyword, value in (extra or {}).items():
            if value is None:
                if keyword in ds:
                    delattr(ds, keyword)
            else:
                setattr(ds, keyword, value)
        buffer = DicomBytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        _write_new(files[j], buffer.getvalue())

    return SynthSeries(
        folder=folder,
        files=files,
        series_uid=str(series_uid),
        study_uid=str(study_uid),
        positions=positions,
        normal=normal,
        slice_indices=slice_indices,
        echo_numbers=echoes,
        instance_numbers=instance_numbers,
        sop_instance_uids=[str(u) for u in sop_uids],
        frame_of_reference_uid=str(for_uid),
        orientation=orientation,
    )


def write_broken_files(folder: Path) -> dict[str, Path]:
    """Write one file per kind of breakage into ``folder``; return name -> path.

    Every DICOM-like file is a 16x16 CT image in its own series (patient ``SYNTHBROKEN``),
    so none of them can be confused with a series from ``write_series``. All but
    ``text`` end in ``.dcm``, so a reader cannot skip them by extension.
    Behaviour listed is pydicom 3.0's with default settings; "a reader should" is what a
    robust viewer does (never crash, never hang, report the file, carry on).

    ``"truncated"`` (``truncated.dcm``)
        Valid file cut in the middle of its Pixel Data value. ``dcmread`` succeeds
        *silently* (no warning, PixelData is simply short); ``pixel_array`` raises
        ``ValueError`` ("number of bytes of pixel data is less than expected"). A header
        scan with ``stop_before_pixels`` cannot tell. A reader should report the slice as
        unreadable when the pixels are needed (or check the length up front).
    ``"truncated_header"`` (``truncated_header.dcm``)
        File meta intact, data set cut in the middle of the PatientName value.
        ``dcmread`` succeeds *silently* and returns only the elements before the cut (no
        SeriesInstanceUID, Rows, PixelData...). A reader should skip it as "not an image".
    ``"no_preamble"`` (``no_preamble.dcm``)
        A complete, valid data set written the pre-Part-10 way: Implicit VR Little Endian,
        no preamble, no "DICM", no file meta at all. ``dcmread`` raises
        ``InvalidDicomError``; ``dcmread(force=True)`` reads every element, but
        ``pixel_array`` then raises ``AttributeError`` (no TransferSyntaxUID) until the
        reader sets ``ds.file_meta.TransferSyntaxUID`` (Implicit VR Little Endian, as
        pydicom's guess in ``ds.original_encoding`` says). This one is readable: a good
        viewer should load it as a one-image series.
    ``"no_pixel_data"`` (``no_pixel_data.dcm``)
        CT Image Storage with Rows/Columns/bits but no PixelData. ``dcmread`` succeeds;
        ``pixel_array`` raises ``AttributeError``. A reader should skip it as not an image.
    ``"bad_vr"`` (``bad_vr.dcm``)
        Explicit VR file whose SeriesDescription (0008,103E) VR bytes are ``b"ZZ"``
        (the length field is untouched, so parsing stays in step). ``dcmread`` succeeds
        (elements are decoded lazily) and ``pixel_array`` works, but accessing that element
        (``ds.SeriesDescription``, ``ds.get(...)``, ``str(ds)``, iterating) raises
        ``NotImplementedError`` ("Unknown Value Representation 'ZZ'"). A reader should
        not crash: skip the file with an error, or better ignore the one bad element.
    ``"wrong_transfer_syntax"`` (``wrong_transfer_syntax.dcm``)
        File meta says JPEG Baseline (``JPEG_BASELINE``) but the data set holds native
        (not encapsulated) pixels. ``dcmread`` succeeds; ``pixel_array`` warns
        (``UserWarning``) and raises ``ValueError`` (no Basic Offset Table item).
        A reader should report the slice as undecodable.
    ``"text"`` (``README.txt``)
        Plain text. ``dcmread`` raises ``InvalidDicomError``; with ``force=True`` it
        returns a garbage dataset. A reader should ignore it.
    ``"empty"`` (``empty.dcm``)
        0 bytes. ``dcmread`` raises ``InvalidDicomError``; with ``force=True`` it returns
        an *empty* Dataset. A reader should ignore it.
    ``"random"`` (``random.dcm``)
        4096 seeded random bytes (never "DICM" at offset 128). ``dcmread`` raises
        ``InvalidDicomError``; with ``force=True`` the result is unspecified (garbage
        dataset or an exception). A reader should ignore it.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        "truncated": folder / "truncated.dcm",
        "truncated_header": folder / "truncated_header.dcm",
        "no_preamble": folder / "no_preamble.dcm",
        "no_pixel_data": folder / "no_pixel_data.dcm",
        "bad_vr": folder / "bad_vr.dcm",
        "wrong_transfer_syntax": folder / "wrong_transfer_syntax.dcm",
        "text": folder / "README.txt",
        "empty": folder / "empty.dcm",
        "random": folder / "random.dcm",
    }

    # truncated: cut halfway through the Pixel Data value.
    data = _encode(_broken_dataset("truncated"))
    value_start = _find_after_meta(data, b"\xe0\x7f\x10\x00OW\x00\x00") + 12
    pixel_length = int.from_bytes(data[value_start - 4 : value_start], "little")
    _write_new(paths["truncated"], data[: value_start + pixel_length // 2])

    # truncated_header: cut in the middle of the PatientName value.
    data = _encode(_broken_dataset("truncated_header"))
    value_start = _find_after_meta(data, b"\x10\x00\x10\x00PN") + 8
    name_length = int.from_bytes(data[value_start - 2 : value_start], "little")
    _write_new(paths["truncated_header"], data[: value_start + name_length // 2])

    # no_preamble: bare Implicit VR Little Endian data set, no preamble, no file meta.
    ds = _broken_dataset("no_preamble")
    del ds.file_meta
    _write_new(paths["no_preamble"], _encode(ds, implicit=True, part10=False))

    ds = _broken_dataset("no_pixel_data")
    del ds.PixelData
    _write_new(paths["no_pixel_data"], _encode(ds))

    data = bytearray(_encode(_broken_dataset("bad_vr")))
    vr_at = _find_after_meta(data, b"\x08\x00\x3e\x10LO") + 4
    data[vr_at : vr_at + 2] = b"ZZ"
    _write_new(paths["bad_vr"], bytes(data))

    ds = _broken_dataset("wrong_transfer_syntax")
    _write_new(paths["wrong_transfer_syntax"], _encode(ds, meta_transfer_syntax=JPEG_BASELINE))

    text = (
        "This folder holds synthetic DICOM test files written by tests/dicom/synth.py.\n"
        "This README is not DICOM and must be ignored by the viewer.\n"
    )
    _write_new(paths["text"], text.encode("ascii"))
    _write_new(paths["empty"], b"")
    random_bytes = bytearray(np.random.default_rng(20240115).bytes(4096))
    if random_bytes[128:132] == b"DICM":  # pragma: no cover - astronomically unlikely
        random_bytes[128] ^= 0xFF
    _write_new(paths["random"], bytes(random_bytes))
    return paths


# --------------------------------------------------------------------------- internals


def _ds(value: float, decimals: int | None = None) -> str:
    """Format a number as a valid DS string (<= 16 chars), optionally rounded first."""
    value = float(value)
    if decimals is not None:
        value = round(value, decimals)
    return format_number_as_ds(value + 0.0)  # + 0.0 turns -0.0 into 0.0


def _vec3(values: Iterable[float]) -> Vec3:
    x, y, z = (float(v) for v in values)
    return (x, y, z)


def _round_unit(vector: Sequence[float], name: str) -> np.ndarray:
    arr = np.asarray(vector, dtype=float)
    norm = float(np.linalg.norm(arr)) if arr.shape == (3,) else 0.0
    if norm == 0.0 or not math.isfinite(norm):
        raise ValueError(f"{name} must be a non-zero 3-vector, got {tuple(vector)}")
    return np.round(arr / norm, 6) + 0.0


def _scrambled_instance_numbers(
    n_files: int, n_per_echo: int, rng: np.random.Generator
) -> list[int]:
    """Permutation of 1..n_files, per echo block neither ascending nor descending."""

    def monotone(block: list[int]) -> bool:
        pairs = list(zip(block, block[1:], strict=False))
        return all(a < b for a, b in pairs) or all(a > b for a, b in pairs)

    def ok(numbers: list[int]) -> bool:
        blocks = [numbers[s : s + n_per_echo] for s in range(0, n_files, n_per_echo)]
        if n_per_echo >= 3:
            return not any(monotone(b) for b in blocks)
        return n_per_echo < 2 or all(b[0] > b[1] for b in blocks)

    for _ in range(1000):
        numbers = [int(v) + 1 for v in rng.permutation(n_files)]
        if ok(numbers):
            return numbers
    return list(range(n_files, 0, -1))  # pragma: no cover - fallback, descending


def _file_names(
    slots: list[tuple[int, int]],
    slice_indices: list[int],
    echoes: tuple[int | None, ...],
    sop_uids: list[UID],
    shuffle_names: bool,
    rng: np.random.Generator,
) -> list[str]:
    if not shuffle_names:
        if len(echoes) == 1:
            return [f"IM{slice_indices[i]:04d}" for _, i in slots]
        return [f"IM{slice_indices[i]:04d}_E{e}" for e, i in slots]
    # Unique per SOP instance (so two series never collide), then handed out so that the
    # sorted name order is a scrambled slice order.
    pool = sorted(hashlib.sha256(str(uid).encode()).hexdigest()[:32] for uid in sop_uids)
    if len(pool) >= 2:
        while True:
            order = [int(v) for v in rng.permutation(len(pool))]
            if order != sorted(order):
                break
        pool = [pool[v] for v in order]
    return pool


def _as_pixel_array(arr: np.ndarray, rows: int, cols: int) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.shape != (rows, cols):
        raise ValueError(f"pixel_fn returned shape {arr.shape}, expected {(rows, cols)}")
    if arr.dtype in (np.int16, np.uint16, np.uint8):
        return np.ascontiguousarray(arr)
    info = np.iinfo(np.int16)
    converted = arr.astype(np.int16)
    if (
        arr.dtype.kind not in "iuf"
        or arr.min() < info.min
        or arr.max() > info.max
        or not np.array_equal(converted, arr)
    ):
        raise ValueError(f"pixel values of dtype {arr.dtype} do not fit int16")
    return converted


def _set_pixels(ds: Dataset, arr: np.ndarray, tsyntax: UID) -> None:
    bits = arr.dtype.itemsize * 8
    ds.Rows, ds.Columns = arr.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = bits
    ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 1 if arr.dtype.kind == "i" else 0
    if tsyntax.is_compressed:
        ds.PixelData = arr.tobytes()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.compress(tsyntax, arr, generate_instance_uid=False)
        return
    ds.file_meta.TransferSyntaxUID = tsyntax
    if tsyntax == ExplicitVRBigEndian:
        arr = arr.astype(arr.dtype.newbyteorder(">"))
    ds.PixelData = arr.tobytes()


def _base_dataset(
    *,
    sop_class: UID,
    sop_uid: UID,
    study_uid: str,
    series_uid: str,
    patient_id: str,
    patient_name: str,
    modality: str,
) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationVersionName = _IMPLEMENTATION_VERSION

    ds = Dataset()
    ds.file_meta = meta
    ds.preamble = b"\x00" * 128
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = _STUDY_DATE
    ds.StudyTime = ds.SeriesTime = ds.AcquisitionTime = ds.ContentTime = _STUDY_TIME
    ds.AccessionNumber = ""
    ds.Modality = modality
    ds.Manufacturer = "radviewer synthetic"
    ds.ReferringPhysicianName = ""
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    ds.PatientBirthDate = ""
    ds.PatientSex = "O"
    ds.PatientPosition = "HFS"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.StudyID = "1"
    return ds


def _broken_dataset(name: str) -> Dataset:
    """A valid 16x16 CT slice, alone in its own series, used as raw material."""
    study_uid = generate_uid(entropy_srcs=[_ENTROPY_TAG, "broken-study"])
    ds = _base_dataset(
        sop_class=CTImageStorage,
        sop_uid=generate_uid(entropy_srcs=[_ENTROPY_TAG, "broken-sop", name]),
        study_uid=study_uid,
        series_uid=generate_uid(entropy_srcs=[_ENTROPY_TAG, "broken-series", name]),
        patient_id="SYNTHBROKEN",
        patient_name=f"Broken^{name}",
        modality="CT",
    )
    ds.SeriesDescription = f"broken: {name}"
    ds.SeriesNumber = 900
    ds.InstanceNumber = 1
    ds.FrameOfReferenceUID = generate_uid(entropy_srcs=[_ENTROPY_TAG, "broken-for", study_uid])
    ds.ImagePositionPatient = ["0.0", "0.0", "0.0"]
    ds.ImageOrientationPatient = ["1.0", "0.0", "0.0", "0.0", "1.0", "0.0"]
    ds.PixelSpacing = ["0.5", "0.5"]
    ds.SliceThickness = "1.0"
    ds.RescaleSlope = "1.0"
    ds.RescaleIntercept = "-1024.0"
    ds.WindowCenter = "40"
    ds.WindowWidth = "400"
    _set_pixels(ds, default_pixels(0, 0, 16, 16), ExplicitVRLittleEndian)
    return ds


def _encode(
    ds: Dataset,
    *,
    implicit: bool = False,
    part10: bool = True,
    meta_transfer_syntax: UID | None = None,
) -> bytes:
    """Encode by hand (Little Endian), so file meta and data set encoding can disagree."""
    fp = DicomBytesIO()
    fp.is_little_endian = True
    if part10:
        meta = FileMetaDataset(ds.file_meta)
        meta.TransferSyntaxUID = meta_transfer_syntax or (
            ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
        )
        fp.write(b"\x00" * 128 + b"DICM")
        fp.is_implicit_VR = False
        write_file_meta_info(fp, meta, enforce_standard=True)
    body = Dataset()
    body.update(ds)  # the data set without file_meta / preamble
    fp.is_implicit_VR = implicit
    write_dataset(fp, body)
    return fp.getvalue()


def _find_after_meta(data: bytes | bytearray, pattern: bytes) -> int:
    """Offset of ``pattern`` in the data set part (after preamble and file meta)."""
    start = 132 + 12 + int.from_bytes(data[140:144], "little") if data[128:132] == b"DICM" else 0
    index = data.find(pattern, start)
    if index < 0:
        raise AssertionError(f"pattern {pattern!r} not found")  # pragma: no cover
    return index


def _write_new(path: Path, data: bytes) -> None:
    """Create ``path`` with ``data``; refuse to overwrite an existing file."""
    with open(path, "xb") as f:
        f.write(data)
