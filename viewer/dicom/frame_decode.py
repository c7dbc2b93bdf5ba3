"""Decoding one frame of one file into its stored values (no caching, no worker processes).

Returns ``(rows, columns)`` in the stored integer type (``int16``, ``uint16``, ...), or
``(rows, columns, 3)`` uint8 RGB for colour (YBR converted, palettes applied). Native
little-endian pixel data is read straight from its byte offset; Bits Allocated 12 is unpacked
here; compressed data is decoded by pydicom with the plugin chosen per transfer syntax
(:mod:`viewer.dicom.codecs`), with GDCM's own reader as a last resort; monochrome JPEG-LS,
JPEG 2000 and RLE go straight to CharLS, openjpeg and pylibjpeg-rle, our first choices for
them (the values pydicom gives, ~1 ms a frame less, and no pydicom import in the decoder
processes). Siemens mosaics are cut by :mod:`viewer.dicom.mosaic`, and codestreams are checked
against the header first (:mod:`viewer.dicom.codestream`). The native decoders can abort the
process that runs them: the app decodes compressed data only through
:mod:`viewer.dicom.isolated`.
"""

from __future__ import annotations

import importlib

import numpy as np

from viewer.dicom import codecs, codestream, lazy, messages
from viewer.dicom.header import InstanceHeader
from viewer.errors import DicomReadError, MissingCodecError


def stored_dtype(h: InstanceHeader) -> np.dtype:
    """The numpy dtype of stored values: by Bits Allocated and Pixel Representation."""
    if h.samples_per_pixel > 1 or h.photometric == "PALETTE COLOR":
        return np.dtype(np.uint8) if h.bits_allocated <= 8 else np.dtype("<u2")
    bits = 8 if h.bits_allocated <= 8 else 16 if h.bits_allocated <= 16 else 32
    kind = "i" if h.pixel_representation == 1 else "u"
    return np.dtype(f"<{kind}{bits // 8}")


def frame_shape(h: InstanceHeader) -> tuple[int, ...]:
    """(rows, columns), or (rows, columns, 3) for colour images (shown as RGB)."""
    if h.samples_per_pixel > 1 or h.photometric == "PALETTE COLOR":
        return (h.rows, h.columns, 3)
    return (h.rows, h.columns)


def _native_fast(h: InstanceHeader) -> bool:
    return (
        h.is_native
        and h.transfer_syntax in codecs.NATIVE_SYNTAXES
        and h.transfer_syntax != codecs.EXPLICIT_VR_BE
        and h.samples_per_pixel == 1
        and h.photometric in ("MONOCHROME1", "MONOCHROME2")
        and h.bits_allocated in (8, 16, 32)
        and h.mosaic is None  # frames of a mosaic are tiles, not consecutive bytes
    )


def _fix_sign(arr: np.ndarray, h: InstanceHeader) -> np.ndarray:
    """Keep only Bits Stored: sign-extend signed values, clear unused high bits of unsigned
    ones (older files keep overlays there)."""
    if h.bits_stored < h.bits_allocated and arr.dtype.kind in "iu":
        if h.pixel_representation == 1:
            shift = arr.dtype.itemsize * 8 - h.bits_stored
            np.left_shift(arr, shift, out=arr)
            np.right_shift(arr, shift, out=arr)
        else:
            np.bitwise_and(arr, (1 << h.bits_stored) - 1, out=arr)
    return arr


def read_native_into(h: InstanceHeader, frame: int, out: np.ndarray) -> None:
    """Read native frame ``frame`` of ``h`` straight into ``out`` (shape and dtype must match)."""
    nbytes = out.nbytes
    try:
        with open(h.path, "rb", buffering=0) as f:
            f.seek(h.pixel_offset + frame * nbytes)
            got = f.readinto(memoryview(out).cast("B"))
    except OSError as exc:
        raise DicomReadError(f"{h.path}: cannot read pixel data ({exc.strerror})") from None
    if got != nbytes:
        raise DicomReadError(f"{h.path}: pixel data truncated (frame {frame + 1})")
    _fix_sign(out, h)


def _packed12(h: InstanceHeader) -> bool:
    return (h.bits_allocated == 12 and h.is_native and h.samples_per_pixel == 1
            and h.pixel_offset is not None and h.transfer_syntax != codecs.EXPLICIT_VR_BE)


