"""Background jobs for the GUI: scan a folder, load a stack, make thumbnails.

Each job runs on a Python thread and talks to the GUI only through Qt signals on a QObject that
lives in the GUI thread (queued delivery). Jobs carry a request id; the window drops results
whose id is stale. Cancellation is cooperative through a :class:`threading.Event`, checked
between files or slices, so it takes effect within a fraction of a second.

A job is never a Qt child of the window: Qt would delete it with its parent while its thread
still emits ("Signal source has been deleted"). A running job is held by a registry instead,
released on the GUI thread once its thread has ended; :func:`stop_all` cancels every running
job and waits for them with one deadline (on quit).
"""

from __future__ import annotations

import logging
import threading
import time

import numpy as np
from PySide6.QtCore import QCoreApplication, QObject, Qt, Signal

from viewer.dicom.catalog import build_catalog
from viewer.dicom.pixels import StackPixels
from viewer.dicom.scan import iter_scan
from viewer.errors import DicomReadError, MissingCodecError, OperationCancelled, ViewerError
from viewer.gui import crash, memory

log = logging.getLogger(__name__)


class _Registry(QObject):
    """Strong references to running jobs; a job is let go on the GUI thread, after its
    thread has ended, so the last reference never drops (and deletes it) in that thread."""

    ended = Signal(object)

    def __init__(self) -> None:
        super().__init__()
        self.jobs: set[Job] = set()
        self._lock = threading.Lock()
        self.ended.connect(self._release, Qt.ConnectionType.QueuedConnection)

    def add(self, job: Job) -> None:
        with self._lock:
            self.jobs.add(job)

    def running(self) -> list[Job]:
        with self._lock:
            return list(self.jobs)

    def _release(self, job: Job) -> None:
        with self._lock:
            self.jobs.discard(job)


_registry: _Registry | None = None


def _jobs() -> _Registry:
    global _registry
    if _registry is None:
        _registry = _Registry()
        app = QCoreApplication.instance()
        if app is not None:  # live in the GUI thread even if first used elsewhere
            _registry.moveToThread(app.thread())
    return _registry


def running_jobs() -> list[Job]:
    """Jobs started and not yet let go (their thread may just have ended)."""
    return [j for j in _jobs().running() if j.is_running]


def stop_all(timeout: float = 3.0) -> bool:
    """Cancel every running job and wait for them, ``timeout`` seconds in all (on quit).
    Returns whether all ended; a job still running is a daemon thread and dies with the app."""
    jobs = running_jobs()
    for job in jobs:
        job.cancel()
    deadline = time.monotonic() + timeout
    for job in jobs:
        job.wait(max(0.0, deadline - time.monotonic()))
    return not any(j.is_running for j in jobs)


