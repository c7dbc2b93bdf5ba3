"""Where a fresh process's compressed volume load spends its time: a per-process timeline.

    python tests/benchmarks/bench_decode_timeline.py [--codec jpeg-ls|rle|jpeg2000] [--repeat 2]

Runs what bench_compressed.py times (launch, scan, ``StackPixels.load_volume()`` on the shared
CT re-encoded; a fresh ``python -c`` each run) with the decoder workers traced
(``decode_trace.py``, preloaded by their forkserver) and prints, per run:

- the app process's phases (wall from its first statement, and its own CPU seconds);
- each decoder worker: when its first batch started and its last ended, its CPU seconds, the
  seconds inside the decoder and in returning frames, and the gaps it waited between batches;
- CPU seconds of every process of the run (app, forkserver, resource tracker, workers), read
  from /proc just before the app exits.

CPU seconds are what to compare on a busy machine; wall times only at a quiet one (the load
is printed with each run).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_compressed  # noqa: E402
import bench_load  # noqa: E402

HERE = Path(__file__).resolve().parent

CHILD = """
import time
t0 = time.perf_counter(); c0 = time.process_time()
import os, sys, json
path = sys.argv[1]
marks = []
def mark(n):
    marks.append((n, time.perf_counter() - t0, time.process_time() - c0))
from viewer.dicom import decode_pool as _dp
_dp.configure(list(_dp._preload) + ["decode_trace"])
_dp.prestart()
mark("launch (forkserver started)")
from viewer.dicom.pixels import StackPixels
from viewer.dicom.scan import scan_folder
mark("imports")
stack = max(scan_folder(path).stacks(), key=lambda s: s.n_frames)
mark("scan")
px = StackPixels(stack)
first = []
volume = px.load_volume(on_slice=lambda k: first or first.append(time.perf_counter() - t0))
mark("load_volume")
def tree(pid):
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/stat") as f:
                    st = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(st[1]) == pid:
                out += [int(p)] + tree(int(p))
    return out
tick = os.sysconf("SC_CLK_TCK")
procs = []
for p in [os.getpid()] + tree(os.getpid()):
    try:
        with open(f"/proc/{p}/stat") as f:
            st = f.read().rsplit(")", 1)[1].split()
        with open(f"/proc/{p}/cmdline") as f:
            cmd = f.read()
    except OSError:
        continue
    kind = ("app" if p == os.getpid() else "resource tracker" if "resource_tracker" in cmd
            else "forkserver" if int(st[1]) == os.getpid() else "worker")
    procs.append([p, kind, (int(st[11]) + int(st[12])) / tick])
print(json.dumps({"t0": t0, "marks": marks, "first": first[0] if first else None,
                  "procs": procs}))
"""


def run_once(folder: Path) -> dict:
    """One traced fresh-process load of ``folder``: the child's report plus worker rows."""
    prefix = tempfile.mktemp(prefix="radviewer-trace-")
    env = dict(os.environ, RADVIEWER_DECODE_TRACE=prefix,
               PYTHONPATH=os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-c", CHILD, str(folder)], cwd=bench_load.REPO,
                          env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    workers = {}
    for fn in glob.glob(prefix + ".*"):
        with open(fn) as f:
            workers[int(fn.rsplit(".", 1)[1])] = [json.loads(line) for line in f]
        os.unlink(fn)
    out["workers"] = workers
    return out


def report(out: dict) -> None:
    t0 = out["t0"]
    load = os.getloadavg()
    print(f"  load average {load[0]:.2f}; first slice in the volume at {out['first']:.3f} s")
    for name, wall, cpu in out["marks"]:
        print(f"  app  {name:28s} at {wall:6.3f} s   app CPU so far {cpu:6.3f} s")
    for pid, rows in sorted(out["workers"].items()):
        gaps = [b[0] - a[1] for a, b in zip(rows, rows[1:], strict=False)]
        print(f"  worker {pid}: {len(rows)} batches, {sum(r[4] for r in rows)} frames; "
              f"first batch at {rows[0][0] - t0:.3f} s, last done at {rows[-1][1] - t0:.3f} s; "
              f"CPU in batches {sum(r[3] - r[2] for r in rows):.3f} s; decoding "
              f"{sum(r[5] for r in rows):.3f} s, returning frames {sum(r[6] for r in rows):.3f} s;"
              f" waiting between batches {sum(gaps):.3f} s (max {max(gaps, default=0):.3f})")
    total = sum(cpu for _p, _k, cpu in out["procs"])
    print("  CPU seconds by process: " + ", ".join(
        f"{kind} {cpu:.2f}" for _p, kind, cpu in out["procs"]) + f"; total {total:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--codec", choices=("jpeg-ls", "rle", "jpeg2000"), default="jpeg-ls")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("series_dir", nargs="?", type=Path, default=bench_load.DEFAULT_SERIES)
    args = ap.parse_args()
    folder, _plugin = bench_compressed.copies(args.series_dir.resolve())[args.codec]
    for i in range(max(1, args.repeat)):
        print(f"{args.codec} run {i + 1}:")
        report(run_once(folder))


if __name__ == "__main__":
    main()
