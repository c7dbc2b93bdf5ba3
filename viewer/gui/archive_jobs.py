"""Background jobs for archives, de-identification and the audit log (see
:mod:`viewer.gui.workers` for the mechanism: a Python thread, queued signals, a request id,
a cooperative cancel event).

:class:`TaskJob` runs one blocking core call, ``fn(step, cancel)``: ``step`` forwards each
per-instance report (a :class:`~viewer.pacs.jobs.Progress`, a
:class:`~viewer.pacs.jobs.SendOutcome` or a ``(done, total)`` pair) as a signal; ``cancel``
is the job's :class:`threading.Event`, which the core checks between instances.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal

from viewer.gui.workers import Job


def report_problem(window, message: str) -> None:
    """``message`` in ``window``'s Problems panel, when it has one (dialogs also run alone)."""
    report = getattr(window, "report_problem", None)
    if report is not None:
        report(message)


def pacs_client(node, cache=None):
    """A :class:`~viewer.pacs.client.PacsClient` for ``node``. Its import brings in
    pynetdicom and requests (about a second on a busy machine): call it inside a job."""
    from viewer.pacs.client import PacsClient

    return PacsClient(node, cache)


class TaskJob(Job):
    """``finished(request, result)``; ``step(request, report)`` per instance; the base
    class's ``progress(request, done, total)`` too (total 0: not known) and ``failed``."""

    finished = Signal(int, object)
    step = Signal(int, object)

    def __init__(self, request: int, fn: Callable[[Callable[[Any], None], Any], Any],
                 parent: QObject | None = None):
        super().__init__(request, parent)
        self.fn = fn

    def _on_step(self, report: Any) -> None:
        """Called from whichever thread the core reports on (pynetdicom's, the SCP's)."""
        if isinstance(report, tuple):
            done, total = report
        else:
            done, total = getattr(report, "done", None), getattr(report, "total", None)
        if done is not None:
            self.progress.emit(self.request, int(done), int(total or 0))
        self.step.emit(self.request, report)

    def run(self) -> None:
        result = self.fn(self._on_step, self.cancel_event)
        self.finished.emit(self.request, result)


class Runner(QObject):
    """Starts :class:`TaskJob` s with increasing request ids and keeps the current one per
    ``slot`` ("search", "retrieve"...): a new job in a slot cancels the one before, and
    results of a job that is no longer current are dropped by :meth:`current`."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._request = 0
        self.jobs: dict[str, TaskJob] = {}

    def start(self, slot: str, fn, *, finished=None, failed=None, step=None,
              progress=None, ended=None) -> TaskJob:
        """Start ``fn(step, cancel)`` in ``slot``; the callbacks get the signal's arguments
        without the request id, for the slot's current job only; ``ended()`` is called when
        the job finishes or fails even after it was cancelled (to show what it left)."""
        self.cancel(slot)
        self._request += 1
        job = TaskJob(self._request, fn)
        self.jobs[slot] = job
        for signal, slot_fn in ((job.finished, finished), (job.failed, failed),
                                (job.step, step), (job.progress, progress)):
            if slot_fn is not None:
                # Queued: the job emits from its own thread; widgets are touched here only.
                signal.connect(self._current_only(slot, slot_fn),
                               Qt.ConnectionType.QueuedConnection)
        if ended is not None:
            for signal in (job.finished, job.failed):
                signal.connect(lambda *_: ended(), Qt.ConnectionType.QueuedConnection)
        job.start()
        return job

    def _current_only(self, slot: str, fn):
        def call(request: int, *args) -> None:
            if self.current(slot, request):
                fn(*args)
        return call

    def current(self, slot: str, request: int) -> bool:
        job = self.jobs.get(slot)
        return job is not None and job.request == request

    def cancel(self, slot: str) -> None:
        """Cancel the slot's job and forget it at once (its late results are dropped; the
        core stops at the next instance)."""
        job = self.jobs.pop(slot, None)
        if job is not None:
            job.cancel()

    def done(self, slot: str) -> None:
        self.jobs.pop(slot, None)

    def running(self, slot: str) -> bool:
        job = self.jobs.get(slot)
        return job is not None and job.is_running
