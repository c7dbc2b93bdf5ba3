"""The real window on 4-D series: one list entry, volume keys, the volume's label in a corner,
the plane/slice/window/zoom kept across volumes, cine over volumes.

The GE QA data (../shared/data/mr-ge-4d) repeats its pixel values from volume to volume (only the
headers differ), so "the shown pixels change" is checked on a synthetic multi-echo series whose
pixels encode the echo.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from synth_path import write_series

from viewer.display.window import Window


def _open(qtbot, win, path) -> None:
    win.open_folder(str(path))
    qtbot.waitUntil(lambda: win._scan is None and win.catalog is not None, timeout=30000)
    qtbot.waitUntil(lambda: win.view._shown is not None, timeout=30000)


def _corner(win) -> str:
    return win.view._corner["tr"].text()


def test_ge_dwi_volume_keys_and_label(qtbot, window, shared_data):
    _open(qtbot, window, shared_data / "mr-ge-4d" / "In" / "04_Ax_DWI_TENSOR_R2MB2")
    assert window.series_list.current_uid() is not None
    assert len(window.catalog.stacks()) == 1
    assert "7 volumes (diffusion)" in window.series_list._series_items[0].text(0)
    nav = window.volume_nav
    assert nav.shown and nav.index == 0
    assert "b = 0" in _corner(window)
    view = window.view
    view.set_index(2)
    view.set_window(Window(300.0, 500.0))
    view.zoom(2.0)
    rng = view.viewbox.viewRange()
    qtbot.keyClick(view, Qt.Key.Key_Right, Qt.KeyboardModifier.AltModifier)
    assert nav.index == 1
    qtbot.waitUntil(lambda: window.view._shown is not None, timeout=30000)
    assert "b = 1000 (0.49, 0.84, -0.21)" in _corner(window)
    assert "vol 2/7" in _corner(window)
    assert window.view.index == 2
    assert (window.view.window.center, window.view.window.width) == (300.0, 500.0)
    np.testing.assert_allclose(window.view.viewbox.viewRange(), rng, rtol=1e-6)
    assert window.view.pixels.stack.first.diffusion_b_value == 1000.0
    qtbot.keyClick(view, Qt.Key.Key_Left, Qt.KeyboardModifier.AltModifier)
    qtbot.keyClick(view, Qt.Key.Key_Left, Qt.KeyboardModifier.AltModifier)
    assert nav.index == 6  # wraps around
    assert nav.spin.value() == 7


def test_echo_volumes_change_pixels_and_cine_over_volumes(qtbot, window, tmp_path):
    write_series(tmp_path, n_slices=5, modality="MR", echo_numbers=(1, 2, 3), rescale=None)
    _open(qtbot, window, tmp_path)
    nav = window.volume_nav
    assert nav.series is not None and nav.series.kind == "echo"
    view = window.view
    k = view.index

    def echo_shown() -> int:
        return int((int(window.view._shown[0, 0]) % 100) // 10)

    assert echo_shown() == 0
    nav.set_volume(2)
    qtbot.waitUntil(lambda: window.view._shown is not None, timeout=30000)
    assert echo_shown() == 2 and window.view.index == k
    assert "echo 3, TE 30 ms" in _corner(window)
    # Cine over volumes: the volume advances (wrapping) at the same slice.
    window.volume_cine_action.trigger()
    assert nav.timer.isActive()
    qtbot.waitUntil(lambda: nav.index == 1, timeout=10000)
    assert window.view.index == k
    window.volume_cine_action.trigger()
    assert not nav.timer.isActive()


def test_mpr_keeps_plane_across_volumes(qtbot, window, tmp_path):
    write_series(tmp_path, n_slices=6, modality="MR", echo_numbers=(1, 2), rescale=None)
    _open(qtbot, window, tmp_path)
    window.set_plane("coronal")
    qtbot.waitUntil(lambda: window.view._shown is not None, timeout=30000)
    window.volume_nav.step(1)
    assert window.view.plane == "coronal"
    qtbot.waitUntil(lambda: window.view._shown is not None, timeout=30000)
    # Coronal plane of echo 2: every pixel's tens digit is the echo index.
    assert int((int(window.view._shown.flat[0]) % 100) // 10) == 1


def test_volume_keys_are_listed(window):
    rows = dict((a, k) for k, a in window.shortcut_rows())
    assert rows["Next volume"] and rows["Previous volume"]
    assert rows["Cine over volumes (at this slice)"]
    assert not window.volume_nav.shown  # no 4-D series shown
