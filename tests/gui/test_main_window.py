"""The real window, offscreen: open studies, scroll, window, reformat, skip, cancel."""

from __future__ import annotations

import threading

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication
from synth_path import write_broken_files, write_series

pg.setConfigOptions(imageAxisOrder="row-major")


def open_and_wait(qtbot, win, path) -> None:
    win.open_folder(str(path))
    qtbot.waitUntil(lambda: win._scan is None and win.catalog is not None, timeout=30000)
    qtbot.waitUntil(lambda: win.view._shown is not None, timeout=30000)


def wheel(view, steps: int) -> None:
    """Send real wheel events to the view's viewport (one notch = 120)."""
    vp = view.graphics.viewport()
    center = QPointF(vp.width() / 2, vp.height() / 2)
    for _ in range(abs(steps)):
        delta = -120 if steps > 0 else 120
        ev = QWheelEvent(center, QPointF(vp.mapToGlobal(center.toPoint())), QPoint(0, 0),
                         QPoint(0, delta), Qt.MouseButton.NoButton,
                         Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
        QApplication.sendEvent(vp, ev)


def grey_at(view, row: int, col: int) -> int:
    """Grey level on the grabbed widget where image pixel (row, col) is drawn."""
    rows_mm, cols_mm = view._spacing()
    scene = view.viewbox.mapViewToScene(QPointF((col + 0.5) * cols_mm, (row + 0.5) * rows_mm))
    p = view.graphics.mapFromScene(scene)
    img = view.graphics.grab().toImage()
    return img.pixelColor(p.x(), p.y()).red()


def test_ct_scroll_with_wheel_and_keys(qtbot, window, shared_data):
    open_and_wait(qtbot, window, shared_data / "ct-chest-lidc0314")
    view = window.view
    stack = view.pixels.stack
    assert (view.index, view.n_slices) == (137, 275)
    # Instance Number falls along the stack (image 1 is the top slice): the shown order is
    # acquisition order, so scrolling on runs down the stack (tests/gui/test_scroll_direction).
    assert view.display_reversed
    wheel(view, 3)
    assert view.index == 134
    wheel(view, -5)
    assert view.index == 139
    window.activateWindow()
    view.setFocus()
    qtbot.keyClick(view, Qt.Key.Key_Down)
    qtbot.keyClick(view, Qt.Key.Key_PageDown)
    assert view.index == 128
    qtbot.keyClick(view, Qt.Key.Key_End)
    assert view.index == 0
    qtbot.keyClick(view, Qt.Key.Key_Home)
    assert view.index == 274
    view.set_index(200)
    assert window.slider.value() == 74
    qtbot.waitUntil(lambda: view._shown is not None)
    assert view.position_mm() == pytest.approx(float(stack.slice_positions[200]))
    assert stack.frames[200].position[2] == pytest.approx(-479.800049)
    assert "image 75 / 275" in view._corner["tr"].text()
    assert "pos -479.8 mm" in view._corner["tr"].text()


def test_ct_lung_preset_levels_and_pixels(qtbot, window, shared_data):
    open_and_wait(qtbot, window, shared_data / "ct-chest-lidc0314")
    view = window.view
    # Header window -450/2000 (parsed from "-0450") = -1450..550 HU; with intercept -1000
    # the levels are in stored units: -450..1549 (LINEAR, PS3.3 C.11.2.1.2.1, spans
    # c - 0.5 -+ (w - 1) / 2, as the export's apply_window does).
    assert view.image.getLevels() == pytest.approx((-450, 1549))
    view.apply_preset("mediastinum")
    qtbot.wait(50)
    air_mediastinum = grey_at(view, 20, 256)
    view.apply_preset("lung")
    assert (view.window.center, view.window.width) == (-600, 1500)
    # Lung window -1350..149 HU (LINEAR) = stored -350..1149 with intercept -1000.
    assert view.image.getLevels() == pytest.approx((-350, 1149))
    qtbot.wait(50)
    air_lung = grey_at(view, 20, 256)
    assert air_mediastinum <= 3  # air below the mediastinal window: black
    assert 45 <= air_lung <= 75  # -1000 HU in the lung window: (350/1500)*255 = 60
    assert "C -600  W 1500" in view._corner["bl"].text()


def test_mr_t1_shown_axial_with_letters(qtbot, window):
    from viewer.paths import sample_study_dir

    open_and_wait(qtbot, window, sample_study_dir())
    view = window.view
    assert view.pixels.stack.plane == "SAGITTAL"
    assert view.edge_letters() == {"left": "A", "right": "P", "top": "S", "bottom": "I"}
    view.set_plane("axial")
    qtbot.waitUntil(lambda: view._shown is not None, timeout=30000)
    assert view._shown.shape == (192, 175)
    assert {k: lab.text() for k, lab in view._edge.items()} == {
        "left": "R", "right": "L", "top": "A", "bottom": "P"}
    # Pixels appear with their true aspect: 192 rows of 1.146 mm vs 175 columns of 1 mm.
    rect = view.image.mapRectToParent(view.image.boundingRect())
    assert rect.height() / rect.width() == pytest.approx(192 * 1.1458 / 175, rel=1e-3)


def test_broken_files_counted_and_listed(qtbot, window, tmp_path):
    write_series(tmp_path / "ct", n_slices=6)
    write_broken_files(tmp_path / "junk")
    open_and_wait(qtbot, window, tmp_path)
    n = len(window.catalog.skipped)
    assert n >= 6
    assert f"{n} files skipped" in window.skipped_label.text()
    assert window.series_list.count() == len(window.catalog.stacks())


def test_cancel_scan(qtbot, window, tmp_path, monkeypatch):
    write_series(tmp_path, n_slices=200, rows=8, cols=8)
    import viewer.dicom.scan as scan_mod

    gate = threading.Event()
    real = scan_mod.read_header

    def gated(path):
        gate.wait(10)
        return real(path)

    monkeypatch.setattr(scan_mod, "read_header", gated)
    window.open_folder(str(tmp_path))
    assert window.cancel_button.isVisibleTo(window)
    window.cancel_button.click()
    gate.set()
    qtbot.waitUntil(lambda: window._scan is None and window.catalog is not None, timeout=30000)
    assert window.catalog.cancelled
    assert sum(st.n_frames for st in window.catalog.stacks()) < 200
    assert not window.progress.isVisibleTo(window)


def test_switching_series_drops_stale_slices(qtbot, window):
    from viewer.paths import sample_study_dir

    open_and_wait(qtbot, window, sample_study_dir())
    first_job = window._load
    window.series_list.setCurrentRow(1)
    assert window._load is not first_job and first_job.cancelled
    qtbot.waitUntil(lambda: window.view._shown is not None, timeout=30000)
    assert window.view.pixels.stack.label.startswith("AX FSE T2")
    assert np.asarray(window.view._shown).shape == (512, 384)


def test_about_credits_every_bundled_model_and_the_sample(qtbot, window):
    import json

    from PySide6.QtWidgets import QTextBrowser

    from viewer.paths import models_dir

    window.show_about()
    browser = window._about.findChild(QTextBrowser)
    assert "Looking for models" in browser.toPlainText()  # opens at once, models follow
    qtbot.waitUntil(lambda: "Looking for models" not in browser.toPlainText(), timeout=20000)
    text = browser.toPlainText()
    assert "Research use — not a diagnosis." in text
    assert "FNNDSC" in text and "Apache-2.0" in text
    for mf in sorted(models_dir().glob("*/manifest.json")):
        m = json.loads(mf.read_text())
        assert f"{m['name']} {m['version']}" in text
        assert m["licence"][:20] in text
    window._about.close()
