"""One series in one worker: run the model, write the series' outputs, return a small summary.

Runs in a process-pool worker or a Dask worker (:func:`run_series` is a plain top-level
function, so both can pickle it). The big outputs (report.json, labels.npy, snapshots: what
``radviewer analyze`` writes) go to ``OUT/series/<series UID>/`` from the worker itself, staged
in a hidden folder beside it and renamed into place when complete; only the summary (a few
hundred bytes) travels back. Never raises for a series' own problem: a failure is a summary
with ``status: "failed"`` and a one-line ``reason`` (no patient data).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

SERIES_DIR = "series"
_runners: dict[int, object] = {}  # threads -> Runner, kept for the worker's life (sessions)
_entries: dict[tuple, object] = {}  # (model id, user dirs) -> ModelEntry


def peak_rss_mb() -> float | None:
    """This process's peak resident memory so far (MB; ru_maxrss, KB on Linux, bytes on
    macOS); None where there is no ``resource`` module (Windows)."""
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024**2 if sys.platform == "darwin" else 1024), 1)


def _entry(model_id: str, user_dirs: tuple[str, ...]):
    from viewer.ai.registry import discover, find

    key = (model_id, user_dirs)
    if key not in _entries:
        _entries[key] = find(model_id, discover(list(user_dirs)))
    return _entries[key]


def _runner(threads: int):
    from viewer.ai.runner import Runner

    if threads not in _runners:
        _runners[threads] = Runner(threads=threads)
    return _runners[threads]


def _dask_threads(task: dict) -> int:
    """onnxruntime threads for a task on a Dask worker: this machine's cores shared among the
    Dask worker threads on this host (``task["host_threads"]``: host -> threads, from the
    scheduler), so that two workers on one machine do not each take every core."""
    cores = os.cpu_count() or 1
    try:
        from distributed import get_worker

        host = get_worker().address.rsplit(":", 1)[0]
        return max(1, cores // int(task.get("host_threads", {}).get(host, 1)))
    except (ImportError, ValueError, AttributeError):
        return 1


def run_series(task: dict) -> dict:
    """Analyse ``task["stack"]`` with model ``task["model_id"]`` into ``task["out"]``.

    ``task`` keys: key, stack, model_id, sha256, out (folder, str), threads (onnxruntime
    threads in this worker), user_dirs (extra model folders). Returns the summary: key,
    status ("done", "flagged" or "failed"), reason, seconds, peak_rss_mb, pid, and for a
    result its volumes (mL) or top label and score, flags and the folder it was written to.
    """
    t0 = time.perf_counter()
    stack = task["stack"]
    summary = {"key": task["key"], "series_uid": stack.uid, "status": "failed", "reason": ""}
    try:
        summary.update(_analyse(task, stack))
    except Exception as exc:  # noqa: BLE001 (one series' failure never stops the batch)
        summary["reason"] = _reason(exc)
    summary["seconds"] = round(time.perf_counter() - t0, 2)
    summary["peak_rss_mb"] = peak_rss_mb()
    summary["pid"] = os.getpid()
    return summary


def _reason(exc: BaseException) -> str:
    """One line for the state file and summary: our own errors' messages are written for the
    user (they name the file and what to do); anything else is named by its type only, since
    its text may quote file contents."""
    from viewer.errors import ViewerError

    if isinstance(exc, ViewerError | LookupError):
        return " ".join(str(exc).split())[:400]
    return f"unexpected error ({type(exc).__name__}); this is a bug in radviewer, please report it"


def _analyse(task: dict, stack) -> dict:
    import multiprocessing

    from viewer.cli_analyze_outputs import write_outputs, write_text
    from viewer.dicom.pixels import StackPixels

    if multiprocessing.current_process().daemon:  # it cannot start the decoder processes
        raise LookupError("this worker is a daemonic process, which cannot start radviewer's "
                          "decoder processes; start the Dask workers with "
                          "DASK_DISTRIBUTED__WORKER__DAEMON=False")
    entry = _entry(task["model_id"], tuple(task.get("user_dirs", ())))
    if not entry.available:
        raise LookupError(f"{entry.id}: {entry.problem}")
    if entry.manifest.sha256 != task["sha256"]:
        raise LookupError(f"{entry.id}: this worker has other weights (sha256 "
                          f"{entry.manifest.sha256[:12]}…) than the batch "
                          f"({task['sha256'][:12]}…); install the same model on every worker")
    out = Path(task["out"]) / SERIES_DIR
    out.mkdir(parents=True, exist_ok=True)
    final = out / _safe(stack.uid)
    stage = Path(tempfile.mkdtemp(dir=out, prefix=f".{final.name}."))
    runner = _runner(int(task.get("threads") or _dask_threads(task)))
    try:
        pixels = StackPixels(stack)
        result = runner.run(entry, pixels)
        report = write_outputs(result, stack, pixels, stage)
        write_text(stage / "report.json", json.dumps(report, indent=2))
        if final.exists():  # an earlier attempt's folder (its state line was removed)
            shutil.rmtree(final)
        os.rename(stage, final)
    finally:
        runner.forget(stack.uid)  # the result lives on disk now, not in the worker's memory
        shutil.rmtree(stage, ignore_errors=True)
    done = {"status": "flagged" if result.flags else "done",
            "reason": result.flags[0] if result.flags else "",
            "flags": list(result.warnings), "folder": f"{SERIES_DIR}/{final.name}",
            "model_seconds": round(result.timings_s.get("total", 0.0), 2)}
    if result.label_volumes_ml:
        done["volumes_ml"] = {k: round(v, 1) for k, v in result.label_volumes_ml.items()}
    if result.series_scores:
        top = result.top_label
        done["top_label"] = top
        done["top_score"] = round(float(result.series_scores[top]), 4)
        done["score_kind"] = result.score_word
    return done


def _safe(uid: str) -> str:
    """A folder name for a stack uid: UIDs are digits and dots; a split stack's uid may carry
    a suffix, anything unusual becomes ``_``."""
    name = "".join(c if c.isalnum() or c in ".-_" else "_" for c in uid)[:120]
    return name.lstrip(".") or "series"
