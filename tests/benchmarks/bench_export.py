"""Export speed (a benchmark: prints, asserts nothing).

    python tests/benchmarks/bench_export.py [CT_DIR] [--repeat 20]

Figures, on the shared CT (275 x 512^2) with a label overlay (a lung mask by threshold, drawn
as the AI overlay is) and a ruler, for a 512^2 output (the view without the legend panel, which
widens the image to 752 px; that one is timed on its own line):
- one annotated slice: scene, compose (window + overlay + orientation, numpy), text (Pillow),
  PNG encode (radviewer's writer, viewer/export/png.py, and Pillow's at level 1 for comparison),
  JPEG, and end to end (scene + render + encode + atomic write to disk) for PNG, Pillow's PNG
  and JPEG, interleaved so that the three share the machine's load;
- the whole series through ``export_series`` (decode included, as ``radviewer export`` does).
Target (issue 18): <= 20 ms per 512^2 slice end to end for PNG.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
GOAL_MS = 20.0
CT = REPO.parent / "shared/data/ct-chest-lidc0314"


def _ms(fn, repeat: int) -> tuple[float, float]:
    import numpy as np

    t = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        t.append((time.perf_counter() - t0) * 1000)
    return float(np.mean(t)), float(np.percentile(t, 95))


def setup(ct: Path | str = CT):
    """(stack, StackPixels loaded, lung-mask AnalysisResult, middle slice, ruler)."""
    import numpy as np

    from viewer.ai.manifest import Label
    from viewer.ai.result import AnalysisResult
    from viewer.dicom.pixels import StackPixels, to_real_volume
    from viewer.dicom.scan import scan_folder
    from viewer.display.measure import Measurement

    stack = scan_folder(str(ct)).stacks()[0]
    px = StackPixels(stack)
    vol = px.load_volume()
    real = to_real_volume(vol, [f.header for f in stack.frames])
    lungs = ((real < -400) & (real > -1000)).astype(np.uint8)  # a stand-in mask, 1 label
    result = AnalysisResult(
        model_id="bench", model_name="Lung mask (threshold)", model_version="bench",
        sha256="0" * 64, task="segmentation", mode="3d", series_uid=stack.series_uid,
        stack_uid=stack.uid, stack_label=stack.label, labels=(Label(1, "Lung", (80, 160, 255)),),
        provider="none", timings_s={}, label_volume=lungs, label_volumes_ml={"Lung": 1.0})
    ruler = [Measurement("ruler", (100.0, 300.0), (370.0, 300.0))]
    return stack, px, result, stack.n_frames // 2, ruler


def end_to_end(px, result, k, ruler, repeat: int) -> dict[str, tuple[float, float]]:
    """Mean and p95 ms of scene + render (512^2, no legend) + encode + atomic write (synced to
    disk, as the app does before it says "saved"), for radviewer's PNG, Pillow's PNG (level 1,
    the encoder used before) and JPEG, and PNG written without the sync; interleaved."""
    import numpy as np
    from PIL import Image

    from viewer.display.window import CT_PRESETS
    from viewer.export import images
    from viewer.export.atomic import atomic_open
    from viewer.export.compose import render
    from viewer.export.scene import slice_scene

    def rgb():
        sc = slice_scene(px, k, CT_PRESETS["lung"], result=result, measurements=ruler)
        sc.legend = None  # the legend panel widens the image: 512^2 is the view itself
        return render(sc)

    def pillow_png(path):
        with atomic_open(path, "wb") as fh:
            Image.fromarray(rgb()).save(fh, "PNG", compress_level=1)

    def png_no_sync(path):  # what the file's fsync costs (the app syncs before "saved")
        with open(path.with_suffix(".png"), "wb") as fh:
            images.encode(rgb(), fh, "PNG")

    ways = {"PNG": lambda p: images.save_image(rgb(), p.with_suffix(".png")),
            "PNG (Pillow, level 1)": pillow_png,
            "JPEG": lambda p: images.save_image(rgb(), p.with_suffix(".jpg")),
            "PNG without the fsync": png_no_sync}
    assert rgb().shape == (512, 512, 3)
    tmp = Path(tempfile.mkdtemp())
    times: dict[str, list[float]] = {w: [] for w in ways}
    try:
        for i in range(repeat + 1):
            for name, fn in ways.items():
                t0 = time.perf_counter()
                fn(tmp / f"{name[:4]}{i}")
                if i:  # the first round warms the caches
                    times[name].append((time.perf_counter() - t0) * 1000)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {w: (float(np.mean(t)), float(np.percentile(t, 95))) for w, t in times.items()}


def rows(repeat: int = 20) -> list[dict]:
    """The issue-18 table's export row (tests/benchmarks/bench_issue18.py)."""
    _, px, result, k, ruler = setup()
    e2e = end_to_end(px, result, k, ruler, repeat)
    png, jpeg = e2e["PNG"][0], e2e["JPEG"][0]
    return [{"what": "annotated PNG export, end to end (512^2)", "now": f"{png:.1f} ms",
             "anchor": f"JPEG {jpeg:.1f} ms; Pillow PNG {e2e['PNG (Pillow, level 1)'][0]:.1f} "
                       f"ms; PNG unsynced {e2e['PNG without the fsync'][0]:.1f} ms",
             "ratio": png / jpeg, "goal": f"<= {GOAL_MS:.0f} ms", "met": png <= GOAL_MS}]


