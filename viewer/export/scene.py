"""Build an export :class:`~viewer.export.compose.Scene` for an acquired slice of a stack,
with an AI result (or a loaded DICOM SEG) laid over it: used by ``radviewer export`` and by
the window's series export, so both draw the same thing."""

from __future__ import annotations

import numpy as np

from viewer.ai.result import RESEARCH_NOTICE
from viewer.dicom.pixels import StackPixels
from viewer.display.annotate import corner_text
from viewer.display.measure import Measurement, describe
from viewer.display.orient import ViewTransform
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
                    source=f"on {result.stack_label}", notice=RESEARCH_NOTICE)
    if result.task == "segmentation":
        for lab in result.labels:
            if lab.value == 0 or (visible is not None and lab.value not in visible):
                continue
            ml = result.label_volumes_ml.get(lab.name)
            text = f"{lab.name}  {ml:.1f} mL" if ml is not None else lab.name
            legend.labels.append((tuple(colors.get(lab.value, lab.color)), text))
    elif result.slice_scores is not None:
        if slice_index is not None:
            row = result.slice_scores[slice_index]
            legend.scores_title = f"This slice ({slice_index + 1})"
        else:
            row = np.array([result.series_scores.get(lab.name, 0.0) for lab in result.labels])
            legend.scores_title = "Series (mean)"
        top = int(np.argmax(row))
        legend.scores = [(lab.name, float(row[i]), tuple(lab.color), i == top)
                         for i, lab in enumerate(result.labels)]
    return legend


def stack_title(stack) -> str:
    h = stack.first
    return stack.label if stack.label.startswith(h.modality) else f"{h.modality} {stack.label}"


def slice_scene(pixels: StackPixels, index: int, window: Window | None = None, *,
                result=None, visible: set[int] | None = None,
                colors: dict[int, tuple[int, int, int]] | None = None,
                opacity: float = DEFAULT_OPACITY, outline: bool = False,
                transform: ViewTransform | None = None,
                measurements: list[Measurement] = (), include_patient: bool = False,
                invert: bool = False) -> Scene:
    """The scene of acquired slice ``index`` (0-based) of ``pixels``' stack.

    ``window`` defaults to the one the viewer opens with; ``result`` (AnalysisResult or a
    loaded SEG) adds its overlay and legend; ``visible`` limits the labels drawn.
    """
    stack = pixels.stack
    h = stack.first
    transform = transform or ViewTransform()
    real = pixels.real(index)
    if real.ndim != 2:
        raise ValueError("colour images are exported as they are, without a window")
    window = window or default_window(h, real)
    spacing = (stack.spacing[1], stack.spacing[2]) if stack.spacing else \
        (h.pixel_spacing or (1.0, 1.0))
    unit = "HU" if h.modality == "CT" else ""
    scene = Scene(
        real=real, window=window, spacing=tuple(spacing), transform=transform,
        invert=invert != (h.photometric == "MONOCHROME1"),
        measurements=[(m, describe(m, real, tuple(spacing), unit)) for m in measurements],
    )
    pos = stack.slice_positions
    scene.corners = corner_text(
        h, title=stack_title(stack), plane=stack.plane.lower(), index=index,
        n_slices=stack.n_frames, position_mm=float(pos[index]) if pos is not None else None,
        window=window, spacing=tuple(spacing), transform=transform,
        include_patient=include_patient)
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
