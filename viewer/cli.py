"""The ``radviewer`` entry point: the window (``radviewer [PATH] [--sample]``) or a headless
command (``info``, ``models``, ``analyze``, ``export``); ``radviewer info PATH [--json]`` lives
here, the others in :mod:`viewer.cli_models` and :mod:`viewer.cli_export`.

Heavy imports (pydicom, numpy) happen inside the commands, so ``radviewer --help`` is instant.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from viewer import __version__
from viewer.cli_common import EXIT_CODES, EXIT_OK, EXIT_USAGE, fail, guarded

INFO_SCHEMA = "radviewer.info/1"


def _spacing_json(st) -> dict[str, Any]:
    """In-plane spacing keys of one stack: the spacing measurements use (mm; null when they
    are in pixels or per ultrasound region), where it comes from, and its label."""
    from viewer.dicom.spacing import for_stack

    cal = for_stack(st)
    return {
        "pixel_spacing_mm": list(cal.spacing) if cal.spacing is not None else None,
        "pixel_spacing_source": cal.source.value,
        "pixel_spacing_note": cal.note,
        "ultrasound_regions": [
            {"bounds_px": [r.x0, r.y0, r.x1, r.y1], "pixel_spacing_mm": list(r.spacing)}
            for r in cal.regions
        ],
    }


def _stack_json(index: int, st) -> dict[str, Any]:
    from viewer.dicom import codecs

    h = st.first
    syntaxes = sorted({f.header.transfer_syntax for f in st.frames})
    return {
        "index": index,
        "uid": st.uid,
        "series_uid": st.series_uid,
        "series_number": h.series_number,
        "modality": h.modality,
        "description": h.series_description,
        "label": st.label,
        "images": st.n_files,
        "frames": st.n_frames,
        "rows": st.rows,
        "columns": st.columns,
        **_spacing_json(st),
        "slice_spacing_mm": round(st.spacing[0], 6) if st.spacing else None,
        "acquisition_plane": st.plane or None,
        "edge_letters": st.edge_letters,
        "transfer_syntax": syntaxes[0] if len(syntaxes) == 1 else syntaxes,
        "transfer_syntax_name": ", ".join(codecs.syntax_name(t) for t in syntaxes),
        "photometric_interpretation": h.photometric,
        "warnings": list(st.warnings),
        "linked_objects": [
            {"kind": o.kind, "sop_instance_uid": o.header.sop_instance_uid}
            for o in st.linked_objects
        ],
        **_volumes_json(st),
    }


def _volumes_json(st) -> dict[str, Any]:
    """``volumes`` of a 4-D series entry (null for an ordinary stack); the entry's other keys
    describe its first volume, ``frames``/``images`` count that volume alone."""
    from viewer.dicom.volumes import volume_series

    vs = volume_series(st)
    if vs is None:
        return {"volumes": None}
    return {
        "label": vs.label,
        "volumes": {
            "count": vs.count,
            "kind": vs.kind,
            "labels": list(vs.labels),
            "uids": [v.uid for v in vs.volumes],
            "images": sum(v.n_files for v in vs.volumes),
        },
    }


def catalog_json(catalog) -> dict[str, Any]:
    """The stable ``radviewer.info/1`` document (see README, "radviewer info --json")."""
    from viewer.dicom.volumes import entries, volume_series

    index_of = {id(st): i + 1 for i, st in enumerate(catalog.stacks())}
    for st in catalog.all_stacks():  # a volume of a 4-D series goes by its series' number
        vs = volume_series(st)
        if vs is not None:
            index_of[id(st)] = index_of[id(vs.volumes[0])]
    patients = []
    for p in catalog.patients:
        studies = []
        for s in p.studies:
            series = []
            objects = []
            for se in s.series:
                series.extend(_stack_json(index_of[id(st)], st) for st in entries(se.stacks))
                for o in se.objects:
                    objects.append({
                        "kind": o.kind,
                        "series_uid": se.uid,
                        "description": se.description,
                        "frames": o.header.number_of_frames,
                        "referenced_series_uids": list(o.referenced_series_uids),
                        "linked_series": list(dict.fromkeys(
                            index_of[id(st)] for st in o.linked_stacks)),
                    })
            studies.append({
                "study_uid": s.uid,
                "date": s.date,
                "description": s.description,
                "accession_number": s.accession_number,
                "series": series,
                "objects": objects,
            })
        patients.append({
            "patient_id": p.patient_id,
            "name": p.name,
            "birth_date": p.birth_date,
            "studies": studies,
        })
    return {
        "schema": INFO_SCHEMA,
        "root": catalog.root,
        "cancelled": catalog.cancelled,
        "counts": {
            "patients": len(catalog.patients),
            "series": len(catalog.stacks()),
            "objects": len(catalog.objects()),
            "skipped": len(catalog.skipped),
        },
        "patients": patients,
        "skipped": [{"path": s.path, "reason": s.reason} for s in catalog.skipped],
        "indexes": list(catalog.indexes),  # DICOMDIRs read for the files they list
    }


def _fmt_date(d: str) -> str:
    return f"{d[:4]}-{d[4:6]}-{d[6:8]}" if len(d) == 8 and d.isdigit() else (d or "-")


def _spacing_text(se: dict[str, Any]) -> str:
    """"0.2x0.2 mm (at detector)", "mm in 2 US regions", "px (no pixel spacing)"."""
    ps, note = se["pixel_spacing_mm"], se["pixel_spacing_note"]
    if ps:
        return f"{ps[0]:.3g}x{ps[1]:.3g} mm" + (f" ({note})" if note else "")
    n = len(se["ultrasound_regions"])
    if n:
        return f"mm in {n} US region{'s' if n > 1 else ''}"
    return "px (no pixel spacing)"


class _Printable:
    """Writes to ``stream`` without control characters: a description or name from a file
    (ESC sequences, bidi overrides) never drives the user's terminal."""

    def __init__(self, stream) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        from viewer.display.text import printable

        return self.stream.write(printable(text))

    def flush(self) -> None:
        self.stream.flush()


