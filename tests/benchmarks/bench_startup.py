"""Start-up time: launch to the sample study's first image painted in the real window.

Run under a real X server (the issue's figure is for Xvfb on 2 cores):

    Xvfb :99 -screen 0 1400x900x24 &
    DISPLAY=:99 python tests/benchmarks/bench_startup.py [--runs 7] [--exe dist/radviewer/radviewer]

Each run starts a fresh process with ``--sample --exit-after-first-image`` and an empty
settings folder (a first run: no saved geometry or layout). Prints, per run, the app's own
figure (seconds since the OS started the process, read from /proc, to the paint that shows the
first slice) and the wall time seen from here (which adds process teardown), then the median.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def one_run(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"run failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    m = re.search(r"first image: ([0-9.]+) s after launch", proc.stdout)
    heavy = re.search(r"heavy modules loaded: (.*)", proc.stdout)
    if m is None:
        sys.exit(f"no start-up figure in the output:\n{proc.stdout}")
    return float(m.group(1)), wall, heavy.group(1) if heavy else "?"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--exe", help="a built app (packaging/); default: this Python's radviewer")
    args = ap.parse_args()
    if not os.environ.get("DISPLAY") and os.environ.get("QT_QPA_PLATFORM") != "offscreen":
        sys.exit("set DISPLAY (Xvfb) or QT_QPA_PLATFORM=offscreen")
    cmd = ([args.exe] if args.exe else [sys.executable, "-m", "viewer.cli"]) + [
        "--sample", "--exit-after-first-image"]
    print(f"command: {' '.join(cmd)}")
    print(f"platform: {os.environ.get('QT_QPA_PLATFORM') or 'xcb'} "
          f"DISPLAY={os.environ.get('DISPLAY', '')}; cores: {os.cpu_count()}")
    first, walls = [], []
    for i in range(args.runs):
        cfg = tempfile.mkdtemp(prefix="radviewer-bench-")
        env = dict(os.environ, XDG_CONFIG_HOME=cfg, XDG_STATE_HOME=cfg)
        try:
            f, w, heavy = one_run(cmd, env)
        finally:
            shutil.rmtree(cfg, ignore_errors=True)
        first.append(f)
        walls.append(w)
        print(f"run {i + 1}: first image {f:.3f} s after launch; wall {w:.3f} s; "
              f"heavy modules loaded: {heavy}")
    print(f"median: first image {statistics.median(first):.3f} s "
          f"(min {min(first):.3f}, max {max(first):.3f}); wall {statistics.median(walls):.3f} s")


if __name__ == "__main__":
    main()
