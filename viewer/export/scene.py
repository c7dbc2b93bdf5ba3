"""Build an export :class:`~viewer.export.compose.Scene` for an acquired slice of a stack,
with an AI result (or a loaded DICOM SEG) laid over it: used by ``radviewer export`` and by
the window's series export, so both draw the same thing."""

from __future__ import annotations

import math

import numpy as np

from viewer.ai.result import RESEARCH_NOTICE
from viewer.dicom import spacing as pixel_spacing
from viewer.dicom.pixels import StackPixels
from viewer.display.annotate import corner_text
from viewer.display.measure import Measurement, describe
from viewer.display.order import image_position
from viewer.display.orient import ViewTransform
from viewer.display.suv_window import series_window
from viewer.display.window import Window, default_window
from viewer.export.compose import Legend, Scene, label_lut

DEFAULT_OPACITY = 0.45


def legend_for(result, visible: set[int] | None = None,
               colors: dict[int, tuple[int, int, int]] | None = None,
               slice_index: int | None = None) -> Legend:
    """The legend of ``result`` (an AnalysisResult): model, version, series, notice, the
    visible labels with their volumes, or the classification scores of ``slice_index`` (or
    of the series when None)."""
    colors = colors or {}
    legend = Legend(title=f"{result.model_name} {result.model_version}",
                    source=f"on {result.stack_label}", notice=RESEARCH_NOTICE,
                    calibrated=getattr(result, "calibrated", True),
                    flags=list(getattr(result, "warnings", [])))
    if result.slice_scores is not None and not legend.calibrated:
        legend.flags.insert(0, "scores, not calibrated probabilities")
    if result.task == "segmentation":
        for lab in result.labels:
            if lab.value == 0 or (visible is not None and lab.value not in visible):
                continue
            ml = result.label_volumes_ml.get(lab.name)
            text = f"{lab.name}  {ml:.1f} mL" if ml is not None else lab.name
            legend.labels.append((tuple(colors.get(lab.value, lab.color)), text))
    elif result.slice_scores is not None:
        inside = getattr(result, "slice_in_range", None)
        if slice_index is not None:
            row = result.slice_scores[slice_index]
            legend.scores_title = f"This slice ({slice_index + 1})"
            if inside is not None and not inside[slice_index]:
                legend.scores_title += ": outside the model's range"
        else:
            row = np.array([result.series_scores.get(lab.name, 0.0) for lab in result.labels])
            n = len(result.slice_scores)
            k = n if inside is None else int(inside.sum())
            legend.scores_title = (f"Series: mean of {k}/{n} in range" if k and k < n
                                   else "Series (mean)")
        top = int(np.argmax(row))
        legend.scores = [(lab.name, float(row[i]), tuple(lab.color), i == top)
                         for i, lab in enumerate(result.labels)]
    return legend


def stack_title(stack) -> str:
    h = stack.first
    return stack.label if stack.label.startswith(h.modality) else f"{h.modality} {stack.label}"


def usable_spacing(*candidates) -> tuple[float, float]:
    """The first (row mm, column mm) pair whose values lie in (1e-6, 1e6) mm, else 1 mm: a
    crafted or broken Pixel Spacing (0, negative, NaN, 1e308) is treated as absent."""
    for sp in candidates:
        if sp and len(sp) == 2 and all(math.isfinite(v) and 1e-6 < v < 1e6 for v in sp):
            return (float(sp[0]), float(sp[1]))
    return (1.0, 1.0)