def _print_text(doc: dict[str, Any], out) -> None:
    c = doc["counts"]
    print(
        f"{doc['root']}: {c['series']} series, {c['objects']} other objects, "
        f"{c['skipped']} files skipped",
        file=out,
    )
    from viewer.dicom.catalog import patients_warning

    if patients_warning(c["patients"]):
        print(f"! {patients_warning(c['patients'])}", file=out)
    for p in doc["patients"]:
        print(f"Patient {p['patient_id'] or '-'}  {p['name'] or ''}".rstrip(), file=out)
        for s in p["studies"]:
            desc = f"  {s['description']}" if s["description"] else ""
            print(f"  Study {_fmt_date(s['date'])}{desc}", file=out)
            for se in s["series"]:
                ps_s = _spacing_text(se)
                sl = se["slice_spacing_mm"]
                sl_s = f"slice {sl:.3g} mm" if sl else "single slice" if se["frames"] == 1 else ""
                count = f"{se['images']} images" if se["images"] == se["frames"] else (
                    f"{se['images']} files / {se['frames']} frames"
                )
                if se.get("volumes"):
                    v = se["volumes"]
                    count = f"{v['count']} volumes ({v['kind']}) x {se['frames']} slices"
                print(
                    f"    [{se['index']}] {se['modality']:<3} {se['label']!s:<36} {count:>12}  "
                    f"{se['rows']}x{se['columns']}  {ps_s}  {sl_s}  "
                    f"{se['acquisition_plane'] or ''}  {se['transfer_syntax_name']}",
                    file=out,
                )
                for w in se["warnings"]:
                    print(f"          ! {w}", file=out)
            for o in s["objects"]:
                linked = ", ".join(f"[{i}]" for i in o["linked_series"]) or "no series here"
                print(f"    {o['kind']:<4} {o['description']}  -> {linked}", file=out)
    for path in doc.get("indexes", []):
        print(f"Index: {path} (DICOMDIR; the files it lists were read)", file=out)
    if doc["skipped"]:
        print(f"Skipped files ({len(doc['skipped'])}):", file=out)
        root = doc["root"]
        for s in doc["skipped"]:
            rel = os.path.relpath(s["path"], root) if os.path.isdir(root) else s["path"]
            print(f"  {rel}: {s['reason']}", file=out)


def cmd_info(args: argparse.Namespace) -> int:
    from viewer.dicom.scan import scan_folder
    from viewer.errors import StudyNotFoundError
    from viewer.paths import sample_study_dir

    path = str(sample_study_dir()) if args.sample else args.path
    if not path:
        return fail("info", "give a PATH or --sample", EXIT_USAGE)
    progress = None
    if not args.json and sys.stderr.isatty():

        def progress(done: int, total: int) -> None:
            print(f"\rscanning {done}/{total}", end="", file=sys.stderr, flush=True)

    try:
        catalog = scan_folder(path, progress=progress)
    except StudyNotFoundError as exc:
        return fail("info", str(exc), EXIT_USAGE)
    from viewer.logs import remember_catalog

    remember_catalog(catalog)  # a bug report in the log must not name the patient
    if progress is not None:
        print("\r", end="", file=sys.stderr)
    doc = catalog_json(catalog)
    if args.json:
        json.dump(doc, sys.stdout, indent=2)
        print()
    elif catalog.stacks():
        _print_text(doc, _Printable(sys.stdout))
    if not catalog.stacks():
        from viewer.dicom.messages import found_without_images

        n = len(catalog.skipped)
        why = ""
        if n:
            first = catalog.skipped[0]
            why = f" ({n} file{'s' if n > 1 else ''} skipped; {os.path.basename(first.path)}: "
            why += f"{first.reason})"
        # A folder of SEG/SR/PR/KO only: say what it holds, not just "nothing".
        found = found_without_images(o.kind for o in catalog.objects())
        if found:
            return fail("info", f"{path}: {found}; open the folder of the series they refer "
                        "to", EXIT_USAGE)
        return fail("info", f"{path}: no DICOM image found{why}", EXIT_USAGE)
    return EXIT_OK


