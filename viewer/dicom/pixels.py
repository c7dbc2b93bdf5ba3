"""Pixel access for a stack: one frame at a time into a bounded cache, or the whole volume.

Values stay in their stored integer type (``int16``, ``uint16``, ...; RGB as ``uint8``
``(rows, columns, 3)``); :func:`to_real` applies the modality LUT when real values (HU, ...)
are needed. Volumes are ``(slices, rows, columns[, 3])`` in stack order. Decoding one frame is
:mod:`viewer.dicom.frame_decode`; compressed data is decoded only in worker processes
(:mod:`viewer.dicom.isolated`): the native decoders can abort the process that runs them, and
they hold the GIL. The cache is :mod:`viewer.dicom.frame_cache`. The names of those modules
that callers use are re-exported here.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from viewer.dicom import decode_pool, shm_volume
from viewer.dicom.frame_cache import FrameCache
from viewer.dicom.frame_decode import (
    _native_fast,
    decode_frame,
    frame_shape,
    read_native_into,
    read_packed12,
    stored_dtype,
)
from viewer.dicom.header import InstanceHeader
from viewer.dicom.isolated import (
    DecodeFailure,
    decode_frame_isolated,
    decode_many,
    needs_isolation,
    warm_up,
)
from viewer.dicom.stacks import Stack
from viewer.errors import DicomReadError, MissingCodecError, OperationCancelled

__all__ = [
    "DecodeFailure", "FrameCache", "StackPixels", "decode_frame", "decode_frame_isolated",
    "decode_many", "frame_shape", "needs_isolation", "read_native_into", "read_packed12",
    "increasing_transform", "stored_dtype", "to_real", "to_real_volume", "warm_up",
]

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


def to_real_volume(stored: np.ndarray, headers, out: np.ndarray | None = None) -> np.ndarray:
    """:func:`to_real` on a volume ``(slices, rows, columns)`` whose slice ``k`` comes from
    ``headers[k]``: one pass when they share the modality transform, else slice by slice
    (PET often stores its own Rescale Slope in every slice). ``out``: a float32 array of the
    volume's shape to write into (e.g. shared memory), with the same values."""
    headers = list(headers)
    first = headers[0]
    same = all(h.modality_lut is None and first.modality_lut is None
               and h.rescale_slope == first.rescale_slope
               and h.rescale_intercept == first.rescale_intercept for h in headers)
    if out is not None and same:  # to_real's steps, in place: cast, scale, shift
        np.copyto(out, stored, casting="unsafe")
        if first.rescale_slope != 1.0:
            out *= np.float32(first.rescale_slope)
        if first.rescale_intercept != 0.0:
            out += np.float32(first.rescale_intercept)
        return out
    if same:
        real = to_real(stored, first)
    else:
        real = np.stack([to_real(stored[k], h) for k, h in enumerate(headers)])
    if out is not None:
        out[...] = real
        return out
    return real


def increasing_transform(headers) -> Callable[[np.ndarray], np.ndarray] | None:
    """:func:`to_real` of the frames' one modality transform when they all share it and it
    is increasing (no LUT, Rescale Slope > 0), else None. Then ``f(stored)`` keeps the order
    of the stored values, so a percentile of the real volume is found among the stored values
    (:func:`viewer.numeric.percentile`'s ``convert``) and only what is shown is converted."""
    headers = list(headers)
    first = headers[0]
    if first.modality_lut is not None or not first.rescale_slope > 0:
        return None
    if any(h.modality_lut is not None or h.rescale_slope != first.rescale_slope
           or h.rescale_intercept != first.rescale_intercept for h in headers):
        return None
    return lambda stored: to_real(stored, first)


# The cache of every StackPixels not given its own (tests/fuzz/fuzz_child.py replaces it).
_SHARED_CACHE = FrameCache()


