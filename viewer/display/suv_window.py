"""The window a PET opens with: SUV 0-5 (g/ml), expressed in its real values (Bq/ml).

One function for every place that picks a first window (the slice view, thumbnails, the
exports), so that a PET looks the same in each.
"""

from __future__ import annotations

from viewer.display.window import Window

SUV_DEFAULT = (0.0, 5.0)  # the PET window readers expect (SUV bw, g/ml)


def suv_window(factor: float, lo: float = SUV_DEFAULT[0], hi: float = SUV_DEFAULT[1]) -> Window:
    """SUV ``lo``..``hi`` as a LINEAR_EXACT window in real units, for SUV = real x
    ``factor`` (g/ml per Bq/ml, :func:`viewer.dicom.pet.suv_bw_factor`)."""
    if not factor > 0 or not hi > lo:
        raise ValueError(f"an SUV window needs factor > 0 and hi > lo, not {factor}, {lo}..{hi}")
    a, b = lo / factor, hi / factor
    return Window((a + b) / 2, b - a, f"SUV {lo:g}-{hi:g}", "LINEAR_EXACT")


def series_window(stack) -> Window | None:
    """SUV 0-5 for a PET stack whose header gives SUV, else None (use the usual default).
    Reads the first file's header (a few ms)."""
    if stack.first.modality != "PT":
        return None
    from viewer.dicom import pet

    try:
        return suv_window(pet.suv_bw_factor(pet.read_suv_parameters(stack)))
    except pet.SuvError:
        return None
