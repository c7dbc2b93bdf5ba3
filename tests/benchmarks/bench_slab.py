"""Thick-slab redraw speed on the shared CT (a benchmark: prints, asserts nothing).

    python tests/benchmarks/bench_slab.py [CT_DIR] [--thickness 20] [--steps 40]

Figures, per plane (axial, coronal, sagittal of the 275 x 512 x 512 chest CT):
- core: one slice step of a MIP slab with :class:`viewer.display.slab.SlabProjector` (the
  sliding window the view uses) and with the stateless :func:`slab_plane`, paired with the
  anchor measured in the same loop: the plain plane image of the same step;
- view: ``SliceView.set_index(k + 1)`` + ``grab()`` (compute and paint) of a 512x512 view
  with the slab on, interleaved with the same step with the slab off (the anchor).
- fusion: the shared PET resampled (trilinear) onto one 512x512 CT slice, per step.
Target (issue 13): a 20 mm MIP slab redraws in <= 50 ms per slice step.
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


def _ms(times: list[float]) -> str:
    import numpy as np

    t = np.array(times) * 1000
    return f"mean {t.mean():6.2f} ms  p95 {np.percentile(t, 95):6.2f} ms"


def main() -> None:
    import numpy as np
    from PySide6.QtWidgets import QApplication

    from viewer.dicom.pixels import StackPixels
    from viewer.dicom.reformat import PLANES, Reformat
    from viewer.dicom.scan import scan_folder
    from viewer.display.slab import SlabProjector, slab_plane
    from viewer.gui.slice_view import SliceView

    ap = argparse.ArgumentParser()
    ap.add_argument("ct", nargs="?", default=str(REPO.parent / "shared/data/ct-chest-lidc0314"))
    ap.add_argument("--thickness", type=float, default=20.0)
    ap.add_argument("--steps", type=int, default=40)
    args = ap.parse_args()

    stack = scan_folder(args.ct).stacks()[0]
    px = StackPixels(stack)
    vol = px.load_volume()
    r = Reformat.from_affine(stack.affine, vol.shape)
    print(f"CT {vol.shape} {vol.dtype}; {args.thickness:g} mm MIP, {args.steps} steps per "
          f"plane; load {os.getloadavg()[0]:.2f} (1-min average)")

    print("core (per slice step):")
    for plane in PLANES:
        proj = SlabProjector(vol, r, None)
        n = r.n_slices(plane)
        ks = range(n // 2 - args.steps // 2, n // 2 + args.steps // 2)
        proj.image(plane, ks[0] - 1, args.thickness)  # the window is full before timing
        t_proj, t_flat, t_plain = [], [], []
        for k in ks:
            t0 = time.perf_counter()
            proj.image(plane, k, args.thickness)
            t1 = time.perf_counter()
            slab_plane(vol, r, plane, k, args.thickness)
            t2 = time.perf_counter()
            np.ascontiguousarray(r.plane(vol, plane, k))
            t3 = time.perf_counter()
            t_proj.append(t1 - t0)
            t_flat.append(t2 - t1)
            t_plain.append(t3 - t2)
        print(f"  {plane:9s} sliding window {_ms(t_proj)} | stateless {_ms(t_flat)} | "
              f"plain plane (anchor) {_ms(t_plain)}")

    pet_dir = Path(args.ct).parent / "pet-seg-headneck"
    if pet_dir.is_dir():
        from viewer.display.fusion import resample_plane

        # Timing only: the shared PET and CT are different patients (no common frame of
        # reference), but the arithmetic per pixel is that of PET/CT fusion.
        pet = next(s for s in scan_folder(pet_dir).stacks() if s.first.modality == "PT")
        pv = StackPixels(pet).load_volume().astype(np.float32)
        t_fuse, t_plain = [], []
        for k in range(vol.shape[0] // 2 - args.steps // 2, vol.shape[0] // 2 + args.steps // 2):
            t0 = time.perf_counter()
            resample_plane(pv, pet.affine, stack.affine, vol.shape, None, "acquired", k)
            t1 = time.perf_counter()
            np.ascontiguousarray(vol[k])
            t_fuse.append(t1 - t0)
            t_plain.append(time.perf_counter() - t1)
        print(f"fusion: PET resampled onto one 512x512 plane {_ms(t_fuse)} | plain plane "
              f"(anchor) {_ms(t_plain)}")

    app = QApplication.instance() or QApplication([])
    view = SliceView()
    view.resize(512, 512)
    view.show()
    view.set_stack(px)
    app.processEvents()
    print("view 512x512, set_index + grab (per slice step):")
    for plane in ("acquired", *PLANES):
        view.set_plane(plane)
        n = view.n_slices
        start = n // 2 - args.steps // 2
        t_on, t_off = [], []
        for step in range(args.steps):
            for on, times in ((True, t_on), (False, t_off)):
                view.set_slab("mip", args.thickness if on else 0.0)
                view.set_index(start + step - 1)
                view.grab()
                t0 = time.perf_counter()
                view.set_index(start + step)
                view.grab()
                times.append(time.perf_counter() - t0)
        view.set_slab(thickness_mm=0.0)
        print(f"  {plane:9s} slab on {_ms(t_on)} | slab off (anchor) {_ms(t_off)}")
    print(f"load {os.getloadavg()[0]:.2f} (1-min average) at the end")


if __name__ == "__main__":
    main()