def read_packed12(h: InstanceHeader, frame: int) -> np.ndarray:
    """Frame ``frame`` of Bits Allocated 12 pixel data (ACR-NEMA packing, as GDCM and DCMTK
    read it): two pixels in three bytes, p0 = b0 | (b1 & 0x0F) << 8, p1 = b1 >> 4 | b2 << 4.
    Returns ``(rows, columns)`` uint16 (int16 when signed)."""
    n = h.rows * h.columns
    start_bit = frame * n * 12
    first = start_bit // 8
    count = (n + 1) // 2 * 3
    try:
        with open(h.path, "rb") as f:
            f.seek(h.pixel_offset + first)
            raw = f.read(count + 2)
    except OSError as exc:
        raise DicomReadError(f"{h.path}: cannot read pixel data ({exc.strerror})") from None
    if start_bit % 8:  # an odd pixel count: this frame starts mid-byte; realign by a nibble
        b = np.frombuffer(raw, np.uint8).astype(np.uint16)
        raw = (((b[:-1] >> 4) | (b[1:] << 4)) & 0xFF).astype(np.uint8).tobytes()
    if len(raw) < (n * 3 + 1) // 2:
        raise DicomReadError(f"{h.path}: pixel data truncated (frame {frame + 1})")
    b = np.frombuffer(raw[:count].ljust(count, b"\0"), np.uint8).reshape(-1, 3)
    b = b.astype(np.uint16)
    out = np.empty(b.shape[0] * 2, np.uint16)
    out[0::2] = b[:, 0] | ((b[:, 1] & 0x0F) << 8)
    out[1::2] = (b[:, 1] >> 4) | (b[:, 2] << 4)
    out = out[:n].reshape(h.rows, h.columns)
    bits = min(max(h.bits_stored, 1), 12)
    if h.pixel_representation == 1:  # sign-extend from Bits Stored
        return (out.astype(np.int16) << (16 - bits)) >> (16 - bits)
    return out & ((1 << bits) - 1)


