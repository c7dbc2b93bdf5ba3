"""Lazy pixel decoding: one frame at a time into a bounded cache, or a whole stack in parallel.

Values stay in their stored integer type (``int16``, ``uint16``, ...; RGB as ``uint8``
``(rows, columns, 3)``); :func:`to_real` applies the modality LUT when real values (HU, ...)
are needed. Native little-endian pixel data is read straight from its byte offset into the
destination array; compressed data is decoded by pydicom with the plugin chosen per transfer
syntax (:mod:`viewer.dicom.codecs`). The app decodes compressed data only in worker processes
(:mod:`viewer.dicom.decode_pool`): the native decoders can abort the process that runs them,
and they hold the GIL. :func:`decode_frame` itself decodes here; the app calls
:func:`decode_frame_isolated`, :func:`decode_many` or :class:`StackPixels`.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from viewer.dicom import codecs, decode_pool, lazy, messages
from viewer.dicom.header import InstanceHeader
from viewer.dicom.stacks import Stack
from viewer.errors import DicomReadError, MissingCodecError, OperationCancelled, ViewerError

# ----------------------------------------------------------------------------- one frame


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
    from viewer.dicom import codestream

    # A codestream larger than the header says makes GDCM abort the process: never pass one on.
    codestream.check_frame(h, frame)
    return _decode_with_pydicom(h, frame)


# ----------------------------------------------------------------------------- isolated


@dataclass(frozen=True, slots=True)
class DecodeFailure:
    """A frame a worker could not decode; plain data, so that it always unpickles (an
    exception whose ``__init__`` takes other arguments would break the pool on the way)."""

    message: str
    missing: tuple[str, str, tuple[str, ...]] | None = None  # MissingCodecError's arguments


def _decode_batch(items: Sequence[tuple[InstanceHeader, int]]) -> list:
    """(worker process) Decode several frames: an array or a :class:`DecodeFailure` each."""
    out: list = []
    for h, f in items:
        try:
            out.append(decode_frame(h, f))
        except MissingCodecError as exc:
            out.append(DecodeFailure(str(exc), (exc.path, exc.syntax_name, tuple(exc.packages))))
        except ViewerError as exc:
            out.append(DecodeFailure(str(exc)))
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # noqa: B036 - a decoder's own failure on this file
            # (PanicException of a Rust codec is a BaseException): the file's problem
            out.append(DecodeFailure(f"{h.path}: cannot decode pixel data (frame {f + 1}): "
                                     f"{messages.short_decoder_error(exc)}"))
    return out


def needs_isolation(h: InstanceHeader) -> bool:
    """Whether decoding ``h`` runs a native decoder (anything but plain native pixel data)."""
    return not (h.is_native and h.transfer_syntax in codecs.NATIVE_SYNTAXES)


def _outcome(h: InstanceHeader, frame: int, result) -> np.ndarray | DicomReadError:
    """A worker's result for one frame: the array, or the error to raise."""
    if isinstance(result, np.ndarray):
        return result
    if isinstance(result, DecodeFailure):
        if result.missing is not None:
            path, name, packages = result.missing
            return MissingCodecError(path, name, list(packages))
        return DicomReadError(result.message)
    assert isinstance(result, decode_pool.WorkerCrashed), result
    return DicomReadError(
        f"{h.path}: decoder crashed on frame {frame + 1} ({codecs.syntax_name(h.transfer_syntax)}"
        " pixel data): the file is damaged or malformed; the other images are unaffected. "
        "Re-export this file from its source to see it."
    )


def decode_many(
    items: Sequence[tuple[InstanceHeader, int]],
    cancel: threading.Event | None = None,
    batch: int = 8,
    in_flight: int | None = None,
) -> Iterator[tuple[int, np.ndarray | DicomReadError]]:
    """Decode ``(header, frame)`` items; yields ``(index, array or DicomReadError)`` as each
    arrives. Compressed frames decode in worker processes (the first item alone, so it comes
    first), native ones here. Stops quietly when ``cancel`` is set.

    Raises
    ------
    OperationCancelled
        The decoder processes were shut down for good (the app is exiting).
    """
    here = [i for i, (h, _f) in enumerate(items) if not needs_isolation(h)]
    away = [i for i, (h, _f) in enumerate(items) if needs_isolation(h)]
    for i in here:
        if cancel is not None and cancel.is_set():
            return
        h, f = items[i]
        try:
            yield i, decode_frame(h, f)
        except DicomReadError as exc:
            yield i, exc
    sub = [items[i] for i in away]
    for j, result in decode_pool.run_each(_decode_batch, sub, cancel=cancel, batch=batch,
                                          in_flight=in_flight):
        h, f = sub[j]
        yield away[j], _outcome(h, f, result)


