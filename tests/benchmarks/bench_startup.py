"""Start-up time: launch to the sample study's first image painted, against a minimal window.

Run under a real X server (the issue's figure is for Xvfb on 2 cores):

    Xvfb :99 -screen 0 1400x900x24 &
    DISPLAY=:99 python tests/benchmarks/bench_startup.py [--runs 7] [--exe dist/radviewer/radviewer]

Each run starts a fresh process with ``--sample --exit-after-first-image`` and an empty
settings folder (a first run: no saved geometry or layout); the app's own figure is seconds
since the OS started the process (read from /proc) to the paint that shows the first slice.
The anchor, run alternately with it (paired: the same load), is ``startup_minimal.py``: a
minimal PySide6 + pyqtgraph window showing the same slice (the sample's first series, middle
slice), read with pydicom in that process and timed the same way. Each app run also says whether
the launch prefetch (viewer.dicom.prefetch) was used. Prints per-run figures, the
medians and their ratio (issue 18: goal <= 1.1x).

Python caches bytecode: with PYTHONDONTWRITEBYTECODE set (as in CI) every start would compile
radviewer's own modules again, which no installed app does, so both programs run with it unset.
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
from pathlib import Path

HERE = Path(__file__).resolve().parent
GOAL = 1.1


def _first_image(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    m = re.search(r"first image: ([0-9.]+) s after launch", proc.stdout)
    if proc.returncode != 0 or m is None:
        raise RuntimeError(f"{' '.join(cmd[-3:])} failed ({proc.returncode}): "
                           f"{(proc.stdout + proc.stderr).strip()[-400:]}")
    heavy = re.search(r"heavy modules loaded: (.*)", proc.stdout)
    pre = re.search(r"launch prefetch: (.*)", proc.stdout)
    return float(m.group(1)), (heavy.group(1) if heavy else "") + (
        f"; launch prefetch {pre.group(1)}" if pre else "")


def sample_slice() -> str:
    """The file the app shows first for the sample study: first series, middle slice."""
    sys.path.insert(0, str(HERE.parents[1]))
    from viewer.dicom.scan import scan_folder
    from viewer.paths import sample_study_dir

    st = scan_folder(str(sample_study_dir())).stacks()[0]
    return st.frames[st.n_frames // 2].header.path


def measure(runs: int = 7, exe: str | None = None, log=print) -> dict:
    """Alternate app and anchor runs; medians in seconds and their ratio."""
    if not os.environ.get("DISPLAY") and os.environ.get("QT_QPA_PLATFORM") != "offscreen":
        raise RuntimeError("set DISPLAY (Xvfb) or QT_QPA_PLATFORM=offscreen")
    app_cmd = ([exe] if exe else [sys.executable, "-m", "viewer.cli"]) + [
        "--sample", "--exit-after-first-image"]
    anchor_cmd = [sys.executable, str(HERE / "startup_minimal.py"), sample_slice()]
    base = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    base["PYTHONPATH"] = os.pathsep.join([str(HERE.parents[1]), base.get("PYTHONPATH", "")])
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(HERE.parents[1] / "viewer")],
                   env=base, capture_output=True)
    app, anchor = [], []
    for i in range(runs):
        cfg = tempfile.mkdtemp(prefix="radviewer-bench-")
        env = dict(base, XDG_CONFIG_HOME=cfg, XDG_STATE_HOME=cfg)
        try:
            pair = [("app", app_cmd), ("anchor", anchor_cmd)]
            for name, cmd in (pair if i % 2 == 0 else pair[::-1]):  # neither always first
                t, heavy = _first_image(cmd, env)
                (app if name == "app" else anchor).append(t)
                if name == "app":
                    app_heavy = heavy
        finally:
            shutil.rmtree(cfg, ignore_errors=True)
        log(f"run {i + 1}: radviewer {app[-1]:.3f} s, minimal window {anchor[-1]:.3f} s "
            f"(heavy modules loaded by radviewer: {app_heavy or 'none'})")
    a, b = statistics.median(app), statistics.median(anchor)
    return {"app_s": a, "anchor_s": b, "ratio": a / b}


def rows(runs: int = 7) -> list[dict]:
    """The issue-18 table's start-up row (tests/benchmarks/bench_issue18.py)."""
    r = measure(runs, log=lambda s: None)
    return [{"what": "start-up to first image", "now": f"{r['app_s']:.3f} s",
             "anchor": f"minimal window {r['anchor_s']:.3f} s", "ratio": r["ratio"],
             "goal": f"<= {GOAL}x", "met": r["ratio"] <= GOAL}]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--exe", help="a built app (packaging/); default: this Python's radviewer")
    args = ap.parse_args()
    print(f"platform: {os.environ.get('QT_QPA_PLATFORM') or 'xcb'} "
          f"DISPLAY={os.environ.get('DISPLAY', '')}; cores: {os.cpu_count()}; "
          f"load: {os.getloadavg()[0]:.2f}")
    try:
        r = measure(args.runs, args.exe)
    except RuntimeError as exc:
        sys.exit(str(exc))
    print(f"median: radviewer {r['app_s']:.3f} s, minimal window {r['anchor_s']:.3f} s: "
          f"{r['ratio']:.2f}x (goal <= {GOAL}x: {'met' if r['ratio'] <= GOAL else 'not met'})")


if __name__ == "__main__":
    main()
