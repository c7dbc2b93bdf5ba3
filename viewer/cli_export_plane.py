"""``radviewer export --plane axial|coronal|sagittal``: one reformatted plane image, drawn as
the window's MPR view draws it (:func:`viewer.export.scene.plane_scene`)."""

from __future__ import annotations

from pathlib import Path

from viewer.cli_common import EXIT_OK, warn

ACQUIRED = "acquired"


def plane_index(text: str | None, n: int, plane: str) -> int:
    """0-based index of ``--slice K`` (1-based along ``plane``); default the middle."""
    if text is None:
        return n // 2
    try:
        k = int(text)
    except ValueError:
        raise ValueError(f"--slice {text!r} with --plane {plane}: give one slice number "
                         f"from 1 to {n}") from None
    if not 1 <= k <= n:
        raise ValueError(f"--slice {text}: the {plane} plane has slices 1 to {n}")
    return k - 1


def export_plane(args, stack, index: int, pixels, result) -> int:
    """Load the volume, reformat and write one PNG/JPEG; raises ValueError (usage),
    DicomReadError, ExportError."""
    from viewer.cli_export import _parse_window, _preset
    from viewer.dicom.reformat import Reformat
    from viewer.display.window import auto_window
    from viewer.export import images
    from viewer.export.compose import render
    from viewer.export.scene import plane_scene

    where = f"series [{index}]"
    out = Path(args.out).expanduser()
    if out.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise ValueError(f"--plane {args.plane}: give --out FILE.png or FILE.jpg "
                         "(one reformatted image)")
    if stack.affine is None or stack.n_frames < 2:
        raise ValueError(f"{where}: --plane needs a volume (2+ slices with position and "
                         "orientation); leave --plane out")
    if len(pixels.frame_shape) == 3:
        raise ValueError(f"{where} is colour: --plane reformats grey-scale volumes only")
    pixels.load_volume()
    if pixels.failed:
        warn("export", f"{where}: {len(pixels.failed)} slice(s) could not be read; their "
             "rows are dark in the reformatted plane")
    ref = Reformat.from_affine(stack.affine, pixels.shape)
    k = plane_index(args.slice, ref.n_slices(args.plane), args.plane)
    window = None
    if args.window:
        window = _parse_window(args.window)
    elif args.preset and args.preset.lower() != "auto":  # auto: from the plane, below
        window = _preset(args.preset, pixels, 0, where)
    scene = plane_scene(pixels, ref, args.plane, k, window, result=result,
                        opacity=args.opacity, outline=args.outline,
                        include_patient=args.include_patient_details)
    if args.preset and args.preset.lower() == "auto":  # auto: from the plane shown
        scene = plane_scene(pixels, ref, args.plane, k, auto_window(scene.real),
                            result=result, opacity=args.opacity, outline=args.outline,
                            include_patient=args.include_patient_details)
    if not out.parent.exists():
        try:
            out.parent.mkdir(parents=True)
        except OSError as exc:
            from viewer.export.atomic import explain

            raise explain(out.parent, exc, "cannot create the folder") from exc
    provenance = result.provenance() if result is not None else None
    written = images.save_image(render(scene, args.scale), out, args.overwrite,
                                text=provenance)
    from viewer.audit import record

    record("export", study_uid=stack.first.study_uid, destination=written, written=1)
    print(f"wrote {written} ({args.plane} {k + 1}/{ref.n_slices(args.plane)})"
          + (" (research use — not a diagnosis)" if result else ""))
    return EXIT_OK
