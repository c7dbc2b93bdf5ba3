"""Measure, rotate, cine, 1x3 MPR, tags, patient text, problems: through the real window."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from test_main_window import open_and_wait

from viewer.dicom.pixels import to_real
from viewer.display.measure import Measurement, roi_mask
from viewer.gui.main_window import MainWindow

pg.setConfigOptions(imageAxisOrder="row-major")


def screen_point(view, x: float, y: float):
    """Viewport pixel where source pixel coordinate (x=col, y=row) is drawn."""
    return view.graphics.mapFromScene(view.viewbox.mapViewToScene(view.source_to_view(x, y)))


def mouse_drag(qtbot, view, p0, p1, steps: int = 12) -> None:
    vp = view.graphics.viewport()
    a, b = screen_point(view, *p0), screen_point(view, *p1)
    QTest.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, a)
    for i in range(1, steps + 1):
        QTest.mouseMove(vp, a + (b - a) * (i / steps))
    QTest.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, b)
    # QTest's presses never make a double click, however close (five clicks at one spot: five
    # presses, no double-click); the pause is for pyqtgraph, which drops a move within 10 ms
    # (1 / mouseRateLimit) of the one before, so that the next drag's first move arrives
    # (without a pause the Cobb angle's second line is lost).
    qtbot.wait(50)


def test_ruler_of_known_pixel_length_reads_mm(qtbot, window, shared_data):
    open_and_wait(qtbot, window, shared_data / "ct-chest-lidc0314")
    view = window.view
    view.one_to_one()  # one screen pixel per image pixel: the drag is exact to a pixel
    qtbot.wait(50)
    qtbot.keyClick(window, Qt.Key.Key_M)
    assert view.tool == "ruler"
    mouse_drag(qtbot, view, (156.5, 256.5), (356.5, 256.5))  # 200 columns
    [m] = window.measurements.on(view.slice_key())
    length_px = abs(m.p1[0] - m.p0[0])
    assert length_px == pytest.approx(200, abs=1.0)
    col_mm = view.pixels.stack.spacing[2]
    assert col_mm == pytest.approx(0.78125)
    roi, text, _ = view._items[m.id]
    shown_mm = float(text.toPlainText().split()[0])
    assert shown_mm == pytest.approx(200 * col_mm, abs=1.0)
    # The line is drawn on the image: a coloured (not grey) pixel at its midpoint, grey
    # image 10 pixels away.
    mid = screen_point(view, 256.5, 256.5)
    img = view.graphics.grab().toImage()

    def coloured(dy: int) -> bool:
        c = img.pixelColor(mid.x(), mid.y() + dy)
        return abs(c.red() - c.blue()) > 60

    assert any(coloured(d) for d in (-1, 0, 1))
    assert not coloured(10)


def test_roi_statistics_in_air_and_per_slice_deletion(qtbot, window, shared_data):
    open_and_wait(qtbot, window, shared_data / "ct-chest-lidc0314")
    view = window.view
    k = view.index
    window.set_tool("ellipse")
    mouse_drag(qtbot, view, (200, 8), (320, 40))  # air in front of the chest
    [m] = window.measurements.on(view.slice_key())
    real = to_real(view.pixels.frame(k), view.pixels.stack.first)
    box, mask = roi_mask("ellipse", m.p0, m.p1, real.shape)
    expected = real[box][mask]
    assert expected.size > 500
    text = view._items[m.id][1].toPlainText()
    assert f"mean {expected.mean():.1f} HU" in text
    assert -1030 < expected.mean() < -970  # air
    assert "area" in text and "mm²" in text
    # A rectangle added on another slice belongs to that slice only.
    view.set_index(k + 5)
    view.add_measurement(Measurement("rect", (100, 100), (140, 130)))
    assert len(view._items) == 1 and len(window.measurements) == 2
    view.set_index(k)
    assert [it[2].id for it in view._items.values()] == [m.id]
    view.select(m.id)
    qtbot.keyClick(window, Qt.Key.Key_Delete)
    assert window.measurements.on(view.slice_key()) == [] and not view._items
    assert len(window.measurements) == 1


def test_rotate_and_flip_move_pixels_and_letters(qtbot, window, shared_data):
    open_and_wait(qtbot, window, shared_data / "ct-chest-lidc0314")
    view = window.view
    view.apply_preset("lung")
    view.one_to_one()  # one screen pixel per image pixel: exact sampling
    qtbot.wait(50)
    spots = uniform_spots(view)
    before = [grey_at_source(view, r, c) for r, c in spots]
    assert view.edge_letters() == {"left": "R", "right": "L", "top": "A", "bottom": "P"}
    qtbot.keyClick(window, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    view.one_to_one()
    qtbot.wait(50)
    assert np.array_equal(view.image.image, np.rot90(view._shown, -1))
    assert {k: lab.text() for k, lab in view._edge.items()} == {
        "left": "P", "right": "A", "top": "R", "bottom": "L"}
    assert [grey_at_source(view, r, c) for r, c in spots] == pytest.approx(before, abs=6)
    qtbot.keyClick(window, Qt.Key.Key_H)
    assert view.edge_letters()["left"] == "A"
    qtbot.keyClick(window, Qt.Key.Key_R)  # reset
    assert view.transform.is_identity and view.edge_letters()["left"] == "R"


def uniform_spots(view, n: int = 4) -> list[tuple[int, int]]:
    """Pixels inside flat 7x7 neighbourhoods (so screen sampling cannot hit a neighbour's
    different value), with different grey levels, spread over the image."""
    w = view.window
    real = to_real(view._shown, view.pixels.stack.first)
    grey = np.clip((real - (w.center - w.width / 2)) / w.width * 255, 0, 255)
    from numpy.lib.stride_tricks import sliding_window_view

    win = sliding_window_view(grey, (7, 7))
    flat = np.ptp(win, axis=(2, 3)) < 6  # indexed by the window's top-left corner
    spots = []
    for level in np.unique(grey[3:-3, 3:-3][flat] // 60):  # one spot per distinct grey band
        rows, cols = np.nonzero(flat & (grey[3:-3, 3:-3] // 60 == level))
        mid = len(rows) // 2
        spots.append((int(rows[mid]) + 3, int(cols[mid]) + 3))
    assert len(spots) >= 2, "the CT slice should have flat air and tissue areas"
    return spots[:n]


def grey_at_source(view, row: int, col: int) -> int:
    p = screen_point(view, col + 0.5, row + 0.5)
    return view.graphics.grab().toImage().pixelColor(p.x(), p.y()).red()


def test_cine_plays_and_pauses(qtbot, window):
    from viewer.paths import sample_study_dir

    # The bundled T1 (175 x 192 x 192): cine waits for every frame, and the 512 x 512 CT
    # only took ~3 s longer to load, with nothing more to check.
    open_and_wait(qtbot, window, sample_study_dir())
    view = window.view
    n = view.pixels.shape[0]
    qtbot.waitUntil(lambda: all(view.pixels.is_loaded(k) for k in range(n)), timeout=30000)
    window.fps.setValue(40)
    start = view.index
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert window.cine.isActive() and window.play_action.isChecked()
    qtbot.waitUntil(lambda: view.index >= start + 8, timeout=5000)
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert not window.cine.isActive()
    stopped = view.index
    qtbot.wait(200)
    assert view.index == stopped
    assert window.settings.value("cine/fps", type=int) == 40


def test_mpr_1x3_crosshair_and_shared_window(qtbot, window, settings):
    from viewer.paths import sample_study_dir

    open_and_wait(qtbot, window, sample_study_dir())  # T1 acquired sagittal
    qtbot.waitUntil(lambda: all(window.view.pixels.is_loaded(k) for k in range(175)),
                    timeout=30000)
    qtbot.keyClick(window, Qt.Key.Key_L)
    axial, coronal, sagittal = window.views
    assert [v.plane for v in window.views] == ["axial", "coronal", "sagittal"]
    assert all(v.isVisible() for v in window.views)
    qtbot.waitUntil(lambda: all(v._shown is not None for v in window.views), timeout=10000)
    assert axial.edge_letters() == {"left": "R", "right": "L", "top": "A", "bottom": "P"}
    assert coronal.edge_letters() == {"left": "R", "right": "L", "top": "S", "bottom": "I"}
    assert sagittal.edge_letters() == {"left": "A", "right": "P", "top": "S", "bottom": "I"}
    # Click a point in the axial view: the other planes move through it.
    row, col = 60, 40
    QTest.mouseClick(axial.graphics.viewport(), Qt.MouseButton.LeftButton,
                     Qt.KeyboardModifier.NoModifier, screen_point(axial, col + 0.5, row + 0.5))
    spl = axial.crosshair
    assert spl == pytest.approx((axial.index, row, col), abs=1)
    assert coronal.index == round(spl[1]) and sagittal.index == round(spl[2])
    # The same voxel, read in each view, has the same stored value.
    vol = axial.pixels.frame_volume()
    k, j, i = (int(round(v)) for v in axial.crosshair_volume_index())
    for v in window.views:
        _, r, c = (int(round(x)) for x in v.canonical_to_view(spl))
        assert v._shown[r, c] == vol[k, j, i]
    # Scrolling the coronal view moves the crosshair in the others.
    coronal.step(5)
    assert axial.crosshair[1] == pytest.approx(spl[1] + 5)
    # One window for the three planes.
    axial.apply_preset("auto")
    assert coronal.window == axial.window == sagittal.window
    assert window.settings.value("view/layout") == "1x3"
    again = MainWindow(settings)
    assert again.layout_mode == "1x3"
    again.close()


def test_tag_browser_search(qtbot, window, shared_data):
    open_and_wait(qtbot, window, shared_data / "ct-chest-lidc0314")
    qtbot.keyClick(window, Qt.Key.Key_T, Qt.KeyboardModifier.ControlModifier)
    tags = window.tags
    assert window.tags_dock.isVisible()
    qtbot.waitUntil(lambda: tags.tree.topLevelItemCount() > 20, timeout=10000)
    assert tags.path == window.view.pixels.stack.frames[window.view.index].header.path
    qtbot.keyClicks(tags.search, "0028,0030")
    assert tags.visible_rows() == [("(0028,0030)", "PixelSpacing", "[0.78125, 0.78125]")]
    tags.search.setText("imagepositionpatient")
    [(tag, name, value)] = tags.visible_rows()
    z = float(value.strip("[]").split(",")[2])
    assert (tag, name) == ("(0020,0032)", "ImagePositionPatient")
    assert z == pytest.approx(window.view.pixels.stack.frames[window.view.index].position[2])
    tags.search.setText("no such thing anywhere")
    assert tags.visible_rows() == []
    tags.search.clear()
    window.view.step(1)  # the tags follow the slice
    qtbot.waitUntil(lambda: tags.path == window.view.pixels.stack.frames[
        window.view.index].header.path, timeout=5000)


def test_hide_patient_details(qtbot, window, shared_data, settings):
    open_and_wait(qtbot, window, shared_data / "ct-chest-lidc0314")
    pid = window.view.pixels.stack.first.patient_id
    assert pid and pid in window.view._corner["tl"].text()
    qtbot.keyClick(window, Qt.Key.Key_H, Qt.KeyboardModifier.ControlModifier)
    assert pid not in window.view._corner["tl"].text()
    assert settings.value("view/hide_patient_details", type=bool)


def test_every_shortcut_is_listed_once(qtbot, window):
    rows = window.shortcut_rows()
    keys = [k for k, _ in rows]
    assert ("M", "Ruler") in rows and ("Space", "Play / pause cine") in rows
    assert any(k == "Right-drag" for k in keys)
    keyboard = [k for k, _ in rows[: len(rows) - 6]]
    assert len(keyboard) == len(set(keyboard)), "two actions share a shortcut"
    window.show_shortcuts()
    from PySide6.QtWidgets import QTableWidget

    table = window._shortcuts_dialog.findChild(QTableWidget)
    assert window._shortcuts_dialog.isVisible() and table.rowCount() == len(rows)
    assert table.item(keys.index("M"), 1).text() == "Ruler"


def test_load_failure_reaches_the_problems_panel(qtbot, window, tmp_path, monkeypatch):
    from synth_path import write_series

    from viewer.dicom import pixels
    from viewer.errors import DicomReadError

    write_series(tmp_path, n_slices=4)

    def broken(self, **kw):
        raise DicomReadError("img0003.dcm: cannot decode pixel data (truncated); "
                             "copy the file again from its source")

    monkeypatch.setattr(pixels.StackPixels, "load_volume", broken)
    window.open_folder(str(tmp_path))
    qtbot.waitUntil(lambda: window.problems.count() == 1, timeout=10000)
    assert "img0003.dcm" in window.problems.item(0).text()
    assert window.problems_dock.isVisible()
    assert "1 problem" in window.problems_label.text()


def test_analyze_shows_the_tissue_overlay(qtbot, window, sample_t1_cli):
    """Analyze -> label overlay in the model's colours on the grabbed view, legend with
    provenance, same labels as the CLI, clear removes it."""
    from viewer.ai.registry import discover
    from viewer.audit import hash_uid, read_entries
    from viewer.paths import sample_study_dir

    def analyses():  # the audit trail's analyze entries of the shown study
        study = hash_uid(window.view.pixels.stack.first.study_uid)
        return sum(e["action"] == "analyze" and e["study"] == study for e in read_entries())

    open_and_wait(qtbot, window, sample_study_dir())
    view = window.view
    entry = {e.id: e for e in discover()}["brainchop-tissue"]
    before = analyses()
    window.analyze(entry)
    assert window.analyze_progress.isVisibleTo(window)
    view.step(3)  # the viewer stays usable while the model runs
    qtbot.waitUntil(lambda: view.pixels.stack.uid in window.results, timeout=120000)
    result = window.results[view.pixels.stack.uid]
    assert analyses() == before + 1  # audited, the study hashed
    text = window.result_panel.title.text()
    assert "Grey/white matter" in text and "version 1.0.0" in text
    assert "Research use — not a diagnosis." in text
    assert window.result_panel.labels.count() == 2
    assert "mL" in window.result_panel.labels.item(0).text()

    # Colours on screen: where the slice is grey matter, the overlay tints the pixel towards
    # the grey-matter colour; hiding the overlay restores the plain grey image.
    gm = next(lab for lab in result.labels if lab.name == "Grey Matter")
    lab = view.overlay_plane()
    inner = (lab == gm.value)
    inner[1:-1, 1:-1] &= (lab[:-2, 1:-1] == gm.value) & (lab[2:, 1:-1] == gm.value) & \
        (lab[1:-1, :-2] == gm.value) & (lab[1:-1, 2:] == gm.value)
    rows, cols = np.nonzero(inner[1:-1, 1:-1])
    r, c = int(rows[len(rows) // 2]) + 1, int(cols[len(cols) // 2]) + 1
    qtbot.wait(50)
    p = screen_point(view, c + 0.5, r + 0.5)
    with_overlay = view.graphics.grab().toImage().pixelColor(p.x(), p.y())
    window.result_panel.show_overlay.setChecked(False)
    qtbot.wait(50)
    plain = view.graphics.grab().toImage().pixelColor(p.x(), p.y())
    assert plain.red() == plain.green() == plain.blue()  # grey image alone
    tint = np.array([with_overlay.red(), with_overlay.green(), with_overlay.blue()], float)
    base = np.array([plain.red()] * 3, float)
    direction = np.asarray(gm.color, float) - base
    assert np.dot(tint - base, direction) > 0.2 * np.dot(direction, direction) * 0.45
    window.result_panel.show_overlay.setChecked(True)

    # Unticking the grey-matter label removes its colour; recolouring it paints it green,
    # and the colour is remembered for this model.
    panel = window.result_panel
    gm_item = next(panel.labels.item(i) for i in range(panel.labels.count())
                   if panel.labels.item(i).text().startswith("Grey Matter"))
    gm_item.setCheckState(Qt.CheckState.Unchecked)
    qtbot.wait(50)
    unticked = view.graphics.grab().toImage().pixelColor(p.x(), p.y())
    assert (unticked.red(), unticked.green(), unticked.blue()) == \
        (plain.red(), plain.green(), plain.blue())
    gm_item.setCheckState(Qt.CheckState.Checked)
    panel.set_label_color(gm.value, (0, 255, 0))
    qtbot.wait(50)
    green = view.graphics.grab().toImage().pixelColor(p.x(), p.y())
    assert green.green() > green.red() + 40 and green.red() < plain.red()
    assert panel._saved_colors(result)[gm.value] == (0, 255, 0)
    panel.set_label_color(gm.value, None)
    assert gm.value not in panel._saved_colors(result)

    # The same labels as the command line (`analyze --series 1`, run once per session:
    # conftest).
    code, _, cli_out, _, _ = sample_t1_cli
    assert code == 0
    assert np.array_equal(np.load(cli_out / "labels.npy"), result.label_volume)

    # The result stays with its series; clearing removes it.
    window.series_list.setCurrentRow(1)
    qtbot.waitUntil(lambda: window.view.pixels.stack.uid != result.stack_uid)
    assert window.view.overlay_plane() is None
    window.series_list.setCurrentRow(0)
    qtbot.waitUntil(lambda: window.view.overlay_plane() is not None, timeout=5000)
    window.clear_result()
    assert window.view.overlay_plane() is None and not window.results


def test_model_picker_lists_the_model_folder_and_reasons(qtbot, window, settings, tmp_path,
                                                          monkeypatch):
    """AI ▸ Model folder adds the user's models to the picker; models that cannot run on the
    shown series come last, greyed, with the reason."""
    import json
    import shutil

    from viewer.gui import model_picker
    from viewer.paths import models_dir, sample_study_dir

    user = tmp_path / "my-models"
    for new_id, modality in (("my-tissue", "MR"), ("my-ct-model", "CT")):
        dest = user / new_id
        shutil.copytree(models_dir() / "brainchop-tissue", dest)
        mf = json.loads((dest / "manifest.json").read_text())
        mf["id"], mf["name"] = new_id, f"User model {new_id}"
        mf["applicability"]["modality"] = [modality]
        (dest / "manifest.json").write_text(json.dumps(mf))
    from PySide6.QtWidgets import QFileDialog

    monkeypatch.setattr(QFileDialog, "getExistingDirectory",
                        staticmethod(lambda *a, **k: str(user)))
    window.choose_model_folder()
    assert settings.value("ai/model_folder") == str(user)
    qtbot.waitUntil(lambda: "2 models found" in window.statusBar().currentMessage())

    open_and_wait(qtbot, window, sample_study_dir())
    shown = []

    def look_and_cancel(picker):  # the models are found in the background
        qtbot.waitUntil(lambda: picker.ready, timeout=20000)
        shown.append(picker)
        return 0

    monkeypatch.setattr(model_picker.ModelPicker, "exec", look_and_cancel)
    window.choose_model()
    picker = shown[0]
    items = [picker.list.item(i) for i in range(picker.list.count())]
    enabled = [bool(it.flags() & Qt.ItemFlag.ItemIsEnabled) for it in items]
    assert enabled == sorted(enabled, reverse=True)  # runnable first
    texts = [it.text() for it in items]
    assert any(t.startswith("User model my-tissue") for t, ok in zip(texts, enabled, strict=True)
               if ok)
    last = texts[-1]
    assert last.startswith("User model my-ct-model") and not enabled[-1]
    assert "cannot run: needs CT; this series is MR" in last
