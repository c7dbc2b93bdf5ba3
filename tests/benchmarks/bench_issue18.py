"""Issue 18's table in one run: every row as a paired ratio (its anchor measured in this run),
with the goal, met / not met, and the machine's load when the row was measured.

    python tests/benchmarks/bench_issue18.py [--only compressed analysis memory export startup]
                                             [--quick]

Each group of rows comes from the benchmark that owns it, through its ``rows()`` function:
compressed series (bench_compressed.py, else bench_load.py / bench_first_slice.py), analysis
(bench_analyze.py, else bench_models.py), GUI memory (bench_gui_memory.py), annotated PNG
export (bench_export.py) and start-up (bench_startup.py: under X; without DISPLAY an Xvfb is
started for it when installed). A group that cannot run says why and the others still print.
Whole runs take minutes (the analysis rows run each model several times); ``--quick`` uses the
fewest repeats that still pair each figure with its anchor.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import subprocess
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1]))

# group -> (modules that may provide rows(), in order of preference; kwargs full / quick)
GROUPS = {
    "compressed": (("bench_compressed", "bench_load", "bench_first_slice"),
                   {}, {"repeat": 1}),
    "analysis": (("bench_analyze", "bench_models"), {}, {"repeat": 1, "profile_crop": 128}),
    "memory": (("bench_gui_memory",), {}, {"rounds": 3}),
    "export": (("bench_export",), {}, {"repeat": 10}),
    "startup": (("bench_startup",), {}, {"runs": 3}),
}


def load() -> str:
    """The load averages (1, 5, 15 min) as uptime prints them."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _fmt(value, unit: str = "") -> str:
    if isinstance(value, float):
        return f"{value:.3f}{' ' + unit if unit else ''}"
    return str(value)


def normalise(row: dict, load_now: str) -> dict:
    """One printable row from the shapes the benchmarks return (strings, or numbers with
    ``anchor_name`` and ``goal_unit``)."""
    unit = row.get("goal_unit", "")
    now_unit = "s" if unit in ("s", "x") else ""
    anchor = row.get("anchor", "")
    if "anchor_name" in row:
        anchor = f"{row['anchor_name']} {_fmt(anchor, 's')}"
    goal = row.get("goal", "")
    if isinstance(goal, (int, float)):
        goal = f"<= {goal}{' s' if unit == 's' else 'x' if unit == 'x' else ''}"
    ratio = row.get("ratio")
    return {"what": str(row.get("what", "?")), "now": _fmt(row.get("now", ""), now_unit),
            "anchor": str(anchor), "ratio": f"{ratio:.2f}x" if isinstance(ratio, (int, float))
            else str(ratio or ""), "goal": str(goal),
            "met": "met" if row.get("met") else "NOT MET", "load": str(row.get("load", load_now))}


def _xvfb():
    """Start an Xvfb for the start-up rows when there is no display; returns its process."""
    if os.environ.get("DISPLAY") or shutil.which("Xvfb") is None:
        return None
    for n in range(90, 110):
        if not Path(f"/tmp/.X11-unix/X{n}").exists() and not Path(f"/tmp/.X{n}-lock").exists():
            proc = subprocess.Popen(["Xvfb", f":{n}", "-screen", "0", "1400x900x24"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1.0)
            if proc.poll() is None:
                os.environ["DISPLAY"] = f":{n}"
                return proc
    return None


def run_group(name: str, quick: bool) -> tuple[list[dict], str | None]:
    """(rows, None), or ([], why the group could not run)."""
    modules, full, fast = GROUPS[name]
    why = []
    for mod_name in modules:
        try:
            mod = importlib.import_module(mod_name)
        except Exception as exc:  # a benchmark that does not import: say so, go on
            why.append(f"{mod_name}: cannot import ({type(exc).__name__}: {exc})")
            continue
        if not hasattr(mod, "rows"):
            why.append(f"{mod_name} has no rows()")
            continue
        xvfb = _xvfb() if name == "startup" else None
        try:
            load_now = load()
            got = mod.rows(**(fast if quick else full))
            return [normalise(r, load_now) for r in got], None
        except Exception as exc:
            tb = traceback.format_exception_only(type(exc), exc)[-1].strip()
            return [], f"{mod_name}.rows() failed: {tb[:300]}"
        finally:
            if xvfb is not None:
                xvfb.terminate()
                xvfb.wait(5)
                os.environ.pop("DISPLAY", None)
    return [], "; ".join(why) or "no benchmark provides these rows"


def print_table(rows: list[dict]) -> None:
    cols = ["what", "now", "anchor", "ratio", "goal", "met", "load"]
    width = {c: max(len(c), *(len(r[c]) for r in rows)) for c in cols}
    print(" | ".join(c.ljust(width[c]) for c in cols))
    print("-+-".join("-" * width[c] for c in cols))
    for r in rows:
        print(" | ".join(r[c].ljust(width[c]) for c in cols))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="+", choices=list(GROUPS), default=list(GROUPS))
    ap.add_argument("--quick", action="store_true", help="fewest repeats (still paired)")
    args = ap.parse_args()
    print(f"issue 18 benchmarks; {os.cpu_count()} cores; load at start {load()}", flush=True)
    rows, failed = [], []
    for name in args.only:
        t0 = time.perf_counter()
        print(f"\n== {name} (load {load()})", flush=True)
        got, why = run_group(name, args.quick)
        rows += got
        if why:
            failed.append((name, why))
            print(f"   could not run: {why}", flush=True)
        else:
            print(f"   {len(got)} row(s) in {time.perf_counter() - t0:.0f} s", flush=True)
    print(f"\nload at the end {load()}\n")
    if rows:
        print_table(rows)
    for name, why in failed:
        print(f"{name}: not measured: {why}")


if __name__ == "__main__":
    main()
