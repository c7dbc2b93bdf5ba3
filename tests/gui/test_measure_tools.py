"""Angle, Cobb angle, polygon and freehand ROIs and arrows drawn with the mouse in the real
window on a copy of the sample study: their figures against hand calculations, deletion,
export, and the SR round trip (save, close, open again: the same figures)."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPointF, QSettings, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication
from test_main_window import open_and_wait
from test_viewer_tools import mouse_drag, screen_point

from viewer.display import shapes
from viewer.display.measure import Measurement
from viewer.export.compose import render
from viewer.gui import window_persist
from viewer.gui.export_actions import view_scene
from viewer.gui.main_window import MainWindow
from viewer.paths import sample_study_dir
from viewer.persist import measurements as sr


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    dst = tmp_path_factory.mktemp("tools") / "study"
    shutil.copytree(sample_study_dir(), dst)
    return dst


def make_window(qtbot, tmp_path, name: str) -> MainWindow:
    win = MainWindow(QSettings(str(tmp_path / f"{name}.ini"), QSettings.Format.IniFormat))
    if not isinstance(getattr(win, "persist", None), window_persist.PersistController):
        window_persist.install(win)
    qtbot.addWidget(win)
    win.resize(1100, 800)
    win.show()
    qtbot.waitExposed(win)
    return win


def opened(qtbot, win, study):
    open_and_wait(qtbot, win, study)
    uid = win.view.pixels.stack.uid
    qtbot.waitUntil(lambda: uid in win.persist._loaded, timeout=10000)
    assert win.persist.wait(30)
    qtbot.wait(50)
    win.view.one_to_one()  # one screen pixel per image pixel: clicks land to the pixel
    qtbot.wait(50)
    return win.view


def click(qtbot, view, p, double: bool = False) -> None:
    vp, at = view.graphics.viewport(), screen_point(view, *p)
    QTest.mouseClick(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, at)
    if double:  # its second press, as the window system reports it (QTest's offscreen
        # double click never arrives): a double-click event, then the release
        for kind in (QEvent.Type.MouseButtonDblClick, QEvent.Type.MouseButtonRelease):
            QApplication.sendEvent(vp, QMouseEvent(
                kind, QPointF(at), QPointF(vp.mapToGlobal(at)), Qt.MouseButton.LeftButton,
                Qt.MouseButton.NoButton if kind == QEvent.Type.MouseButtonRelease
                else Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier))
    qtbot.wait(50)  # apart (QTest's clicks never make a double click): see mouse_drag


def trace(qtbot, view, pts, steps: int = 8) -> None:
    """Press, move through source points ``pts`` in small steps, release."""
    vp = view.graphics.viewport()
    at = [screen_point(view, *p) for p in pts]
    QTest.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, at[0])
    for a, b in zip(at, at[1:], strict=False):
        for i in range(1, steps + 1):
            QTest.mouseMove(vp, a + (b - a) * (i / steps))
            qtbot.wait(5)  # each move delivered, not merged into the next
    QTest.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, at[-1])
    qtbot.wait(50)  # as after mouse_drag


def newest(win, view):
    return win.measurements.on(view.slice_key())[-1]


def label(view, m) -> str:
    return view._items[m.id][1].toPlainText()


def test_each_tool_by_mouse_then_export_delete_and_sr_round_trip(qtbot, tmp_path, study,
                                                                 monkeypatch):
    win = make_window(qtbot, tmp_path, "a")
    view = opened(qtbot, win, study)
    rows_mm, cols_mm = view.calibration().spacing
    rows, cols = view.plane_shape()
    cx, cy = cols // 2 + 0.5, rows // 2 + 0.5
    key = view.slice_key()

    qtbot.keyClick(win, Qt.Key.Key_N)  # angle: arm end, vertex, arm end
    assert view.tool == "angle"
    for p in ((cx + 40, cy - 50), (cx, cy - 50), (cx, cy - 90)):
        click(qtbot, view, p)
    angle = newest(win, view)
    assert angle.kind == "angle" and label(view, angle) == "90.0°"

    qtbot.keyClick(win, Qt.Key.Key_O)  # Cobb: a level line, then one at 30° drawn backwards
    mouse_drag(qtbot, view, (cx - 60, cy - 20), (cx + 40, cy - 20))
    assert len(win.measurements.on(key)) == 1  # not done after the first line
    dx = 60.0
    dy = dx * math.tan(math.radians(30)) * cols_mm / rows_mm  # 30° in mm
    mouse_drag(qtbot, view, (cx + 40, cy + dy), (cx + 40 - dx, cy))
    cobb = newest(win, view)
    assert cobb.kind == "cobb" and len(cobb.pts) == 4
    shown = float(label(view, cobb).split()[1].rstrip("°"))
    assert shown == pytest.approx(30.0, abs=1.0)  # the mouse lands to the screen pixel
    assert shown == pytest.approx(shapes.cobb_deg(cobb.pts, (rows_mm, cols_mm)), abs=0.05)

    qtbot.keyClick(win, Qt.Key.Key_P)  # polygon: a 60 x 60 px square, double-click closes
    maximised = []
    win.grid.maximise_toggled.connect(maximised.append)
    square = [(cx - 90, cy + 40), (cx - 30, cy + 40), (cx - 30, cy + 100)]
    for p in square:
        click(qtbot, view, p)
    click(qtbot, view, (cx - 90, cy + 100), double=True)
    poly = newest(win, view)
    assert poly.kind == "polygon" and len(poly.pts) == 4
    assert maximised == []  # the double-click closed it; it did not maximise the viewport
    area = 60 * cols_mm * 60 * rows_mm
    assert f"area {area:.1f} mm²" in label(view, poly)
    assert "mean" in label(view, poly)

    qtbot.keyClick(win, Qt.Key.Key_D)  # freehand: the same square traced in another place
    trace(qtbot, view, [(cx + 10, cy + 40), (cx + 70, cy + 40), (cx + 70, cy + 100),
                        (cx + 10, cy + 100), (cx + 10, cy + 41)])
    free = newest(win, view)
    assert free.kind == "freehand" and len(free.pts) > 10  # the trace, not 4 corners
    free_area = float(label(view, free).split("area ")[1].split()[0])
    assert free_area == pytest.approx(area, rel=0.04)

    qtbot.keyClick(win, Qt.Key.Key_W)  # arrow: Esc at the label drops it; OK keeps it
    monkeypatch.setattr(view, "ask_arrow_text", lambda: ("", False))
    mouse_drag(qtbot, view, (cx + 110, cy - 80), (cx + 60, cy - 40))
    assert len(win.measurements.on(key)) == 4 and view._drawing is None
    monkeypatch.setattr(view, "ask_arrow_text", lambda: ("cyst ", True))
    mouse_drag(qtbot, view, (cx + 110, cy - 80), (cx + 60, cy - 40))
    arrow = newest(win, view)
    assert arrow.kind == "arrow" and arrow.text == "cyst" and label(view, arrow) == "cyst"
    drawn = win.measurements.on(key)
    assert [m.kind for m in drawn] == ["angle", "cobb", "polygon", "freehand", "arrow"]
    view.graphics.grab().save(str(tmp_path / "all_kinds.png"))  # to look at

    # Export: each kind leaves its marks in the exported image.
    scene = view_scene(view, win.result_panel, False)
    all_kinds = scene.measurements
    scene.measurements = []
    bare = render(scene)
    for m_text in all_kinds:
        scene.measurements = [m_text]
        changed = np.any(render(scene) != bare, axis=2).sum()
        assert changed > 100, m_text[0].kind
    scene.measurements = all_kinds
    from PIL import Image

    Image.fromarray(render(scene)).save(tmp_path / "export.png")

    # Deletion: the selected one goes, the others stay.
    view.select(free.id)
    qtbot.keyClick(win, Qt.Key.Key_Delete)
    assert [m.kind for m in win.measurements.on(key)] == ["angle", "cobb", "polygon", "arrow"]
    texts = {m.kind: label(view, m) for m in win.measurements.on(key)}

    # SR round trip: saved, read by highdicom as a Cobb of the angle shown, drawn again.
    stack = view.pixels.stack
    win.persist.save_all()
    assert win.persist.wait(30)
    path = study / sr.file_name(stack)
    qtbot.waitUntil(path.is_file, timeout=10000)
    win.close()
    [saved_cobb] = [a for a in sr.load_measurements(str(study), stack) if a.kind == "cobb"]
    from viewer.persist import shapes as saved_shapes

    assert saved_shapes.angle_deg(saved_cobb, (rows_mm, cols_mm)) == \
        pytest.approx(float(texts["cobb"].split()[1].rstrip("°")), abs=0.05)

    win2 = make_window(qtbot, tmp_path, "b")
    v2 = opened(qtbot, win2, study)
    back = win2.measurements.on(v2.slice_key())
    assert sorted(m.kind for m in back) == sorted(texts)
    assert {m.kind: label(v2, m) for m in back} == texts  # the same figures, drawn
    assert [m for m in back if m.kind == "arrow"][0].text == "cyst"
    win2.close()
    path.unlink()


def test_esc_drops_a_half_drawn_polygon_and_enter_closes_one(qtbot, tmp_path, study):
    win = make_window(qtbot, tmp_path, "c")
    view = opened(qtbot, win, study)
    rows, cols = view.plane_shape()
    cx, cy = cols // 2 + 0.5, rows // 2 + 0.5
    qtbot.keyClick(win, Qt.Key.Key_P)
    for p in ((cx, cy), (cx + 30, cy), (cx + 30, cy + 30)):
        click(qtbot, view, p)
    assert view._drawing is not None  # the open outline so far is shown
    qtbot.keyClick(win, Qt.Key.Key_Escape)
    assert view.tool == "pan" and view._drawing is None and not view._items
    qtbot.keyClick(win, Qt.Key.Key_P)
    for p in ((cx, cy), (cx + 30, cy), (cx + 30, cy + 30)):
        click(qtbot, view, p)
    focus = QApplication.focusWidget()  # where the clicks left the keyboard focus
    assert focus is not None and (focus is view or view.isAncestorOf(focus))
    qtbot.keyClick(focus, Qt.Key.Key_Return)
    [tri] = win.measurements.on(view.slice_key())
    assert tri.kind == "polygon" and len(tri.pts) == 3
    # Editing: moving the angle's vertex handle changes the figure shown.
    angle = Measurement.of("angle", [(cx + 40, cy - 50), (cx, cy - 50), (cx, cy - 90)])
    view.add_measurement(angle)
    roi = view._items[angle.id][0]
    assert view._items[angle.id][1].toPlainText() == "90.0°"
    vertex = roi.getHandles()[1]
    roi.movePoint(vertex, view.source_to_view(cx + 20, cy - 70), finish=True)  # midway
    assert angle.pts[1] == pytest.approx((cx + 20, cy - 70), abs=1e-6)
    assert view._items[angle.id][1].toPlainText() == "180.0°"  # the arms on one line
    win.close()
