"""First slice of a compressed (JPEG-LS) series: how long the user waits, cold and warm.

    python tests/benchmarks/bench_first_slice.py [--runs 5]

Each run is a fresh process: scan the sample study, then time (a) ``load_volume`` of the axial
T2 (55 JPEG-LS slices, 512x384) until its middle slice arrives, with the decoder processes
cold (started by that load), at launch (``decode_pool.prestart()`` as the process's first
statement, as ``viewer.app.run_gui`` does; "warm_up" is then the scan's time, during which they
start) and warm (``pixels.warm_up()`` waited for first), and (b) single slices on demand
(``StackPixels.frame``, fresh cache). Prints medians. The CT rows of issue 18 are
bench_compressed.py.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

CHILD = r"""
import json, sys, threading, time
t_launch = time.perf_counter()
mode = sys.argv[1]
if mode == "launch":
    from viewer.dicom import decode_pool
    decode_pool.prestart()
from viewer.dicom import pixels
from viewer.dicom.scan import scan_folder
from viewer.paths import sample_study_dir
st = next(s for s in scan_folder(str(sample_study_dir())).stacks() if s.n_frames == 55)
t0 = time.perf_counter()
if mode == "warm":
    pixels.warm_up()
t_warm = time.perf_counter() - t0
mid = st.n_frames // 2
px = pixels.StackPixels(st, pixels.FrameCache())
got = threading.Event()
t1 = time.perf_counter()
first = {}
def on_slice(k):
    if k == mid and not got.is_set():
        first["s"] = time.perf_counter() - t1
        got.set()
px.load_volume(on_slice=on_slice, first=mid)
total = time.perf_counter() - t1
one = []
for k in range(0, st.n_frames, 5):
    p2 = pixels.StackPixels(st, pixels.FrameCache())
    t = time.perf_counter(); p2.frame(k); one.append(time.perf_counter() - t)
print(json.dumps({"scan": t0 - t_launch, "warm_up": t_warm, "first": first["s"], "all": total,
                  "frame": sorted(one)[len(one) // 2]}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    for mode in ("cold", "launch", "warm"):
        rows = []
        for _ in range(args.runs):
            r = subprocess.run([sys.executable, "-c", CHILD, mode], capture_output=True,
                               text=True, check=True)
            rows.append(json.loads(r.stdout.strip().splitlines()[-1]))
        med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
        print(f"{mode}: imports + scan {med['scan'] * 1000:.0f} ms, "
              f"warm_up {med['warm_up'] * 1000:.0f} ms, middle slice after "
              f"{med['first'] * 1000:.0f} ms, all 55 after {med['all'] * 1000:.0f} ms; "
              f"one slice on demand {med['frame'] * 1000:.1f} ms  (median of {args.runs})")


if __name__ == "__main__":
    main()
