"""The real window shows what the thumbnail and the export show, and the Instance Number."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from viewer.dicom.pixels import decode_frame
from viewer.display.annotate import corner_text
from viewer.display.suv_window import series_window
from viewer.display.window import apply_window, default_window, displayable
from viewer.export.compose import render_image
from viewer.export.scene import slice_scene

pg.setConfigOptions(imageAxisOrder="row-major")


def _open(qtbot, win, path) -> None:
    win.open_folder(str(path))
    qtbot.waitUntil(lambda: win._scan is None and win.catalog is not None, timeout=30000)
    qtbot.waitUntil(lambda: win.view._shown is not None, timeout=30000)


def _drawn(view) -> np.ndarray:
    """The grey levels pyqtgraph draws for the shown slice (its QImage, before scaling)."""
    view.image.render()
    q = view.image.qimage
    arr = np.frombuffer(q.constBits(), np.uint8).reshape(q.height(), q.bytesPerLine())
    if q.bytesPerLine() >= 4 * q.width():  # ARGB32 / RGB32: take the red channel
        arr = arr[:, : 4 * q.width()].reshape(q.height(), q.width(), 4)[..., 2]
    else:
        arr = arr[:, : q.width()]
        table = q.colorTable()
        if table:
            lut = np.array([(c >> 16) & 0xFF for c in table], np.uint8)
            arr = lut[arr]
    return arr


def test_thumbnail_window_and_export_agree(qtbot, window, shared_data):
    _open(qtbot, window, shared_data / "pet-seg-headneck" / "PET")
    view = window.view
    st = view.pixels.stack
    ref = st.frames[view.index]
    assert view.index == st.n_frames // 2  # the slice the thumbnail is made of
    stored = decode_frame(ref.header, ref.frame)
    # A PET with SUV opens in SUV 0-5 (issue 13); thumbnails and exports take the same window.
    window = series_window(st) or default_window(st.first, view._real(view._shown))
    assert window.name == "SUV 0-5"
    thumb = displayable(stored, ref.header, window)  # what ThumbnailJob shows
    assert view.window == window
    shown = apply_window(view._real(view._shown), view.window)
    rgb, _ = render_image(slice_scene(view.pixels, view.index, window))
    grey = rgb[..., 0]
    assert np.array_equal(thumb, shown)
    assert np.array_equal(grey, shown)
    assert len(np.unique(shown)) > 20
    drawn = _drawn(view)
    assert drawn.shape == shown.shape
    # pyqtgraph computes in float64, we in float32: at most a rounding step apart
    assert np.abs(drawn.astype(int) - shown.astype(int)).max() <= 1
    assert (drawn == shown).mean() > 0.99


def test_corner_shows_instance_number(qtbot, window, shared_data):
    _open(qtbot, window, shared_data / "pet-seg-headneck" / "PET")
    view = window.view
    n = view.pixels.stack.frames[view.index].header.instance_number
    assert n is not None
    text = view._corner["tr"].text()
    assert f"image {view.index + 1} / {view.n_slices} (#{n})" in text
    view.step(1)
    n2 = view.pixels.stack.frames[view.index].header.instance_number
    assert n2 != n and f"(#{n2})" in view._corner["tr"].text()
    h = view.pixels.stack.first
    c = corner_text(h, title="PT", plane="axial", index=11, n_slices=55, position_mm=None,
                    window=None, spacing=(1.0, 1.0), instance_number=34)
    assert c["tr"][1] == "axial image 12 / 55 (#34)"
    c = corner_text(h, title="PT", plane="axial", index=11, n_slices=55, position_mm=None,
                    window=None, spacing=(1.0, 1.0), instance_number=34, narrow=True)
    assert c["tr"][1] == "axial 12/55 #34"
