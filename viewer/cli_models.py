"""``radviewer models [--json]`` and ``radviewer analyze PATH --model ID ... --out DIR``."""

from __future__ import annotations

import argparse
import json
import sys
import threading
from pathlib import Path

from viewer.export.atomic import atomic_write
from viewer.paths import study_path

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
MODELS_SCHEMA = "radviewer.models/1"


def models_json(entries) -> dict:
    return {
        "schema": MODELS_SCHEMA,
        "notice": "Research use — not a diagnosis.",
        "models": [{
            "id": e.id, "name": e.manifest.name, "version": e.manifest.version,
            "task": e.manifest.task, "mode": e.manifest.mode, "origin": e.origin,
            "available": e.available, "problem": e.problem,
            "weights": str(e.weights_path) if e.weights_path else None,
            "sha256": e.manifest.sha256,
            "labels": [lab.name for lab in e.manifest.labels],
            "applicability": e.manifest.applicability, "licence": e.manifest.licence,
        } for e in entries],
    }


def cmd_models(args: argparse.Namespace) -> int:
    from viewer.ai.registry import discover

    errors: list[str] = []
    entries = discover(errors=errors)
    if args.json:
        doc = models_json(entries)
        doc["errors"] = errors
        json.dump(doc, sys.stdout, indent=2)
        print()
        return EXIT_OK
    for e in entries:
        m = e.manifest
        state = "available" if e.available else f"unavailable: {e.problem}"
        print(f"{e.id:<22} {m.task:<14} {m.mode}  {m.name} {m.version}  [{e.origin}]  {state}")
    for err in errors:
        print(f"  manifest error: {err}", file=sys.stderr)
    return EXIT_OK


def _pick_stack(catalog, which: str | None):
    stacks = catalog.stacks()
    if not stacks:
        raise LookupError("no image series in this folder")
    if which is None:
        return stacks[0]
    if which.isdigit():
        n = int(which)
        if 1 <= n <= len(stacks):
            return stacks[n - 1]
        raise LookupError(f"--series {n}: the folder has series 1 to {len(stacks)}")
    for st in stacks:
        if which in (st.uid, st.series_uid):
            return st
    raise LookupError(f"--series {which}: no series with that number or UID (radviewer info)")


def run_model(model_id: str, stack, pixels, quiet: bool = False):
    """Run model ``model_id`` on ``stack`` with a progress bar on stderr.

    Raises LookupError for a usage problem (unknown, unavailable or inapplicable model),
    ViewerError when the run fails, OperationCancelled on Ctrl+C.
    """
    from viewer.ai.registry import discover, find, not_applicable_reason
    from viewer.ai.runner import Runner
    from viewer.errors import ModelError, OperationCancelled

    try:
        entry = find(model_id, discover())
    except ModelError as exc:
        raise LookupError(str(exc)) from None
    if not entry.available:
        raise LookupError(f"{entry.id}: {entry.problem}")
    reason = not_applicable_reason(entry, stack)
    if reason:
        raise LookupError(f"{entry.manifest.name}: {reason}")

    def progress(done: int, total: int, stage: str) -> None:
        if not quiet:
            bar = "#" * int(30 * done / max(total, 1))
            print(f"\r[{bar:<30}] {stage:<28}", end="", file=sys.stderr, flush=True)

    cancel = threading.Event()
    try:
        return Runner().run(entry, pixels, progress=progress, cancel=cancel)
    except KeyboardInterrupt:
        cancel.set()
        raise OperationCancelled("cancelled") from None
    finally:
        if not quiet:
            print(file=sys.stderr)


