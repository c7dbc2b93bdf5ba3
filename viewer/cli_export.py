"""``radviewer export PATH --series N|UID [--slice K] [--window C,W | --preset NAME]
[--seg FILE | --model ID] [--plane acquired|axial|coronal|sagittal]
--out FILE.png|FILE.jpg|FILE.dcm|DIR [--skip-bad]``.

The same images as the window's native-resolution export: :mod:`viewer.export.scene` and
:mod:`viewer.export.compose` draw both. Colour images are drawn as stored (no window).
"""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

from viewer.cli_common import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, fail, warn
from viewer.display.order import image_position
from viewer.paths import study_path

SINGLE_SUFFIXES = (".png", ".jpg", ".jpeg", ".dcm")  # any other --out is a folder


def _parse_window(text: str):
    from viewer.display.window import Window

    try:
        c, w = (float(v) for v in text.split(","))
    except ValueError:
        raise ValueError(f"--window {text!r}: give centre and width, e.g. --window 40,400") \
            from None
    if w <= 0:
        raise ValueError(f"--window {text!r}: the width must be positive")
    return Window(c, w, "custom")


def _preset(name: str, pixels, index: int, where: str):
    """The window ``--preset name`` gives; a CT preset on another modality is used, with a
    warning (its HU values rarely fit: the image is mostly black or white)."""
    from viewer.display.window import CT_PRESETS, auto_window, header_windows

    key = name.lower()
    if key in CT_PRESETS:
        modality = pixels.stack.first.modality
        if modality != "CT":
            warn("export", f"--preset {key} is a CT window in HU; {where} is "
                 f"{modality or 'not CT'}: try --preset auto or header")
        return CT_PRESETS[key]
    if key == "auto":
        return auto_window(pixels.real(index))
    if key == "header":
        wins = header_windows(pixels.stack.first)
        if not wins:
            raise ValueError("--preset header: this series stores no window")
        return wins[0]
    raise ValueError(f"--preset {name!r}: choose one of {', '.join(CT_PRESETS)}, header, auto")


def _slices(text: str | None, stack, default: int) -> list[int]:
    """Stack indices (0-based) of images ``K`` or ``A-B`` (1-based, inclusive), numbered as
    the window numbers them ("image K / N": as acquired, viewer.display.order)."""
    n = stack.n_frames
    if text is None:
        return [default]
    try:
        if "-" in text:
            a, b = (int(v) for v in text.split("-", 1))
        else:
            a = b = int(text)
    except ValueError:
        raise ValueError(f"--slice {text!r}: give a slice number or a range such as 10-40") \
            from None
    if not (1 <= a <= b <= n):
        raise ValueError(f"--slice {text}: this series has slices 1 to {n}")
    return [image_position(stack, p) for p in range(a - 1, b)]


