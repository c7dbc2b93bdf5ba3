"""Synced scrolling of two 512² viewports in the real main window, offscreen (a benchmark:
prints, asserts nothing).

    python tests/benchmarks/bench_sync_scroll.py [CT_DIR] [--frames 200] [--rounds 3]

The shared CT in the 1×2 layout: the left viewport shows it as acquired, the right its axial
reformat (the Reformat path), both 512×512 px, scroll sync by position on. One step is
``left.step(1)`` (the window moves the right viewport to the slice nearest the same patient
position) and ``grab()`` of both whole viewports (image, corner text, letters). Anchor, in
the same run and interleaved round by round: the left viewport alone (sync off, one grab).
Target (issue 13): >= 60 fps each viewport, p95 <= 16 ms per synced step.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))


def _pump(app, seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.005)


def main() -> None:
    import numpy as np
    import pyqtgraph as pg
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from viewer.gui.main_window import MainWindow

    ap = argparse.ArgumentParser()
    ap.add_argument("ct", nargs="?", default=str(REPO.parent / "shared/data/ct-chest-lidc0314"))
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    pg.setConfigOptions(imageAxisOrder="row-major")
    app = QApplication.instance() or QApplication([])
    settings = QSettings(str(Path("/tmp") / f"bench-sync-{os.getpid()}.ini"),
                         QSettings.Format.IniFormat)
    win = MainWindow(settings)
    win.resize(1400, 800)
    win.show()
    win.open_folder(args.ct)
    t0 = time.perf_counter()
    while (win.catalog is None or win._scan is not None or win._load is None
           or win._load.is_running) and time.perf_counter() - t0 < 120:
        _pump(app, 0.05)
    stack = win.catalog.stacks()[0]
    win.set_layout("1x2")
    win.show_in_viewport(0, stack.uid)
    win.show_in_viewport(1, stack.uid, plane="axial")
    left, right = win.views
    for v in (left, right):
        v.setFixedSize(512, 512)
    _pump(app, 0.5)
    n = min(args.frames, left.n_slices - 1)
    print(f"CT {stack.n_frames} x {stack.rows}x{stack.columns}; viewports "
          f"{left.width()}x{left.height()} ({left.plane}) and {right.width()}x{right.height()} "
          f"({right.plane}); {os.cpu_count()} cores; load {os.getloadavg()[0]:.2f}")

    def run(synced: bool) -> list[float]:
        win.set_sync("position", "sync_position", synced)
        left.set_index(0)
        right.set_index(0)
        times = []
        for _ in range(n):
            t = time.perf_counter()
            left.step(1)
            left.grab()
            if synced:
                right.grab()
            times.append(time.perf_counter() - t)
        return times

    run(True)  # once untimed: the caches both timed passes use
    synced_all, alone_all = [], []
    for _ in range(args.rounds):  # interleaved: load from other work hits both alike
        alone_all += run(False)[5:]
        synced_all += run(True)[5:]
    assert right.index == left.index  # same CT, same positions: the sync really ran
    s, a = np.array(synced_all) * 1000, np.array(alone_all) * 1000
    print(f"synced step (both viewports): {1000 / s.mean():6.1f} fps each, mean "
          f"{s.mean():5.2f} ms, p95 {np.percentile(s, 95):5.2f} ms")
    print(f"one viewport alone (anchor):  {1000 / a.mean():6.1f} fps,      mean "
          f"{a.mean():5.2f} ms, p95 {np.percentile(a, 95):5.2f} ms")
    print(f"ratio synced/alone (mean): {s.mean() / a.mean():.2f}; "
          f"load after {os.getloadavg()[0]:.2f}")
    win.close()


if __name__ == "__main__":
    main()
