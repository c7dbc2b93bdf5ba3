"""Segmentation metrics of one label on one case, with SimpleITK (see the package docstring).

Masks are bool ``[k, j, i]`` (slice, row, column); ``spacing_kji`` is the voxel size in mm in
the same order. Definitions (as MONAI and the Medical Segmentation Decathlon use them):

- Dice = 2|A∩B| / (|A|+|B|) (1 when both are empty).
- Surface voxels: ``LabelContour`` (face-connected: object voxels with a background face
  neighbour). The distance of a surface voxel of A to B is the Euclidean distance in mm from its
  centre to the nearest surface voxel centre of B (``SignedMaurerDistanceMap`` of B's contour,
  absolute value, image spacing).
- HD95 = max(95th percentile of d(A→B), 95th percentile of d(B→A)), in mm.
- ASD (average symmetric surface distance) = mean of d(A→B) and d(B→A) pooled, in mm.
- Volume difference = volume(prediction) − volume(reference), in mL.

Distances are undefined (NaN) when either mask is empty. :class:`CaseLabel` keeps per-slice
counts and per-voxel distances with their slice index, so that a bootstrap over slices can
recompute every metric without SimpleITK (:mod:`viewer.evaluate.bootstrap`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class CaseLabel:
    """What one label on one case contributes: per-slice voxel counts (length n_slices) and
    directed surface distances (mm) with the slice each surface voxel lies on."""

    voxel_ml: float
    tp: np.ndarray  # per slice: reference and prediction
    fp: np.ndarray  # prediction only
    fn: np.ndarray  # reference only
    d_pred_to_ref: np.ndarray  # mm, one per prediction surface voxel
    k_pred: np.ndarray  # its slice
    d_ref_to_pred: np.ndarray  # mm, one per reference surface voxel
    k_ref: np.ndarray

    def metrics(self, slice_weights: np.ndarray | None = None) -> dict[str, float]:
        """Dice, HD95 (mm), ASD (mm), volumes and their difference (mL); ``slice_weights``
        (how often each slice is drawn, for the bootstrap) defaults to every slice once."""
        w = np.ones(len(self.tp)) if slice_weights is None else slice_weights
        tp, fp, fn = (float(w @ a) for a in (self.tp, self.fp, self.fn))
        ref, pred = tp + fn, tp + fp
        dice = 1.0 if ref + pred == 0 else 2 * tp / (ref + pred)
        wa, wb = w[self.k_pred], w[self.k_ref]
        if wa.sum() == 0 or wb.sum() == 0:
            hd95 = asd = float("nan")
        else:
            hd95 = max(weighted_percentile(self.d_pred_to_ref, wa, 95),
                       weighted_percentile(self.d_ref_to_pred, wb, 95))
            asd = float((wa @ self.d_pred_to_ref + wb @ self.d_ref_to_pred)
                        / (wa.sum() + wb.sum()))
        return {"dice": dice, "hd95_mm": hd95, "asd_mm": asd,
                "volume_ref_ml": ref * self.voxel_ml, "volume_pred_ml": pred * self.voxel_ml,
                "volume_diff_ml": (pred - ref) * self.voxel_ml}


def weighted_percentile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """The ``q``-th percentile of ``values`` repeated ``weights`` times (inverted CDF, the
    "lower" rule: the smallest value with at least q % of the weight at or below it)."""
    order = np.argsort(values, kind="stable")
    cw = np.cumsum(weights[order])
    if cw[-1] <= 0:
        return float("nan")
    i = int(np.searchsorted(cw, q / 100 * cw[-1] - 1e-9))
    return float(values[order][min(i, len(order) - 1)])


def _image(mask: np.ndarray, spacing_kji):
    import SimpleITK as sitk

    img = sitk.GetImageFromArray(mask.astype(np.uint8))  # numpy [k, j, i] -> ITK (x=i, y, z)
    img.SetSpacing(tuple(float(s) for s in reversed(spacing_kji)))
    return img


def _directed(contour_a: np.ndarray, img_b_contour, n_b: int) -> tuple[np.ndarray, np.ndarray]:
    """Distances (mm) from each voxel of ``contour_a`` to the nearest voxel of B's contour."""
    import SimpleITK as sitk

    if not contour_a.any() or n_b == 0:
        return np.zeros(0), np.zeros(0, dtype=int)
    dmap = sitk.GetArrayFromImage(sitk.Abs(sitk.SignedMaurerDistanceMap(
        img_b_contour, insideIsPositive=False, squaredDistance=False, useImageSpacing=True)))
    k, j, i = np.nonzero(contour_a)
    return np.asarray(dmap[k, j, i], dtype=float), k


def case_label(ref: np.ndarray, pred: np.ndarray, spacing_kji) -> CaseLabel:
    """Per-slice counts and surface distances of bool masks ``ref`` and ``pred`` (same shape)."""
    import SimpleITK as sitk

    if ref.shape != pred.shape:
        raise ValueError(f"reference {ref.shape} and prediction {pred.shape} differ in shape")
    ref, pred = ref.astype(bool), pred.astype(bool)
    axes = (1, 2)
    tp = (ref & pred).sum(axis=axes)
    fp = (pred & ~ref).sum(axis=axes)
    fn = (ref & ~pred).sum(axis=axes)
    contours = []
    for m in (ref, pred):
        c = sitk.LabelContour(_image(m, spacing_kji), fullyConnected=False, backgroundValue=0)
        contours.append((c, sitk.GetArrayFromImage(c).astype(bool)))
    (c_ref, a_ref), (c_pred, a_pred) = contours
    d_pr, k_pr = _directed(a_pred, c_ref, int(a_ref.sum()))
    d_rp, k_rp = _directed(a_ref, c_pred, int(a_pred.sum()))
    if not (len(d_pr) and len(d_rp)):  # one mask empty: distances undefined
        d_pr, k_pr, d_rp, k_rp = np.zeros(0), np.zeros(0, int), np.zeros(0), np.zeros(0, int)
    voxel_ml = float(np.prod(spacing_kji)) / 1000.0
    return CaseLabel(voxel_ml, tp, fp, fn, d_pr, k_pr, d_rp, k_rp)


def dice_sitk(ref: np.ndarray, pred: np.ndarray) -> float:
    """Dice by ITK's ``LabelOverlapMeasuresImageFilter`` (the cross-check of
    :meth:`CaseLabel.metrics`' counts; both masks must be non-empty)."""
    import SimpleITK as sitk

    f = sitk.LabelOverlapMeasuresImageFilter()
    f.Execute(_image(ref, (1, 1, 1)), _image(pred, (1, 1, 1)))
    return float(f.GetDiceCoefficient())
