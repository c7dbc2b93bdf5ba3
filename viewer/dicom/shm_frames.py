"""Decoded frames sent back from the decoder processes through shared memory, not the pipe.

A 512x512 CT frame is 512 KiB: pickled through the pool's result pipe it is copied four times
and crosses the pipe in 64 KiB pieces, work done partly by the app's process, on a machine that
may have two cores. Instead the worker writes the frame into a POSIX shared-memory block (a
file in /dev/shm, as ``multiprocessing.shared_memory`` makes them) and sends its name; the app
reads it straight into its destination (the volume, when it has one) and unlinks it. Plain
file calls, not ``SharedMemory`` objects: no mapping to fault in, and one message to
multiprocessing's resource tracker each way instead of four (Python 3.11 registers on attach
too, each message preceded by a probe) - that traffic cost the app 0.2 s per 275-slice CT.

Each block holds one frame, so its lifetime is one receive. A block whose receiver never looks
(a cancelled load) is freed by the caller's ``discard``; one left by a dead app or a killed
worker is unlinked by the resource tracker, which the workers share with the app (a block is
registered there before it exists).
"""

from __future__ import annotations

import os
import secrets
import sys
from dataclasses import dataclass
from multiprocessing import resource_tracker

import numpy as np

MIN_BYTES = 64 * 1024  # smaller frames go through the pipe: a block costs more than it saves
SHM_DIR = "/dev/shm"  # where Linux keeps POSIX shared memory (glibc's shm_open)
# Elsewhere frames keep to the pipe.
_ENABLED = sys.platform.startswith("linux") and os.path.isdir(SHM_DIR)
_RTYPE = "shared_memory"  # the tracker's name for POSIX shared memory (it shm_unlinks them)


@dataclass(frozen=True, slots=True)
class SharedFrame:
    """A frame waiting in shared-memory block ``name``: ``shape`` of ``dtype`` (a numpy dtype
    string, e.g. ``'<i2'``), C order."""

    name: str
    shape: tuple[int, ...]
    dtype: str


def _path(name: str) -> str:
    return os.path.join(SHM_DIR, name)


def _release(name: str) -> None:
    """Unlink block ``name`` and tell the tracker (nothing to clean up at exit); a block
    already gone was released by whoever unlinked it."""
    try:
        os.unlink(_path(name))
    except FileNotFoundError:
        return
    resource_tracker.unregister("/" + name, _RTYPE)


def pack(arr: np.ndarray) -> SharedFrame | np.ndarray:
    """(worker) ``arr`` in a new shared-memory block, or ``arr`` itself when small or when no
    block can be made (e.g. /dev/shm is full: the pipe still works)."""
    if arr.nbytes < MIN_BYTES or not _ENABLED:
        return arr
    name = f"psm_rv{secrets.token_hex(6)}"
    # Registered before the block exists: a worker killed in between (a broken pool is
    # terminated) leaves nothing that the tracker does not know of.
    resource_tracker.register("/" + name, _RTYPE)
    try:
        fd = os.open(_path(name), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except OSError:
        resource_tracker.unregister("/" + name, _RTYPE)
        return arr
    try:
        # Reserve the pages first: a full /dev/shm (Docker's default is 64 MiB) then fails
        # here, not half-way through the frame.
        os.posix_fallocate(fd, 0, arr.nbytes)
        data = memoryview(np.ascontiguousarray(arr)).cast("B")
        done = 0
        while done < len(data):
            done += os.write(fd, data[done:])
    except OSError:
        os.close(fd)
        _release(name)
        return arr
    os.close(fd)
    return SharedFrame(name, tuple(arr.shape), arr.dtype.str)


def unpack(sf: SharedFrame, out: np.ndarray | None = None) -> np.ndarray:
    """The frame of ``sf``, read into ``out`` when given (same shape; values cast as numpy
    assignment does) or into a new array; the block is unlinked either way.

    Raises
    ------
    FileNotFoundError
        The block is gone (already unpacked or discarded).
    ValueError
        ``out`` has another shape, or the block is shorter than the frame.
    """
    dtype = np.dtype(sf.dtype)
    with open(_path(sf.name), "rb", buffering=0) as f:
        _release(sf.name)  # the open file keeps its pages until read
        if out is not None and out.shape != tuple(sf.shape):
            raise ValueError(f"frame is {tuple(sf.shape)}, destination {out.shape}")
        direct = out is not None and out.dtype == dtype and out.flags.c_contiguous
        dest = out if direct else np.empty(sf.shape, dtype)
        got = f.readinto(memoryview(dest).cast("B"))
        if got != dest.nbytes:
            raise ValueError(f"shared-memory frame holds {got} of {dest.nbytes} bytes")
    if out is None or direct:
        return dest
    out[...] = dest
    return out


def discard(result: object) -> None:
    """Free ``result``'s block if it is a :class:`SharedFrame` (results never received)."""
    if isinstance(result, SharedFrame):
        _release(result.name)
