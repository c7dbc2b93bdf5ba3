"""``radviewer evaluate``: a model (or earlier predictions) against reference labels, with the
metrics papers report, bootstrap CIs, metrics.json and report.html (:mod:`viewer.evaluate`)."""

from __future__ import annotations

import argparse
import csv
import json
import os
from pathlib import Path

import numpy as np

from viewer.cli_common import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, fail, say

HELP = """Segmentation: --truth is a folder of reference label maps (radviewer analyze outputs
with labels.npy, DICOM SEGs, or <series UID>.nii.gz), matched to the series under DATA by
series UID. Classification: --truth is a CSV with columns series_uid (or study: the DATA
folder's name), slice (1-based, optional) and label (a class name of the model). Predictions
come from running --model, or from --pred (a folder of earlier radviewer analyze outputs)."""


def spacing_kji(stack) -> tuple[float, float, float]:
    """Voxel size (mm) in array order [k, j, i], from the affine's column lengths."""
    a = np.asarray(stack.affine, dtype=float)
    si, sj, sk = (float(np.linalg.norm(a[:3, c])) for c in range(3))
    return sk, sj, si


def _stacks(paths: list[str]):
    from viewer.dicom.scan import scan_folder
    from viewer.logs import remember_catalog

    for p in paths:
        cat = scan_folder(p)
        remember_catalog(cat)
        for st in cat.stacks():
            yield p, st


def _predict(args, stack):
    """``(labels [k,j,i] | None, names, slice_scores | None, in_range | None, model info)``."""
    from viewer.cli_models import run_model
    from viewer.dicom.pixels import StackPixels

    r = run_model(args.model, stack, StackPixels(stack), quiet=args.quiet)
    info = {"id": r.model_id, "name": r.model_name, "version": r.model_version,
            "sha256": r.sha256, "calibrated": r.calibrated}
    return (r.label_volume, {lab.value: lab.name for lab in r.labels}, r.slice_scores,
            r.slice_in_range, [lab.name for lab in r.labels], info)


def _segmentation(args, truth: Path) -> tuple[dict, list[str], dict]:
    from viewer.evaluate.evaluate import evaluate_segmentation
    from viewer.evaluate.sources import find_sources, shown_path

    refs = find_sources(truth)
    preds = find_sources(Path(args.pred)) if args.pred else None
    cases, notes, model = [], [], {"id": args.model or
                                    f"predictions in {shown_path(args.pred)}"}
    for _, st in _stacks(args.data):
        src = refs.get(st.series_uid)
        if src is None:
            continue
        ref, ref_names = src.load(st)
        if preds is not None:
            if st.series_uid not in preds:
                notes.append(f"series {st.label}: no prediction in --pred; skipped")
                continue
            pred, pred_names = preds[st.series_uid].load(st)
        else:
            pred, pred_names, *_, model = _predict(args, st)
            if pred is None:
                raise LookupError(f"{args.model} is a classifier; give --truth a CSV")
        cases.append({"id": f"{st.label} ({src.path.name})", "ref": ref, "pred": pred,
                      "ref_names": ref_names, "pred_names": pred_names,
                      "spacing_kji": spacing_kji(st)})
    if not cases:
        raise LookupError(f"--truth {truth}: no reference matches a series under DATA (matched "
                          f"by series UID); check that both come from the same series")
    return evaluate_segmentation(cases, args.resamples, args.seed), notes, model


def _read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = [{k.strip().lower(): (v or "").strip() for k, v in r.items() if k}
                for r in csv.DictReader(f)]
    if not rows or "label" not in rows[0] or not ({"series_uid", "study"} & set(rows[0])):
        raise LookupError(f"--truth {path}: needs a header with label and series_uid (or "
                          f"study), and at least one row")
    return rows


def _from_report(rep: dict):
    names = [lab["name"] for lab in rep["labels"]]
    scores = np.array([[row[n] for n in names] for row in rep["slice_scores"]], dtype=float)
    in_range = np.ones(len(scores), bool)
    for k in rep.get("slices_outside_range", []):
        in_range[k - 1] = False
    return names, scores, in_range, {"id": rep["model"]["id"], **rep["model"]}