def main() -> None:
    from PIL import Image

    from viewer.display.window import CT_PRESETS
    from viewer.export import images, png
    from viewer.export.compose import render, render_image
    from viewer.export.scene import slice_scene

    ap = argparse.ArgumentParser()
    ap.add_argument("ct", nargs="?", default=str(CT))
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()

    t0 = time.perf_counter()
    stack, px, result, k, ruler = setup(args.ct)
    print(f"decode {stack.n_frames} slices and make the mask: {time.perf_counter() - t0:.2f} s; "
          f"load {os.getloadavg()[0]:.2f}")
    lung = CT_PRESETS["lung"]

    def scene(legend: bool = False):
        sc = slice_scene(px, k, lung, result=result, measurements=ruler)
        if not legend:
            sc.legend = None
        return sc

    sc = scene()
    rgb = render(sc)
    wide = render(scene(legend=True))
    buf = io.BytesIO()
    rows_ = [
        ("scene (to_real, corner text, stats)", lambda: scene()),
        ("compose image (window+overlay)", lambda: render_image(sc)),
        ("render (+ text, scale bar)", lambda: render(sc)),
        (f"render with legend ({wide.shape[1]} px wide)", lambda: render(scene(legend=True))),
        ("PNG encode (viewer/export/png.py)", lambda: png.encode_png(rgb)),
        ("PNG encode, Pillow level 1", lambda: (buf.seek(0), Image.fromarray(rgb).save(
            buf, "PNG", compress_level=1))),
        ("PNG encode, Pillow level 6", lambda: (buf.seek(0), Image.fromarray(rgb).save(
            buf, "PNG", compress_level=6))),
        ("JPEG encode, quality 92", lambda: (buf.seek(0), Image.fromarray(rgb).save(
            buf, "JPEG", quality=92))),
    ]
    print(f"\none annotated {rgb.shape[1]}x{rgb.shape[0]} image, {args.repeat} runs")
    for name, fn in rows_:
        mean, p95 = _ms(fn, args.repeat)
        print(f"  {name:<40} mean {mean:6.2f} ms  p95 {p95:6.2f} ms")
    pil1 = io.BytesIO()
    Image.fromarray(rgb).save(pil1, "PNG", compress_level=1)
    print(f"  PNG size {len(png.encode_png(rgb)) / 1024:.0f} KiB "
          f"(Pillow level 1: {len(pil1.getvalue()) / 1024:.0f} KiB)")
    for name, (mean, p95) in end_to_end(px, result, k, ruler, args.repeat).items():
        print(f"  {'end to end, ' + name:<40} mean {mean:6.2f} ms  p95 {p95:6.2f} ms")
    print(f"  goal: PNG end to end <= {GOAL_MS:.0f} ms")

    tmp = Path(tempfile.mkdtemp())
    try:
        for label, fmt in (("PNG", ".png"), ("JPEG", ".jpg")):
            out = tmp / f"series{fmt}"
            t0 = time.perf_counter()
            images.export_series(
                lambda i: render(slice_scene(px, i, lung, result=result)),
                range(stack.n_frames), out,
                lambda i, fmt=fmt: images.default_name("CT", 1, i + 1, fmt))
            dt = time.perf_counter() - t0
            mb = sum(p.stat().st_size for p in out.iterdir()) / 1e6
            print(f"\nwhole series, {stack.n_frames} slices, {label} (legend included): "
                  f"{dt:.2f} s = {1000 * dt / stack.n_frames:.1f} ms per slice ({mb:.0f} MB)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\ncores: {os.cpu_count()}; load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