def cmd_export(args: argparse.Namespace) -> int:
    from viewer.ai.result import result_from_seg
    from viewer.cli_models import pick_stack, run_model, series_index
    from viewer.dicom.pixels import StackPixels
    from viewer.dicom.scan import scan_folder
    from viewer.errors import DicomReadError, ExportError, OperationCancelled, ViewerError
    from viewer.logs import remember_catalog

    if args.seg and args.model:
        return fail("export", "give --seg or --model, not both", EXIT_USAGE)
    if not 1 <= args.scale <= 8:
        return fail("export", "--scale: give an integer factor from 1 to 8", EXIT_USAGE)
    from viewer.cli_export_plane import ACQUIRED
    from viewer.dicom.reformat import PLANES

    args.plane = (args.plane or ACQUIRED).lower()
    if args.plane not in (ACQUIRED, *PLANES):
        return fail("export", f"--plane {args.plane!r}: choose acquired, "
                    f"{', '.join(PLANES)}", EXIT_USAGE)
    try:
        catalog = scan_folder(study_path(args.path, args.sample))
        remember_catalog(catalog)
        stack = pick_stack(catalog, args.series)
    except (ViewerError, LookupError) as exc:
        return fail("export", str(exc), EXIT_USAGE)
    index = series_index(catalog, stack)
    if not stack.rows or not stack.columns:
        return fail("export", f"{stack.first.path}: Rows x Columns is {stack.rows}x"
                    f"{stack.columns}: no image to draw", EXIT_USAGE)
    pixels = StackPixels(stack)
    result = None
    try:
        if args.seg:
            from viewer.dicom.seg import read_seg

            result = result_from_seg(read_seg(args.seg, stack), stack)
        elif args.model:
            result = run_model(args.model, stack, pixels, quiet=args.quiet)
    except LookupError as exc:
        return fail("export", str(exc), EXIT_USAGE)
    except OperationCancelled:
        return fail("export", "interrupted; nothing was written", EXIT_INTERRUPTED)
    except DicomReadError as exc:
        return fail("export", str(exc), EXIT_USAGE)
    except ViewerError as exc:
        return fail("export", str(exc), EXIT_FAILURE)
    try:
        if args.plane != ACQUIRED:
            from viewer.cli_export_plane import export_plane

            return export_plane(args, stack, index, pixels, result)
        return _export(args, catalog, stack, index, pixels, result)
    except (OperationCancelled, KeyboardInterrupt):
        return fail("export", "interrupted; nothing was written", EXIT_INTERRUPTED)
    except DicomReadError as exc:
        folder = Path(args.out).suffix.lower() not in SINGLE_SUFFIXES
        hint = " (--skip-bad leaves such slices out)" if folder and not args.skip_bad else ""
        return fail("export", f"{exc}{hint}", EXIT_USAGE)
    except ExportError as exc:
        return fail("export", str(exc), EXIT_FAILURE)
    except ValueError as exc:
        return fail("export", str(exc), EXIT_USAGE)


def _warn_spacing(stack, where: str) -> None:
    """Say once when the header's spacing was unusable (dropped when it was read: zero,
    negative, not finite), so lengths and the scale bar are in px."""
    for w in stack.warnings:
        if "Spacing" in w and "ignored" in w:
            warn("export", f"{where}: {w}; lengths are in px and there is no scale bar")
            return


def _default_slice(stack, result) -> int:
    """The middle slice, or the one with the most labelled pixels / the top score."""
    if result is not None and result.label_volume is not None and result.label_volume.any():
        return int(result.label_volume.reshape(stack.n_frames, -1).astype(bool)
                   .sum(axis=1).argmax())
    if result is not None and result.slice_scores is not None and result.top_label:
        col = [lab.name for lab in result.labels].index(result.top_label)
        return int(result.slice_scores[:, col].argmax())
    return stack.n_frames // 2


