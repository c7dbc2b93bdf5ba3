"""Screenshot of registration in the window (docs/screenshots/registration-checkerboard.png).

    DISPLAY=:99 python scripts/screenshot_registration.py [--out docs/screenshots]

The bundled sample study, copied to a temporary folder (the Spatial Registration object may be
saved there, never into the sample): its T1 (axial reformat) left, its T2 right, scrolling
linked; Tools ▸ Register series… puts the T2 onto the T1 and the Registration dock shows the
checkerboard of the T1 slice being read with the registered T2. Patient details are hidden;
settings are a throw-away file. Without $DISPLAY Qt draws offscreen.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    ap.add_argument("--mode", choices=("Checkerboard", "Blend"), default="Checkerboard")
    args = ap.parse_args()
    if not os.environ.get("DISPLAY"):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    import shot_common
    from PySide6.QtCore import QSettings, Qt
    from shot_common import qt_app, spin

    from viewer.gui import window_registration
    from viewer.gui.main_window import MainWindow
    from viewer.gui.window_registration import RegistrationController
    from viewer.paths import sample_study_dir

    _app = qt_app()

    def wait_for(cond, what: str, timeout: float = 120) -> None:
        shot_common.wait_for(cond, what, timeout, settle_ms=200)


    with tempfile.TemporaryDirectory() as tmp:
        study = Path(tmp) / "study"
        shutil.copytree(sample_study_dir(), study)
        settings = QSettings(str(Path(tmp) / "radviewer.ini"), QSettings.Format.IniFormat)
        win = MainWindow(settings)
        if not isinstance(getattr(win, "registration", None), RegistrationController):
            window_registration.install(win)
        win.resize(1400, 900)
        win.show()
        win.hide_patient_action.setChecked(True)
        win.set_hide_patient_details(True)
        win.open_folder(str(study))
        wait_for(lambda: win.catalog is not None and win._scan is None, "the sample scan")
        stacks = win.catalog.stacks()
        t1 = next(s for s in stacks if "MEMPRAGE" in s.label)
        t2 = next(s for s in stacks if "T2" in s.label)
        win.set_layout("1x2")
        win.show_in_viewport(0, t1.uid, "axial")
        win.show_in_viewport(1, t2.uid)
        win.set_active_view(0)
        win.set_sync("position", "sync_position", True)
        wait_for(lambda: all(v._shown is not None for v in win.all_views[:2]), "the images")
        reg = win.registration
        reg.start(t1, t2)
        wait_for(lambda: reg.current is not None, "the registration")
        win.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, reg.dock)
        reg.dock.show()
        reg.panel.mode.setCurrentText(args.mode)
        win.all_views[0].set_index(win.all_views[0].index + 8)
        spin(800)
        reg.update_quality()
        spin(300)
        args.out.mkdir(parents=True, exist_ok=True)
        name = f"registration-{args.mode.lower()}.png"
        win.grab().save(str(args.out / name))
        print(f"{args.out / name}: {reg.panel.summary.text()}")
        win.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
