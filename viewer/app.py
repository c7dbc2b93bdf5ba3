"""GUI entry point: ``radviewer [PATH] [--sample]``."""

from __future__ import annotations

import sys


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


def run_gui(path: str | None = None, sample: bool = False,
            exit_after_first_image: bool = False) -> int:
    """Start the window; opens ``path`` or the sample study when given.

    ``exit_after_first_image``: quit once the first slice is painted, printing the time since
    launch (viewer.gui.startup_probe).
    """
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
    if exit_after_first_image:
        from viewer.gui.startup_probe import FirstImageProbe

        win._startup_probe = FirstImageProbe(app, win.views[0])
    if sample:
        win.open_sample()
    elif path:
        win.open_folder(path)
    return app.exec()
