"""Screenshots of a thick-slab MIP and of a fusion for the README
(docs/screenshots/slab-mip.png, docs/screenshots/fusion.png).

    DISPLAY=:99 python scripts/screenshot_reading.py [--out docs/screenshots]

slab-mip: the shared LIDC chest CT (../shared/data/ct-chest-lidc0314), lung window, a 20 mm
MIP slab in the acquired (axial) plane, where vessels read as branching lines.
fusion: the bundled sample's axial T2 fused in hot iron over the T1 reformatted to the axial
plane (the same Frame of Reference; the shared data holds no PET/CT pair). Patient details
are hidden, settings are a throw-away file; without $DISPLAY Qt draws offscreen.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    ap.add_argument("--ct", type=Path, default=ROOT.parent / "shared" / "data" /
                    "ct-chest-lidc0314")
    args = ap.parse_args()
    if not os.environ.get("DISPLAY"):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    import pyqtgraph as pg
    from PySide6.QtCore import QEventLoop, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from viewer.app import _dark_palette
    from viewer.dicom.pixels import StackPixels
    from viewer.gui.main_window import MainWindow
    from viewer.paths import sample_study_dir

    pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)
    app = QApplication([sys.argv[0]])
    _dark_palette(app)

    def spin(ms: int) -> None:
        loop = QEventLoop()
        QTimer.singleShot(ms, loop.quit)
        loop.exec()

    def wait_for(cond, what: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out waiting for {what}")
            spin(25)
        spin(300)

    def save(win, name: str) -> None:
        args.out.mkdir(parents=True, exist_ok=True)
        path = args.out / name
        if not win.grab().save(str(path), "PNG"):
            raise RuntimeError(f"could not write {path}")
        print(path)

    def opened(win, folder: Path) -> None:
        win.open_folder(str(folder))
        wait_for(lambda: win.catalog is not None and win._scan is None, f"the scan of {folder}")
        wait_for(lambda: win._load is not None and not win._load.is_running
                 and win.view._shown is not None, "the series")

    with tempfile.TemporaryDirectory() as tmp:
        settings = QSettings(str(Path(tmp) / "radviewer.ini"), QSettings.Format.IniFormat)
        win = MainWindow(settings)
        win.resize(1200, 900)
        win.show()
        win.hide_patient_action.setChecked(True)
        win.set_hide_patient_details(True)

        opened(win, args.ct)
        view = win.view
        view.set_position(view.pixels.stack.n_frames // 2)
        view.apply_preset("lung")
        view.set_slab("mip", 20.0)
        spin(500)
        save(win, "slab-mip.png")

        opened(win, sample_study_dir())
        t1 = max(win.catalog.stacks(), key=lambda s: s.n_frames)
        t2 = next(s for s in win.catalog.stacks() if s.n_frames == 55)
        win.show_stack(t1)
        wait_for(lambda: not win._load.is_running and win.view.pixels.stack is t1, "the T1")
        win.set_plane("axial")
        spin(300)
        fused = StackPixels(t2)
        fused.load_volume()
        win.view.set_fusion(fused, 0.45)
        spin(500)
        save(win, "fusion.png")
        win.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
