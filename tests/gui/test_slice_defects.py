"""Slice-view defects seen in the real window (issue 13 §5), each checked on real series."""

from __future__ import annotations

import numpy as np
import pytest

from viewer.display.measure import Measurement
from viewer.display.window import Window


@pytest.fixture(scope="session")
def t2_px(mr_catalog):
    from viewer.dicom.pixels import StackPixels

    stack = next(s for s in mr_catalog.stacks() if s.n_frames == 55)
    px = StackPixels(stack)
    px.load_volume()
    return px


def _view(qtbot, px, w=512, h=512, window_choice="header"):
    from viewer.gui.slice_view import SliceView

    v = SliceView()
    v.default_window_other = window_choice
    qtbot.addWidget(v)
    v.resize(w, h)
    v.show()
    qtbot.waitExposed(v)
    v.set_stack(px)
    return v


def _rgb(img) -> np.ndarray:
    from viewer.gui.export_actions import qimage_to_rgb

    return qimage_to_rgb(img).astype(int)


def test_three_planes_open_with_one_window(qtbot, t2_px):
    # With the "auto" default (percentiles) each plane used to take its own image's.
    windows = []
    for plane in ("axial", "coronal", "sagittal"):
        v = _view(qtbot, t2_px, 300, 400, "auto")
        v.set_plane(plane)
        v.reset()  # the window is chosen again on the plane's own image (as while loading)
        windows.append(v.window)
    acquired = _view(qtbot, t2_px, window_choice="auto").window
    assert windows[0] == windows[1] == windows[2] == acquired


def test_corner_text_is_outlined_over_bright_pixels(qtbot, t2_px):
    v = _view(qtbot, t2_px)
    v.zoom(4)  # the image fills the view
    v.set_window(Window(-1e6, 10, "white"))  # every pixel white
    rgb = _rgb(v.grab().toImage())
    lab = v._corner["tl"]
    fm = lab.fontMetrics()
    width = max(fm.horizontalAdvance(t) for t in lab.text().split("\n"))
    box = rgb[8:8 + fm.height() * len(lab.text().split("\n")), 8:8 + width]
    dark = (box.max(axis=2) < 60).sum()
    text = ((box[..., 0] > 200) & (box[..., 2] < 180)).sum()  # khaki: not white
    assert text > 20 and dark > text / 2  # every glyph has its black outline


def test_narrow_views_corner_texts_do_not_collide(qtbot, t2_px):
    v = _view(qtbot, t2_px, 300, 360)  # a view of the 1x3 layout
    rects = {k: lab.geometry() for k, lab in v._corner.items()}
    for a in rects:
        for b in rects:
            assert a == b or not rects[a].intersects(rects[b])
        lab = v._corner[a]
        fm = lab.fontMetrics()
        for line in lab.text().split("\n"):
            assert fm.horizontalAdvance(line) <= rects[a].width()
    assert v._corner["tr"].text().startswith("MR ")


def test_measurement_labels_drawn_above_the_ai_overlay(qtbot, t2_px):
    v = _view(qtbot, t2_px)
    labels = np.ones(t2_px.shape, np.uint8)
    lut = np.zeros((256, 4), np.uint8)
    lut[1] = (255, 0, 0, 255)  # opaque red everywhere
    v.set_overlay(labels, lut)
    v.add_measurement(Measurement("ellipse", (100.0, 100.0), (200.0, 180.0)))
    v.select(None)
    _, text, _ = next(iter(v._items.values()))
    rgb = _rgb(v.grab().toImage())
    p = v.viewbox.mapViewToScene(text.pos())
    gp = v.graphics.mapFromScene(p)
    patch = rgb[gp.y() + 3:gp.y() + 12, gp.x() + 3:gp.x() + 40]
    # The label's dark fill and yellow text, not the overlay's pure red, are on top.
    assert not ((patch[..., 0] > 240) & (patch[..., 1] < 20)).all()
    assert (patch[..., 1] > 150).any()


def test_ruler_exports_in_its_own_colour(qtbot, t2_px):
    from viewer.gui.export_actions import grab_displayed
    from viewer.gui.overlay import ResultPanel

    v = _view(qtbot, t2_px)
    v.add_measurement(Measurement("ruler", (50.0, 200.0), (300.0, 200.0)))
    assert v._selected_id is not None  # a new measurement is selected on screen
    rgb = grab_displayed(v, ResultPanel(), False).astype(int)
    cyan = (rgb[..., 0] < 40) & (rgb[..., 1] > 200) & (rgb[..., 2] > 230)
    gold = (rgb[..., 0] > 230) & (abs(rgb[..., 1] - 215) < 25) & (rgb[..., 2] < 40)
    assert gold.sum() > 50 and cyan.sum() == 0
    assert v._selected_id is not None  # and is still selected afterwards


def test_slice_scores_not_available_outside_the_acquired_plane(qtbot):
    from viewer.ai.manifest import Label
    from viewer.ai.result import AnalysisResult
    from viewer.gui.overlay import ResultPanel

    labels = tuple(Label(i, n, (200, 50 * i, 0)) for i, n in enumerate(("a", "b", "c")))
    r = AnalysisResult("m", "M", "1", "0" * 64, "classification", "2d", "s", "s", "T2",
                       labels, "CPU", {}, slice_scores=np.array([[0.2, 0.7, 0.1]] * 3),
                       series_scores={"a": 0.2, "b": 0.7, "c": 0.1}, calibrated=True)
    panel = ResultPanel()
    qtbot.addWidget(panel)
    panel.set_result(r)
    panel.show_slice_scores(1)
    bar = panel._bars["slice:b"]
    assert bar.text() == "b  70%" and bar.isEnabled()
    panel.show_slice_scores(None)  # a reformatted plane
    assert "not available in this plane" in panel._slice_head.text()
    assert "%" not in bar.text() and "n/a" in bar.text() and not bar.isEnabled()
    panel.show_slice_scores(2)
    assert bar.text() == "b  70%" and bar.isEnabled()


def test_secondary_capture_from_a_reformatted_plane(qtbot, window, shared_data, tmp_path):
    import pydicom
    from test_main_window import open_and_wait

    open_and_wait(qtbot, window, shared_data / "pet-seg-headneck")
    v = window.view
    qtbot.waitUntil(lambda: all(v.pixels.is_loaded(k) for k in range(v.pixels.stack.n_frames)),
                    timeout=30000)
    v.set_plane("coronal")
    assert v.crosshair is None
    out = tmp_path / "coronal.dcm"
    written = window.exporter.write_capture(str(out), False)
    assert written is not None and out.exists()
    ds = pydicom.dcmread(out)
    assert (ds.Rows, ds.Columns) != (128, 128)  # the coronal plane, not an axial slice
    k = v.source_frame_index()
    assert 0 <= k < v.pixels.stack.n_frames and abs(k - v.pixels.stack.n_frames / 2) < 2
