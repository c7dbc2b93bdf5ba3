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


@pytest.fixture(autouse=True)
def _own_user_data(tmp_path, monkeypatch):
    """Work saved for read-only studies (../shared) goes to the user data folder: one per
    test, so no test finds another's measurements."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "user-data"))
