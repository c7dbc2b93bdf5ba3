"""Helpers the window tests share (a plain module, not a conftest: importable by name)."""

from __future__ import annotations

from PySide6.QtCore import QSettings

from viewer.gui.main_window import MainWindow


def shown_window(qtbot, settings_file, size=(1100, 800)) -> MainWindow:
    """A real main window with its settings in ``settings_file``, shown and exposed."""
    win = MainWindow(QSettings(str(settings_file), QSettings.Format.IniFormat))
    qtbot.addWidget(win)
    win.resize(*size)
    win.show()
    qtbot.waitExposed(win)
    return win