class Job(QObject):
    """Base job: ``progress(request, done, total)``, ``failed(request, message)``.

    ``parent`` is accepted for symmetry with QObject but never made the Qt parent (see the
    module docstring); whoever starts a job keeps its own reference as long as it cares.
    """

    progress = Signal(int, int, int)
    failed = Signal(int, str)

    def __init__(self, request: int, parent: QObject | None = None):
        super().__init__()
        self.request = request
        self.cancel_event = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        registry = _jobs()
        registry.add(self)
        self._thread = threading.Thread(target=self._run_guarded, name=type(self).__name__,
                                        daemon=True)
        self._thread.start()

    @property
    def is_running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def cancel(self) -> None:
        self.cancel_event.set()

    def wait(self, timeout: float = 2.0) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def _run_guarded(self) -> None:
        try:
            try:
                self.run()
            except OperationCancelled:
                pass
            except ViewerError as exc:
                self.failed.emit(self.request, str(exc))
            except Exception as exc:  # the worker boundary: report, never kill the app
                # A bug, not bad input: logged with its traceback and shown with the log's path.
                crash.report(exc, f"background job {type(self).__name__}")
                self.failed.emit(self.request, f"{type(exc).__name__}: {exc}")
        finally:
            _jobs().ended.emit(self)

    def run(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


PROGRESS_EVERY_S = 0.05  # seconds between progress signals of a scan (20 a second at most)


class ScanJob(Job):
    """Scan a folder; emits ``catalog_updated`` as series appear and ``finished`` at the end."""

    catalog_updated = Signal(int, object)  # request, Catalog so far
    finished = Signal(int, object)  # request, final Catalog

    def __init__(self, request: int, root: str, parent: QObject | None = None,
                 update_every_s: float = 0.25):
        super().__init__(request, parent)
        self.root = root
        self.update_every_s = update_every_s

    def run(self) -> None:
        import time

        from viewer.dicom import prefetch

        # The folder named at launch was scanned while the window was built (its first
        # slice decoded too): used once, by the first open of that folder.
        # (The window takes it itself when it is ready before the window is:
        # window_opening.open_folder.)
        pre = prefetch.take(self.root, cancel=self.cancel_event)
        if pre is not None:
            pre.install()
            self.finished.emit(self.request, pre.catalog)
            return
        headers, skipped, indexes = [], [], []
        last = last_progress = time.monotonic()
        n_series = 0
        upd = None
        for upd in iter_scan(self.root, cancel=self.cancel_event):
            if upd.header is not None:
                headers.append(upd.header)
            elif upd.skipped is not None:
                skipped.append(upd.skipped)
            elif upd.index is not None:
                indexes.append(upd.index)
            now = time.monotonic()
            # The progress bar at most every PROGRESS_EVERY_S: a repaint per file cost the
            # GUI thread ~0.1 s of a 232-file folder's scan, on the cores the scan needs.
            if now - last_progress >= PROGRESS_EVERY_S:
                self.progress.emit(self.request, upd.done, upd.total)
                last_progress = now
            if now - last >= self.update_every_s:
                series = {h.series_uid for h in headers}
                if len(series) != n_series:
                    n_series = len(series)
                    self.catalog_updated.emit(self.request, build_catalog(headers, skipped,
                                                                         self.root))
                last = now
        if upd is not None:
            self.progress.emit(self.request, upd.done, upd.total)
        catalog = build_catalog(headers, skipped, self.root, cancelled=self.cancelled)
        catalog.indexes = indexes
        self.finished.emit(self.request, catalog)


class LoadJob(Job):
    """Decode every slice of a stack; ``slice_loaded(request, k)`` as each arrives.

    A slice that cannot be decoded does not stop the others: at the end ``slices_failed(request,
    [k, ...])`` lists them (the views show placeholders), ``failed`` says once which file and
    frame (and how many more), and ``finished`` follows as for a clean load.
    """

    slice_loaded = Signal(int, int)
    slices_failed = Signal(int, object)  # request, sorted slice indices
    finished = Signal(int)

    def __init__(self, request: int, pixels: StackPixels, first: int,
                 parent: QObject | None = None):
        super().__init__(request, parent)
        self.pixels = pixels
        self.first = first
        self.first_in = threading.Event()  # set once a slice (the first asked for) is in

    def _on_slice(self, k: int) -> None:
        self.slice_loaded.emit(self.request, k)
        self.first_in.set()

    def run(self) -> None:
        n = self.pixels.stack.n_frames
        try:
            self.pixels.load_volume(
                progress=lambda d, t: self.progress.emit(self.request, d, t),
                cancel=self.cancel_event,
                on_slice=self._on_slice,
                first=self.first,
            )
        except MissingCodecError:
            raise  # the same for every slice: nothing loaded, said once by the base class
        except DicomReadError:
            bad = sorted(self.pixels.failed)
            if not bad:
                raise
            self.slices_failed.emit(self.request, bad)
            # Said once per stack, not again each time the user comes back to it.
            if getattr(self.pixels, "reported_failures", None) != bad:
                self.pixels.reported_failures = bad
                self.failed.emit(self.request, failed_slices_message(self.pixels, bad))
        self.progress.emit(self.request, n, n)
        self.finished.emit(self.request)


def frame_reason(pixels: StackPixels, k: int) -> str:
    """Why slice ``k`` failed, in one short line without the file's path (said beside it)."""
    from viewer.dicom.messages import short_decoder_error

    text = str(pixels.failed[k])
    path = pixels.stack.frames[k].header.path
    if text.startswith(path + ":"):
        text = text[len(path) + 1:].strip()
    return short_decoder_error(text)


def failed_slices_message(pixels: StackPixels, bad: list[int]) -> str:
    """One line for the Problems panel: the first bad slice's file and frame, and the count."""
    from viewer.dicom.messages import frame_problem

    ref = pixels.stack.frames[bad[0]]
    line = frame_problem(ref.header.path, ref.frame, frame_reason(pixels, bad[0]))
    more = len(bad) - 1
    if more:
        line += f" ({more} more slice{'s' if more > 1 else ''} of this series cannot be shown)"
    return line + "; the other slices are shown"


FIRST_SLICE_WAIT_S = 3.0  # thumbnails wait at most this long for the shown series' first slice


def first_slices_pending() -> bool:
    """Whether a running load has not yet delivered its first slice."""
    return any(isinstance(j, LoadJob) and not j.first_in.is_set() for j in running_jobs())


class ThumbnailJob(Job):
    """Middle-slice thumbnails (uint8, at most ``size`` pixels a side) for a list of stacks."""

    thumbnail_ready = Signal(int, str, object)  # request, stack uid, uint8 array

    def __init__(self, request: int, stacks: list, size: int = 96,
                 parent: QObject | None = None):
        super().__init__(request, parent)
        self.stacks = stacks
        self.size = size

    def run(self) -> None:
        from viewer.dicom.pixels import decode_many
        from viewer.display.suv_window import series_window
        from viewer.display.window import displayable

        # The image the user waits for comes first: thumbnails start once every load has its
        # first slice (or after ``FIRST_SLICE_WAIT_S``), instead of sharing the decoder
        # processes and the cores with it when a folder opens.
        deadline = time.monotonic() + FIRST_SLICE_WAIT_S
        while first_slices_pending() and time.monotonic() < deadline:
            if self.cancel_event.wait(0.02):
                return
        refs = [st.frames[st.n_frames // 2] for st in self.stacks]
        # Decoded in the worker processes (a hostile file crashes a worker, not the window),
        # one stack a task so that the workers share them.
        items = [(ref.header, ref.frame) for ref in refs]
        for i, stored in decode_many(items, cancel=self.cancel_event, batch=1):
            if self.cancelled:
                return
            ref = refs[i]
            if isinstance(stored, ViewerError):
                log.warning("thumbnail skipped: %s", stored)
                continue
            try:
                img = displayable(stored, ref.header, series_window(self.stacks[i]))
            except ViewerError as exc:
                log.warning("thumbnail skipped: %s", exc)
                continue
            step = max(1, int(np.ceil(max(img.shape[:2]) / self.size)))
            thumb = np.ascontiguousarray(img[::step, ::step])
            self.thumbnail_ready.emit(self.request, self.stacks[i].uid, thumb)


class AnalyzeJob(Job):
    """Run one model on one stack; ``finished(request, AnalysisResult)``."""

    finished = Signal(int, object)

    def __init__(self, request: int, runner, entry, pixels: StackPixels,
                 parent: QObject | None = None):
        super().__init__(request, parent)
        self.runner, self.entry, self.pixels = runner, entry, pixels
        self.stage = ""

    def run(self) -> None:
        def progress(done: int, total: int, stage: str) -> None:
            self.stage = stage
            self.progress.emit(self.request, done, total)

        try:
            result = self.runner.run(self.entry, self.pixels, progress=progress,
                                     cancel=self.cancel_event)
        finally:
            # The model's input and outputs (GBs for the larger MeshNets) are freed by now:
            # their heap space goes back to the system. No gc pass off the GUI thread (it
            # could end a Qt object here).
            memory.give_back(collect=False)
        self.finished.emit(self.request, result)


class SegLoadJob(Job):
    """Read a DICOM SEG onto a stack's grid; ``finished(request, AnalysisResult)``."""

    finished = Signal(int, object)

    def __init__(self, request: int, path: str, stack, parent: QObject | None = None):
        super().__init__(request, parent)
        self.path, self.stack = path, stack

    def run(self) -> None:
        from viewer.ai.result import result_from_seg
        from viewer.dicom.seg import read_seg

        self.finished.emit(self.request, result_from_seg(read_seg(self.path, self.stack),
                                                         self.stack))


class CallJob(Job):
    """Run ``fn()`` (a file write that takes longer than a frame); ``finished(request,
    return value)``; ViewerErrors arrive as ``failed``."""

    finished = Signal(int, object)

    def __init__(self, request: int, fn, parent: QObject | None = None):
        super().__init__(request, parent)
        self.fn = fn

    def run(self) -> None:
        self.finished.emit(self.request, self.fn())