def decode_frame_isolated(h: InstanceHeader, frame: int = 0) -> np.ndarray:
    """:func:`decode_frame`, with native decoders run in a worker process (so a crash is a
    :class:`DicomReadError` here, not the end of the app). Raises as :func:`decode_frame`."""
    if not needs_isolation(h):
        return decode_frame(h, frame)
    for _i, result in decode_many([(h, frame)]):
        if isinstance(result, Exception):
            raise result
        return result
    raise OperationCancelled("decoding stopped")  # pragma: no cover - no result means closing


# ----------------------------------------------------------------------------- values


def to_real(stored: np.ndarray, h: InstanceHeader) -> np.ndarray:
    """Apply the modality LUT: Rescale Slope (0028,1053) / Intercept (0028,1052), or the
    Modality LUT Sequence (0028,3000). Returns float32 real-world values (HU for CT)."""
    if h.modality_lut is not None:
        lut = h.modality_lut
        idx = np.clip(stored.astype(np.int64) - lut.first_mapped, 0, len(lut.data) - 1)
        return lut.data[idx].astype(np.float32)
    out = stored.astype(np.float32)
    if h.rescale_slope != 1.0:
        out *= np.float32(h.rescale_slope)
    if h.rescale_intercept != 0.0:
        out += np.float32(h.rescale_intercept)
    return out


def to_real_volume(stored: np.ndarray, headers) -> np.ndarray:
    """:func:`to_real` on a volume ``(slices, rows, columns)`` whose slice ``k`` comes from
    ``headers[k]``: one pass when they share the modality transform, else slice by slice
    (PET often stores its own Rescale Slope in every slice)."""
    headers = list(headers)
    first = headers[0]
    same = all(h.modality_lut is None and first.modality_lut is None
               and h.rescale_slope == first.rescale_slope
               and h.rescale_intercept == first.rescale_intercept for h in headers)
    if same:
        return to_real(stored, first)
    return np.stack([to_real(stored[k], h) for k, h in enumerate(headers)])


# ----------------------------------------------------------------------------- cache


class FrameCache:
    """Thread-safe LRU cache of decoded frames, bounded in bytes."""

    def __init__(self, max_bytes: int = 512 * 1024 * 1024):
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple[str, int], np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: tuple[str, int]) -> np.ndarray | None:
        with self._lock:
            arr = self._items.get(key)
            if arr is not None:
                self._items.move_to_end(key)
            return arr

    def put(self, key: tuple[str, int], arr: np.ndarray) -> None:
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old.nbytes
            self._items[key] = arr
            self._bytes += arr.nbytes
            while self._bytes > self.max_bytes and len(self._items) > 1:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= dropped.nbytes

    @property
    def nbytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._items)


_SHARED_CACHE = FrameCache()

# ----------------------------------------------------------------------------- processes

# Each worker starts from a forkserver that has already imported this module and the decoders.
decode_pool.configure([__name__, "pydicom.pixels"])


def warm_up() -> None:
    """Start the decoder processes ahead of the first compressed frame (~1 s, once)."""
    decode_pool.start()


# ----------------------------------------------------------------------------- stacks


def _order_from(n: int, first: int) -> list[int]:
    """0..n-1 starting at ``first`` and moving outwards, so the shown slice arrives first."""
    first = min(max(first, 0), n - 1)
    out = [first]
    for d in range(1, n):
        if first + d < n:
            out.append(first + d)
        if first - d >= 0:
            out.append(first - d)
    return out


