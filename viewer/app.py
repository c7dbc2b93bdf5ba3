"""GUI entry point: ``radviewer [PATH] [--sample]``."""

from __future__ import annotations

import logging
import os
import sys
import threading
import traceback
from pathlib import Path

log = logging.getLogger("radviewer")


def _log_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local",
                                                            "state")
    d = Path(base) / "radviewer"
    d.mkdir(parents=True, exist_ok=True)
    return d


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
    app.setStyle("Fusion")
    app.setPalette(p)


def run_gui(path: str | None = None, sample: bool = False,
            exit_after_first_image: bool = False) -> int:
    """Start the window; opens ``path`` or the sample study when given.

    ``exit_after_first_image``: quit once the first slice is painted, printing the time since
    launch (viewer.gui.startup_probe).
    """
    import pyqtgraph as pg
    from PySide6.QtWidgets import QApplication, QMessageBox

    from viewer.gui.main_window import MainWindow

    log_path = _log_dir() / "radviewer.log"
    logging.basicConfig(filename=log_path, level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("radviewer")
    _dark_palette(app)
    win = MainWindow()

    from PySide6.QtCore import QObject, Signal

    class _CrashReporter(QObject):
        """Carries a crash message from any thread to a dialog on the GUI thread."""

        crashed = Signal(str)

    reporter = _CrashReporter()
    reporter.crashed.connect(lambda text: QMessageBox.critical(
        win, "radviewer: unexpected error",
        f"{text}\n\nDetails were written to {log_path}\nThe viewer keeps running; save your "
        "work and restart it if something looks wrong."))

    def excepthook(etype, value, tb):
        # Tracebacks name code, not patients; file paths may appear, as they do on screen.
        log.error("uncaught exception:\n%s", "".join(traceback.format_exception(etype, value, tb)))
        reporter.crashed.emit(f"{etype.__name__}: {value}")

    def thread_excepthook(args):
        if args.exc_type is SystemExit:
            return
        name = args.thread.name if args.thread is not None else "?"
        log.error("uncaught exception in thread %s:\n%s", name, "".join(
            traceback.format_exception(args.exc_type, args.exc_value, args.exc_traceback)))
        reporter.crashed.emit(f"{args.exc_type.__name__} in background work: {args.exc_value}")

    sys.excepthook = excepthook
    threading.excepthook = thread_excepthook
    win.show()
    if exit_after_first_image:
        from viewer.gui.startup_probe import FirstImageProbe

        win._startup_probe = FirstImageProbe(app, win.views[0])
    if sample:
        win.open_sample()
    elif path:
        win.open_folder(path)
    return app.exec()
