"""The metrics against cases computed by hand (and one by brute force over voxel centres)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("SimpleITK")
pytest.importorskip("sklearn")

from viewer.evaluate import bootstrap  # noqa: E402
from viewer.evaluate.classmetrics import classification_metrics, reliability  # noqa: E402
from viewer.evaluate.segmetrics import case_label, dice_sitk  # noqa: E402

SPACING = (2.0, 1.0, 0.5)  # mm, [k, j, i]


def _cubes(shift_i: int):
    a = np.zeros((16, 16, 20), bool)
    b = np.zeros_like(a)
    a[3:13, 3:13, 3:13] = True
    b[3:13, 3:13, 3 + shift_i:13 + shift_i] = True
    return a, b


def test_cubes_offset_by_two_voxels():
    a, b = _cubes(2)
    m = case_label(a, b, SPACING).metrics()
    # 10x10x10 cubes, 8 of 10 columns shared: Dice = 2*800/2000
    assert m["dice"] == pytest.approx(0.8)
    assert dice_sitk(a, b) == pytest.approx(0.8)
    # same volume: 1000 voxels of 1 mm^3 each = 1 mL
    assert m["volume_ref_ml"] == pytest.approx(1.0)
    assert m["volume_diff_ml"] == pytest.approx(0.0)
    # the farthest surface points are the faces 2 voxels x 0.5 mm apart
    cl = case_label(a, b, SPACING)
    assert cl.d_pred_to_ref.max() == pytest.approx(1.0)
    assert m["hd95_mm"] <= 1.0


def _brute(a, b, spacing):
    """Directed surface distances by brute force over voxel centres (independent of ITK)."""
    from scipy.ndimage import binary_erosion
    from scipy.spatial import cKDTree

    def surface(m):
        return m & ~binary_erosion(m, structure=np.array(
            [[[0, 0, 0], [0, 1, 0], [0, 0, 0]], [[0, 1, 0], [1, 1, 1], [0, 1, 0]],
             [[0, 0, 0], [0, 1, 0], [0, 0, 0]]]), border_value=0)

    pa, pb = (np.argwhere(surface(m)) * np.asarray(spacing) for m in (a, b))
    return cKDTree(pb).query(pa)[0], cKDTree(pa).query(pb)[0]


def test_cube_surface_distances_equal_brute_force():
    a, b = _cubes(2)
    d_ab, d_ba = _brute(a, b, SPACING)
    m = case_label(a, b, SPACING).metrics()
    pooled = np.concatenate([d_ab, d_ba])
    assert m["asd_mm"] == pytest.approx(pooled.mean())
    expected = max(np.percentile(d_ab, 95, method="inverted_cdf"),
                   np.percentile(d_ba, 95, method="inverted_cdf"))
    assert m["hd95_mm"] == pytest.approx(expected)


def test_plates_two_voxels_apart_exact():
    """One-voxel plates: every surface point is 2 x 0.7 mm from the other plate."""
    a = np.zeros((6, 6, 10), bool)
    b = np.zeros_like(a)
    a[1:5, 1:5, 3] = True
    b[1:5, 1:5, 5] = True
    m = case_label(a, b, (1.0, 1.0, 0.7)).metrics()
    assert m["dice"] == 0.0
    assert m["hd95_mm"] == pytest.approx(1.4)
    assert m["asd_mm"] == pytest.approx(1.4)


def test_identical_and_empty():
    a, _ = _cubes(0)
    m = case_label(a, a, SPACING).metrics()
    assert (m["dice"], m["hd95_mm"], m["asd_mm"]) == (1.0, 0.0, 0.0)
    e = case_label(a, np.zeros_like(a), SPACING).metrics()
    assert e["dice"] == 0.0 and np.isnan(e["hd95_mm"])
    assert e["volume_diff_ml"] == pytest.approx(-1.0)


def test_two_by_two_table():
    # truth: 6 positives, 4 negatives; the model: TP 4, FN 2, FP 1, TN 3
    y = [1] * 6 + [0] * 4
    called = [1, 1, 1, 1, 0, 0, 1, 0, 0, 0]
    scores = np.array([[0.2, 0.8] if c else [0.7, 0.3] for c in called])
    m = classification_metrics(y, scores, ["neg", "pos"])
    assert m["accuracy"] == pytest.approx(7 / 10)
    pos = m["per_class"]["pos"]
    assert pos["precision"] == pytest.approx(4 / 5)
    assert pos["recall"] == pytest.approx(4 / 6)
    assert pos["f1"] == pytest.approx(2 * 4 / (2 * 4 + 1 + 2))
    neg = m["per_class"]["neg"]
    assert neg["precision"] == pytest.approx(3 / 5)
    assert neg["recall"] == pytest.approx(3 / 4)
    assert m["macro"]["f1"] == pytest.approx((8 / 11 + 6 / 9) / 2)
    assert m["confusion_matrix"] == [[3, 1], [2, 4]]


def test_roc_auc_of_a_known_ranking():
    # scores rank the positives 1st, 2nd, 4th among 3 positives and 3 negatives:
    # of 9 positive-negative pairs, 8 are ordered correctly: AUC = 8/9
    s = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    y = [1, 1, 0, 1, 0, 0]
    scores = np.stack([1 - s, s], axis=1)
    m = classification_metrics(y, scores, ["neg", "pos"])
    assert m["per_class"]["pos"]["roc_auc"] == pytest.approx(8 / 9)
    assert m["per_class"]["neg"]["roc_auc"] == pytest.approx(8 / 9)


def test_reliability_of_an_overconfident_model():
    # always 0.95 confident, right half of the time: one bin, ECE 0.45
    scores = np.tile([0.95, 0.05], (10, 1))
    y = [0, 1] * 5
    r = reliability(y, scores)
    assert r["count"] == [10]
    assert r["accuracy"] == [pytest.approx(0.5)]
    assert r["ece"] == pytest.approx(0.45)


def test_bootstrap_is_reproducible_and_brackets_the_mean():
    vals = np.array([0.6, 0.7, 0.8, 0.9, 0.75])

    def stat(w):
        return {"mean": float(vals @ w / w.sum())}

    a = bootstrap.interval(stat, len(vals), 500, seed=0)
    b = bootstrap.interval(stat, len(vals), 500, seed=0)
    assert a == b
    lo, hi = a["mean"]
    assert lo < vals.mean() < hi and lo >= 0.6 and hi <= 0.9
