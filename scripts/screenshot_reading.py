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
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    ap.add_argument("--ct", type=Path, default=ROOT.parent / "shared" / "data" /
                    "ct-chest-lidc0314")
    args = ap.parse_args()
    from shot_common import qt_app, save, spin, wait_for, window

    from viewer.dicom.pixels import StackPixels
    from viewer.paths import sample_study_dir

    _app = qt_app()

    def opened(win, folder: Path) -> None:
        win.open_folder(str(folder))
        wait_for(lambda: win.catalog is not None and win._scan is None, f"the scan of {folder}",
                 90, 300)
        wait_for(lambda: win._load is not None and not win._load.is_running
                 and win.view._shown is not None, "the series", 90, 300)

    with tempfile.TemporaryDirectory() as tmp:
        win = window(Path(tmp), 1200, 900)

        opened(win, args.ct)
        view = win.view
        view.set_position(view.pixels.stack.n_frames // 2)
        view.apply_preset("lung")
        view.set_slab("mip", 20.0)
        spin(500)
        print(save(win, args.out / "slab-mip.png"))

        opened(win, sample_study_dir())
        t1 = max(win.catalog.stacks(), key=lambda s: s.n_frames)
        t2 = next(s for s in win.catalog.stacks() if s.n_frames == 55)
        win.show_stack(t1)
        wait_for(lambda: not win._load.is_running and win.view.pixels.stack is t1, "the T1",
                 90, 300)
        win.set_plane("axial")
        spin(300)
        fused = StackPixels(t2)
        fused.load_volume()
        win.view.set_fusion(fused, 0.45)
        spin(500)
        print(save(win, args.out / "fusion.png"))
        win.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
