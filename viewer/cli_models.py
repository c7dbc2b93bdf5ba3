"""``radviewer models [--json]`` and ``radviewer analyze PATH --model ID ... --out DIR``.

``analyze`` checks its destination before the model runs, writes every file into a hidden
folder inside ``--out`` and moves them into place only when all are done: a full or read-only
disk, a failure or Ctrl+C leave no partial output.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
from pathlib import Path

from viewer.cli_analyze_outputs import OutputsAhead, write_outputs, write_text
from viewer.cli_common import (
    EXIT_FAILURE,
    EXIT_FLAGGED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    fail,
    warn,
)
from viewer.export.atomic import explain
from viewer.paths import study_path

SERIES_HELP = "the index [N] that radviewer info prints (default 1), or a series UID"
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


def pick_stack(catalog, which: str | None, fits=None):
    """The stack ``--series`` names: the 1-based index ``radviewer info`` prints ([N]), or a
    series UID (a split stack's ``uid`` too). Without ``--series``: the first stack for which
    ``fits(stack)`` is true (the first stack when none fits or ``fits`` is None, so that the
    model's refusal names the reason). Raises LookupError with the choices."""
    stacks = catalog.stacks()
    if not stacks:
        why = ""
        if catalog.skipped:  # the first file's reason says what is wrong and what to do
            n, first = len(catalog.skipped), catalog.skipped[0]
            why = f" ({n} file{'s' if n > 1 else ''} skipped; {first.reason})"
        raise LookupError(f"no image series in this folder{why}")
    if which is None:
        return next((st for st in stacks if fits is not None and fits(st)), stacks[0])
    if which.isdigit():
        n = int(which)
        if 1 <= n <= len(stacks):
            return stacks[n - 1]
        raise LookupError(f"--series {n}: the folder has series 1 to {len(stacks)}")
    for st in stacks:
        if which in (st.uid, st.series_uid):
            return st
    raise LookupError(f"--series {which}: no series with that index or UID (radviewer info "
                      f"lists them as [1] to [{len(stacks)}])")


def series_index(catalog, stack) -> int:
    """The 1-based index of ``stack`` as ``radviewer info`` prints it."""
    return next(i for i, st in enumerate(catalog.stacks(), 1) if st is stack)


def run_model(model_id: str, stack, pixels, quiet: bool = False, on_running=None,
              entries=None):
    """Run model ``model_id`` on ``stack`` with a progress bar on stderr; ``on_running()`` is
    called as a 3-D network starts its run; ``entries``: the models discovered already.

    Raises LookupError for a usage problem (unknown, unavailable or inapplicable model),
    ViewerError when the run fails, OperationCancelled on Ctrl+C.
    """
    from viewer.ai.registry import discover, find, not_applicable_reason
    from viewer.ai.runner import Runner
    from viewer.errors import ModelError, OperationCancelled

    try:
        entry = find(model_id, discover() if entries is None else entries)
    except ModelError as exc:
        raise LookupError(str(exc)) from None
    if not entry.available:
        raise LookupError(f"{entry.id}: {entry.problem}")
    reason = not_applicable_reason(entry, stack)
    if reason:
        raise LookupError(f"{entry.manifest.name}: {reason}")

    def progress(done: int, total: int, stage: str) -> None:
        if on_running is not None and stage == "running the model":
            on_running()
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


def _check_out(out: Path, overwrite: bool) -> None:
    """Refuse an ``--out`` that is a file, or a non-empty folder without ``--overwrite``;
    create it. Raises LookupError (usage) or ExportError (cannot create)."""
    if out.exists() and not out.is_dir():
        raise LookupError(f"--out {out}: is a file; give a folder")
    if out.is_dir() and not overwrite and any(out.iterdir()):
        raise LookupError(f"--out {out}: the folder is not empty (an earlier run?); choose "
                          f"another folder or pass --overwrite to replace its files")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise explain(out, exc, "cannot create the folder") from exc


def _staging(out: Path) -> Path:
    """A hidden folder inside ``out`` that receives every file first: creating it is also
    the check that ``out`` is writable, before the model runs."""
    try:
        return Path(tempfile.mkdtemp(dir=out, prefix=".radviewer-analyze-"))
    except OSError as exc:
        raise explain(out, exc) from exc


def cmd_analyze(args: argparse.Namespace) -> int:
    # The decoder processes forked from this process while it is a command of its own and still
    # single-threaded (they share its imports), or else the forkserver's codec imports (~0.3 s)
    # set going to overlap the scan, as the window does at launch.
    from viewer import cli_common
    from viewer.dicom import decode_pool

    if not (cli_common.OWN_PROCESS and decode_pool.fork_now()):
        decode_pool.prestart()
    from viewer.dicom.pixels import StackPixels
    from viewer.dicom.scan import scan_folder
    from viewer.errors import DicomReadError, ExportError, OperationCancelled, ViewerError
    from viewer.logs import remember_catalog

    try:
        catalog = scan_folder(study_path(args.path, args.sample))
        remember_catalog(catalog)
        entries = _discover()
        stack = pick_stack(catalog, args.series, _fits(args.model, entries))
    except (ViewerError, LookupError) as exc:
        return fail("analyze", str(exc), EXIT_USAGE)
    out = Path(args.out).expanduser()
    seg_out = Path(args.seg_out).expanduser() if args.seg_out else None
    if seg_out is not None and seg_out.exists() and not args.overwrite:
        return fail("analyze", f"{seg_out}: already exists; choose another name or pass "
                    f"--overwrite", EXIT_USAGE)
    created = not out.exists()
    seg_tmp: Path | None = None
    try:
        _check_out(out, args.overwrite)
        stage = _staging(out)
    except LookupError as exc:
        return fail("analyze", str(exc), EXIT_USAGE)
    except ExportError as exc:
        return fail("analyze", str(exc), EXIT_FAILURE)
    if seg_out is not None:  # also the check that its folder is writable, before the run
        try:
            seg_tmp = _temp_beside(seg_out)
        except ExportError as exc:
            shutil.rmtree(stage, ignore_errors=True)
            if created:
                _remove_if_empty(out)
            return fail("analyze", str(exc), EXIT_FAILURE)
    done = False
    try:
        pixels = StackPixels(stack)
        try:
            ahead = OutputsAhead(stack, pixels)
            result = run_model(args.model, stack, pixels, quiet=args.quiet,
                               on_running=ahead.start, entries=entries)
        except LookupError as exc:
            return fail("analyze", str(exc), EXIT_USAGE)
        if seg_out is not None and result.label_volume is None:
            return fail("analyze", f"--seg-out: {result.title} is a classifier; only "
                        f"segmentations are written as DICOM SEG", EXIT_USAGE)
        report = write_outputs(result, stack, pixels, stage, ahead)
        if seg_out is not None:
            from viewer.dicom.seg import write_seg

            write_seg(result, stack, seg_tmp, overwrite=True)  # our own empty temp file
            report["seg"] = {"file": str(seg_out), "sop_class": "Segmentation Storage"}
        report["series_index"] = series_index(catalog, stack)
        write_text(stage / "report.json", json.dumps(report, indent=2))
        if args.overwrite:
            _remove_earlier_run(out)
        for name in report["files"]:  # all written: now they take their names
            try:
                os.replace(stage / name, out / name)
            except OSError as exc:
                raise explain(out / name, exc) from exc
        if seg_tmp is not None:
            try:
                os.replace(seg_tmp, seg_out)
            except OSError as exc:
                raise explain(seg_out, exc) from exc
        done = True
    except (OperationCancelled, KeyboardInterrupt):
        return fail("analyze", "interrupted; nothing was written", EXIT_INTERRUPTED)
    except ExportError as exc:
        return fail("analyze", f"{exc} (nothing was written)", EXIT_FAILURE)
    except DicomReadError as exc:
        return fail("analyze", str(exc), EXIT_USAGE)
    except ViewerError as exc:
        return fail("analyze", str(exc), EXIT_FAILURE)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        if seg_tmp is not None and not done:
            seg_tmp.unlink(missing_ok=True)
        if created and not done:
            _remove_if_empty(out)
    from viewer.audit import record

    record("analyze", study_uid=stack.first.study_uid, destination=out,
           outcome="flagged" if result.flags else "ok", files=len(report["files"]))
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        print()
    else:
        _print_result(result, report, stack, out)
    if result.flags:  # implausible, or outside the model's stated use: say so in the status
        warn("analyze", f"the result is flagged ({result.flags[0]}); see report.json flags")
        return EXIT_FLAGGED
    return EXIT_OK


def _discover():
    """The models found (once per command: a discovery reads every manifest)."""
    from viewer.ai.registry import discover

    return discover()


def _fits(model_id: str, entries=None):
    """``stack -> bool``: whether model ``model_id`` (among ``entries``, default: discovered
    now) may run on it (None: no such model; the run then says why)."""
    from viewer.ai.registry import find, not_applicable_reason
    from viewer.errors import ModelError

    try:
        entry = find(model_id, _discover() if entries is None else entries)
    except ModelError:
        return None
    return lambda st: not_applicable_reason(entry, st) is None


def _print_result(result, report: dict, stack, out: Path) -> None:
    """The human-readable summary: volumes at 0.1 mL, scores as what they are, every flag."""
    import numpy as np

    from viewer.ai.rules import slice_ranges

    print(f"{result.title} on [{report['series_index']}] {stack.label}: done in "
          f"{result.timings_s['total']:.1f} s ({result.provider}). Research use — not a "
          f"diagnosis.")
    for name, ml in result.label_volumes_ml.items():
        print(f"  {name:<24} {ml:8.1f} mL")
    if result.series_scores:
        print(f"  series {result.score_word}, {result.aggregate_rule}:")
    for name, score in result.series_scores.items():
        print(f"  {name:<24} {score:6.3f}")
    if result.slice_in_range is not None and not result.slice_in_range.all():
        print(f"  outside the model's range (not in the series scores): slices "
              f"{slice_ranges(np.flatnonzero(~result.slice_in_range))}")
    for w in result.warnings:
        print(f"  WARNING: {w}")
    print(f"  wrote {', '.join(report['files'])} to {out}")


def _temp_beside(path: Path) -> Path:
    """An empty hidden file in ``path``'s folder (same file system: renamed into place at the
    end); creating it is the check that the folder is writable."""
    try:
        fd, name = tempfile.mkstemp(dir=path.parent if str(path.parent) else ".",
                                    prefix=f".{path.name}.", suffix=".part")
    except OSError as exc:
        raise explain(path.parent, exc, "cannot write here") from exc
    os.close(fd)
    return Path(name)


def _remove_earlier_run(out: Path) -> None:
    """With --overwrite: remove what an earlier run wrote (its report's files, snapshots),
    so no stale snapshot stays beside the new report; nothing else in ``out`` is touched."""
    names = {"report.json", "labels.npy"}
    try:
        names.update(json.loads((out / "report.json").read_text()).get("files", []))
    except (OSError, ValueError, AttributeError, TypeError):
        pass
    names.update(p.name for p in out.glob("snapshot_*.png"))
    for name in names:
        if isinstance(name, str) and "/" not in name and name not in ("", ".", ".."):
            try:
                (out / name).unlink(missing_ok=True)
            except OSError as exc:
                raise explain(out / name, exc, "cannot replace an earlier run's file") from exc


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:  # not empty, or gone: nothing of ours is left in it either way
        pass


def add_parsers(sub) -> None:
    models = sub.add_parser("models", help="list AI models and whether they can run")
    models.add_argument("--json", action="store_true", help="print radviewer.models/1 JSON")
    models.set_defaults(func=cmd_models)
    an = sub.add_parser("analyze", help="run one model on one series (research use only)")
    an.add_argument("path", nargs="?", help="study folder")
    an.add_argument("--sample", action="store_true", help="use the bundled sample study")
    an.add_argument("--model", required=True, help="model id (radviewer models)")
    an.add_argument("--series", help=SERIES_HELP)
    an.add_argument("--out", required=True, help="output folder for report.json, labels.npy "
                    "and snapshots (new or empty, unless --overwrite)")
    an.add_argument("--json", action="store_true", help="print the report on stdout")
    an.add_argument("--seg-out", help="also write the segmentation as a DICOM SEG file")
    an.add_argument("--overwrite", action="store_true",
                    help="replace the files of an earlier run in --out, and --seg-out")
    an.add_argument("--quiet", action="store_true", help="no progress bar on stderr")
    an.set_defaults(func=cmd_analyze)

    from viewer.cli_export import add_parser

    add_parser(sub)
