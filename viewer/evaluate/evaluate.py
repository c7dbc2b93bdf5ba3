"""Metrics over many cases with confidence intervals: the ``metrics.json`` document
(schema ``radviewer.evaluation/1``). Inputs are arrays already matched by series; no files here.
"""

from __future__ import annotations

import warnings

import numpy as np

from viewer.evaluate import bootstrap
from viewer.evaluate.classmetrics import classification_metrics, reliability
from viewer.evaluate.segmetrics import case_label

SCHEMA = "radviewer.evaluation/1"
NOTICE = "Research use — not a diagnosis. Metrics describe agreement with the given reference only."
SEG_KEYS = ("dice", "hd95_mm", "asd_mm", "volume_diff_ml", "volume_ref_ml", "volume_pred_ml")


def _norm(name: str) -> str:
    return " ".join(name.lower().replace("_", " ").replace("-", " ").replace("grey", "gray")
                    .split())


def label_pairs(ref_names: dict[int, str], pred_names: dict[int, str],
                ref: np.ndarray) -> list[tuple[str, int, int]]:
    """``(name, reference value, prediction value)`` to compare: by name where the two share
    names (case and "grey/gray" ignored), else by value (each non-zero reference value)."""
    by_name = {_norm(n): v for v, n in pred_names.items()}
    pairs = [(n, v, by_name[_norm(n)]) for v, n in sorted(ref_names.items())
             if v and _norm(n) in by_name]
    if pairs:
        return pairs
    values = sorted(set(ref_names) | {int(v) for v in np.unique(ref)}) if ref.size else []
    return [(ref_names.get(v) or pred_names.get(v) or f"label {v}", v, v) for v in values if v]


def _weighted_mean(vals: np.ndarray, w: np.ndarray) -> float:
    ok = ~np.isnan(vals)
    return float(vals[ok] @ w[ok] / w[ok].sum()) if (w[ok] > 0).any() else float("nan")


def _ci(point: dict[str, float], ci: dict[str, list[float]]) -> dict[str, dict]:
    return {k: {"value": point[k], "ci95": ci.get(k)} for k in point}


def evaluate_segmentation(cases: list[dict], resamples: int = bootstrap.RESAMPLES,
                          seed: int = bootstrap.SEED) -> dict:
    """``cases``: dicts with ``id``, ``ref``/``pred`` (uint8 ``[k, j, i]``), ``ref_names`` /
    ``pred_names`` ({value: name}) and ``spacing_kji`` (mm). Per label: the mean over cases of
    each metric with its bootstrap CI; each case's values under ``cases``."""
    per_label: dict[str, list] = {}
    case_docs = []
    for c in cases:
        doc = {"id": c["id"], "labels": {}}
        for name, rv, pv in label_pairs(c["ref_names"], c["pred_names"], c["ref"]):
            cl = case_label(c["ref"] == rv, c["pred"] == pv, c["spacing_kji"])
            m = cl.metrics()
            doc["labels"][name] = {"reference_value": rv, "prediction_value": pv, **m}
            per_label.setdefault(name, []).append((cl, m))
        case_docs.append(doc)
    labels = {}
    unit = "case" if len(cases) >= 2 else "slice"
    for name, items in per_label.items():
        if len(items) >= 2:
            table = {k: np.array([m[k] for _, m in items], dtype=float) for k in SEG_KEYS}
            point = {k: _weighted_mean(v, np.ones(len(v))) for k, v in table.items()}
            ci = bootstrap.interval(lambda w, t=table: {k: _weighted_mean(v, w)
                                                        for k, v in t.items()},
                                    len(items), resamples, seed)
            labels[name] = {"cases": len(items), "bootstrap_unit": "case", **_ci(point, ci)}
        else:
            cl, point = items[0]
            ci = bootstrap.interval(cl.metrics, len(cl.tp), resamples, seed)
            labels[name] = {"cases": 1, "bootstrap_unit": "slice", **_ci(point, ci)}
    return {"unit": unit, "n_cases": len(cases), "labels": labels, "cases": case_docs,
            "definitions": {
                "dice": "2|A∩B|/(|A|+|B|)",
                "hd95_mm": "max of the two directed 95th percentiles of surface distances (mm)",
                "asd_mm": "average symmetric surface distance: mean of both directed surface "
                          "distances pooled (mm)",
                "volume_diff_ml": "volume(prediction) - volume(reference), mL"}}


def _fast_point(y: np.ndarray, s: np.ndarray, w: np.ndarray, n_cls: int) -> dict[str, float]:
    """Accuracy, macro F1 and macro AUC under sample weights ``w`` (for the bootstrap)."""
    from sklearn.metrics import roc_auc_score

    pred = s.argmax(axis=1)
    cm = np.zeros((n_cls, n_cls))
    np.add.at(cm, (y, pred), w)
    tp = np.diag(cm)
    support, called = cm.sum(axis=1), cm.sum(axis=0)
    present = support > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        prec = np.where(called > 0, tp / called, 0.0)
        rec = np.where(present, tp / support, 0.0)
        f1 = np.where(prec + rec > 0, 2 * prec * rec / (prec + rec), 0.0)
    out = {"accuracy": float(tp.sum() / w.sum()),
           "macro_precision": float(prec[present].mean()) if present.any() else float("nan"),
           "macro_recall": float(rec[present].mean()) if present.any() else float("nan"),
           "macro_f1": float(f1[present].mean()) if present.any() else float("nan")}
    aucs = []
    keep = w > 0
    for c in np.flatnonzero(present):
        pos = (y == c)[keep]
        if pos.all() or not pos.any():
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            aucs.append(roc_auc_score(pos, s[keep, c], sample_weight=w[keep]))
    out["macro_roc_auc"] = float(np.mean(aucs)) if aucs else float("nan")
    return out


def evaluate_classification(y_true, scores, classes: list[str], excluded: dict[str, int],
                            resamples: int = bootstrap.RESAMPLES,
                            seed: int = bootstrap.SEED) -> dict:
    """``y_true`` class indices ``(n,)`` and ``scores`` ``(n, n_classes)`` of the evaluated
    samples; ``excluded`` counts what was left out and why."""
    y = np.asarray(y_true, dtype=int)
    s = np.asarray(scores, dtype=float)
    point = classification_metrics(y, s, classes)
    summary = {"accuracy": point["accuracy"],
               **{f"macro_{k}": v for k, v in point["macro"].items()}}
    ci = bootstrap.interval(lambda w: _fast_point(y, s, w, len(classes)), len(y),
                            resamples, seed)
    return {"n": len(y), "bootstrap_unit": "sample", "classes": classes,
            "excluded": excluded, "summary": _ci(summary, ci),
            "per_class": point["per_class"], "confusion_matrix": point["confusion_matrix"],
            "confusion_axes": "rows: reference class, columns: predicted (top score)",
            "reliability": reliability(y, s)}


def document(model: dict, truth: str, seg: dict | None, cls: dict | None,
             resamples: int, seed: int) -> dict:
    """The whole metrics.json."""
    return {"schema": SCHEMA, "notice": NOTICE, "model": model, "truth": truth,
            "bootstrap": {"resamples": resamples, "seed": seed, "level": bootstrap.LEVEL,
                          "method": "percentile", "note": bootstrap.__doc__.split("\n\n")[0]
                          .replace("\n", " ")},
            "segmentation": seg, "classification": cls}
