"""The analysis's resampling, compiled (viewer/ai/_resample.c) against the numpy code it
replaces, on the sample T1 (175 oblique sagittal slices, one missing) and the tissue model's
256^3 grid: intensities onto the grid (trilinear) and labels back onto the series (nearest
neighbour), on one thread and on the runner's threads, interleaved runs, medians. Both give
the same bits (checked here too, and in tests/ai/test_resample_native.py).

    python tests/benchmarks/bench_resample.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402


def case():
    from viewer.ai.registry import discover, find
    from viewer.ai.resample import grid_affine, stack_center
    from viewer.dicom.pixels import StackPixels, to_real_volume
    from viewer.dicom.scan import scan_folder
    from viewer.paths import sample_study_dir

    stack = scan_folder(str(sample_study_dir())).stacks()[0]
    real = to_real_volume(StackPixels(stack).load_volume(), [f.header for f in stack.frames])
    grid = find("brainchop-tissue", discover()).manifest.grid
    g = grid_affine(grid, stack_center(stack.affine, real.shape))
    return stack, real.astype(np.float32), grid, g


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    from viewer.ai import resample_plan
    from viewer.ai.resample import labels_to_stack, resample_to_grid

    native = resample_plan.NATIVE
    if native is None:
        sys.exit("viewer.ai._resample is not built here (pip install -e . with a C compiler)")
    stack, real, grid, g = case()
    labels = np.random.default_rng(0).integers(0, 3, grid.shape, np.uint8).transpose(2, 1, 0)
    cores = os.cpu_count() or 1
    times: dict[tuple, list[float]] = {}
    outs: dict[tuple, np.ndarray] = {}
    for _ in range(args.repeat):
        for threads in (1, cores):
            for kind in ("compiled", "numpy"):
                resample_plan.NATIVE = native if kind == "compiled" else None
                t = time.perf_counter()
                x = resample_to_grid(real, stack.affine, g, grid.shape, ijk=True,
                                     slice_mm=stack.slice_positions, threads=threads)
                t1 = time.perf_counter()
                back = labels_to_stack(labels, g, stack.affine, real.shape,
                                       slice_mm=stack.slice_positions, threads=threads)
                t2 = time.perf_counter()
                times.setdefault(("grid", threads, kind), []).append(t1 - t)
                times.setdefault(("back", threads, kind), []).append(t2 - t1)
                outs[("grid", kind)], outs[("back", kind)] = x, back
    resample_plan.NATIVE = native
    same = (np.array_equal(outs[("grid", "compiled")].view(np.uint32),
                           outs[("grid", "numpy")].view(np.uint32))
            and np.array_equal(outs[("back", "compiled")], outs[("back", "numpy")]))
    print(f"sample T1 {real.shape} -> grid {grid.shape}, {args.repeat} interleaved runs, "
          f"load {', '.join(f'{v:.1f}' for v in os.getloadavg())}; same bits: {same}")
    for what, name in (("grid", "intensities onto the grid"), ("back", "labels back")):
        for threads in (1, cores):
            c = statistics.median(times[(what, threads, "compiled")])
            n = statistics.median(times[(what, threads, "numpy")])
            print(f"  {name:26s} {threads} thread(s): compiled {c:.3f} s, numpy {n:.3f} s, "
                  f"{c / n:.2f}x")


if __name__ == "__main__":
    main()
