"""Frame decoding in worker processes, so that a decoder's crash is one failed frame.

:func:`decode_many` and :func:`decode_frame_isolated` run
:func:`~viewer.dicom.frame_decode.decode_frame` for compressed data in the
:mod:`viewer.dicom.decode_pool` workers (native pixel data is read here: no native decoder
runs); results are arrays in the stored type (a volume in shared memory,
:mod:`viewer.dicom.shm_volume`, is written by the workers themselves), failures
:class:`DicomReadError`. The workers unpickle :func:`_decode_batch` by this module's path, and
their forkserver preloads it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from viewer.dicom import codecs, decode_pool, decode_worker, messages, shm_frames, shm_volume
from viewer.dicom.frame_decode import decode_frame
from viewer.dicom.header import InstanceHeader
from viewer.errors import DicomReadError, MissingCodecError, OperationCancelled, ViewerError


@dataclass(frozen=True, slots=True)
class DecodeFailure:
    """A frame a worker could not decode; plain data, so that it always unpickles (an
    exception whose ``__init__`` takes other arguments would break the pool on the way)."""

    message: str
    missing: tuple[str, str, tuple[str, ...]] | None = None  # MissingCodecError's arguments


def _decode_batch(items: Sequence[tuple]) -> list:
    """(worker process) Decode several ``(header, frame[, target])`` items: an array (in a
    worker: :data:`~viewer.dicom.shm_volume.WRITTEN` once written to its
    :class:`~viewer.dicom.shm_volume.FrameTarget`, else a
    :class:`~viewer.dicom.shm_frames.SharedFrame` when large) or a :class:`DecodeFailure` each."""
    out: list = []
    with shm_volume.Writer() as writer:
        for item in items:
            out.append(_decode_one(item, writer))
    return out


def _decode_one(item: tuple, writer: shm_volume.Writer):
    """(worker process) One item of :func:`_decode_batch`."""
    h, f = item[0], item[1]
    target = item[2] if len(item) > 2 else None
    try:
        arr = decode_frame(h, f)
    except MissingCodecError as exc:
        return DecodeFailure(str(exc), (exc.path, exc.syntax_name, tuple(exc.packages)))
    except ViewerError as exc:
        return DecodeFailure(str(exc))
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # noqa: B036 - a decoder's own failure on this file
        # (PanicException of a Rust codec is a BaseException): the file's problem
        return DecodeFailure(f"{h.path}: cannot decode pixel data (frame {f + 1}): "
                             f"{messages.short_decoder_error(exc)}")
    if not decode_worker.IN_WORKER:
        return arr
    if target is not None and writer.write(target, arr):
        return shm_volume.WRITTEN
    return shm_frames.pack(arr)


def needs_isolation(h: InstanceHeader) -> bool:
    """Whether decoding ``h`` runs a native decoder (anything but plain native pixel data)."""
    return not (h.is_native and h.transfer_syntax in codecs.NATIVE_SYNTAXES)


def _outcome(h: InstanceHeader, frame: int, result,
             out: np.ndarray | None = None) -> np.ndarray | DicomReadError:
    """A worker's result for one frame: the array (copied into ``out`` when given), or the
    error to raise."""
    if isinstance(result, shm_volume.Written) and out is not None:  # already in ``out``
        return out
    if isinstance(result, shm_frames.SharedFrame):
        try:
            return shm_frames.unpack(result, out)
        except FileNotFoundError:  # the block vanished (e.g. /dev/shm cleaned meanwhile)
            return DicomReadError(f"{h.path}: decoded frame {frame + 1} was lost on its way "
                                  "back from the decoder process; open the series again")
    if isinstance(result, np.ndarray):
        if out is not None:
            out[...] = result
            return out
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
    into: Callable[[int], np.ndarray] | None = None,
    shared: shm_volume.SharedVolume | None = None,
) -> Iterator[tuple[int, np.ndarray | DicomReadError]]:
    """Decode ``(header, frame)`` items; yields ``(index, array or DicomReadError)`` as each
    arrives. Compressed frames decode in worker processes (the first item alone, so it comes
    first) and come back through shared memory, native ones here. ``into(index)``, when
    given, is where item ``index``'s frame is copied (the array yielded; its shape must be the
    frame's); where that is a view into ``shared``'s array, the workers write the frame there
    themselves. Stops quietly when ``cancel`` is set.

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
            arr = decode_frame(h, f)
        except DicomReadError as exc:
            yield i, exc
            continue
        yield i, _outcome(h, f, arr, None if into is None else into(i))
    sub = [items[i] for i in away]
    if shared is not None and into is not None:
        sub = [(h, f, shared.target(into(i))) for (h, f), i in zip(sub, away, strict=True)]
    for j, result in decode_pool.run_each(_decode_batch, sub, cancel=cancel, batch=batch,
                                          in_flight=in_flight, discard=shm_frames.discard):
        h, f = sub[j][:2]
        yield away[j], _outcome(h, f, result, None if into is None else into(away[j]))


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


# ----------------------------------------------------------------------------- processes

# Each worker starts from a forkserver that has already imported this module (and through it
# the frame decoders) and pydicom's decoders: decode_pool's default preload names them.


def warm_up() -> None:
    """Start the decoder processes ahead of the first compressed frame (~1 s, once)."""
    decode_pool.start()