def cache_frame(path: str, frame: int, stored: np.ndarray) -> None:
    """Offer a frame decoded elsewhere (stored values; e.g. the launch prefetch,
    :mod:`viewer.dicom.prefetch`) to every StackPixels that shares the cache: it is used, not
    decoded again, by :meth:`StackPixels.frame` and :meth:`StackPixels.load_volume`."""
    _SHARED_CACHE.put((path, frame), stored)

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
        # The volume's shared memory while the decoder processes write into it (compressed).
        self._shared: shm_volume.SharedVolume | None = None
        # One load at a time: a cancelled load may still be finishing its in-flight slices
        # when the user comes back to this stack.
        self._load_lock = threading.Lock()
        # Slices that could not be decoded (a crashed decoder is not asked twice).
        self.failed: dict[int, DicomReadError] = {}
        h = stack.first
        self.dtype = stored_dtype(h)
        self.frame_shape = frame_shape(h)
        if needs_isolation(h):  # its first slice will need the decoder processes: start them
            decode_pool.start_soon()

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

    def ready_frame(self, k: int) -> np.ndarray | None:
        """Stored values of slice ``k`` if they are at hand without decoding (loaded, or
        decoded already and in the frame cache, e.g. by the launch prefetch), else None: never
        decodes, so the GUI thread may ask."""
        if self._volume is not None and self._loaded is not None and self._loaded[k]:
            return self._volume[k]
        ref = self.stack.frames[k]
        return self.cache.get((ref.header.path, ref.frame))

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
        native = all(_native_fast(f.header) for f in self.stack.frames)
        if self._volume is None:
            from viewer.dicom import limits

            frame_nbytes = int(np.prod(self.frame_shape)) * self.dtype.itemsize
            limits.check_volume(self.stack.first.path, n, frame_nbytes)  # before allocating
            # Compressed: in memory the decoder processes write into (no copy here).
            self._shared = None if native else shm_volume.allocate(self.shape, self.dtype)
            self._volume = (self._shared.array if self._shared is not None
                            else np.empty(self.shape, dtype=self.dtype))
            self._loaded = np.zeros(n, dtype=bool)
        vol, loaded = self._volume, self._loaded
        assert loaded is not None
        todo = [k for k in _order_from(n, n // 2 if first is None else first) if not loaded[k]]
        done = n - len(todo)
        if not todo:
            self._shared = None  # every slice is in: its descriptor is no longer needed
            return vol
        lock = threading.Lock()
        cached = self._take_cached(todo)

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

        for k in cached:  # decoded already (frame(k), a prefetch): copied, not decoded again
            mark(k)
        if cached:
            taken = set(cached)
            todo = [k for k in todo if k not in taken]
        if native:
            self._load_native(todo, mark, cancel, workers)
        else:
            self._load_decoded([k for k in todo if k not in self.failed], mark, cancel,
                               workers)
        if loaded.all() or all(loaded[k] or k in self.failed for k in range(n)):
            self._shared = None  # nothing more to write (a failed slice is not tried again)
        if cancel is not None and cancel.is_set() and not loaded.all():
            raise OperationCancelled("loading cancelled")
        if self.failed:
            k = min(self.failed)
            more = len(self.failed) - 1
            raise DicomReadError(str(self.failed[k]) + (
                f" ({more} more slice{'s' if more > 1 else ''} of this series could not be "
                "decoded)" if more else ""))
        return vol

    def _take_cached(self, todo: list[int]) -> list[int]:
        """Copy the slices of ``todo`` found in the frame cache into the volume; returns them
        in ``todo``'s order."""
        out = []
        for k in todo:
            ref = self.stack.frames[k]
            arr = self.cache.get((ref.header.path, ref.frame))
            if arr is not None and arr.shape == self._volume.shape[1:]:
                self._volume[k] = arr
                out.append(k)
        return out

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
        # Frames arrive straight in the volume: written there by the workers when it is in
        # shared memory, else copied out of theirs.
        for i, result in decode_many(items, cancel=cancel, batch=batch,
                                     in_flight=workers and max(1, workers),
                                     into=lambda i: vol[todo[i]], shared=self._shared):
            k = todo[i]
            if isinstance(result, MissingCodecError):
                raise result  # the same for every slice: say it once, now
            if isinstance(result, DicomReadError):
                self.failed[k] = result
                vol[k] = 0  # a marked gap for MPR, not stale memory
                continue
            mark(k)
