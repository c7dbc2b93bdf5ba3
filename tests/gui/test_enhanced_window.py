"""The real window, offscreen, on enhanced multi-frame objects
(../shared/data/mr-enhanced-multiframe): each stack opens and shows its slices, with the window
of the frame on screen."""

from __future__ import annotations

import pyqtgraph as pg
import pytest

from viewer.display.window import default_window, header_windows

pg.setConfigOptions(imageAxisOrder="row-major")


def _open(qtbot, win, path) -> None:
    win.open_folder(str(path))
    qtbot.waitUntil(lambda: win._scan is None and win.catalog is not None, timeout=30000)
    qtbot.waitUntil(lambda: win.view._shown is not None, timeout=30000)


@pytest.mark.parametrize("sub, n_stacks", [("Philips", 2), ("Siemens/XA10", 1)])
def test_enhanced_objects_open_in_the_window(qtbot, window, shared_data, sub, n_stacks):
    _open(qtbot, window, shared_data / "mr-enhanced-multiframe" / "In" / sub)
    view = window.view
    # The stack opens with its first frame's own Frame VOI LUT window, as a classic series
    # opens with its first image's window (the shown slice's values judge it).
    h = view.pixels.stack.first
    assert view.window == default_window(h, view.pixels.real(view.index))
    assert view.window == header_windows(h)[0]
    stacks = window.catalog.stacks()
    assert len(stacks) == n_stacks
    for stack in stacks:
        window.show_stack(stack)
        qtbot.waitUntil(lambda: not window._load.is_running, timeout=60000)
        assert view.pixels.stack is stack
        for k in (0, stack.n_frames - 1):
            view.set_index(k)
            qtbot.waitUntil(lambda: view._shown is not None, timeout=30000)
            assert view._shown.any() and not view._placeholder
