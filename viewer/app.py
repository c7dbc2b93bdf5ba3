"""GUI entry point: ``radviewer [PATH] [--sample]``.

Ending: quitting, ``kill`` (SIGTERM), Ctrl+C (SIGINT) and a closed terminal (SIGHUP) all close
the window the same way: running jobs are cancelled and waited for (bounded), then the decoder
processes are terminated. The exit status is 0 after a quit and 128 + the signal's number
after a signal, as shells report it.
"""

from __future__ import annotations

import gc
import signal
import socket
import sys
import threading
from contextlib import contextmanager

QUIT_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def _dark_palette(app) -> None:
    from PySide6.QtGui import QColor, QPalette

    p = QPalette()
    dark, mid, text = QColor(30, 30, 32), QColor(45, 45, 48), QColor(220, 220, 220)
    for role, color in ((QPalette.ColorRole.Window, dark), (QPalette.ColorRole.Base, mid),
                        (QPalette.ColorRole.AlternateBase, dark),
                        (QPalette.ColorRole.Button, mid), (QPalette.ColorRole.Text, text),
                        (QPalette.ColorRole.WindowText, text),
                        (QPalette.ColorRole.ButtonText, text),
                        (QPalette.ColorRole.Highlight, QColor(60, 110, 170)),
                        (QPalette.ColorRole.Link, QColor(120, 170, 240))):
        p.setColor(role, color)
    grey = QColor(120, 120, 124)  # disabled entries (e.g. a recent study that is gone)
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.WindowText,
                 QPalette.ColorRole.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, role, grey)
    app.setStyle("Fusion")
    app.setPalette(p)


class _SignalQuit:
    """Turns SIGTERM/SIGINT/SIGHUP into a normal quit on the GUI thread.

    Python runs signal handlers only when the interpreter gets control, which it does not while
    Qt's event loop waits; the C-level handler therefore writes the signal number to a socket
    (``signal.set_wakeup_fd``) that a QSocketNotifier watches, and the quit happens in that
    notifier's slot, between events.
    """

    def __init__(self, app, window) -> None:
        from PySide6.QtCore import QSocketNotifier

        self.app, self.window = app, window
        self.received: int | None = None
        self._read, self._write = socket.socketpair()
        self._read.setblocking(False)
        self._write.setblocking(False)
        self._old_fd = signal.set_wakeup_fd(self._write.fileno(), warn_on_full_buffer=False)
        self._old = {s: signal.signal(s, self._note) for s in QUIT_SIGNALS}
        self._notifier = QSocketNotifier(self._read.fileno(), QSocketNotifier.Type.Read)
        self._notifier.activated.connect(self._on_wakeup)

    def _note(self, signum, _frame) -> None:
        # Runs in the main thread at the next bytecode; the notifier does the work.
        if self.received is None:
            self.received = signum

    def _on_wakeup(self, *_args) -> None:
        try:
            data = self._read.recv(64)
        except (BlockingIOError, InterruptedError):
            return
        signums = [b for b in data if b in {int(s) for s in QUIT_SIGNALS}]
        if not signums:
            return
        if self.received is None:
            self.received = signums[0]
        self.window.close()
        self.app.exit(128 + self.received)

    def uninstall(self) -> None:
        self._notifier.setEnabled(False)
        for s, old in self._old.items():
            signal.signal(s, old)
        signal.set_wakeup_fd(self._old_fd)
        self._read.close()
        self._write.close()


def _end(window, stopper: _SignalQuit | None) -> None:
    """Close the window (its jobs are cancelled and waited for), then stop the decoders."""
    from viewer.dicom import decode_pool, prefetch
    from viewer.gui.workers import stop_all

    if window.isVisible():
        window.close()  # e.g. after --exit-after-first-image, which exits without closing
    stop_all(3.0)
    prefetch.discard()  # a launch prefetch never taken (no folder was opened after all)
    decode_pool.shutdown()
    if stopper is not None:
        stopper.uninstall()


@contextmanager
def _collect_later():
    """No cyclic garbage collection while the imports and the window make their ~10^5
    long-lived objects (~250 collections traversing them took ~0.1 s of a 0.8 s start-up on
    2 cores, measured with gc.callbacks); at the end they are frozen (never traversed again:
    they live as long as the app) and collection resumes as before."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def run_gui(path: str | None = None, sample: bool = False,
            exit_after_first_image: bool = False) -> int:
    """Start the window; opens ``path`` or the sample study when given.

    ``exit_after_first_image``: quit once the first slice is painted, printing the time since
    launch (viewer.gui.startup_probe).
    """
    from viewer.dicom import decode_pool, prefetch

    # First, while this process has no thread: a child scans the folder and decodes its first
    # slice while the window is built (viewer.dicom.prefetch; the scan job takes it).
    # Otherwise: the decoder processes' forkserver starts and imports the decoders while this
    # process imports Qt and builds the window; workers then fork from it in milliseconds when
    # a compressed series is opened (they are started by its pixels, viewer.dicom.pixels).
    # Not both at once: on 2 cores the three processes' imports slowed the window's own (the
    # scan job starts the forkserver once it has taken the prefetch).
    started = False
    if path or sample:
        from viewer.paths import sample_study_dir

        started = prefetch.start(path if path else sample_study_dir())
    if not started:
        decode_pool.prestart()
    with _collect_later():
        import pyqtgraph as pg
        from PySide6.QtGui import QIcon
        from PySide6.QtWidgets import QApplication

        from viewer.gui.crash import CrashReporter
        from viewer.gui.main_window import MainWindow
        from viewer.logs import enable_fatal_log, setup_logging
        from viewer.paths import resources_dir

        log_path = setup_logging()
        enable_fatal_log()
        pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)
        app = QApplication.instance() or QApplication(sys.argv[:1])
        app.setApplicationName("radviewer")
        app.setDesktopFileName("radviewer")  # matches packaging/radviewer.desktop
        app.setWindowIcon(QIcon(str(resources_dir() / "icons" / "radviewer.png")))
        _dark_palette(app)
        win = MainWindow()
    # From here on an unexpected exception in any thread is logged and shown, not fatal.
    CrashReporter(win, log_path).install()
    win.show()
    stopper = _SignalQuit(app, win) if threading.current_thread() is threading.main_thread() \
        else None
    if exit_after_first_image:
        from viewer.gui.startup_probe import FirstImageProbe

        win._startup_probe = FirstImageProbe(app, win.views[0])
    if sample:
        win.open_sample()
    elif path:
        win.open_folder(path)
    try:
        code = app.exec()
    finally:
        _end(win, stopper)
    return code
