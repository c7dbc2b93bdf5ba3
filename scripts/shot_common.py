"""What the screenshot scripts share: the Qt application as the app sets it up, waiting in its
event loop, and a window with throw-away settings and patient details hidden.

Import it after the script has put the repository root on ``sys.path``.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path


def qt_app():
    """The QApplication as ``radviewer`` makes it (row-major images, dark palette); offscreen
    when there is no $DISPLAY."""
    if not os.environ.get("DISPLAY"):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    import pyqtgraph as pg
    from PySide6.QtWidgets import QApplication

    from viewer.app import _dark_palette

    pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)
    app = QApplication.instance() or QApplication([sys.argv[0]])
    _dark_palette(app)
    return app


def spin(ms: int) -> None:
    """Run the event loop for ``ms`` milliseconds."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def wait_for(cond, what: str, timeout: float = 120, settle_ms: int = 200) -> None:
    """Run the event loop until ``cond()`` holds (then ``settle_ms`` more for painting);
    TimeoutError naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        spin(20)
    spin(settle_ms)


def window(tmp: Path, width: int = 1400, height: int = 900):
    """A shown MainWindow with its settings in ``tmp`` and patient details hidden."""
    from PySide6.QtCore import QSettings

    from viewer.gui.main_window import MainWindow

    settings = QSettings(str(Path(tmp) / "radviewer.ini"), QSettings.Format.IniFormat)
    win = MainWindow(settings)
    win.resize(width, height)
    win.show()
    win.hide_patient_action.setChecked(True)
    win.set_hide_patient_details(True)
    return win


def save(win, path: Path) -> Path:
    """``win`` grabbed to the PNG ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not win.grab().save(str(path), "PNG"):
        raise RuntimeError(f"could not write {path}")
    return path
