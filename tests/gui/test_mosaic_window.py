"""The real window on a folder of Siemens mosaics: one 4-D entry whose slices are the 64x64
tiles (not the stored 384x384 image), stepping through slices and volumes."""

from __future__ import annotations

import numpy as np
import pydicom


def test_window_shows_mosaic_slices(qtbot, window, shared_data):
    folder = shared_data / "mr-siemens-mosaic" / "In" / "Orientation" / "ax" / "axint35"
    window.open_folder(str(folder))
    qtbot.waitUntil(lambda: window._scan is None and window.catalog is not None, timeout=30000)
    qtbot.waitUntil(lambda: window.view._shown is not None, timeout=30000)
    assert len(window.catalog.stacks()) == 1
    assert "2 volumes (time)" in window.series_list._series_items[0].text(0)
    view = window.view
    assert view.pixels.stack.n_frames == 35
    assert window.view._shown.shape[:2] == (64, 64)
    # The slice shown is tile k of the stored mosaic image.
    view.set_index(7)
    qtbot.waitUntil(lambda: window.view._shown is not None and view.index == 7, timeout=30000)
    ref = view.pixels.stack.frames[7]
    whole = pydicom.dcmread(ref.header.path).pixel_array
    r, c = divmod(ref.frame, 6)
    np.testing.assert_array_equal(view.pixels.frame(7),
                                  whole[r * 64:(r + 1) * 64, c * 64:(c + 1) * 64])
    window.volume_nav.set_volume(1)
    qtbot.waitUntil(lambda: window.view._shown is not None, timeout=30000)
    assert window.view.pixels.stack.n_frames == 35 and window.view.index == 7
    assert window.view._shown.shape[:2] == (64, 64)
