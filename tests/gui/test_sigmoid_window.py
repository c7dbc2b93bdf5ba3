"""A SIGMOID VOI LUT Function header window is drawn as the sigmoid on screen, exactly as the
thumbnail and the export draw it (viewer.display.window.apply_window; PS3.3 C.11.2.1.3.1).

The file is a real chest CT slice (shared data) with its header window given VOI LUT
Function SIGMOID; the screen is read back from pyqtgraph's rendered image.
"""

from __future__ import annotations

import numpy as np
import pydicom
import pyqtgraph as pg
from test_display_fidelity import _drawn, _open

from viewer.dicom.pixels import decode_frame
from viewer.display.window import Window, apply_window, displayable
from viewer.export.compose import render_image
from viewer.export.scene import slice_scene

pg.setConfigOptions(imageAxisOrder="row-major")


def _sigmoid_ct(shared_data, folder, invert=False):
    src = sorted((shared_data / "ct-chest-lidc0314").glob("*.dcm"))[140]
    ds = pydicom.dcmread(src)
    ds.WindowCenter, ds.WindowWidth = 40, 400
    ds.VOILUTFunction = "SIGMOID"
    if invert:
        ds.PhotometricInterpretation = "MONOCHROME1"
    ds.save_as(folder / "sigmoid.dcm")


def test_sigmoid_window_on_screen_equals_export(qtbot, window, shared_data, tmp_path):
    _sigmoid_ct(shared_data, tmp_path)
    _open(qtbot, window, tmp_path)
    view = window.view
    assert view.window.function == "SIGMOID"
    shown = apply_window(view._real(view._shown), view.window)
    ref = view.pixels.stack.frames[view.index]
    thumb = displayable(decode_frame(ref.header, ref.frame), ref.header)
    rgb, _ = render_image(slice_scene(view.pixels, view.index))
    assert np.array_equal(thumb, shown) and np.array_equal(rgb[..., 0], shown)
    drawn = _drawn(view)
    assert drawn.shape == shown.shape
    assert np.abs(drawn.astype(int) - shown.astype(int)).max() <= 1
    assert (drawn == shown).mean() > 0.99
    # and not the straight line the screen drew before: the same window as LINEAR differs.
    linear = apply_window(view._real(view._shown), Window(40, 400, "header", "LINEAR"))
    assert (np.abs(linear.astype(int) - shown.astype(int)) > 8).mean() > 0.05
    # A linear preset afterwards drops the table again.
    view.apply_preset("lung")
    drawn = _drawn(view)
    want = apply_window(view._real(view._shown), view.window)
    assert np.abs(drawn.astype(int) - want.astype(int)).max() <= 1


def test_sigmoid_window_inverted(qtbot, window, shared_data, tmp_path):
    _sigmoid_ct(shared_data, tmp_path, invert=True)
    _open(qtbot, window, tmp_path)
    view = window.view
    shown = 255 - apply_window(view._real(view._shown), view.window)  # MONOCHROME1
    drawn = _drawn(view)
    assert np.abs(drawn.astype(int) - shown.astype(int)).max() <= 1
