"""``radviewer deid SRC OUT [--series N|UID] [--modified-dates] [--patient-characteristics]
[--clean-descriptors] [--safe-private] [--include-burned-in] [--json]``: a de-identified copy
(DICOM PS3.15 Annex E, :mod:`viewer.deid`) of a study folder or one series of it."""

from __future__ import annotations

import argparse
import json
import sys
import threading

from viewer.cli_common import EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, fail, warn

DEID_SCHEMA = "radviewer.deid/1"
_SHOWN = 10  # flagged/failed files listed one per line; the rest counted


def cmd_deid(args: argparse.Namespace) -> int:
    from viewer.audit import record
    from viewer.cli_models import pick_stack
    from viewer.deid.export import export_deidentified, record_audit, study_files
    from viewer.deid.profile import CODES, DeidOptions
    from viewer.dicom.scan import scan_folder
    from viewer.errors import ViewerError
    from viewer.logs import remember_catalog, remember_root

    remember_root(args.out)  # the output folder may be named after the patient
    try:
        catalog = scan_folder(args.path)
        remember_catalog(catalog)
        stack = pick_stack(catalog, args.series) if args.series else None
    except (ViewerError, LookupError) as exc:
        return fail("deid", str(exc), EXIT_USAGE)
    files = study_files(catalog, stack)
    if not files:
        return fail("deid", f"{args.path}: no DICOM image or object to export", EXIT_USAGE)
    options = DeidOptions(modified_dates=args.modified_dates,
                          patient_characteristics=args.patient_characteristics,
                          clean_descriptors=args.clean_descriptors,
                          safe_private=args.safe_private)
    progress = None
    if not args.quiet and not args.json and sys.stderr.isatty():
        def progress(done: int, total: int) -> None:
            print(f"\rde-identifying {done}/{total}", end="", file=sys.stderr, flush=True)

    cancel = threading.Event()
    try:
        report = export_deidentified(files, args.out, options,
                                     include_burned_in=args.include_burned_in,
                                     progress=progress, cancel=cancel)
    except KeyboardInterrupt:
        record("deid", destination=args.out, outcome="interrupted")
        return fail("deid", f"interrupted; the files already in {args.out} are complete, "
                    "the rest were not written", EXIT_INTERRUPTED)
    finally:
        if progress is not None:
            print("\r", end="", file=sys.stderr)
    record_audit(report)
    profile = " + ".join(CODES[k][1] for k in options.chosen())
    if args.json:
        json.dump({
            "schema": DEID_SCHEMA, "out": str(report.out), "profile": options.chosen(),
            "written": len(report.written), "patients": report.patients,
            "flagged": [{"file": p, "reason": r} for p, r in report.flagged],
            "failed": [{"file": p, "reason": r} for p, r in report.failed],
            "skipped_not_dicom": len(catalog.skipped),
        }, sys.stdout, indent=2)
        print()
    else:
        held = [f"{r}; held back (--include-burned-in exports it once you have checked the "
                "pixels)" for _, r in report.flagged]
        for reason in (held + [r for _, r in report.failed])[:_SHOWN]:
            warn("deid", reason)
        more = len(report.flagged) + len(report.failed) - _SHOWN
        if more > 0:
            warn("deid", f"... and {more} more files left out (--json lists them all)")
        print(f"wrote {len(report.written)} de-identified files of {report.patients} "
              f"patient(s) to {report.out} ({profile}); {len(report.flagged)} held back for "
              f"burned-in text, {len(report.failed)} unreadable")
    if not report.written:
        return fail("deid", "nothing was written", EXIT_USAGE)
    return EXIT_OK


def add_parser(sub) -> None:
    p = sub.add_parser(
        "deid", help="a de-identified copy of a study or series (DICOM PS3.15 Annex E)",
        description="Write a de-identified copy: the Basic Application Level "
        "Confidentiality Profile of DICOM PS3.15 Annex E, with the options chosen below; "
        "UIDs replaced consistently (SEG/SR references stay valid in the copy); pixel data "
        "copied as stored. Images that may show identity in their pixels (Burned In "
        "Annotation YES, or ultrasound / secondary capture without it) are held back.")
    p.add_argument("path", metavar="SRC", help="study folder (or one DICOM file)")
    p.add_argument("out", metavar="OUT", help="a new or empty folder for the copy")
    from viewer.cli_models import SERIES_HELP

    p.add_argument("--series", help=SERIES_HELP.replace("(default 1)", "(default: all)")
                   + "; the SEG/SR objects that refer to it come along")
    p.add_argument("--modified-dates", action="store_true",
                   help="keep dates, shifted by a random per-patient offset (1-10 years back)")
    p.add_argument("--patient-characteristics", action="store_true",
                   help="keep age, sex, size, weight, smoking and pregnancy status")
    p.add_argument("--clean-descriptors", action="store_true",
                   help="keep study/series/protocol descriptions, cleaned of the names, IDs "
                   "and dates of the patient and staff found in the file")
    p.add_argument("--safe-private", action="store_true",
                   help="keep the private attributes PS3.15 lists as safe (b-values, SUV "
                   "factors...); all other private attributes are removed")
    p.add_argument("--include-burned-in", action="store_true",
                   help="export images that may show identity in their pixels too (check "
                   "them yourself: radviewer does not clean pixels)")
    p.add_argument("--json", action="store_true", help="print the radviewer.deid/1 summary")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(func=cmd_deid)