def _export(args, catalog, stack, index: int, pixels, result) -> int:
    """Render and write; raises ValueError (usage), DicomReadError, ExportError."""
    from viewer.errors import DicomReadError
    from viewer.export import images
    from viewer.export.compose import render
    from viewer.export.scene import slice_scene

    where = f"series [{index}]"
    out = Path(args.out).expanduser()
    suffix = out.suffix.lower()
    single = suffix in SINGLE_SUFFIXES
    if args.slice is None and not single:
        indices = list(range(stack.n_frames))  # a folder: the whole series
    else:
        indices = _slices(args.slice, stack, _default_slice(stack, result))
    if single and len(indices) > 1:
        raise ValueError("--slice with a range needs a folder as --out")
    colour = len(pixels.frame_shape) == 3
    window = None
    if colour and (args.window or args.preset):
        warn("export", f"{where} is colour ({stack.first.photometric}): it is drawn as "
             f"stored; --{'window' if args.window else 'preset'} is not used")
    elif args.window:
        window = _parse_window(args.window)
    elif args.preset:
        window = _preset(args.preset, pixels, indices[0], where)

    _warn_spacing(stack, where)

    def scene_of(k: int):
        return slice_scene(pixels, k, window, result=result, outline=args.outline,
                           opacity=args.opacity, include_patient=args.include_patient_details)

    h = stack.first
    provenance = result.provenance() if result is not None else None  # PNG tEXt chunks
    if single and not out.parent.exists():
        try:
            out.parent.mkdir(parents=True)
        except OSError as exc:
            from viewer.export.atomic import explain

            raise explain(out.parent, exc, "cannot create the folder") from exc
    skipped: list[tuple[int, str]] = []
    if suffix == ".dcm":
        from viewer.export.capture import write_secondary_capture

        scene = scene_of(indices[0])
        write_secondary_capture(
            render(scene, args.scale), stack.frames[indices[0]].header, out,
            burned_in_patient_details=args.include_patient_details,
            letters=scene.letters, overwrite=args.overwrite)
        written = [out]
    elif single:
        written = [images.save_image(render(scene_of(indices[0]), args.scale), out,
                                     args.overwrite, text=provenance)]
    else:
        def progress(done: int, total: int) -> None:
            if not args.quiet:
                bar = "#" * int(30 * done / max(total, 1))
                print(f"\r[{bar:<30}] {done}/{total}", end="", file=sys.stderr, flush=True)

        ext = "." + args.format
        try:
            written = images.export_series(
                lambda k: render(scene_of(k), args.scale), indices, out,
                lambda k: images.default_name(h.modality, h.series_number,
                                              image_position(stack, k) + 1, ext,
                                              series_index=index),
                overwrite=args.overwrite, progress=progress, cancel=threading.Event(),
                skipped=skipped if args.skip_bad else None, text=provenance)
        finally:
            if not args.quiet:
                print(file=sys.stderr)
    for k, reason in skipped:
        warn("export", f"skipped slice {image_position(stack, k) + 1}: {reason}")
    if not written:
        raise DicomReadError(f"{out}: every slice of {where} was skipped; nothing was written")
    from viewer.audit import record

    record("export", study_uid=h.study_uid, destination=out,
           outcome="partial" if skipped else "ok", written=len(written))
    what = written[0] if len(written) == 1 else f"{len(written)} files in {out}"
    left = f", {len(skipped)} bad slice(s) skipped" if skipped else ""
    print(f"wrote {what}{left}" + (" (research use — not a diagnosis)" if result else ""))
    return EXIT_OK


def add_parser(sub) -> None:
    ex = sub.add_parser(
        "export", help="annotated image(s) of a series: PNG/JPEG, or DICOM secondary capture")
    ex.add_argument("path", nargs="?", help="study folder")
    ex.add_argument("--sample", action="store_true", help="use the bundled sample study")
    from viewer.cli_models import SERIES_HELP

    ex.add_argument("--series", help=SERIES_HELP)
    ex.add_argument("--slice", help="slice number (1-based) or range A-B; default: the middle "
                    "slice, or the one with the most labelled pixels / the top score")
    ex.add_argument("--plane", default="acquired",
                    help="acquired (default), or axial, coronal or sagittal: a plane "
                    "reformatted from the volume, as the window shows it (--slice K counts "
                    "along it; default the middle)")
    win = ex.add_mutually_exclusive_group()
    win.add_argument("--window", help="centre,width in real units (HU for CT), e.g. -600,1500")
    win.add_argument("--preset", help="a CT preset (lung, bone, brain, ...), header or auto")
    src = ex.add_mutually_exclusive_group()
    src.add_argument("--seg", help="a DICOM SEG file to lay over the series")
    src.add_argument("--model", help="run this model first (radviewer models) and show it")
    ex.add_argument("--out", required=True,
                    help="FILE.png, FILE.jpg, FILE.dcm (secondary capture) or a folder "
                    "(files named MODALITY_iINDEX_sSERIESNUMBER_SLICE, e.g. CT_i1_s3_0139.png)")
    ex.add_argument("--format", choices=("png", "jpg"), default="png",
                    help="image format when --out is a folder (default png)")
    ex.add_argument("--scale", type=int, default=1, help="integer zoom of the native image")
    ex.add_argument("--opacity", type=float, default=0.45, help="overlay opacity 0..1")
    ex.add_argument("--outline", action="store_true", help="draw label outlines only")
    ex.add_argument("--include-patient-details", action="store_true",
                    help="draw patient name, ID, birth date and accession (left out by default)")
    ex.add_argument("--overwrite", action="store_true", help="replace existing files")
    ex.add_argument("--skip-bad", action="store_true",
                    help="series export: leave out slices that cannot be read, and list them")
    ex.add_argument("--quiet", action="store_true", help="no progress on stderr")
    ex.set_defaults(func=cmd_export)
