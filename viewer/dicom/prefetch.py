"""Launch prefetch: the folder named on the command line is scanned, and the first image it
will show decoded, in a child process while the window's own start-up runs.

A window's start is ~0.45 s of imports and widget building on one core before it can ask
for anything; the folder scan (~0.1 s for 232 files), the decoder start and the first
slice's decode then came one after another. Forked first thing at launch (before Qt or any
thread exists), a child does that work on the other core and hands the result over a pipe:
the :class:`~viewer.dicom.catalog.Catalog` exactly as :func:`~viewer.dicom.scan.scan_folder`
builds it, and the middle slice of its first series in the stored type.

It is only a head start: whatever goes wrong (a decoder that aborts on a hostile file, a
folder too large to scan without progress, a platform without ``fork``) ends in "no
prefetch", and the window scans as it always does, with progress, isolation and messages.
The child never writes logs or files; the native decoder it runs is in its own process,
never in the GUI's.
"""

from __future__ import annotations

import os
import pickle
import select
import sys
import threading
import time
from dataclasses import dataclass, field

# Larger folders, and scans that take longer (a CD, a network share), are left to the window,
# with its progress bar and Cancel: a child that takes seconds would leave the window blank
# and silent meanwhile. What the child read by then is in the page cache for the window.
MAX_FILES = 2000
BUDGET_S = 2.0

_lock = threading.Lock()
_child: _Child | None = None
used = False  # whether a prefetch was taken (said by ``--exit-after-first-image``)


@dataclass
class _Child:
    pid: int
    fd: int
    root: str
    size_flag: bytes | None = None  # the answer's first byte, once read (see _child_main)


# Answers larger than this are unpickled on the scan job's thread, not the GUI's: ~0.5 MB
# (about 600 files' headers) unpickles in ~25 ms; a 2,000-file folder's would take ~80 ms.
GUI_MAX_BYTES = 512 * 1024


@dataclass
class Prefetched:
    """What the child found: the catalog, and decoded frames keyed ``(path, frame)``."""

    catalog: object  # viewer.dicom.catalog.Catalog (not imported here: launch stays light)
    frames: dict[tuple[str, int], object] = field(default_factory=dict)  # numpy arrays

    def install(self) -> None:
        """Offer the frames to the pixel cache (views show them at once, loads copy them),
        and start the decoder processes, which the launch left until now
        (:func:`viewer.app.run_gui`)."""
        from viewer.dicom.pixels import cache_frame

        for (path, frame), arr in self.frames.items():
            cache_frame(path, frame, arr)
        _start_decoders()


def _start_decoders() -> None:
    """Start the decoders' forkserver, which the launch leaves until the prefetch is taken or
    given up (:func:`viewer.app.run_gui`: not both at once on 2 cores)."""
    from viewer.dicom import decode_pool

    decode_pool.prestart()


def _same(a: str, b: str) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


def start(root: str | os.PathLike) -> bool:
    """Fork the child for ``root``; returns at once (True when started).

    Only where forking is safe: Linux, and no other thread running yet (call it first thing
    at launch). A folder that does not exist is left to the window's own message.
    """
    global _child
    root = os.fspath(root)
    if (not sys.platform.startswith("linux") or threading.active_count() != 1
            or not os.path.exists(root)):
        return False
    with _lock:
        if _child is not None:
            return False
        r, w = os.pipe()
        try:
            pid = os.fork()
        except OSError:
            os.close(r)
            os.close(w)
            return False
        if pid == 0:  # the child: never returns
            os.close(r)
            _child_main(root, w)
        os.close(w)
        _child = _Child(pid, r, root)
        return True


def _child_main(root: str, w: int) -> None:
    code = 1
    try:
        # Nothing of the child's reaches the terminal (a decoder's warning, a traceback).
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.dup2(null, 2)
        os.close(null)
        payload = pickle.dumps(_work(root), protocol=pickle.HIGHEST_PROTOCOL)
        # First byte: whether the answer is small enough for the GUI thread (take_ready).
        view = memoryview((b"S" if len(payload) <= GUI_MAX_BYTES else b"L") + payload)
        while view:
            view = view[os.write(w, view):]
        code = 0
    except BaseException:  # noqa: B036 - anything here only means "no prefetch"
        pass
    finally:
        os._exit(code)  # no atexit handlers, no buffers of the parent's flushed twice