def slice_scene(pixels: StackPixels, index: int, window: Window | None = None, *,
                result=None, visible: set[int] | None = None,
                colors: dict[int, tuple[int, int, int]] | None = None,
                opacity: float = DEFAULT_OPACITY, outline: bool = False,
                transform: ViewTransform | None = None,
                measurements: list[Measurement] = (), include_patient: bool = False,
                invert: bool = False) -> Scene:
    """The scene of acquired slice ``index`` (0-based) of ``pixels``' stack.

    ``window`` defaults to the one the viewer opens with; ``result`` (AnalysisResult or a
    loaded SEG) adds its overlay and legend; ``visible`` limits the labels drawn. Colour
    images (RGB, YBR, PALETTE COLOR: decoded to RGB by :mod:`viewer.dicom.pixels`) are drawn
    as stored, as the window shows them: ``window`` and ``invert`` do not apply and
    measurements give lengths and areas only.
    """
    stack = pixels.stack
    h = stack.first
    transform = transform or ViewTransform()
    colour = len(pixels.frame_shape) == 3
    if colour:
        real = pixels.frame(index)  # (rows, cols, 3) uint8 RGB
        window = None
    else:
        real = pixels.real(index)
        window = window or series_window(stack) or default_window(h, real)
    calibration = pixel_spacing.for_stack(stack)
    spacing = usable_spacing(calibration.display_spacing)
    unit = "HU" if h.modality == "CT" else ""
    values = None if colour else real
    scene = Scene(
        real=real, window=window, spacing=spacing, transform=transform,
        scale_note=calibration.note if calibration.spacing is not None else None,
        invert=not colour and invert != (h.photometric == "MONOCHROME1"),
        measurements=[(m, describe(m, values, calibration, unit)) for m in measurements],
    )
    pos = stack.slice_positions
    scene.corners = corner_text(
        h, title=stack_title(stack), plane=stack.plane.lower(),
        index=image_position(stack, index),  # "image n / N" as the window counts it
        n_slices=stack.n_frames, position_mm=float(pos[index]) if pos is not None else None,
        window=window, spacing=tuple(spacing), transform=transform,
        include_patient=include_patient, calibration=calibration,
        instance_number=stack.frames[index].header.instance_number)
    scene.letters = transform.letters(stack.edge_letters) if stack.edge_letters else {}
    if result is not None:
        if visible is None:
            visible = {lab.value for lab in result.labels}
        if result.label_volume is not None:
            scene.labels = result.label_volume[index]
            scene.lut = label_lut(result, visible, opacity, colors)
            scene.outline = outline
        scene.legend = legend_for(result, visible, colors,
                                  index if result.slice_scores is not None else None)
    return scene


def plane_scene(pixels: StackPixels, reformat, plane: str, index: int,
                window: Window | None = None, *, result=None,
                opacity: float = DEFAULT_OPACITY, outline: bool = False,
                include_patient: bool = False) -> Scene:
    """The scene of reformatted ``plane`` (axial, coronal, sagittal) image ``index`` (0-based
    along S, P or L) of a loaded grey-scale volume, as the window's MPR view draws it.

    ``reformat`` is the :class:`viewer.dicom.reformat.Reformat` of ``pixels`` (after
    ``load_volume``); a label volume of ``result`` (slices, rows, columns, aligned with the
    stack) goes through the same re-indexing. Spacing is the plane's (row mm, column mm), so
    :func:`~viewer.export.compose.render` stretches anisotropic planes to their physical
    aspect.
    """
    from viewer.dicom.pixels import to_real_volume

    stack = pixels.stack
    h = stack.first
    # Real values per source slice first (PET may rescale each slice), then re-index.
    real = np.ascontiguousarray(reformat.plane(
        to_real_volume(pixels.frame_volume(), [f.header for f in stack.frames]), plane, index))
    window = window or series_window(stack) or default_window(h, real)
    spacing = usable_spacing(reformat.pixel_spacing(plane))
    calibration = pixel_spacing.millimetres(spacing)
    scene = Scene(real=real, window=window, spacing=spacing,
                  invert=h.photometric == "MONOCHROME1")
    scene.corners = corner_text(
        h, title=stack_title(stack), plane=plane, index=index,
        n_slices=reformat.n_slices(plane), position_mm=reformat.position_mm(plane, index),
        window=window, spacing=spacing, include_patient=include_patient,
        calibration=calibration)
    scene.letters = reformat.edge_letters(plane)
    if result is not None:
        visible = {lab.value for lab in result.labels}
        if result.label_volume is not None:
            scene.labels = np.ascontiguousarray(
                reformat.plane(result.label_volume, plane, index))
            scene.lut = label_lut(result, visible, opacity)
            scene.outline = outline
        scene.legend = legend_for(result, visible)  # series scores: no acquired slice here
    return scene
