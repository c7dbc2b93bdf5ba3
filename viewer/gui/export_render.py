"""Rendering for File ▸ Export: the shown view as an export scene, the view grabbed as on
screen (with a scale bar and the legend), and QImage <-> RGB array (rows, columns, 3) uint8."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage

from viewer.display.annotate import corner_text
from viewer.errors import ViewerError
from viewer.export.compose import Scene, add_legend, annotate
from viewer.export.scene import legend_for, stack_title


def view_scene(view, panel, include_patient: bool) -> Scene:
    """The shown plane of ``view`` (a SliceView) as an export scene: window, rotation, the AI
    overlay as styled in ``panel`` (ResultPanel), measurements and corner text."""
    from viewer.gui.slice_view import ACQUIRED

    img = view.current_image()
    if img is None:
        raise ViewerError("the image is still loading; try again in a moment")
    colour = img.ndim == 3  # RGB as stored (RGB, YBR, palette): no window, no invert
    st = view.pixels.stack
    h = st.first
    plane = st.plane.lower() if view.plane == ACQUIRED else view.plane
    spacing = view._spacing()
    calibration = view.calibration()
    window = None if colour else view.window
    invert = not colour and view.inverted != (h.photometric == "MONOCHROME1")
    real = img if colour else view._real(img)
    # A colour map or a fused PET: the pixels as drawn, exported as a colour image.
    drawn = None if colour else view.display_rgb(real, invert)
    scene = Scene(
        real=real if drawn is None else drawn, window=window if drawn is None else None,
        spacing=spacing, transform=view.transform,
        scale_note=calibration.note if calibration.spacing is not None else None,
        invert=invert and drawn is None,
        measurements=[(m, view.measurement_text(m))
                      for m in view.measurements.on(view.slice_key())],
        letters=view.edge_letters())
    scene.corners = corner_text(
        h, title=stack_title(st), plane=plane, index=view.display_position(),
        n_slices=view.n_slices,
        position_mm=view.position_mm(), window=window, spacing=spacing,
        transform=view.transform, include_patient=include_patient, calibration=calibration,
        instance_number=(st.frames[view.index].header.instance_number
                         if view.plane == ACQUIRED else None))
    if view.slab_active:
        scene.corners["tr"].append(view.slab_text())
    scene.corners["bl"][1:1] = view.suv_corner_lines()
    result = panel.result
    if result is not None and result.stack_uid == st.uid:
        if view._overlay_lut is not None:
            scene.labels = view.overlay_plane()
            scene.lut, scene.outline = view._overlay_lut, view._overlay_outline
        acquired = view.plane == ACQUIRED and result.slice_scores is not None
        scene.legend = legend_for(result, panel.visible_labels()
                                  if result.task == "segmentation" else None,
                                  panel.colors, view.index if acquired else None)
    return scene


def qimage_to_rgb(img: QImage) -> np.ndarray:
    img = img.convertToFormat(QImage.Format.Format_RGB888)
    w, h, bpl = img.width(), img.height(), img.bytesPerLine()
    arr = np.frombuffer(img.constBits(), np.uint8, count=h * bpl).reshape(h, bpl)
    return arr[:, : w * 3].reshape(h, w, 3).copy()


def rgb_to_qimage(rgb: np.ndarray) -> QImage:
    rgb = np.ascontiguousarray(rgb)
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def grab_displayed(view, panel, include_patient: bool) -> np.ndarray:
    """The view as on screen (its zoom and pan), with a scale bar and the legend added."""
    from PIL import Image, ImageDraw

    shown, selected = view.show_patient_details, view._selected_id
    view.set_show_patient_details(include_patient)
    view.select(None)  # measurements export in their own colour, not the "selected" one
    try:
        rgb = qimage_to_rgb(view.grab().toImage())
    finally:
        view.select(selected)
        view.set_show_patient_details(shown)
    scene = view_scene(view, panel, include_patient)
    size = int(np.clip(round(min(rgb.shape[1], 600) / 38), 11, 30))
    im = Image.fromarray(rgb)
    # View coordinates are mm, or pixels for an image without a real spacing (no scale bar).
    mm_per_px = float(view.viewbox.viewPixelSize()[0])
    note = scene.scale_note
    annotate(ImageDraw.Draw(im), rgb.shape[:2], {}, {}, mm_per_px if note is not None else None,
             size, note or "")
    rgb = np.asarray(im)
    return add_legend(rgb, scene.legend, size) if scene.legend is not None else rgb
