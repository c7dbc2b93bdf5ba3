"""The real main window for GUI tests, with its settings in a temporary file."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QSettings

from viewer.gui.main_window import MainWindow


@pytest.fixture
def settings(tmp_path):
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def window(qtbot, settings):
    win = MainWindow(settings)
    qtbot.addWidget(win)
    win.resize(1100, 800)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.close()
