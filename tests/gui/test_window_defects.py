"""Defects seen in the real window (issue 13 §5), each through the real window on real data:
PET 1×3 click, focus and status after Cancel analysis or a closed dock, plane and layout
switches keeping the point, series warnings in full and in the Problems panel."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRect, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication
from test_main_window import open_and_wait
from test_viewer_tools import screen_point

from viewer.paths import sample_study_dir


def test_pet_1x3_click_in_coronal_keeps_its_slice(qtbot, window, shared_data):
    open_and_wait(qtbot, window, shared_data / "pet-seg-headneck" / "PET")
    window.set_layout("1x3")
    axial, coronal, sagittal = window.views
    qtbot.waitUntil(lambda: all(v._shown is not None for v in window.views), timeout=30000)
    assert axial.n_slices > coronal.n_slices  # the slider's range shrinks on activation
    before = coronal.index
    row, col = 100, 60
    QTest.mouseClick(coronal.graphics.viewport(), Qt.MouseButton.LeftButton,
                     Qt.KeyboardModifier.NoModifier, screen_point(coronal, col + 0.5, row + 0.5))
    assert window.view is coronal
    assert coronal.index == before != coronal.n_slices - 1
    assert sagittal.index == col  # the other planes go through the clicked voxel
    assert axial.crosshair is not None and window.slider.value() == before


def test_plane_and_layout_switches_keep_the_point(qtbot, window, shared_data):
    open_and_wait(qtbot, window, shared_data / "ct-chest-lidc0314")
    view = window.view
    view.set_index(60)  # far from the centre (137)
    z = view.position_mm()
    window.set_plane("axial")
    assert abs(view.position_mm() - z) <= 0.5
    window.set_plane("coronal")
    assert view.plane == "coronal"
    window.set_plane("axial")
    assert abs(view.position_mm() - z) <= 0.5
    window.set_layout("1x3")
    assert window.views[0].plane == "axial" and abs(window.views[0].position_mm() - z) <= 0.5


def test_cancel_analysis_clears_the_status_and_gives_focus_back(qtbot, window):
    from viewer.ai.registry import discover

    open_and_wait(qtbot, window, sample_study_dir())
    entry = {e.id: e for e in discover()}["brainchop-tissue"]
    window.analyze(entry)
    assert "Analyzing" in window.statusBar().currentMessage()
    window.activateWindow()
    window.analyze_cancel.setFocus()
    qtbot.mouseClick(window.analyze_cancel, Qt.MouseButton.LeftButton)
    assert window._analyze is None and not window.analyze_cancel.isVisible()
    assert "Analyzing" not in window.statusBar().currentMessage()
    assert QApplication.focusWidget() is not window.fps
    qtbot.keyClick(window, Qt.Key.Key_M)  # a single-key shortcut still reaches the window
    assert window.view.tool == "ruler"
    assert window.fps.value() == window.settings.value("cine/fps", 10, type=int)


def test_closing_a_dock_gives_focus_back_to_the_view(qtbot, window, shared_data):
    open_and_wait(qtbot, window, shared_data / "ct-chest-lidc0314")
    window.activateWindow()
    qtbot.keyClick(window, Qt.Key.Key_T, Qt.KeyboardModifier.ControlModifier)
    assert window.tags.search.hasFocus()
    window.tags_dock.close()
    assert QApplication.focusWidget() is not window.fps
    qtbot.keyClick(window, Qt.Key.Key_B)
    assert window.view.tool == "rect"


def test_series_warnings_in_full_and_in_the_problems_panel(qtbot, window, shared_data):
    open_and_wait(qtbot, window, shared_data / "ct-chest-lidc0314")
    [st] = window.catalog.stacks()
    [warning] = st.warnings  # every LIDC slice has its own Frame of Reference UID
    problems = [window.problems.item(i).text() for i in range(window.problems.count())]
    assert any(warning in p for p in problems)
    assert not window.problems_dock.isVisible()  # listed, without popping up
    window.series_list.parentWidget().resize(220, 600)  # a narrow dock: the text wraps
    tree = window.series_list.tree
    qtbot.wait(50)
    item = tree.topLevelItem(0).child(0).child(0)
    rect = tree.visualItemRect(item)
    needed = tree.fontMetrics().boundingRect(
        QRect(0, 0, window._series_rows.text_width(tree.indexFromItem(item)), 10000),
        int(Qt.TextFlag.TextWordWrap), item.text(0))
    assert "⚠" in item.text(0) and needed.height() > 3 * tree.fontMetrics().height()
    assert rect.height() >= needed.height()
    assert np.isfinite(rect.height())
