"""Registration of the sample T2 to the T1 (../shared/data/mr-brain): time and result
(prints figures, asserts nothing).

    python tests/benchmarks/bench_registration.py [--repeat 3] [--threads N]

Each round times, interleaved, an anchor (a 3-D Gaussian smoothing of the full T1 with
SimpleITK, the same threads) and the registration (``stack_image`` of both volumes at the
working resolution, then ``register``), so that the ratio registration/anchor can be compared
across machines and loads. The volumes are decoded once before the rounds (the window has them
already when Register... is chosen); that decode time is printed apart. Target: the
registration in <= 10 s on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="SimpleITK threads (0: its default)")
    args = ap.parse_args()
    import SimpleITK as sitk

    from viewer.dicom.pixels import StackPixels, to_real_volume
    from viewer.dicom.scan import scan_folder
    from viewer.registration.images import stack_image
    from viewer.registration.rigid import register

    if args.threads:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(args.threads)
    data = Path(os.environ.get("RADVIEWER_SHARED_DATA", REPO.parent / "shared" / "data"))
    stacks = scan_folder(str(data / "mr-brain")).stacks()
    t1 = next(s for s in stacks if "MEMPRAGE" in s.label)
    t2 = next(s for s in stacks if "T2" in s.label)
    t0 = time.perf_counter()
    v1, v2 = (to_real_volume(StackPixels(s).load_volume(), [f.header for f in s.frames])
              for s in (t1, t2))
    decode = time.perf_counter() - t0
    full_t1 = stack_image(t1, v1, target_mm=None)

    anchors, regs, result = [], [], None
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        sitk.SmoothingRecursiveGaussian(full_t1, 2.0)
        anchors.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        result = register(stack_image(t1, v1), stack_image(t2, v2))
        regs.append(time.perf_counter() - t0)
    assert result is not None
    m = result.moving_to_fixed
    deg = np.degrees(np.arccos(np.clip((np.trace(m[:3, :3]) - 1) / 2, -1, 1)))
    threads = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    print(f"machine: {os.cpu_count()} CPUs, SimpleITK {threads} threads; "
          f"load average {os.getloadavg()[0]:.2f} (1 min) at the end")
    print(f"decode T1 ({t1.n_frames} x {t1.rows}x{t1.columns}) and T2 ({t2.n_frames} x "
          f"{t2.rows}x{t2.columns}) once: {decode:.2f} s")
    print(f"registration T2 -> T1 (rigid, Mattes MI): median {statistics.median(regs):.2f} s "
          f"(runs: {', '.join(f'{t:.2f}' for t in regs)}); target <= 10 s on 2 cores")
    print(f"anchor (3-D Gaussian of the T1): median {statistics.median(anchors):.3f} s; "
          f"ratio registration/anchor "
          f"{statistics.median([r / a for r, a in zip(regs, anchors, strict=True)]):.1f}")
    print(f"result: {deg:.2f} deg, shift {np.linalg.norm(m[:3, 3]):.2f} mm, {result.iterations}"
          f" iterations, Mattes MI {result.metric_before:.4f} -> {result.metric_after:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