def _classification(args, truth: Path) -> tuple[dict, list[str], dict, tuple]:
    from viewer.evaluate.classmetrics import classification_metrics  # noqa: F401 (sklearn)
    from viewer.evaluate.evaluate import evaluate_classification
    from viewer.evaluate.sources import find_reports, shown_path

    rows = _read_csv(truth)
    reports = find_reports(Path(args.pred)) if args.pred else None
    ys, ss, classes, model = [], [], None, {"id": args.model or
                                            f"reports in {shown_path(args.pred)}"}
    excluded = {"outside the model's range": 0, "slice not in the series": 0}
    used = set()
    for data, st in _stacks(args.data):
        study = os.path.basename(os.path.normpath(data))
        mine = [(i, r) for i, r in enumerate(rows)
                if r.get("series_uid") == st.series_uid or
                (not r.get("series_uid") and r.get("study") == study)]
        if not mine:
            continue
        if reports is not None:
            if st.series_uid not in reports:
                continue
            names, scores, in_range, model = _from_report(reports[st.series_uid])
        else:
            _, _, scores, in_range, names, model = _predict(args, st)
            if scores is None:
                raise LookupError(f"{args.model} is a segmentation model; give --truth a "
                                  f"folder of reference label maps")
            in_range = np.ones(len(scores), bool) if in_range is None else in_range
        classes = classes or names
        for i, r in mine:
            if r["label"] not in classes:
                raise LookupError(f"--truth {truth}: row {i + 2}: label {r['label']!r} is not "
                                  f"a class of the model ({', '.join(classes)})")
            used.add(i)
            if r.get("slice"):
                k = int(r["slice"]) - 1
                if not 0 <= k < len(scores):
                    excluded["slice not in the series"] += 1
                    continue
                if not in_range[k]:
                    excluded["outside the model's range"] += 1
                    continue
                ys.append(classes.index(r["label"]))
                ss.append(scores[k])
            else:  # series level: mean of the in-range slices (the analyze aggregate)
                ys.append(classes.index(r["label"]))
                ss.append(scores[in_range].mean(axis=0) if in_range.any() else scores.mean(0))
    if not ys:
        raise LookupError(f"--truth {truth}: no row matches a series under DATA (by "
                          f"series_uid or study folder name)")
    excluded["rows matching no series"] = len(rows) - len(used)
    doc = evaluate_classification(ys, np.asarray(ss), classes, excluded,
                                  args.resamples, args.seed)
    notes = [] if model.get("calibrated") else [
        "The model's scores are not calibrated probabilities (see the reliability diagram)."]
    return doc, notes, model, (np.asarray(ys), np.asarray(ss))


def cmd_evaluate(args: argparse.Namespace) -> int:
    from viewer.errors import ViewerError
    from viewer.evaluate import INSTALL_HINT, missing_dependency

    missing = missing_dependency()
    if missing:
        return fail("evaluate", f"{missing} is not installed; {INSTALL_HINT}", EXIT_USAGE)
    if bool(args.model) == bool(args.pred):
        return fail("evaluate", "give --model ID (run it) or --pred DIR (earlier analyze "
                    "outputs), not both", EXIT_USAGE)
    from viewer.evaluate import evaluate as ev
    from viewer.evaluate import report
    from viewer.evaluate.sources import shown_path

    truth = Path(args.truth).expanduser()
    out = Path(args.out).expanduser()
    if out.is_dir() and any(out.iterdir()) and not args.overwrite:
        return fail("evaluate", f"--out {out}: the folder is not empty; choose another or "
                    f"pass --overwrite", EXIT_USAGE)
    arrays = (None, None)
    try:
        if truth.is_file():
            cls, notes, model, arrays = _classification(args, truth)
            seg = None
        elif truth.is_dir():
            seg, notes, model = _segmentation(args, truth)
            cls = None
        else:
            return fail("evaluate", f"--truth {truth}: no such file or folder", EXIT_USAGE)
    except (LookupError, ValueError) as exc:
        return fail("evaluate", str(exc), EXIT_USAGE)
    doc = ev.document(model, shown_path(truth), seg, cls, args.resamples, args.seed)
    doc["notes"] = notes
    try:
        out.mkdir(parents=True, exist_ok=True)
        figs = report.figures(doc, *arrays)
        for name, png in figs.items():
            (out / name).write_bytes(png)
        (out / "metrics.json").write_text(json.dumps(_no_nan(doc), indent=2),
                                          encoding="utf-8")
        report.write_html(doc, figs, out / "report.html", notes)
    except OSError as exc:
        return fail("evaluate", f"{out}: cannot write the report ({exc.strerror})",
                    EXIT_FAILURE)
    except ViewerError as exc:
        return fail("evaluate", str(exc), EXIT_FAILURE)
    for n in notes:
        say("evaluate", n)
    _print_summary(doc, out)
    return EXIT_OK


def _no_nan(x):
    """Undefined metrics (NaN) as JSON null: metrics.json stays strict JSON."""
    if isinstance(x, dict):
        return {k: _no_nan(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_no_nan(v) for v in x]
    return None if isinstance(x, float) and x != x else x


def _print_summary(doc: dict, out: Path) -> None:
    from viewer.evaluate.report import _fmt

    if doc["segmentation"]:
        for name, m in doc["segmentation"]["labels"].items():
            print(f"{name:<24} Dice {_fmt(m['dice'])}  HD95 {_fmt(m['hd95_mm'])} mm  "
                  f"ASD {_fmt(m['asd_mm'])} mm")
    if doc["classification"]:
        for k, m in doc["classification"]["summary"].items():
            print(f"{k:<24} {_fmt(m)}")
    print(f"{doc['notice']}\nwritten: {out / 'metrics.json'}, {out / 'report.html'}")


def add_parser(sub) -> None:
    ev = sub.add_parser("evaluate", help="measure a model against reference labels (metrics, "
                        "bootstrap CIs, HTML report)", description=HELP)
    ev.add_argument("data", nargs="+", metavar="DATA", help="study folders")
    ev.add_argument("--truth", required=True, help="reference: label-map folder or CSV")
    ev.add_argument("--model", help="model id to run (radviewer models)")
    ev.add_argument("--pred", help="folder of earlier radviewer analyze outputs (instead of "
                    "--model)")
    ev.add_argument("--out", required=True, help="output folder: metrics.json, report.html, "
                    "figures")
    ev.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples (1000)")
    ev.add_argument("--seed", type=int, default=0, help="bootstrap seed (0)")
    ev.add_argument("--overwrite", action="store_true", help="write into a non-empty --out")
    ev.add_argument("--quiet", action="store_true", help="no progress bar on stderr")
    ev.set_defaults(func=cmd_evaluate)
