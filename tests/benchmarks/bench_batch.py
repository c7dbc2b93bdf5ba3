"""Batch throughput: ``radviewer batch`` on N copies of the sample T1 (new UIDs each) with 1
and 2 local workers, and each worker's peak memory against the model's declared memory (a
benchmark script: prints figures; pytest does not collect it).

    python tests/benchmarks/bench_batch.py [--copies 20] [--model brainchop-tissue]
                                           [--workers 1,2]

Studies per hour = copies / wall time of the whole batch (scan, workers' start, model runs,
outputs). Peak memory per worker: each worker process's ru_maxrss, reported in state.jsonl.
With 2 workers on 2 cores each worker's onnxruntime gets 1 thread instead of 2: the speed-up
is what process parallelism adds over onnxruntime's own threads.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "batch"))

from study_copies import make_studies  # noqa: E402

from viewer.ai.registry import discover, find  # noqa: E402
from viewer.batch.state import read_state  # noqa: E402
from viewer.cli import main as radviewer  # noqa: E402


def run(root: Path, out: Path, model: str, workers: int) -> tuple[float, dict[int, float]]:
    t0 = time.perf_counter()
    code = radviewer(["batch", str(root), "--model", model, "--out", str(out), "--workers",
                      str(workers), "--quiet"])
    wall = time.perf_counter() - t0
    state = read_state(out)
    bad = [r for r in state.values() if r["status"] == "failed"]
    if code not in (0, 3) or bad:
        raise SystemExit(f"batch failed (exit {code}): {bad[:1]}")
    peaks: dict[int, float] = {}
    for rec in state.values():
        peaks[rec["pid"]] = max(peaks.get(rec["pid"], 0.0), rec["peak_rss_mb"] or 0.0)
    return wall, peaks


def bench(copies: int, model: str, workers: list[int]) -> dict:
    declared_gb = find(model, discover()).manifest.resources.get("memory_gb")
    with tempfile.TemporaryDirectory(prefix="radviewer-bench-batch-") as tmp:
        root = Path(tmp) / "studies"
        t0 = time.perf_counter()
        make_studies(root, copies)
        print(f"{copies} copies of the sample T1 written in {time.perf_counter() - t0:.1f} s")
        figures = {}
        for n in workers:
            wall, peaks = run(root, Path(tmp) / f"out{n}", model, n)
            per_hour = copies / wall * 3600
            figures[n] = {"wall_s": round(wall, 1), "studies_per_hour": round(per_hour),
                          "peak_rss_mb_per_worker": sorted(peaks.values())}
            ok = declared_gb is None or max(peaks.values()) <= declared_gb * 1024
            print(f"{n} worker(s): {wall:.1f} s for {copies} studies = {per_hour:.0f} studies/h; "
                  f"peak memory per worker {', '.join(f'{p:.0f}' for p in peaks.values())} MB "
                  f"(declared {declared_gb} GB: {'within' if ok else 'ABOVE'})")
        if len(workers) > 1:
            a, b = workers[0], workers[-1]
            print(f"speed-up {b} vs {a} worker(s): "
                  f"{figures[a]['wall_s'] / figures[b]['wall_s']:.2f}x on {os.cpu_count()} cores")
    return figures


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--copies", type=int, default=20)
    ap.add_argument("--model", default="brainchop-tissue")
    ap.add_argument("--workers", default="1,2")
    a = ap.parse_args()
    print(json.dumps(bench(a.copies, a.model, [int(w) for w in a.workers.split(",")])))
