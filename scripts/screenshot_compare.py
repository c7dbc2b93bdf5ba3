"""Screenshot of the 2×2 compare layout for the README (docs/screenshots/compare-2x2.png).

    DISPLAY=:99 python scripts/screenshot_compare.py [--out docs/screenshots]

The bundled sample study is the current study; its T1 and T2, copied with new study, series
and instance UIDs and an earlier study date into a temporary folder, stand in for the prior
(File ▸ Open as comparison…). The window pairs them (current left, prior right), links their
scrolling by position, and shows the reference lines of the other viewports' planes. Patient
details are hidden. Settings are a throw-away file. Without $DISPLAY Qt draws offscreen.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))


def write_prior(stacks, folder: Path) -> None:
    """Copies of ``stacks`` as one study of an earlier date (new UIDs, same pixels)."""
    import pydicom
    from pydicom.uid import generate_uid

    study = generate_uid()
    for st in stacks:
        series = generate_uid()
        for f in st.frames:
            ds = pydicom.dcmread(f.header.path)
            ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
            ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
            ds.StudyDate = "20110301"
            ds.save_as(folder / f"{ds.SOPInstanceUID}.dcm")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = ap.parse_args()
    from shot_common import qt_app, save, wait_for, window

    from viewer.paths import sample_study_dir

    _app = qt_app()

    with tempfile.TemporaryDirectory() as tmp:
        win = window(Path(tmp))
        win.open_folder(str(sample_study_dir()))
        wait_for(lambda: win.catalog is not None and win._scan is None, "the sample scan")
        prior = Path(tmp) / "prior"
        prior.mkdir()
        write_prior([st for st in win.catalog.stacks() if st.n_frames > 20], prior)
        win.open_comparison(str(prior))
        wait_for(lambda: win.prior_catalog is not None, "the prior scan")
        wait_for(lambda: all(v._shown is not None for v in win.views), "the four viewports")
        win.views[0].step(-20)  # a slice away from the middle: the prior follows it
        win.views[2].step(6)
        wait_for(lambda: all(v._shown is not None for v in win.views), "the new slices")
        path = save(win, args.out / "compare-2x2.png")
        print(f"{path}  layout {win.layout_mode}  "
              f"{[v.pixels.stack.label for v in win.views]}")
        win.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