_USAGE = """radviewer [PATH | --sample] [--exit-after-first-image]   the window
       radviewer COMMAND [options]                               headless (COMMAND --help)"""

_WINDOW_HELP = """the window:
  radviewer                   the welcome view (File > Open folder)
  radviewer PATH              open a study folder (or one DICOM file)
  radviewer --sample          open the bundled sample study
  --exit-after-first-image    quit once the first image is painted and print how long that
                              took (start-up benchmark and installer smoke test)"""


def _epilog() -> str:
    codes = ", ".join(f"{code} {word}" for code, word, _ in EXIT_CODES)
    return f"exit status: {codes} (README > Command line)."


def build_parser() -> argparse.ArgumentParser:
    """The parser of the headless commands; its help also shows how to start the window."""
    parser = argparse.ArgumentParser(
        prog="radviewer", usage=_USAGE,
        description="radviewer: radiology viewer with AI assist (research use, not a "
        f"diagnosis).\n\n{_WINDOW_HELP}",
        epilog=_epilog(), formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"radviewer {__version__}")
    sub = parser.add_subparsers(dest="command", title="commands", metavar="COMMAND",
                                prog="radviewer")
    info = sub.add_parser("info", help="list the patients, studies and series in a folder",
                          description="List the patients, studies and series in a folder; "
                          "[N] is the index that --series N of the other commands takes.")
    info.add_argument("path", nargs="?", help="study folder (or a single DICOM file)")
    info.add_argument("--sample", action="store_true", help="use the bundled sample study")
    info.add_argument("--json", action="store_true", help="print the radviewer.info/1 document")
    info.set_defaults(func=cmd_info)
    from viewer.cli_models import add_parsers

    add_parsers(sub)
    from viewer.cli_batch import add_parser as add_batch

    add_batch(sub)
    from viewer.cli_evaluate import add_parser as add_evaluate

    add_evaluate(sub)
    from viewer.cli_deid import add_parser as add_deid

    add_deid(sub)
    from viewer.cli_audit import add_parser as add_audit

    add_audit(sub)
    from viewer.cli_pacs import add_parser as add_pacs

    add_pacs(sub)
    return parser


_COMMANDS = ("info", "models", "analyze", "export", "batch", "evaluate", "deid", "audit",
             "pacs")


def gui_main(argv: list[str]) -> int:
    """``radviewer [PATH] [--sample]``: the desktop window."""
    parser = argparse.ArgumentParser(prog="radviewer", usage=_USAGE, add_help=False)
    parser.add_argument("--version", action="version", version=f"radviewer {__version__}")
    parser.add_argument("path", nargs="?")
    parser.add_argument("--sample", action="store_true")
    parser.add_argument("--exit-after-first-image", action="store_true")
    args = parser.parse_args(argv)
    if args.path and not os.path.exists(args.path):
        return fail("", f"{args.path}: no such file or folder", EXIT_USAGE)
    from viewer.app import run_gui

    return run_gui(args.path, sample=args.sample,
                   exit_after_first_image=args.exit_after_first_image)


def main(argv: list[str] | None = None) -> int:
    """Run ``radviewer ARGV``; returns the exit status (see :data:`EXIT_CODES`)."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in _COMMANDS:
        import warnings

        # pydicom warns about damaged files on stderr in its own words; those files are
        # reported as skipped (or refused) with a plain reason, so its wording stays out.
        warnings.filterwarnings("ignore", category=UserWarning, module=r"pydicom(\.|$)")
        args = build_parser().parse_args(argv)
        if getattr(args, "path", None):  # hidden in the log before anything can log it
            from viewer.logs import remember_root

            remember_root(args.path)
        return guarded(args.command, lambda: args.func(args))
    if any(a in ("-h", "--help") for a in argv):
        # One help for the window and every command.
        return guarded("", lambda: build_parser().print_help() or EXIT_OK)
    return gui_main(argv)


def entry() -> int:
    """The process's entry (console script, ``python -m viewer.cli``, the frozen app): as
    :func:`main`, then its objects are frozen, since the process ends next (the interpreter's
    last collections over them cost ~0.04 s at exit). Tests call :func:`main` in-process."""
    import gc

    from viewer import cli_common

    cli_common.OWN_PROCESS = True
    code = main()
    gc.freeze()
    return code


if __name__ == "__main__":
    sys.exit(entry())
