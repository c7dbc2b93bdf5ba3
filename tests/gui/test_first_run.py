"""First run and crash safety: the welcome view, recent studies, and unexpected errors that are
logged (without patient data) and shown with the log's path while the window keeps working."""

from __future__ import annotations

import sys
import threading

import pytest
from PySide6.QtCore import Qt, QTimer

from viewer import logs
from viewer.gui import crash
from viewer.gui.crash import CrashReporter
from viewer.gui.main_window import MainWindow
from viewer.gui.workers import Job
from viewer.paths import sample_study_dir


def test_welcome_view_explains_in_two_lines_and_offers_the_ways_in(window):
    assert window.center.currentWidget() is window.welcome
    text = window.welcome_text.text()
    assert text.count("<br>") == 1  # two lines
    assert "study folder" in text and "AI" in text and "not a diagnosis" in text
    labels = {b.text().replace("&", "") for b in window.welcome.findChildren(
        type(window.cancel_button))}
    assert {"Open folder…", "Open sample study"} <= labels
    first = window.recent_list.item(0)
    assert window.recent_list.count() == 1 and "No recent studies" in first.text()
    assert not first.flags() & Qt.ItemFlag.ItemIsEnabled
    assert not window.slider.isVisible()  # no slice slider before a series is shown


def test_recent_studies_open_from_the_welcome_view(qtbot, settings, tmp_path):
    gone = str(tmp_path / "removed-stick" / "study")
    settings.setValue("recent", [str(sample_study_dir()), gone])
    win = MainWindow(settings)
    qtbot.addWidget(win)
    win.show()
    assert win.recent_list.count() == 2
    missing = win.recent_list.item(1)
    qtbot.waitUntil(lambda: "(not found)" in missing.text(), timeout=5000)
    assert not missing.flags() & Qt.ItemFlag.ItemIsEnabled
    sample = win.recent_list.item(0)
    assert sample.text().startswith("sample") and sample.flags() & Qt.ItemFlag.ItemIsEnabled
    win.recent_list.itemActivated.emit(sample)
    qtbot.waitUntil(lambda: win.series_list.count() == 4, timeout=20000)
    qtbot.waitUntil(lambda: win.views[0]._shown is not None, timeout=20000)
    assert win.center.currentWidget() is not win.welcome and win.slider.isVisible()
    win.close()


@pytest.fixture
def reporter(window, tmp_path, monkeypatch):
    """The window's crash reporter writing to a log in tmp_path; hooks restored afterwards."""
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    monkeypatch.setattr(crash, "_reporter", None)
    log_path = logs.setup_logging(tmp_path)
    rep = CrashReporter(window, log_path)
    rep.install()
    yield rep
    logs.stop_logging()


def _log_text(rep) -> str:
    with open(rep.log_path, encoding="utf-8") as fh:
        return fh.read()


def test_exception_in_a_thread_is_logged_without_patient_data_and_shown(
        qtbot, window, reporter):
    window.open_sample()  # its patient's identifiers are now known to the log's redactor
    qtbot.waitUntil(lambda: window.series_list.count() == 4, timeout=20000)
    name = window.catalog.patients[0].name
    birth = window.catalog.patients[0].birth_date

    def work():
        raise ValueError(f"unexpected value for {name}, born {birth}")

    t = threading.Thread(target=work, name="test-worker")
    t.start()
    t.join()
    qtbot.waitUntil(lambda: reporter.box is not None and reporter.box.isVisible(), timeout=5000)
    assert reporter.log_path in reporter.box.text()
    assert "ValueError" in reporter.box.text()
    assert not reporter.box.isModal()  # the viewer stays usable behind it
    log = _log_text(reporter)
    assert "ValueError" in log and "test-worker" in log and "def work" not in log
    assert 'raise ValueError' in log  # the traceback is there ...
    assert name not in log and birth not in log and "[redacted]" in log  # ... not the patient
    # The window keeps working: it still scrolls through the series.
    before = window.view.index
    window.view.step(1)
    assert window.view.index == before + 1


@pytest.mark.qt_no_exception_capture
def test_exception_in_a_qt_slot_and_in_a_job_share_one_dialog(qtbot, window, reporter):
    def slot():
        raise KeyError("a bug in a slot")

    QTimer.singleShot(0, slot)
    qtbot.waitUntil(lambda: reporter.box is not None and reporter.box.isVisible(), timeout=5000)
    assert "KeyError" in reporter.box.text()

    # Not "Broken": a synthetic hostile file's patient is "Broken^…", and the log hides patient
    # names for the rest of the process (viewer.logs.REDACTOR) when an earlier test opened it.
    class JobThatFails(Job):
        def run(self):
            raise ZeroDivisionError("a bug in a background job")

    failures = []
    job = JobThatFails(7, parent=window)
    job.failed.connect(lambda request, message: failures.append((request, message)))
    job.start()
    qtbot.waitUntil(lambda: reporter.count == 2, timeout=5000)
    assert failures and failures[0][0] == 7  # the job's owner is told as well
    assert "1 more since" in reporter.box.text()  # one dialog, not a stack of them
    log = _log_text(reporter)
    assert "KeyError" in log and "background job JobThatFails" in log and "ZeroDivisionError" in log
    reporter.box.accept()
    assert reporter.box is None and reporter.count == 0