def cmd_analyze(args: argparse.Namespace) -> int:
    import numpy as np

    from viewer.ai import snapshot
    from viewer.dicom.pixels import StackPixels, to_real_volume
    from viewer.dicom.scan import scan_folder
    from viewer.errors import ExportError, OperationCancelled, ViewerError

    def fail(msg: str, code: int) -> int:
        print(f"radviewer analyze: {msg}", file=sys.stderr)
        return code

    try:
        catalog = scan_folder(study_path(args.path, args.sample))
        stack = _pick_stack(catalog, args.series)
    except (ViewerError, LookupError) as exc:
        return fail(str(exc), EXIT_USAGE)
    out = Path(args.out)
    seg_out = Path(args.seg_out) if args.seg_out else None
    if seg_out is not None and seg_out.exists() and not args.overwrite:
        return fail(f"{seg_out}: already exists; choose another name or pass --overwrite",
                    EXIT_USAGE)
    pixels = StackPixels(stack)
    try:
        result = run_model(args.model, stack, pixels, quiet=args.quiet)
    except LookupError as exc:
        return fail(str(exc), EXIT_USAGE)
    except OperationCancelled:
        return fail("cancelled", EXIT_FAILURE)
    except ViewerError as exc:
        return fail(str(exc), EXIT_FAILURE)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return fail(f"cannot create {out}: {exc.strerror}", EXIT_FAILURE)
    report = result.report()
    files = []
    if result.label_volume is not None:
        _atomic_save_npy(out / "labels.npy", result.label_volume)
        files.append("labels.npy")
        report["label_volume"] = {
            "file": "labels.npy", "dtype": "uint8", "axes": "[k, j, i] = slice, row, column",
            "affine_ijk_to_lps_mm": np.asarray(stack.affine).round(6).tolist()}
        real = to_real_volume(pixels.frame_volume(), [f.header for f in stack.frames])
        colors = {lab.value: lab.color for lab in result.labels}
        for plane, idx, rgb, spacing in snapshot.representative_planes(
                real, result.label_volume, stack.affine, colors):
            name = f"snapshot_{plane}_{idx + 1}.png"
            snapshot.save_png(rgb, out / name, spacing)
            files.append(name)
    elif result.slice_scores is not None:
        top = result.top_label
        col = [lab.name for lab in result.labels].index(top)
        k = int(np.argmax(result.slice_scores[:, col]))
        real = pixels.real(k)
        name = f"snapshot_slice_{k + 1}_{top.replace(' ', '_').lower()}.png"
        sp = (stack.spacing[1], stack.spacing[2]) if stack.spacing else (1.0, 1.0)
        snapshot.save_png(snapshot.blend(snapshot.to_grey(real), None, {}), out / name, sp)
        report["snapshot_slice"] = {"index": k + 1, "label": top,
                                    "score": round(float(result.slice_scores[k, col]), 4)}
        files.append(name)
    if seg_out is not None:
        if result.label_volume is None:
            return fail(f"--seg-out: {result.title} is a classifier; only segmentations are "
                        f"written as DICOM SEG", EXIT_USAGE)
        from viewer.dicom.seg import write_seg

        try:
            write_seg(result, stack, seg_out, overwrite=args.overwrite)
        except ExportError as exc:
            return fail(str(exc), EXIT_FAILURE)
        report["seg"] = {"file": str(seg_out), "sop_class": "Segmentation Storage"}
    report["files"] = ["report.json", *files]
    _atomic_write_text(out / "report.json", json.dumps(report, indent=2))
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        print()
    else:
        print(f"{result.title} on {stack.label}: done in {result.timings_s['total']:.1f} s "
              f"({result.provider}). Research use — not a diagnosis.")
        for name, ml in result.label_volumes_ml.items():
            print(f"  {name:<24} {ml:8.1f} mL")
        for name, score in result.series_scores.items():
            print(f"  {name:<24} {score:6.3f}")
        print(f"  wrote {', '.join(report['files'])} to {out}")
    return EXIT_OK


def _atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda fh: fh.write(text), "w", overwrite=True)


def _atomic_save_npy(path: Path, arr) -> None:
    import numpy as np

    atomic_write(path, lambda fh: np.save(fh, arr), overwrite=True)


def add_parsers(sub) -> None:
    models = sub.add_parser("models", help="list AI models and whether they can run")
    models.add_argument("--json", action="store_true", help="print radviewer.models/1 JSON")
    models.set_defaults(func=cmd_models)
    an = sub.add_parser("analyze", help="run one model on one series (research use only)")
    an.add_argument("path", nargs="?", help="study folder")
    an.add_argument("--sample", action="store_true", help="use the bundled sample study")
    an.add_argument("--model", required=True, help="model id (radviewer models)")
    an.add_argument("--series", help="series number as listed by radviewer info, or its UID")
    an.add_argument("--out", required=True, help="output folder for report.json and files")
    an.add_argument("--json", action="store_true", help="print the report on stdout")
    an.add_argument("--seg-out", help="also write the segmentation as a DICOM SEG file")
    an.add_argument("--overwrite", action="store_true", help="replace an existing --seg-out")
    an.add_argument("--quiet", action="store_true", help="no progress bar on stderr")
    an.set_defaults(func=cmd_analyze)

    from viewer.cli_export import add_parser

    add_parser(sub)
