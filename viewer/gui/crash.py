"""Crash safety: an unexpected exception anywhere is logged and shown, and the app goes on.

:class:`CrashReporter` installs ``sys.excepthook`` (the GUI thread, including exceptions raised
in Qt slots and event handlers) and ``threading.excepthook`` (Python threads), and takes the
unexpected exceptions that background jobs catch at their boundary (:func:`report`). Each is
written to the user log (viewer.logs: patient identifiers redacted) and announced in one
non-modal dialog that names the log file; more errors while it is open are counted in it
rather than stacking dialogs.
"""

from __future__ import annotations

import logging
import sys
import threading

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QMessageBox, QWidget

from viewer.logs import format_exception

log = logging.getLogger("radviewer.crash")
_reporter: CrashReporter | None = None


class CrashReporter(QObject):
    """Logs unexpected exceptions and shows them (on the GUI thread) with the log's path."""

    _crashed = Signal(str)  # one-line summary; queued to the GUI thread from any thread

    def __init__(self, window: QWidget, log_path) -> None:
        super().__init__(window)
        self.window = window
        self.log_path = str(log_path)
        self.count = 0
        self.box: QMessageBox | None = None
        self._crashed.connect(self._show, Qt.ConnectionType.QueuedConnection)

    def install(self) -> None:
        """Become the handler of uncaught exceptions in every thread."""
        global _reporter
        _reporter = self
        sys.excepthook = self._excepthook
        threading.excepthook = self._thread_excepthook

    def report(self, etype, value, tb, where: str) -> None:
        """Log one exception with its traceback and announce it (safe from any thread)."""
        log.error("unexpected error in %s:\n%s", where, format_exception(etype, value, tb))
        self._crashed.emit(f"{etype.__name__} in {where}: {value}")

    def _excepthook(self, etype, value, tb) -> None:
        if issubclass(etype, KeyboardInterrupt):
            sys.__excepthook__(etype, value, tb)
            return
        self.report(etype, value, tb, "the window")

    def _thread_excepthook(self, args) -> None:
        if args.exc_type is SystemExit:
            return
        name = args.thread.name if args.thread is not None else "a background thread"
        self.report(args.exc_type, args.exc_value, args.exc_traceback, f"thread {name}")

    def _show(self, summary: str) -> None:
        self.count += 1
        if self.box is None:
            box = QMessageBox(QMessageBox.Icon.Critical, "radviewer: unexpected error", "",
                              QMessageBox.StandardButton.Ok, self.window)
            box.setWindowModality(Qt.WindowModality.NonModal)
            box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)  # a new one next time
            box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            box.finished.connect(self._closed)
            self.box = box
        more = f"\n\n({self.count - 1} more since.)" if self.count > 1 else ""
        self.box.setText(
            f"Something went wrong: {summary}{more}\n\n"
            f"The details were written to\n{self.log_path}\n"
            "(no patient data is written there). Please attach that file when you report the "
            "problem.\n\nradviewer keeps running. If something looks wrong, export or note "
            "your work and restart it.")
        self.box.show()
        self.box.raise_()

    def _closed(self, _result: int) -> None:
        self.box = None
        self.count = 0


def report(exc: BaseException, where: str) -> None:
    """An unexpected exception a background job caught at its boundary: log it and, when the
    window has a reporter, announce it too."""
    if _reporter is not None:
        _reporter.report(type(exc), exc, exc.__traceback__, where)
    else:
        log.error("unexpected error in %s:\n%s", where,
                  format_exception(type(exc), exc, exc.__traceback__))
