"""Registration and saved work in the real main window, offscreen (a benchmark: prints,
asserts nothing).

    python tests/benchmarks/bench_window_registration.py [--steps 60] [--rounds 3]

On a temporary copy of the sample study: the T1 (axial reformat) left and the T2 right (1×2),
Tools ▸ Register series… run through :class:`RegistrationController` (wall time from start to
result, volumes already decoded by the views); then slice steps of the T1 with the
Registration dock's checkerboard following each step, against the anchor of the same steps with
the dock hidden, interleaved round by round (the dock's own GUI-thread cost is the difference);
then the measurement report + key images write and read back of one series (worker-thread work,
:func:`save_pending` / :func:`load_saved`) against the anchor of reading one slice's pixels.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
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


def _wait(app, cond, timeout: float = 180) -> None:
    t0 = time.perf_counter()
    while not cond():
        if time.perf_counter() - t0 > timeout:
            raise TimeoutError("timed out")
        _pump(app, 0.02)


def main() -> None:
    import numpy as np
    import pyqtgraph as pg
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from viewer.display.measure import Measurement
    from viewer.gui import window_registration
    from viewer.gui.main_window import MainWindow
    from viewer.gui.window_persist import Pending, load_saved, save_pending, to_annotation
    from viewer.gui.window_registration import RegistrationController
    from viewer.paths import sample_study_dir

    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    pg.setConfigOptions(imageAxisOrder="row-major")
    app = QApplication.instance() or QApplication([])
    tmp = Path(tempfile.mkdtemp(prefix="bench-reg-"))
    study = tmp / "study"
    shutil.copytree(sample_study_dir(), study)
    win = MainWindow(QSettings(str(tmp / "s.ini"), QSettings.Format.IniFormat))
    if not isinstance(getattr(win, "registration", None), RegistrationController):
        window_registration.install(win)
    win.resize(1400, 860)
    win.show()
    win.open_folder(str(study))
    _wait(app, lambda: win.catalog is not None and win._scan is None)
    stacks = win.catalog.stacks()
    t1 = next(s for s in stacks if "MEMPRAGE" in s.label)
    t2 = next(s for s in stacks if "T2" in s.label)
    win.set_layout("1x2")
    win.show_in_viewport(0, t1.uid, "axial")
    win.show_in_viewport(1, t2.uid)
    win.set_active_view(0)
    left = win.all_views[0]
    for st in (t1, t2):
        win._pixels_for(st).load_volume()
    _pump(app, 0.5)
    print(f"load: {os.getloadavg()[0]:.1f} (1-min average, 2 cores shared)")

    reg = win.registration
    t0 = time.perf_counter()
    reg.start(t1, t2)
    _wait(app, lambda: reg.current is not None)
    wall = time.perf_counter() - t0
    r = reg.current.result
    print(f"registration T2 -> T1 in the window: {wall:.2f} s wall (job {reg.current.seconds:.2f}"
          f" s incl. resampling), MI {r.metric_before:.4f} -> {r.metric_after:.4f}, "
          f"{r.iterations} iterations")

    def steps(dock: bool) -> list[float]:
        reg.dock.setVisible(dock)
        _pump(app, 0.1)
        left.set_index(40)
        out = []
        for i in range(args.steps):
            t = time.perf_counter()
            left.step(1 if i < args.steps // 2 else -1)
            app.processEvents()
            out.append((time.perf_counter() - t) * 1000)
        return out

    on, off = [], []
    for _ in range(args.rounds):
        off += steps(False)
        on += steps(True)
    p = lambda xs, q: float(np.percentile(xs, q))  # noqa: E731
    print(f"slice step, dock hidden (anchor): p50 {p(off, 50):.1f} ms, p95 {p(off, 95):.1f} ms")
    print(f"slice step, checkerboard following: p50 {p(on, 50):.1f} ms, p95 {p(on, 95):.1f} ms"
          f" (ratio p50 {p(on, 50) / max(p(off, 50), 1e-9):.2f})")

    reg.dock.show()
    _pump(app, 0.1)
    direct = []
    for i in range(args.steps):
        left.set_index(40 + i % 20)  # (its own update runs here too; timed again below)
        t = time.perf_counter()
        reg.update_quality()
        direct.append((time.perf_counter() - t) * 1000)
    print(f"quality view of one 192x192 axial image alone (normalise x2, checkerboard, "
          f"pixmap): p50 {p(direct, 50):.1f} ms, p95 {p(direct, 95):.1f} ms")

    px = win._pixels_for(t1)
    k = t1.n_frames // 2
    anns = [to_annotation((t1.uid, "acquired", k), Measurement("ruler", (40.5, 60.5),
                                                               (140.5, 90.5))),
            to_annotation((t1.uid, "acquired", k), Measurement("ellipse", (60.5, 60.5),
                                                               (100.5, 90.5)))]
    saves, loads, anchors = [], [], []
    for _ in range(5):
        t = time.perf_counter()
        px.real(k)
        anchors.append(time.perf_counter() - t)
        t = time.perf_counter()
        save_pending(Pending(t1, str(study), px, anns, {k}))
        saves.append(time.perf_counter() - t)
        t = time.perf_counter()
        got, keys = load_saved(win.catalog, t1)
        loads.append(time.perf_counter() - t)
        assert len(got) == 2 and keys == [k]
    med = lambda xs: 1000 * float(np.median(xs))  # noqa: E731
    print(f"save SR + KOS (worker): median {med(saves):.0f} ms; read back {med(loads):.0f} ms;"
          f" anchor one slice's real values {med(anchors):.2f} ms")
    win.close()
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