def _work(root: str) -> Prefetched | None:
    """(child) Scan ``root`` and decode the middle slice of its first series; None when the
    folder is larger than :data:`MAX_FILES` or the scan takes over :data:`BUDGET_S`."""
    started = time.monotonic()
    from viewer.dicom.scan import find_files, scan_folder

    files, _skipped = find_files(root)
    if len(files) > MAX_FILES:
        return None
    over = threading.Event()
    timer = threading.Timer(max(0.0, BUDGET_S - (time.monotonic() - started)), over.set)
    timer.start()
    catalog = scan_folder(root, cancel=over)
    timer.cancel()
    if catalog.cancelled:
        return None
    out = Prefetched(catalog)
    stacks = catalog.stacks()
    if stacks:
        from viewer.dicom.frame_decode import decode_frame

        st = stacks[0]
        ref = st.frames[st.n_frames // 2]  # where a view opens a stack (SliceView.set_stack)
        try:
            out.frames[(ref.header.path, ref.frame)] = decode_frame(ref.header, ref.frame)
        except Exception:  # the window decodes it again, in its worker, and says why
            pass
    return out


def take(root: str | os.PathLike, timeout_s: float = BUDGET_S + 3.0,
         cancel: threading.Event | None = None) -> Prefetched | None:
    """The prefetch for ``root``, waiting for it up to ``timeout_s`` or until ``cancel`` is set
    (call it from a worker thread); None when there is none for this folder or it failed.
    Either way the child is gone afterwards: a prefetch is used once, by the first open."""
    global _child
    with _lock:
        child, _child = _child, None
    if child is None:
        return None
    result = _receive(child, root, timeout_s, cancel)
    if result is None and not (cancel is not None and cancel.is_set()):
        _start_decoders()  # not used: the decoders start now, as the launch would have
    return result


def _receive(child: _Child, root, timeout_s: float, cancel) -> Prefetched | None:
    """The child's answer for ``root`` (see :func:`take`); the child is ended either way."""
    global used
    try:
        if not _same(child.root, os.fspath(root)):
            return None
        data = _read_all(child.fd, time.monotonic() + timeout_s, cancel)
        if child.size_flag is None and data:
            data = data[1:]  # the size flag, not read yet
        if not data:
            return None
        result = pickle.loads(data)  # our own child's bytes, over our own pipe
        if not isinstance(result, Prefetched):
            return None
        used = True
        return result
    except Exception:
        return None
    finally:
        _end(child)


def take_ready(root: str | os.PathLike) -> Prefetched | None:
    """The prefetch for ``root`` if the child has already answered and the answer is small
    (:data:`GUI_MAX_BYTES`: never waits, bounded work; for the GUI thread), else None and the
    child is left to :func:`take`."""
    with _lock:
        child = _child
    if child is None:
        return None
    if not _same(child.root, os.fspath(root)):
        discard()
        _start_decoders()  # as take() does for a prefetch not used
        return None
    try:
        ready, _, _ = select.select([child.fd], [], [], 0)
        if ready and child.size_flag is None:
            child.size_flag = os.read(child.fd, 1)  # b"" when the child died: take() ends it
    except (OSError, ValueError):
        ready = [child.fd]  # take() sorts it out
    if ready and child.size_flag == b"L":
        return None  # large: the scan job's thread takes it (take())
    return take(root) if ready else None


def discard() -> None:
    """Drop any prefetch not taken (e.g. the window opened another folder first, or at exit);
    starts nothing."""
    global _child
    with _lock:
        child, _child = _child, None
    if child is not None:
        _end(child)


def _read_all(fd: int, deadline: float, cancel: threading.Event | None) -> bytes | None:
    chunks = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or (cancel is not None and cancel.is_set()):
            return None
        # In short waits when cancellable: a hung child must not hold up Cancel or the quit
        ready, _, _ = select.select([fd], [], [], left if cancel is None else min(left, 0.05))
        if not ready:
            continue
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks) or None  # nothing at all: the child died or gave up
        chunks.append(chunk)


def _end(child: _Child) -> None:
    """Close the pipe and reap the child (killed if still running)."""
    try:
        os.close(child.fd)
    except OSError:
        pass
    try:
        pid, _status = os.waitpid(child.pid, os.WNOHANG)
        if pid == 0:
            os.kill(child.pid, 9)
            os.waitpid(child.pid, 0)
    except (ChildProcessError, ProcessLookupError, OSError):
        pass
