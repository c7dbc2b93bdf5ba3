"""GUI memory after analyses: the window's resident size after Analyze, Clear and re-opening.

    python tests/benchmarks/bench_gui_memory.py [--rounds 3] [--model brainchop-tissue]

A fresh process (offscreen Qt) opens the sample study in the real MainWindow, then ``rounds``
times: Analyze with ``model`` (a real onnxruntime run), Clear result, open the sample again.
Prints the resident set size (RSS, /proc) at each step. The figure is the RSS held at the end;
its anchor, measured in the same process right after, is the RSS once the runner (its cached
sessions and results) and every finished job are dropped and the C heap trimmed: what the
window needs anyway. Issue 18's goal: back to <= 0.5 GB after Clear / close.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
GOAL_GB = 0.5


def _child(rounds: int, model: str) -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    sys.path.insert(0, str(REPO))
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from viewer.ai.registry import discover
    from viewer.gui import memory, workers
    from viewer.gui.main_window import MainWindow
    from viewer.paths import sample_study_dir

    app = QApplication([])
    ini = Path(tempfile.mkdtemp()) / "settings.ini"
    win = MainWindow(QSettings(str(ini), QSettings.Format.IniFormat))
    win.show()
    gb = lambda: round(memory.rss_bytes() / 1e9, 3)  # noqa: E731

    def wait(cond, timeout=900.0):
        t0 = time.monotonic()
        while not cond():
            app.processEvents()
            time.sleep(0.01)
            if time.monotonic() - t0 > timeout:
                raise TimeoutError("the window did not finish in time")

    def open_sample():
        win.open_folder(str(sample_study_dir()))
        wait(lambda: win._scan is None and win.views[0].pixels is not None
             and (win._load is None or not win._load.is_running))
        for _ in range(20):
            app.processEvents()

    entry = {e.id: e for e in discover()}[model]
    steps = []
    open_sample()
    steps.append(("sample opened", gb()))
    for i in range(rounds):
        uid = win.views[0].pixels.stack.uid
        win.analyze(entry)
        wait(lambda uid=uid: uid in win.results)
        steps.append((f"round {i + 1}: analyzed", gb()))
        win.clear_result()
        open_sample()
        steps.append((f"round {i + 1}: cleared and re-opened", gb()))
    wait(lambda: not workers.running_jobs())
    for _ in range(20):
        app.processEvents()
    held = gb()
    win._runner = None  # the anchor: no cached sessions or results, no finished jobs
    memory.give_back()
    anchor = gb()
    print(json.dumps({"steps": steps, "held_gb": held, "anchor_gb": anchor}), flush=True)
    win.close()


def measure(rounds: int = 3, model: str = "brainchop-tissue") -> dict:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run([sys.executable, __file__, "--child", "--rounds", str(rounds),
                           "--model", model], env=env, capture_output=True, text=True,
                          timeout=1800)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("{")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"the window run failed ({proc.returncode}): "
                           f"{(proc.stdout + proc.stderr).strip()[-400:]}")
    return json.loads(line)


def rows(rounds: int = 3, model: str = "brainchop-tissue") -> list[dict]:
    """The issue-18 table's memory row (tests/benchmarks/bench_issue18.py)."""
    r = measure(rounds, model)
    return [{"what": f"GUI memory after {rounds} analyses ({model}), Clear, re-open",
             "now": f"{r['held_gb']:.2f} GB",
             "anchor": f"{r['anchor_gb']:.2f} GB without sessions/jobs",
             "ratio": r["held_gb"] / r["anchor_gb"], "goal": f"<= {GOAL_GB} GB",
             "met": r["held_gb"] <= GOAL_GB}]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--model", default="brainchop-tissue")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(args.rounds, args.model)
        return
    print(f"load {os.getloadavg()[0]:.2f}; cores {os.cpu_count()}")
    r = measure(args.rounds, args.model)
    for what, gb in r["steps"]:
        print(f"  {what:<36} RSS {gb:.3f} GB")
    print(f"held {r['held_gb']:.3f} GB; without the runner and jobs {r['anchor_gb']:.3f} GB: "
          f"{r['held_gb'] / r['anchor_gb']:.2f}x (goal <= {GOAL_GB} GB: "
          f"{'met' if r['held_gb'] <= GOAL_GB else 'not met'})")


if __name__ == "__main__":
    main()
