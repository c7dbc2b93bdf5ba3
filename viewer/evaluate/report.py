"""The report: figures as PNG (matplotlib, Agg backend: no display) and one self-contained
report.html that embeds them as base64, with the research-use notice and the metric tables."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    _plt().close(fig)
    return buf.getvalue()


def _per_label(seg: dict, key: str, title: str, unit: str) -> bytes:
    """Per-label distribution over cases (box when ≥ 3 cases, points always) and the
    bootstrap CI of the mean as an error bar."""
    plt = _plt()
    names = list(seg["labels"])
    fig, ax = plt.subplots(figsize=(max(4, 1.2 * len(names) + 2), 3.4))
    for x, name in enumerate(names, 1):
        vals = [c["labels"][name][key] for c in seg["cases"] if name in c["labels"]]
        vals = [v for v in vals if v == v]
        if len(vals) >= 3:
            ax.boxplot([vals], positions=[x], widths=0.5)
        ax.plot([x] * len(vals), vals, "o", color="tab:blue", alpha=0.6)
        m = seg["labels"][name][key]
        lo, hi = m["ci95"] or [m["value"], m["value"]]
        if m["value"] == m["value"]:
            ax.errorbar([x + 0.25], [m["value"]], yerr=[[m["value"] - lo], [hi - m["value"]]],
                        fmt="s", color="tab:red", capsize=4)
    ax.set_xticks(range(1, len(names) + 1), names, rotation=20, ha="right")
    ax.set_ylabel(f"{title} ({unit})" if unit else title)
    ax.set_title(f"{title} per label (points: cases; red: mean and 95 % CI)")
    return _png(fig)


def _confusion(cls: dict) -> bytes:
    plt = _plt()
    cm = np.asarray(cls["confusion_matrix"])
    names = cls["classes"]
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.imshow(cm, cmap="Blues")
    for (r, c), v in np.ndenumerate(cm):
        ax.text(c, r, str(v), ha="center", va="center",
                color="white" if v > cm.max() / 2 else "black")
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted (top score)")
    ax.set_ylabel("reference")
    ax.set_title("Confusion matrix")
    return _png(fig)


def _roc(cls: dict, y, scores) -> bytes:
    from viewer.evaluate.classmetrics import roc_points

    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.plot([0, 1], [0, 1], "--", color="grey", lw=1)
    drawn = 0
    for c, name in enumerate(cls["classes"]):
        pts = roc_points(y, scores, c)
        if pts is None:
            continue
        auc = cls["per_class"][name]["roc_auc"]
        ax.plot(*pts, label=f"{name} (AUC {auc:.2f})")
        drawn += 1
    if not drawn:
        ax.text(0.5, 0.5, "undefined: every sample has one class", ha="center")
    else:
        ax.legend(fontsize=8, loc="lower right")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("ROC (one vs rest)")
    return _png(fig)


def _reliability(cls: dict) -> bytes:
    plt = _plt()
    rel = cls["reliability"]
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.plot([0, 1], [0, 1], "--", color="grey", lw=1, label="calibrated")
    ax.plot(rel["confidence"], rel["accuracy"], "o-", label=f"model (ECE {rel['ece']:.2f})")
    for x, y, n in zip(rel["confidence"], rel["accuracy"], rel["count"], strict=True):
        ax.annotate(str(n), (x, y), textcoords="offset points", xytext=(3, 3), fontsize=7)
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("top score (confidence)")
    ax.set_ylabel("fraction correct")
    ax.set_title("Reliability diagram (counts per bin)")
    ax.legend(fontsize=8, loc="upper left")
    return _png(fig)


def figures(doc: dict, y=None, scores=None) -> dict[str, bytes]:
    """``{file name: PNG bytes}`` for what ``doc`` (metrics.json) holds."""
    out = {}
    seg, cls = doc.get("segmentation"), doc.get("classification")
    if seg and seg["labels"]:
        out["dice.png"] = _per_label(seg, "dice", "Dice", "")
        out["hd95.png"] = _per_label(seg, "hd95_mm", "HD95", "mm")
        out["asd.png"] = _per_label(seg, "asd_mm", "ASD", "mm")
    if cls and cls["n"]:
        out["confusion.png"] = _confusion(cls)
        out["roc.png"] = _roc(cls, y, scores)
        out["reliability.png"] = _reliability(cls)
    return out


def _fmt(m: dict) -> str:
    v, ci = m["value"], m.get("ci95")
    if v != v:
        return "n/a"
    s = f"{v:.3f}" if abs(v) < 100 else f"{v:.1f}"
    if ci and ci[0] == ci[0]:
        s += f" [{ci[0]:.3f}, {ci[1]:.3f}]"
    return s


def _table(header: list[str], rows: list[list[str]]) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    trs = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>"
                  for r in rows)
    return f"<table><tr>{th}</tr>{trs}</table>"


def write_html(doc: dict, figs: dict[str, bytes], path: Path, notes: list[str] = ()) -> None:
    """report.html: notice, what was compared, tables with 95 % CIs, then the figures."""
    parts = [f"<h1>radviewer evaluation: {html.escape(doc['model'].get('id', ''))}</h1>",
             f"<p class=notice><b>{html.escape(doc['notice'])}</b></p>",
             f"<p>Reference: {html.escape(doc['truth'])}. Bootstrap: "
             f"{doc['bootstrap']['resamples']} resamples, seed {doc['bootstrap']['seed']}, "
             f"95 % percentile intervals in brackets.</p>"]
    parts += [f"<p>{html.escape(n)}</p>" for n in notes]
    seg, cls = doc.get("segmentation"), doc.get("classification")
    if seg:
        parts.append(f"<h2>Segmentation ({seg['n_cases']} case(s); bootstrap over "
                     f"{seg['unit']}s)</h2>")
        rows = [[n, _fmt(m["dice"]), _fmt(m["hd95_mm"]), _fmt(m["asd_mm"]),
                 _fmt(m["volume_diff_ml"])] for n, m in seg["labels"].items()]
        parts.append(_table(["label", "Dice", "HD95 (mm)", "ASD (mm)", "vol. diff (mL)"], rows))
    if cls:
        parts.append(f"<h2>Classification ({cls['n']} samples)</h2>")
        if any(cls["excluded"].values()):
            parts.append("<p>Excluded: " + html.escape(", ".join(
                f"{v} {k}" for k, v in cls["excluded"].items() if v)) + "</p>")
        parts.append(_table(["metric", "value [95 % CI]"],
                            [[k, _fmt(m)] for k, m in cls["summary"].items()]))
        parts.append(_table(["class", "precision", "recall", "F1", "ROC AUC", "support"],
                            [[n, f"{m['precision']:.3f}", f"{m['recall']:.3f}",
                              f"{m['f1']:.3f}", "n/a" if m["roc_auc"] != m["roc_auc"]
                              else f"{m['roc_auc']:.3f}", str(m["support"])]
                             for n, m in cls["per_class"].items()]))
    for name, png in figs.items():
        b64 = base64.b64encode(png).decode("ascii")
        parts.append(f'<figure><img alt="{name}" src="data:image/png;base64,{b64}">'
                     f"<figcaption>{name}</figcaption></figure>")
    style = ("body{font-family:sans-serif;max-width:60em;margin:2em auto}"
             "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;"
             "padding:.2em .6em}.notice{color:#a00}img{max-width:100%}")
    path.write_text(f"<!doctype html><html><head><meta charset=utf-8><title>radviewer "
                    f"evaluation</title><style>{style}</style></head><body>"
                    + "\n".join(parts) + "</body></html>", encoding="utf-8")
