"""Scrolling speed of the real slice view, offscreen (a benchmark: prints, asserts nothing).

    python tests/benchmarks/bench_scroll.py [CT_DIR] [--size 512] [--frames 275]

Figures:
- fps: ``SliceView.set_index(k)`` + ``grab()`` of the whole slice view (image, corner text,
  orientation letters: what the user sees) per slice through the loaded CT (the cost of
  showing a new slice and painting it), without and with a label overlay of the same size
  set through the app's own path (``SliceView.set_overlay`` with the window's lookup table,
  ``compose.label_lut``), at the given widget size;
- event latency: a wheel event sent to the viewport until the repainted view is grabbed,
  while a background process keeps every core busy.
Targets (issue "The viewer"): >= 120 fps with an overlay at 512^2 (p95 <= 8 ms), >= 60 fps at
1024^2, <= 50 ms event latency under load.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))


def _burn(stop) -> None:
    x = 0
    while not stop.is_set():
        for i in range(100000):
            x += i * i


def _stats(times: list[float]) -> str:
    import numpy as np

    t = np.array(times) * 1000
    return (f"{1000 / t.mean():7.1f} fps  mean {t.mean():5.2f} ms  p95 "
            f"{np.percentile(t, 95):5.2f} ms")


def main() -> None:
    import numpy as np
    import pyqtgraph as pg
    from PySide6.QtCore import QPoint, QPointF, Qt
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    from viewer.ai.manifest import Label
    from viewer.dicom.pixels import StackPixels
    from viewer.dicom.scan import scan_folder
    from viewer.export.compose import label_lut
    from viewer.gui.slice_view import SliceView

    ap = argparse.ArgumentParser()
    ap.add_argument("ct", nargs="?", default=str(REPO.parent / "shared/data/ct-chest-lidc0314"))
    ap.add_argument("--sizes", default="512,1024")
    ap.add_argument("--frames", type=int, default=275)
    args = ap.parse_args()

    pg.setConfigOptions(imageAxisOrder="row-major")
    app = QApplication.instance() or QApplication([])
    (stack,) = scan_folder(args.ct).stacks()[:1]
    px = StackPixels(stack)
    px.load_volume()
    n = min(args.frames, stack.n_frames)
    print(f"CT {stack.n_frames} x {stack.rows}x{stack.columns} {px.dtype}; {os.cpu_count()} cores")

    for size in (int(s) for s in args.sizes.split(",")):
        view = SliceView()
        view.resize(size, size)
        view.show()
        view.set_stack(px)
        app.processEvents()
        view.fit()
        for k in range(n):  # once through untimed: both timed passes find the same caches
            view.set_index(k)
        for overlay in (False, True):
            if overlay:  # as the window shows an AI result: labels on the stack's voxels
                labels = (px.frame_volume() > 1100).astype(np.uint8)  # bone-ish as label 1
                bone = SimpleNamespace(labels=[Label(1, "Bone", (255, 0, 0))])
                view.set_overlay(labels, label_lut(bone, {1}, 0.45))
            times = []
            for k in range(n):
                t0 = time.perf_counter()
                view.set_index(k)
                view.grab()  # the whole view: corner text and letters included
                times.append(time.perf_counter() - t0)
            print(f"{size}^2 widget, {'label overlay' if overlay else 'no overlay   '}: "
                  f"{_stats(times[5:])}")
            view.set_overlay(None)

        if size == 512:
            stop = multiprocessing.Event()
            burners = [multiprocessing.Process(target=_burn, args=(stop,))
                       for _ in range(os.cpu_count() or 2)]
            for b in burners:
                b.start()
            vp = view.graphics.viewport()
            c = QPointF(vp.width() / 2, vp.height() / 2)
            lat = []
            view.set_index(0)
            for _ in range(100):
                ev = QWheelEvent(c, c, QPoint(0, 0), QPoint(0, -120), Qt.MouseButton.NoButton,
                                 Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase,
                                 False)
                t0 = time.perf_counter()
                QApplication.sendEvent(vp, ev)
                app.processEvents()
                view.grab()
                lat.append(time.perf_counter() - t0)
            stop.set()
            for b in burners:
                b.join()
            lat_ms = np.array(lat) * 1000
            print(f"{size}^2 wheel-to-repaint latency with all cores busy: mean "
                  f"{lat_ms.mean():.1f} ms, p95 {np.percentile(lat_ms, 95):.1f} ms, "
                  f"max {lat_ms.max():.1f} ms")
        view.close()


if __name__ == "__main__":
    main()
