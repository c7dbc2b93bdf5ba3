"""A background job outlives the window that started it: its thread may still emit after the
window is deleted (seen as "Signal source has been deleted" from a job's error path)."""

from __future__ import annotations

import threading

from PySide6.QtCore import QCoreApplication, QEvent
from PySide6.QtWidgets import QWidget

from viewer.errors import DicomReadError
from viewer.gui import crash, workers
from viewer.gui.workers import Job


class _LateFailure(Job):
    """Emits progress and then fails, but only once ``gate`` is set."""

    gate = threading.Event()

    def run(self) -> None:
        self.gate.wait(10)
        self.progress.emit(self.request, 1, 2)
        raise DicomReadError("late.dcm: pixel data truncated")


def test_job_emitting_after_its_window_is_deleted_is_harmless(qtbot, monkeypatch):
    reported, uncaught = [], []
    monkeypatch.setattr(crash, "report", lambda exc, where: reported.append(exc))
    monkeypatch.setattr(threading, "excepthook", lambda args: uncaught.append(args.exc_value))
    owner = QWidget()
    shown = []
    job = _LateFailure(1, parent=owner)
    job.failed.connect(lambda _r, msg: shown.append(msg))
    job.start()
    owner.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    del job, owner
    _LateFailure.gate.set()
    qtbot.waitUntil(lambda: not workers.running_jobs(), timeout=10000)
    qtbot.wait(50)  # let the queued signals arrive
    assert reported == [] and uncaught == []
    assert shown == ["late.dcm: pixel data truncated"]


def test_stop_all_cancels_and_waits_for_every_job(qtbot):
    class Waits(Job):
        def run(self) -> None:
            self.cancel_event.wait(30)

    jobs = [Waits(i) for i in range(3)]
    for j in jobs:
        j.start()
    assert all(j.is_running for j in jobs)
    assert workers.stop_all(5.0)
    assert not any(j.is_running for j in jobs) and all(j.cancelled for j in jobs)