def _short(exc: Exception) -> str:
    """Last line of a decoder's message (pydicom nests every plugin's error)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return lines[-1] if lines else type(exc).__name__


def _read_dataset_pixels(h: InstanceHeader, frame: int) -> np.ndarray:
    """Decode through a full dataset read: deflate, big endian, files without file meta."""
    ds = lazy.pydicom().dcmread(h.path, force=True)
    for tag in [t for t in ds.keys() if t.group == 0x0002]:
        del ds[tag]
    # pydicom lets a stray (0002,0010) inside the data set replace File Meta's; the header
    # reader kept the real File Meta one (or the default for files without File Meta).
    ds.file_meta.TransferSyntaxUID = h.transfer_syntax
    arr = ds.pixel_array
    return arr[frame] if h.number_of_frames > 1 else arr


def _decode_with_gdcm_reader(h: InstanceHeader, frame: int) -> np.ndarray | None:
    """Frame ``frame`` (monochrome) through ``gdcm.ImageReader`` on the whole file, or None
    when GDCM is not installed. Raises ValueError when GDCM cannot read it either."""
    try:
        import gdcm
    except ImportError:
        return None
    reader = gdcm.ImageReader()
    reader.SetFileName(h.path)
    if not reader.Read():
        raise ValueError("GDCM cannot read the file")
    img = reader.GetImage()
    scalar = img.GetPixelFormat().GetScalarTypeAsString()
    dtype = {"UINT8": "u1", "INT8": "i1", "UINT16": "<u2", "INT16": "<i2",
             "UINT32": "<u4", "INT32": "<i4"}.get(scalar)
    if dtype is None:
        raise ValueError(f"GDCM gives {scalar} pixels")
    # The buffer arrives as str; surrogateescape gives back its bytes (as pydicom did).
    buf = img.GetBuffer().encode("utf-8", "surrogateescape")
    n = h.rows * h.columns
    data = np.frombuffer(buf, dtype=dtype)
    if data.size < (frame + 1) * n:
        raise ValueError("GDCM decoded fewer frames than the header says")
    return data[frame * n:(frame + 1) * n].reshape(h.rows, h.columns).copy()


def _decode_with_pydicom(h: InstanceHeader, frame: int) -> np.ndarray:
    pixel_array = lazy.pydicom_pixels().pixel_array

    ts = h.transfer_syntax
    index = frame if h.number_of_frames > 1 else None
    errors = []
    arr = None
    if ts in codecs.NATIVE_SYNTAXES:
        try:
            if ts in (codecs.EXPLICIT_VR_BE, codecs.DEFLATED_EXPLICIT_VR_LE):
                arr = _read_dataset_pixels(h, frame)
            else:
                try:
                    arr = pixel_array(h.path, index=index)
                except (AttributeError, KeyError, ValueError):
                    arr = _read_dataset_pixels(h, frame)
        except Exception as exc:  # damaged data: report, never crash the caller
            errors.append(_short(exc))
    else:
        plugins = codecs.available_plugins(ts)
        if not plugins:
            if ts in codecs.CHOICES:
                raise MissingCodecError(h.path, codecs.syntax_name(ts), codecs.missing_packages(ts))
            raise DicomReadError(
                f"{h.path}: {codecs.syntax_name(ts)} is not supported; "
                "convert the file to a standard transfer syntax (e.g. with gdcmconv)"
            )
        for plugin in plugins:
            try:
                arr = pixel_array(h.path, index=index, decoding_plugin=plugin)
                break
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as exc:  # noqa: B036 - decoders raise anything on corrupt
                # streams, even BaseException (a Rust codec's PanicException); try the next
                errors.append(f"{plugin}: {_short(exc)}")
        if arr is None:
            # pydicom's file reader is stricter than its dataset reader (e.g. an implicit VR
            # data set under an explicit syntax): one last try through a full read.
            try:
                arr = _read_dataset_pixels(h, frame)
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as exc:  # noqa: B036 - report below with the plugins' errors
                errors.append(f"dataset read: {_short(exc)}")
        if arr is None and h.samples_per_pixel == 1:
            # Some real 12-bit JPEG Extended streams (a marker where libjpeg does not expect
            # one) fail in pylibjpeg and in pydicom's GDCM plugin, yet GDCM's own reader,
            # like DCMTK, decodes them.
            try:
                arr = _decode_with_gdcm_reader(h, frame)
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as exc:  # noqa: B036 - report below with the others
                errors.append(f"gdcm reader: {_short(exc)}")
    if arr is None:
        raise DicomReadError(
            f"{h.path}: cannot decode {codecs.syntax_name(ts)} pixel data "
            f"(frame {frame + 1}): {messages.short_decoder_error('; '.join(errors))}; "
            f"{messages.REEXPORT}"
        )
    if h.photometric == "PALETTE COLOR":
        pydicom = lazy.pydicom()
        apply_color_lut = lazy.pydicom_pixels().apply_color_lut

        try:
            # force: the pixels were read without a preamble too (the header reader allows it)
            ds = pydicom.dcmread(h.path, stop_before_pixels=True, force=True)
            arr = apply_color_lut(arr, ds)
        except (ValueError, KeyError, AttributeError, TypeError, IndexError, OSError,
                lazy.pydicom().errors.InvalidDicomError) as exc:
            raise DicomReadError(
                f"{h.path}: PALETTE COLOR image without a usable colour palette "
                f"({messages.short_decoder_error(exc)}); {messages.REEXPORT}") from exc
        if arr.dtype != np.uint8:
            arr = (arr >> 8).astype(np.uint8) if arr.dtype.itemsize == 2 else arr.astype(np.uint8)
    want = stored_dtype(h)
    if arr.dtype != want and arr.ndim == 2:
        arr = arr.astype(want)
    if arr.shape != frame_shape(h):
        raise DicomReadError(
            f"{h.path}: decoded frame is {'x'.join(map(str, arr.shape))}, the header says "
            f"{'x'.join(map(str, frame_shape(h)))}; {messages.REEXPORT}"
        )
    return arr


_JPEG_LS = frozenset(("1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81"))


def _direct_input(h: InstanceHeader, frame: int, module: str):
    """``(codec module, codestream of frame)`` where a direct decoder applies (one sample,
    monochrome, 8 or 16 bits allocated, ``module`` installed), else None (pydicom then
    decodes it)."""
    if (h.samples_per_pixel != 1 or h.photometric not in ("MONOCHROME1", "MONOCHROME2")
            or h.bits_allocated not in (8, 16)):
        return None
    try:
        codec = importlib.import_module(module)
    except ImportError:
        return None
    src = codestream.frame_bytes(h, frame)
    return None if src is None else (codec, src)


def _decode_jpeg_ls_direct(h: InstanceHeader, frame: int) -> np.ndarray | None:
    """A monochrome JPEG-LS frame straight through CharLS (pyjpegls), as pydicom's pyjpegls
    plugin decodes it but without reading the file as a dataset again (~1 ms of the ~6 ms a
    512x512 CT frame takes). None where this path does not apply: pydicom then decodes it."""
    got = _direct_input(h, frame, "jpeg_ls")
    if got is None:
        return None
    jpeg_ls, src = got
    buf, info = jpeg_ls.decode_pixel_data(src)
    precision = int(info["bits_per_sample"])
    if (info["components"] != 1 or (info["width"], info["height"]) != (h.columns, h.rows)
            or not 0 < precision <= 16):
        return None
    kind = "i" if h.pixel_representation == 1 else "u"
    itemsize = 1 if precision <= 8 else 2
    # CharLS's bytearray is the array's memory (writable): no copy
    arr = np.frombuffer(buf, f"<{kind}{itemsize}").reshape(h.rows, h.columns)
    shift = 8 * itemsize - precision
    if kind == "i" and shift:  # JPEG-LS stores no sign: extend it from the precision's top bit
        np.left_shift(arr, shift, out=arr)
        np.right_shift(arr, shift, out=arr)
    want = stored_dtype(h)
    return arr if arr.dtype == want else arr.astype(want)


def _decode_j2k_direct(h: InstanceHeader, frame: int) -> np.ndarray | None:
    """A monochrome JPEG 2000 frame straight through openjpeg (pylibjpeg-openjpeg), with the
    values pydicom's pylibjpeg plugin gives (its sign correction where the codestream's
    signedness differs from Pixel Representation). None where this path does not apply."""
    got = _direct_input(h, frame, "openjpeg")
    if got is None:
        return None
    openjpeg, src = got
    meta = openjpeg.get_parameters(src)
    precision = int(meta["precision"])
    want = stored_dtype(h)
    if (meta["samples_per_pixel"] != 1 or (meta["columns"], meta["rows"]) != (h.columns, h.rows)
            or not 0 < precision <= 8 * want.itemsize or (precision + 7) // 8 != want.itemsize):
        return None
    arr = openjpeg.decode(src, reshape=False).view(want).reshape(h.rows, h.columns)
    shift = 8 * want.itemsize - precision
    if shift and bool(meta["is_signed"]) != (h.pixel_representation == 1):
        np.left_shift(arr, shift, out=arr)  # as pydicom: re-read the values as the header says
        np.right_shift(arr, shift, out=arr)
    return arr


def _decode_rle_direct(h: InstanceHeader, frame: int) -> np.ndarray | None:
    """A monochrome RLE frame straight through pylibjpeg-rle, as pydicom's pylibjpeg plugin
    decodes it (little-endian output; no sign correction for RLE). None where this path does
    not apply."""
    got = _direct_input(h, frame, "rle.rle")
    if got is None:
        return None
    rle, src = got
    buf = rle.decode_frame(src, h.rows * h.columns, h.bits_allocated, "<")
    return np.frombuffer(buf, stored_dtype(h)).reshape(h.rows, h.columns)


_DIRECT = {
    **dict.fromkeys(_JPEG_LS, _decode_jpeg_ls_direct),
    "1.2.840.10008.1.2.5": _decode_rle_direct,  # RLE Lossless
    "1.2.840.10008.1.2.4.90": _decode_j2k_direct,  # JPEG 2000 Lossless Only
    "1.2.840.10008.1.2.4.91": _decode_j2k_direct,  # JPEG 2000
}


def decode_frame(h: InstanceHeader, frame: int = 0) -> np.ndarray:
    """Stored values of frame ``frame`` (0-based) of one file.

    Returns ``(rows, columns)`` in the stored integer type, or ``(rows, columns, 3)`` uint8
    RGB for colour (YBR is converted to RGB, palettes applied).

    Raises
    ------
    MissingCodecError
        No installed package decodes the transfer syntax; the message names the package.
    DicomReadError
        The pixel data is damaged or truncated, or its codestream differs from the header.
    """
    if h.mosaic is not None:  # a Siemens mosaic: cut the slice from the stored image
        from viewer.dicom import mosaic

        return mosaic.tile(h, frame, decode_frame)
    if _packed12(h):
        return read_packed12(h, frame)
    if _native_fast(h):
        out = np.empty(frame_shape(h), dtype=stored_dtype(h))
        read_native_into(h, frame, out)
        return out
    # A codestream larger than the header says makes GDCM abort the process: never pass one on.
    codestream.check_frame(h, frame)
    # Our first choices for these syntaxes (codecs.CHOICES), called without pydicom: its import
    # (0.17 s) is then not needed in the decoder processes, and its per-frame file parsing
    # (~1 ms) is saved. Anything these paths do not cover goes to pydicom.
    direct = _DIRECT.get(h.transfer_syntax)
    if direct is not None:
        try:
            arr = direct(h, frame)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException:  # noqa: B036 - pydicom's path tries every plugin and reports
            arr = None
        if arr is not None:
            return arr
    return _decode_with_pydicom(h, frame)
