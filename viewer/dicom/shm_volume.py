"""A volume in anonymous shared memory that the decoder processes write their frames straight
into, so that the app neither copies nor even touches a decoded frame.

The app makes the volume a ``memfd`` (Linux ``memfd_create``: memory with a file descriptor and
no name, so nothing is left behind when the app dies, and no tmpfs size limit such as Docker's
64 MiB /dev/shm), maps it as the volume's array ``(slices, rows, columns[, 3])``, and sends each
frame's :class:`FrameTarget` with the item. A worker opens the app's descriptor through
``/proc/<app pid>/fd/<fd>`` and ``pwrite``\\ s the decoded frame at its offset: one copy,
against three (decoder output -> block -> app's volume) through :mod:`~viewer.dicom.shm_frames`.

Whatever cannot go that way (no memfd here, /proc not readable, another dtype or shape than the
volume's) falls back to :mod:`~viewer.dicom.shm_frames` and the app copies it as before.
The descriptor is checked by inode before writing: a late worker of a cancelled load never
writes into another file that reused the number.
"""

from __future__ import annotations

import mmap
import os
import sys
import weakref
from dataclasses import dataclass

import numpy as np

_ENABLED = sys.platform.startswith("linux") and hasattr(os, "memfd_create")


@dataclass(frozen=True, slots=True)
class Region:
    """An array in the app's shared memory, for a worker: ``shape`` of ``dtype`` (numpy dtype
    string) at byte ``offset`` of the app's (``pid``) descriptor ``fd`` (device ``dev``, inode
    ``ino``). A whole volume (offset 0) is mapped with :func:`open_region`; one frame of it is
    a :data:`FrameTarget`, written with :class:`Writer`."""

    pid: int
    fd: int
    dev: int
    ino: int
    shape: tuple[int, ...]
    dtype: str
    offset: int = 0


FrameTarget = Region  # where a worker writes one frame


@dataclass(frozen=True, slots=True)
class Written:
    """A worker's result: the frame is in the volume at its target (nothing else to do)."""


WRITTEN = Written()


class SharedVolume:
    """An array ``shape`` of ``dtype`` (C order) in a memfd that the workers can write into.

    :attr:`array` lives as long as it is referenced (the mapping keeps the memory); the
    descriptor is closed with this object.
    """

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype):
        dtype = np.dtype(dtype)
        nbytes = int(np.prod(shape)) * dtype.itemsize
        self.fd = os.memfd_create("radviewer-volume", os.MFD_CLOEXEC)
        try:
            os.ftruncate(self.fd, max(1, nbytes))
            mm = mmap.mmap(self.fd, max(1, nbytes), mmap.MAP_SHARED,
                           mmap.PROT_READ | mmap.PROT_WRITE)
            st = os.fstat(self.fd)
        except OSError:
            os.close(self.fd)
            raise
        self.dev, self.ino, self.pid = st.st_dev, st.st_ino, os.getpid()
        self.array = np.frombuffer(mm, dtype, count=int(np.prod(shape))).reshape(shape)
        self._base = self.array.ctypes.data
        self._nbytes = nbytes
        self._closer = weakref.finalize(self, os.close, self.fd)

    def target(self, out: np.ndarray) -> FrameTarget | None:
        """The target of ``out`` (a C-contiguous view into :attr:`array`), else None."""
        offset = out.ctypes.data - self._base
        if (not out.flags.c_contiguous or offset < 0 or offset + out.nbytes > self._nbytes
                or out.dtype != self.array.dtype or not self._closer.alive):
            return None
        return FrameTarget(self.pid, self.fd, self.dev, self.ino, tuple(out.shape),
                           out.dtype.str, offset)


    def region(self) -> Region:
        """The whole volume, for a worker to map (while this object lives)."""
        return Region(self.pid, self.fd, self.dev, self.ino, tuple(self.array.shape),
                      self.array.dtype.str)


def open_region(r: Region, write: bool = False) -> np.ndarray | None:
    """(worker) The app's volume ``r`` mapped here (shared: writes land in the app's array;
    read-only unless ``write``); None where it cannot be (no /proc, the app gone, or the
    descriptor's number reused by another file)."""
    fd = _open_app_fd(r, os.O_RDWR if write else os.O_RDONLY)
    if fd is None:
        return None
    try:
        dtype = np.dtype(r.dtype)
        count = int(np.prod(r.shape))
        mm = mmap.mmap(fd, max(1, count * dtype.itemsize), mmap.MAP_SHARED,
                       mmap.PROT_READ | (mmap.PROT_WRITE if write else 0),
                       offset=r.offset)  # a page-aligned offset, else ValueError: None
    except (OSError, ValueError):
        return None
    finally:
        os.close(fd)  # the mapping keeps the memory
    return np.frombuffer(mm, dtype, count=count).reshape(r.shape)


def _open_app_fd(t: Region, flags: int) -> int | None:
    """(worker) The app's descriptor ``t.fd`` opened here through /proc, or None: /proc
    hidden, the app gone (or the load finished meanwhile), or the number reused by another
    file (checked by device and inode)."""
    try:
        fd = os.open(f"/proc/{t.pid}/fd/{t.fd}", flags | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
    except OSError:
        st = None
    if st is None or (st.st_dev, st.st_ino) != (t.dev, t.ino):
        os.close(fd)
        return None
    return fd


def allocate(shape: tuple[int, ...], dtype: np.dtype) -> SharedVolume | None:
    """A :class:`SharedVolume`, or None where there is no memfd (the caller uses np.empty)."""
    if not _ENABLED:
        return None
    try:
        return SharedVolume(shape, dtype)
    except OSError:
        return None


class Writer:
    """(worker) Writes frames to their targets; one open descriptor per volume for a batch.

    ``with Writer() as w: ok = w.write(target, arr)``.
    """

    def __init__(self) -> None:
        self._fds: dict[tuple[int, int], int | None] = {}

    def _open(self, t: FrameTarget) -> int | None:
        key = (t.pid, t.fd)
        if key not in self._fds:
            self._fds[key] = _open_app_fd(t, os.O_WRONLY)
        return self._fds[key]

    def write(self, t: FrameTarget, arr: np.ndarray) -> bool:
        """Write ``arr`` at ``t``; False (nothing written) where it cannot go there."""
        if arr.dtype.str != t.dtype or tuple(arr.shape) != t.shape:
            return False
        fd = self._open(t)
        if fd is None:
            return False
        data = memoryview(np.ascontiguousarray(arr)).cast("B")
        done = 0
        try:
            while done < len(data):
                done += os.pwrite(fd, data[done:], t.offset + done)
        except OSError:  # out of memory for the pages: the pipe may still do
            return False
        return True

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, *_exc) -> None:
        for fd in self._fds.values():
            if fd is not None:
                os.close(fd)
        self._fds.clear()
