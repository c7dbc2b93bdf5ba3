"""The window's ruler says what its millimetres are, or measures in px: through the real window.

Files: pydicom-data's real CR chest RG1 re-labelled per case, pydicom's real dual-view
ultrasound (see tests/spacing_files.py).
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from spacing_files import US_TWO_REGIONS, projection_file, record_drawn_text, ultrasound_file
from test_main_window import open_and_wait
from test_viewer_tools import mouse_drag

from viewer.export.compose import render
from viewer.gui.export_actions import grab_displayed, view_scene


def _exported_text(window, monkeypatch) -> tuple[list[str], list[str]]:
    """Strings drawn by the "as displayed" export (scale bar) and the native one."""
    drawn = record_drawn_text(monkeypatch)
    grab_displayed(window.view, window.result_panel, False)
    displayed = list(drawn)
    drawn.clear()
    render(view_scene(window.view, window.result_panel, False))
    return displayed, drawn


def _ruler(qtbot, window, p0, p1):
    """Draw a ruler from source pixel ``p0`` to ``p1`` (x=col, y=row); its length in pixels
    and its label."""
    view = window.view
    view.one_to_one()  # one screen pixel per image pixel: the drag is exact to a pixel
    qtbot.wait(50)
    qtbot.keyClick(window, Qt.Key.Key_M)
    assert view.tool == "ruler"
    mouse_drag(qtbot, view, p0, p1)
    [m] = window.measurements.on(view.slice_key())
    length_px = abs(m.p1[0] - m.p0[0])
    assert length_px == pytest.approx(abs(p1[0] - p0[0]), abs=1.0)
    return length_px, view._items[m.id][1].toPlainText()


def test_detector_spacing_corrected_for_magnification(qtbot, window, tmp_path, monkeypatch):
    projection_file(tmp_path / "dx" / "dx.dcm", ImagerPixelSpacing=[0.2, 0.2],
                    EstimatedRadiographicMagnificationFactor=1.1)
    open_and_wait(qtbot, window, tmp_path / "dx")
    length_px, text = _ruler(qtbot, window, (100.5, 200.5), (200.5, 200.5))
    value, unit = text.split(" ", 1)
    assert float(value) == pytest.approx(length_px * 0.2 / 1.1, abs=0.06)  # 100 px: 18.18 mm
    assert unit == "mm (at detector, corrected for magnification x1.1)"
    corner = window.view._corner["br"].text()
    assert "0.18 x 0.18 mm (at detector, corrected for magnification x1.1)" in corner
    displayed, native = _exported_text(window, monkeypatch)
    [bar] = displayed  # the scale bar over the grabbed view
    assert bar.endswith(" mm (at detector, corrected for magnification x1.1)")
    assert text in native
    assert any(t.endswith(" mm (at detector, corrected for magnification x1.1)")
               and t != text for t in native)  # the native export's scale bar


def test_no_spacing_reads_px_in_the_window(qtbot, window, tmp_path, monkeypatch):
    projection_file(tmp_path / "cr" / "cr.dcm", modality="CR",
                    sop_class="1.2.840.10008.5.1.4.1.1.1")
    open_and_wait(qtbot, window, tmp_path / "cr")
    length_px, text = _ruler(qtbot, window, (100.5, 200.5), (200.5, 200.5))
    assert text == f"{length_px:.1f} px"
    corners = " ".join(lab.text() for lab in window.view._corner.values())
    assert "pixel size unknown: px" in corners
    assert " mm" not in corners.replace("pos ", "")  # no slice position either: one image
    displayed, native = _exported_text(window, monkeypatch)
    assert displayed == []  # no scale bar
    assert text in native
    assert not [t for t in native if "mm" in t], native


def test_ultrasound_mm_inside_a_region_px_across(qtbot, window, tmp_path):
    ultrasound_file(tmp_path / "us", US_TWO_REGIONS)
    open_and_wait(qtbot, window, tmp_path / "us")
    length_px, text = _ruler(qtbot, window, (60.5, 200.5), (160.5, 200.5))
    value, unit = text.split(" ", 1)
    assert unit == "mm"
    assert float(value) == pytest.approx(length_px * 0.3826530650258064, abs=0.06)
    qtbot.keyClick(window, Qt.Key.Key_Delete)
    assert not window.measurements.on(window.view.slice_key())
    length_px, text = _ruler(qtbot, window, (300.5, 200.5), (400.5, 200.5))
    assert text == f"{length_px:.1f} px (not inside one calibrated ultrasound region)"
