"""Export speed (a benchmark: prints, asserts nothing).

    python tests/benchmarks/bench_export.py [CT_DIR] [--repeat 20]

Figures, on the shared CT (275 x 512^2) with a label overlay (a lung mask by threshold, drawn
as the AI overlay is) and a ruler:
- one annotated slice: compose (window + overlay + orientation, numpy), text and legend
  (Pillow), PNG encode at zlib level 1 and 6, JPEG, and the atomic write to disk;
- the whole series through ``export_series`` (decode included, as ``radviewer export`` does).
Target (issue "Export"): <= 25 ms per 512^2 slice end to end.
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


def _ms(fn, repeat: int) -> tuple[float, float]:
    import numpy as np

    t = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        t.append((time.perf_counter() - t0) * 1000)
    return float(np.mean(t)), float(np.percentile(t, 95))


def main() -> None:
    import numpy as np
    from PIL import Image

    from viewer.ai.manifest import Label
    from viewer.ai.result import AnalysisResult
    from viewer.dicom.pixels import StackPixels, to_real_volume
    from viewer.dicom.scan import scan_folder
    from viewer.display.measure import Measurement
    from viewer.display.window import CT_PRESETS
    from viewer.export import images
    from viewer.export.compose import render, render_image
    from viewer.export.scene import slice_scene

    ap = argparse.ArgumentParser()
    ap.add_argument("ct", nargs="?", default=str(REPO.parent / "shared/data/ct-chest-lidc0314"))
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()

    stack = scan_folder(args.ct).stacks()[0]
    px = StackPixels(stack)
    t0 = time.perf_counter()
    vol = px.load_volume()
    print(f"decode {stack.n_frames} slices: {time.perf_counter() - t0:.2f} s")
    real = to_real_volume(vol, [f.header for f in stack.frames])
    lungs = ((real < -400) & (real > -1000)).astype(np.uint8)  # a stand-in mask, 1 label
    result = AnalysisResult(
        model_id="bench", model_name="Lung mask (threshold)", model_version="bench",
        sha256="0" * 64, task="segmentation", mode="3d", series_uid=stack.series_uid,
        stack_uid=stack.uid, stack_label=stack.label, labels=(Label(1, "Lung", (80, 160, 255)),),
        provider="none", timings_s={}, label_volume=lungs, label_volumes_ml={"Lung": 1.0})
    k = stack.n_frames // 2
    ruler = [Measurement("ruler", (100.0, 300.0), (370.0, 300.0))]
    lung = CT_PRESETS["lung"]

    def scene():
        return slice_scene(px, k, lung, result=result, measurements=ruler)

    sc = scene()
    rgb = render(sc)
    buf = io.BytesIO()
    rows = [
        ("scene (to_real, corner text, stats)", lambda: scene()),
        ("compose image (window+overlay)", lambda: render_image(sc)),
        ("render (+ text, scale bar, legend)", lambda: render(sc)),
        ("PNG encode, level 1", lambda: (buf.seek(0), Image.fromarray(rgb).save(
            buf, "PNG", compress_level=1))),
        ("PNG encode, level 6", lambda: (buf.seek(0), Image.fromarray(rgb).save(
            buf, "PNG", compress_level=6))),
        ("JPEG encode, quality 92", lambda: (buf.seek(0), Image.fromarray(rgb).save(
            buf, "JPEG", quality=92))),
    ]
    print(f"\none annotated {rgb.shape[1]}x{rgb.shape[0]} image (legend included), "
          f"{args.repeat} runs")
    for name, fn in rows:
        mean, p95 = _ms(fn, args.repeat)
        print(f"  {name:<38} mean {mean:6.2f} ms  p95 {p95:6.2f} ms")
    tmp = Path(tempfile.mkdtemp())
    try:
        n = [0]

        def end_to_end():
            n[0] += 1
            images.save_image(render(scene()), tmp / f"s{n[0]}.png")

        mean, p95 = _ms(end_to_end, args.repeat)
        print(f"  {'end to end (scene+render+PNG+write)':<38} mean {mean:6.2f} ms  "
              f"p95 {p95:6.2f} ms")
        size = (tmp / "s1.png").stat().st_size
        print(f"  PNG size {size / 1024:.0f} KiB")

        for label, fmt in (("PNG", ".png"), ("JPEG", ".jpg")):
            out = tmp / f"series{fmt}"
            t0 = time.perf_counter()
            images.export_series(
                lambda i: render(slice_scene(px, i, lung, result=result)),
                range(stack.n_frames), out,
                lambda i, fmt=fmt: images.default_name("CT", 1, i + 1, fmt))
            dt = time.perf_counter() - t0
            mb = sum(p.stat().st_size for p in out.iterdir()) / 1e6
            print(f"\nwhole series, {stack.n_frames} slices, {label}: {dt:.2f} s = "
                  f"{1000 * dt / stack.n_frames:.1f} ms per slice ({mb:.0f} MB)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\ncores: {os.cpu_count()}")


if __name__ == "__main__":
    main()
