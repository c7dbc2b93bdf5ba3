"""Scroll direction: image 1 where the scanner put it; a preference reverses it (issue 12, 4).

The stack stays sorted along the slice normal (geometry, MPR and AI use that order); only the
window's slider, wheel, keys, cine and "image n / N" follow acquisition (Instance Number) order.
The shared chest CT numbers its images downwards along the normal (Instance 275 is the lowest
slice), the bundled T2 upwards.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox
from test_main_window import open_and_wait, wheel

from viewer.gui.preferences import KEYS, Preferences


def _instance(view) -> int:
    return view.pixels.stack.frames[view.index].header.instance_number


def test_ct_opens_in_acquisition_order(qtbot, window, shared_data):
    open_and_wait(qtbot, window, shared_data / "ct-chest-lidc0314")
    view = window.view
    stack = view.pixels.stack
    pos = stack.slice_positions
    assert pos[0] < pos[-1]  # the stack order is unchanged: ascending along the normal
    assert stack.frames[0].header.instance_number == 275
    assert view.display_reversed
    window.slider.setValue(0)  # the slider's first position is image 1
    assert _instance(view) == 1 and view.index == 274
    qtbot.waitUntil(lambda: view._shown is not None)
    assert "image 1 / 275" in view._corner["tr"].text()
    wheel(view, 2)  # scrolling on goes to images 2, 3
    assert _instance(view) == 3 and window.slider.value() == 2
    window.activateWindow()
    view.setFocus()
    qtbot.keyClick(view, Qt.Key.Key_Home)
    assert _instance(view) == 1
    qtbot.keyClick(view, Qt.Key.Key_End)
    assert _instance(view) == 275 and window.slider.value() == 274
    window._cine_tick()  # cine wraps to image 1 in the same order
    assert _instance(view) == 1
    # The reformatted planes keep their own order.
    view.set_plane("coronal")
    assert not view.display_reversed


def test_preference_reverses_it_and_is_stored(qtbot, window, settings, shared_data):
    open_and_wait(qtbot, window, shared_data / "ct-chest-lidc0314")
    view = window.view
    view.set_position(0)
    assert _instance(view) == 1
    window.show_preferences()
    dlg = window._preferences_dialog
    qtbot.waitExposed(dlg)
    combo = dlg.scroll_direction
    assert combo.currentData() == "acquired"  # the default
    combo.setCurrentIndex(combo.findData("reversed"))
    qtbot.mouseClick(dlg.buttons.button(QDialogButtonBox.StandardButton.Ok),
                     Qt.MouseButton.LeftButton)
    assert settings.value(KEYS["scroll_direction"]) == "reversed"
    assert Preferences.load(settings).scroll_direction == "reversed"
    # Applied now: the shown slice stays, the slider follows the new order.
    assert _instance(view) == 1 and window.slider.value() == 274
    assert not view.display_reversed
    window.slider.setValue(0)
    assert view.index == 0 and _instance(view) == 275
    wheel(view, 1)
    assert view.index == 1 and _instance(view) == 274


def test_stack_numbered_upwards_is_not_reversed(qtbot, window):
    window.open_sample()
    qtbot.waitUntil(lambda: window._scan is None and window.catalog is not None, timeout=30000)
    st = next(s for s in window.catalog.stacks() if s.rows == 512)
    window.show_stack(st)
    view = window.view
    assert not view.display_reversed
    view.set_position(0)
    assert view.index == 0 and _instance(view) == min(
        f.header.instance_number for f in st.frames)
