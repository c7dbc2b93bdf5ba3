"""``radviewer batch ROOT --model ID --out DIR``: one model over every applicable series under
a folder tree, resumable, on a local process pool or a Dask cluster (see :mod:`viewer.batch`).

``OUT`` holds ``state.jsonl`` (what is done; a re-run skips it), ``series/<UID>/`` (what
``radviewer analyze`` writes, per series) and ``summary.csv``/``summary.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from viewer.cli_common import EXIT_FAILURE, EXIT_FLAGGED, EXIT_OK, EXIT_USAGE, fail, say, warn

DESCRIPTION = """Run one model on every applicable series under ROOT (each sub-folder is
scanned as a study). Results go to OUT/series/<series UID>/ (report.json, labels.npy,
snapshots, as radviewer analyze writes them), one table to OUT/summary.csv and summary.json,
and a record per series to OUT/state.jsonl: a re-run skips what is done and retries failures
only with --retry-failed. A failed series is recorded with its reason; the batch goes on.
Local worker processes by default (as many as cores and free memory over the model's declared
memory allow); --scheduler runs on a Dask cluster, whose workers must see ROOT and OUT at the
same paths (a shared file system). Querying a PACS (--from-archive) is not supported yet:
radviewer has no PACS support; retrieve the studies into a folder first.
Exit status: 0 all done, 3 some results flagged, 1 some series failed (see the summary)."""


def add_parser(sub) -> None:
    p = sub.add_parser("batch", help="run one model on every applicable series under a folder "
                       "(resumable; local or Dask)", description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("root", help="folder tree of studies (each sub-folder is scanned)")
    p.add_argument("--model", required=True, help="model id (radviewer models)")
    p.add_argument("--out", required=True, help="output folder (created; reused to resume)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="Dask scheduler address, e.g. "
                   "tcp://host:8786 (needs pip install 'radviewer[cluster]')")
    p.add_argument("--workers", type=int, metavar="N", help="local worker processes (default: "
                   "from the cores and free memory)")
    p.add_argument("--retry-failed", action="store_true", help="run the series that failed "
                   "in an earlier run again")
    p.add_argument("--include-patient-details", action="store_true", help="add patient name, "
                   "ID, study date and accession number to the summary (off by default)")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(func=cmd_batch)


def cmd_batch(args: argparse.Namespace) -> int:
    from viewer.ai.registry import discover, find
    from viewer.batch.jobs import Job, find_jobs
    from viewer.batch.state import read_state
    from viewer.errors import ModelError

    root, out = Path(args.root).expanduser(), Path(args.out).expanduser()
    if not root.is_dir():
        return fail("batch", f"{root}: no such folder; give the folder that holds the studies",
                    EXIT_USAGE)
    if args.workers is not None and args.workers < 1:
        return fail("batch", "--workers must be 1 or more", EXIT_USAGE)
    try:
        entry = find(args.model, discover())
    except ModelError as exc:
        return fail("batch", str(exc), EXIT_USAGE)
    if not entry.available:
        return fail("batch", f"{entry.id}: {entry.problem}", EXIT_USAGE)
    if out.exists() and not out.is_dir():
        return fail("batch", f"--out {out}: is a file; give a folder", EXIT_USAGE)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return fail("batch", f"--out {out}: cannot create it ({exc.strerror}); choose a folder "
                    f"you can write to", EXIT_FAILURE)

    def scanned(done: int, total: int, folder: str) -> None:
        if not args.quiet:
            print(f"\rscanning study folders {done}/{total}", end="", file=sys.stderr,
                  flush=True)

    found = list(find_jobs(root, entry, out, progress=scanned))
    if not args.quiet:
        print(file=sys.stderr)
    jobs = [j for j in found if isinstance(j, Job)]
    skipped = [s for s in found if not isinstance(s, Job)]
    state = read_state(out)
    todo = [j for j in jobs if j.key not in state
            or (args.retry_failed and state[j.key].get("status") == "failed")]
    if not jobs:
        warn("batch", f"no series under {root} fits {entry.manifest.name}"
             + (f" (e.g. {skipped[0].label}: {skipped[0].reason})" if skipped else ""))
    elif not args.quiet:
        say("batch", f"{len(jobs)} applicable series, {len(jobs) - len(todo)} already in "
            f"{out / 'state.jsonl'}, {len(todo)} to run; {len(skipped)} not applicable")
    if todo:
        code = _run(args, entry, out, todo, state)
        if code is not None:
            return code
    return _finish(args, entry, root, out, jobs, skipped, state)


def _run(args, entry, out: Path, todo, state: dict) -> int | None:
    """Run ``todo`` on the engine, appending each record to the state as it completes."""
    from viewer.ai.registry import available_memory_gb
    from viewer.batch.engine import DaskEngine, make_engine
    from viewer.batch.state import append_record
    from viewer.batch.summary import series_fields

    memory_gb = entry.manifest.resources.get("memory_gb")
    try:
        engine = make_engine(args.scheduler, args.workers, memory_gb, len(todo),
                             available_memory_gb)
    except LookupError as exc:
        return fail("batch", str(exc), EXIT_USAGE)
    if isinstance(engine, DaskEngine) and engine.memory_warning(memory_gb):
        warn("batch", engine.memory_warning(memory_gb))
    if not args.quiet:
        say("batch", f"running on {engine.describe()}")
    m = entry.manifest
    tasks = [{"key": j.key, "stack": j.stack, "model_id": m.id, "sha256": m.sha256,
              "out": str(out.resolve())} for j in todo]
    by_key = {j.key: j for j in todo}
    t0, n_done = time.monotonic(), 0
    try:
        for task, res in engine.run(tasks):
            if isinstance(res, BaseException):  # the worker itself was lost (killed, OOM)
                res = {"key": task["key"], "status": "failed",
                       "reason": f"the worker was lost ({type(res).__name__}); out of "
                       f"memory? retry with fewer --workers and --retry-failed"}
            job = by_key[task["key"]]
            rec = {**series_fields(job.stack), "model": m.id, "model_version": m.version,
                   "sha256": m.sha256, **res,
                   "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}
            try:
                append_record(out, rec)
            except OSError as exc:
                return fail("batch", f"{out / 'state.jsonl'}: cannot write ({exc.strerror}); "
                            f"free some space and run again to resume", EXIT_FAILURE)
            state[rec["key"]] = rec
            n_done += 1
            if not args.quiet:
                _progress(n_done, len(todo), time.monotonic() - t0, rec)
    finally:
        engine.close()
    return None


def _progress(done: int, total: int, elapsed: float, rec: dict) -> None:
    """``[3/20] 15 %  ETA 4 min 10 s  done  AX T1 (12.3 s)`` on stderr, one line per series."""
    left = elapsed / done * (total - done)
    eta = f"{left / 60:.0f} min {left % 60:.0f} s" if left >= 60 else f"{left:.0f} s"
    what = rec["status"] + (f": {rec['reason']}" if rec["status"] == "failed" else "")
    print(f"[{done}/{total}] {100 * done / total:3.0f} %  ETA {eta}  {rec.get('series', '')}"
          f"  {what} ({rec.get('seconds', 0):.1f} s)", file=sys.stderr, flush=True)


def _finish(args, entry, root: Path, out: Path, jobs, skipped, state: dict) -> int:
    from viewer.batch.summary import patient_fields, series_fields, write_summary
    from viewer.errors import ExportError

    m = entry.manifest
    rows = []
    for j in jobs:
        rec = dict(state.get(j.key, {"status": "not run"}))
        row = {**rec, **series_fields(j.stack), "model": m.id, "model_version": m.version}
        if args.include_patient_details:
            row.update(patient_fields(j.stack))
        rows.append(row)
    for s in skipped:
        row = {"series_uid": s.series_uid, "series": s.label, "model": m.id,
               "model_version": m.version, "status": "not applicable", "reason": s.reason}
        if s.stack is not None:
            row.update(series_fields(s.stack))
            if args.include_patient_details:
                row.update(patient_fields(s.stack))
        rows.append(row)
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    doc = {"notice": "Research use — not a diagnosis.", "root": str(root.resolve()),
           "model": {"id": m.id, "version": m.version, "sha256": m.sha256}, "counts": counts}
    try:
        write_summary(out, rows, args.include_patient_details, doc)
    except ExportError as exc:
        return fail("batch", str(exc), EXIT_FAILURE)
    text = ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "nothing found"
    print(f"{m.name} {m.version} on {len(rows)} series: {text}. Research use — not a "
          f"diagnosis.\n  summary: {out / 'summary.csv'}")
    if counts.get("failed"):
        return EXIT_FAILURE
    if counts.get("flagged"):
        return EXIT_FLAGGED
    return EXIT_OK
