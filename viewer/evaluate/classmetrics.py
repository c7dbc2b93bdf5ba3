"""Classification metrics with scikit-learn (see the package docstring).

``y_true`` and ``y_pred`` are class indices ``(n,)``; ``scores`` is ``(n, n_classes)`` model
scores (the runner's softmax outputs; not necessarily calibrated). Per class: precision, recall,
F1 and one-vs-rest ROC AUC (NaN when the class is absent or is every sample); macro: their
unweighted mean over classes present in the truth. The reliability curve is the top-label one
(Guo et al. 2017): confidence = the top score, correct = top class is the true class, 10 equal
bins; ECE = the count-weighted mean |accuracy − confidence| over bins.
"""

from __future__ import annotations

import warnings

import numpy as np


def _auc(y_true: np.ndarray, scores: np.ndarray, c: int) -> float:
    from sklearn.metrics import roc_auc_score

    pos = y_true == c
    if pos.all() or not pos.any():
        return float("nan")
    return float(roc_auc_score(pos, scores[:, c]))


def classification_metrics(y_true, scores, classes: list[str]) -> dict:
    """Point estimates (a JSON-able dict; NaN where undefined)."""
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

    y_true = np.asarray(y_true, dtype=int)
    scores = np.asarray(scores, dtype=float)
    y_pred = scores.argmax(axis=1)
    idx = list(range(len(classes)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p, r, f, support = precision_recall_fscore_support(
            y_true, y_pred, labels=idx, zero_division=0)
    present = [c for c in idx if support[c] > 0]
    per_class = {}
    for c in idx:
        per_class[classes[c]] = {"precision": float(p[c]), "recall": float(r[c]),
                                 "f1": float(f[c]), "roc_auc": _auc(y_true, scores, c),
                                 "support": int(support[c])}
    aucs = [per_class[classes[c]]["roc_auc"] for c in present]
    aucs = [a for a in aucs if a == a]

    def macro(key: str) -> float:
        return float(np.mean([per_class[classes[c]][key] for c in present])) if present \
            else float("nan")

    return {
        "n": int(len(y_true)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro": {"precision": macro("precision"), "recall": macro("recall"),
                  "f1": macro("f1"), "roc_auc": float(np.mean(aucs)) if aucs else float("nan")},
        "per_class": per_class,
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=idx).tolist(),
    }


def reliability(y_true, scores, n_bins: int = 10) -> dict:
    """Top-label reliability curve: per non-empty bin its mean confidence, accuracy, count."""
    from sklearn.calibration import calibration_curve

    y_true = np.asarray(y_true, dtype=int)
    scores = np.asarray(scores, dtype=float)
    conf = scores.max(axis=1)
    correct = (scores.argmax(axis=1) == y_true).astype(int)
    edges = np.linspace(0, 1, n_bins + 1)
    counts = np.histogram(conf, bins=edges)[0]
    if len(np.unique(correct)) < 2:  # calibration_curve needs both outcomes
        which = np.clip(np.digitize(conf, edges[1:-1]), 0, n_bins - 1)
        acc = [float(correct[which == b].mean()) for b in range(n_bins) if counts[b]]
        mean_conf = [float(conf[which == b].mean()) for b in range(n_bins) if counts[b]]
    else:
        acc, mean_conf = calibration_curve(correct, conf, n_bins=n_bins, strategy="uniform")
    nonempty = counts[counts > 0]
    ece = float(np.sum(nonempty * np.abs(np.asarray(acc) - np.asarray(mean_conf)))
                / max(nonempty.sum(), 1))
    return {"bins": n_bins, "confidence": [float(v) for v in mean_conf],
            "accuracy": [float(v) for v in acc], "count": [int(v) for v in nonempty],
            "ece": ece}


def roc_points(y_true, scores, c: int) -> tuple[list[float], list[float]] | None:
    """One-vs-rest ROC curve (fpr, tpr) of class ``c``, or None when it is undefined."""
    from sklearn.metrics import roc_curve

    pos = np.asarray(y_true) == c
    if pos.all() or not pos.any():
        return None
    fpr, tpr, _ = roc_curve(pos, np.asarray(scores)[:, c])
    return fpr.tolist(), tpr.tolist()