class StackPixels:
    """Pixel access for one :class:`Stack`: single frames on demand, or the whole volume.

    Frames are indexed in stack order (0-based, sorted along the slice normal).
    """

    def __init__(self, stack: Stack, cache: FrameCache | None = None):
        self.stack = stack
        self.cache = cache if cache is not None else _SHARED_CACHE
        self._volume: np.ndarray | None = None
        self._loaded: np.ndarray | None = None
        # One load at a time: a cancelled load may still be finishing its in-flight slices
        # when the user comes back to this stack.
        self._load_lock = threading.Lock()
        # Slices that could not be decoded (a crashed decoder is not asked twice).
        self.failed: dict[int, DicomReadError] = {}
        h = stack.first
        self.dtype = stored_dtype(h)
        self.frame_shape = frame_shape(h)

    @property
    def shape(self) -> tuple[int, ...]:
        """Volume shape ``(slices, rows, columns[, 3])``."""
        return (self.stack.n_frames, *self.frame_shape)

    def frame(self, k: int) -> np.ndarray:
        """Stored values of slice ``k``; decoded on first use and cached."""
        if self._volume is not None and self._loaded is not None and self._loaded[k]:
            return self._volume[k]
        if k in self.failed:
            raise self.failed[k]
        ref = self.stack.frames[k]
        key = (ref.header.path, ref.frame)
        arr = self.cache.get(key)
        if arr is None:
            try:
                arr = decode_frame_isolated(ref.header, ref.frame)
            except MissingCodecError:
                raise
            except DicomReadError as exc:
                self.failed[k] = exc
                raise
            self.cache.put(key, arr)
        return arr

    def real(self, k: int) -> np.ndarray:
        """Real-world values (float32, HU for CT) of slice ``k``."""
        return to_real(self.frame(k), self.stack.frames[k].header)

    def frame_volume(self) -> np.ndarray:
        """The volume array ``(slices, rows, columns[, 3])``; only loaded slices are valid."""
        if self._volume is None:
            raise RuntimeError("load_volume() has not been called")
        return self._volume

    def is_loaded(self, k: int) -> bool:
        return self._loaded is not None and bool(self._loaded[k])

    def load_volume(
        self,
        progress: Callable[[int, int], None] | None = None,
        cancel: threading.Event | None = None,
        on_slice: Callable[[int], None] | None = None,
        first: int | None = None,
        workers: int | None = None,
    ) -> np.ndarray:
        """Decode every slice into one ``(slices, rows, columns)`` array of the stored type.

        Slices are decoded starting from ``first`` (default: the middle) and outwards;
        ``on_slice(k)`` is called as each arrives (from a worker thread) and ``progress(done,
        total)`` after each. Native data is read with threads straight into the array;
        compressed data is decoded in worker processes. A slice that cannot be decoded is
        recorded in :attr:`failed` and the others still load.

        Raises
        ------
        OperationCancelled
            ``cancel`` was set; the partial volume is kept for the slices already loaded.
        DicomReadError
            Some slices could not be decoded (the first one's error, with the count), or
            no decoder is installed for the transfer syntax (:class:`MissingCodecError`).
        """
        with self._load_lock:
            return self._load_volume_locked(progress, cancel, on_slice, first, workers)

    def _load_volume_locked(self, progress, cancel, on_slice, first, workers) -> np.ndarray:
        n = self.stack.n_frames
        if self._volume is None:
            from viewer.dicom import limits

            frame_nbytes = int(np.prod(self.frame_shape)) * self.dtype.itemsize
            limits.check_volume(self.stack.first.path, n, frame_nbytes)  # before allocating
            self._volume = np.empty(self.shape, dtype=self.dtype)
            self._loaded = np.zeros(n, dtype=bool)
        vol, loaded = self._volume, self._loaded
        assert loaded is not None
        todo = [k for k in _order_from(n, n // 2 if first is None else first) if not loaded[k]]
        done = n - len(todo)
        if not todo:
            return vol
        native = all(_native_fast(f.header) for f in self.stack.frames)
        lock = threading.Lock()

        def mark(k: int) -> None:
            nonlocal done
            loaded[k] = True
            with lock:
                done += 1
                d = done
            if on_slice is not None:
                on_slice(k)
            if progress is not None:
                progress(d, n)

        if native:
            self._load_native(todo, mark, cancel, workers)
        else:
            self._load_decoded([k for k in todo if k not in self.failed], mark, cancel,
                               workers)
        if cancel is not None and cancel.is_set() and not loaded.all():
            raise OperationCancelled("loading cancelled")
        if self.failed:
            k = min(self.failed)
            more = len(self.failed) - 1
            raise DicomReadError(str(self.failed[k]) + (
                f" ({more} more slice{'s' if more > 1 else ''} of this series could not be "
                "decoded)" if more else ""))
        return vol

    def _load_native(self, todo, mark, cancel, workers) -> None:
        vol, frames = self._volume, self.stack.frames
        # Reads are memcpy-bound syscalls that release the GIL; a few threads saturate I/O.
        nthreads = workers or min(4, (os.cpu_count() or 2))
        chunks = [todo[i::nthreads] for i in range(nthreads)]

        def run(chunk: list[int]) -> None:
            for k in chunk:
                if cancel is not None and cancel.is_set():
                    return
                ref = frames[k]
                try:
                    read_native_into(ref.header, ref.frame, vol[k])
                except DicomReadError as exc:  # a cut-short frame costs that slice only
                    self.failed[k] = exc
                    vol[k] = 0  # a marked gap for MPR, not stale memory
                    continue
                mark(k)

        if nthreads == 1:
            run(todo)
            return
        with ThreadPoolExecutor(nthreads, thread_name_prefix="load") as pool:
            for fut in [pool.submit(run, c) for c in chunks]:
                fut.result()

    def _load_decoded(self, todo, mark, cancel, workers) -> None:
        vol, frames = self._volume, self.stack.frames
        nproc = decode_pool.workers()
        # Small batches keep results flowing (slices shown as they arrive) while amortising
        # the inter-process overhead; at most 2 batches in flight per process.
        batch = max(1, min(8, len(todo) // (nproc * 4) or 1))
        items = [(frames[k].header, frames[k].frame) for k in todo]
        for i, result in decode_many(items, cancel=cancel, batch=batch,
                                     in_flight=workers and max(1, workers)):
            k = todo[i]
            if isinstance(result, MissingCodecError):
                raise result  # the same for every slice: say it once, now
            if isinstance(result, DicomReadError):
                self.failed[k] = result
                vol[k] = 0  # a marked gap for MPR, not stale memory
                continue
            vol[k] = result
            mark(k)
