"""Compressed series as a fresh window or command-line run pays for them (issue 18's rows).

    python tests/benchmarks/bench_compressed.py [SERIES_DIR] [--repeat 3]

The shared CT (275 slices, 512x512) is re-encoded losslessly to JPEG-LS, RLE and JPEG 2000
(``bench_load.compressed_copies``: cached in /tmp/radviewer-bench-cache). Every figure is a
fresh ``python -c`` per run (imports, decoder processes and all: nothing warmed by this
benchmark), ours and its anchor alternating so each repeat is a pair; the row's ratio is the
median of the paired ratios. Ours does what the app does: :data:`LAUNCH` (the call
``viewer.app.run_gui`` makes first thing), then scan, then ``StackPixels``.

rows (see :func:`rows`, which ``bench_issue18.py`` collects):

first slice
    launch to the middle slice as an 8-bit image (JPEG-LS copy): scan + ``frame(mid)`` +
    ``displayable``, timed inside the fresh process from its first statement; anchor: the same
    scan + slice repeated in that process once everything is warm (in-process). Goal <= 0.4 s.
JPEG-LS volume
    ours: scan + ``load_volume()``; anchor SimpleITK: ``GetGDCMSeriesFileNames`` +
    ``ImageSeriesReader.Execute()``. Goal <= 0.6x.
RLE volume
    anchor: one process decoding every file with pylibjpeg-rle (``pixel_array``) into one
    array. Goal <= 1.3x.
JPEG 2000 volume
    anchor: openjpeg in 2 processes forked after the imports, each decoding half the files
    and sending nothing back (the 2-core floor). Goal <= 1.05x.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_load  # noqa: E402  (standard library only at import time)

REPO = bench_load.REPO

# What viewer.app.run_gui does before anything else (the decoders' forkserver starts while the
# window's own imports run); absent in older trees, where the pool starts on first use.
LAUNCH = """
from viewer.dicom import decode_pool as _dp
if hasattr(_dp, "prestart"):
    _dp.prestart()
"""

FIRST = """
from viewer.dicom.pixels import FrameCache, StackPixels
from viewer.dicom.scan import scan_folder
from viewer.display.window import displayable
def first():
    stack = max(scan_folder(path).stacks(), key=lambda s: s.n_frames)
    mid = stack.n_frames // 2
    return displayable(StackPixels(stack, FrameCache()).frame(mid), stack.frames[mid].header)
image = first()
t_first = time.perf_counter() - t0
warm = []
for _ in range(3):
    a = time.perf_counter(); first(); warm.append(time.perf_counter() - a)
out = {"now": t_first, "anchor": sorted(warm)[1]}
"""

OURS_VOLUME = """
from viewer.dicom.pixels import StackPixels
from viewer.dicom.scan import scan_folder
stack = max(scan_folder(path).stacks(), key=lambda s: s.n_frames)
volume = StackPixels(stack).load_volume()
out = {"t": time.perf_counter() - t0, "sum": int(volume.sum(dtype="int64"))}
"""

SITK_VOLUME = """
import SimpleITK as sitk
reader = sitk.ImageSeriesReader()
reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(path))
volume = sitk.GetArrayViewFromImage(reader.Execute())
out = {"t": time.perf_counter() - t0}
"""

CODEC_LOOP = """
import os
import numpy as np
from pydicom.pixels import pixel_array
files = sorted(os.path.join(path, f) for f in os.listdir(path))
first = pixel_array(files[0], decoding_plugin=plugin)
volume = np.empty((len(files), *first.shape), first.dtype)
for k, f in enumerate(files):
    volume[k] = pixel_array(f, decoding_plugin=plugin)
out = {"t": time.perf_counter() - t0}
"""

FLOOR_2PROC = """
import multiprocessing, os
from pydicom.pixels import pixel_array
files = sorted(os.path.join(path, f) for f in os.listdir(path))
def decode(paths):
    for f in paths:
        pixel_array(f, decoding_plugin=plugin)
    return len(paths)
if __name__ == "__main__":
    with multiprocessing.get_context("fork").Pool(2) as pool:
        pool.map(decode, [files[0::2], files[1::2]], chunksize=1)
    out = {"t": time.perf_counter() - t0}
"""

HEAD = """import time
t0 = time.perf_counter()
import sys
path, plugin = sys.argv[1], sys.argv[2]
"""
TAIL = "\nimport json\nprint(json.dumps(out))\n"

GOALS = {"first slice": 0.4, "jpeg-ls": 0.6, "rle": 1.3, "jpeg2000": 1.05}


CPUACCT = Path("/sys/fs/cgroup/cpuacct")  # cgroup v1 CPU accounting, where writable (root)


def _cpu_group() -> Path | None:
    """A fresh cpuacct cgroup for one child's process tree, or None where there is none."""
    if not os.access(CPUACCT / "cgroup.procs", os.W_OK):
        return None
    group = CPUACCT / f"radviewer-bench-{os.getpid()}-{time.monotonic_ns()}"
    try:
        group.mkdir()
    except OSError:
        return None
    return group


def _cpu_seconds(group: Path) -> float | None:
    """CPU seconds used by every process that ran in ``group`` (once they are gone)."""
    deadline = time.monotonic() + 10  # the decoder processes end just after the app
    while (group / "cgroup.procs").read_text().strip() and time.monotonic() < deadline:
        time.sleep(0.05)
    used = int((group / "cpuacct.usage").read_text()) / 1e9
    try:
        group.rmdir()
    except OSError:
        return None  # a process outlived the app: not a figure to trust
    return used


def child(code: str, folder: Path, plugin: str = "", launch: bool = False,
          tree: Path = REPO) -> dict:
    """Run ``code`` in a fresh interpreter in ``tree`` (whose ``viewer`` it imports); its
    ``out`` dict plus ``wall`` (seconds, from here: start-up and teardown included) and
    ``cpu`` (CPU seconds of its whole process tree, decoder processes included; None where
    cgroup CPU accounting is not available)."""
    body = HEAD + (LAUNCH if launch else "") + code + TAIL
    group = _cpu_group()

    def join_group() -> None:  # in the child, before exec: its descendants inherit the group
        if group is not None:
            (group / "cgroup.procs").write_text(str(os.getpid()))

    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", body, str(folder), plugin], cwd=tree,
                          capture_output=True, text=True, check=False, preexec_fn=join_group)
    wall = time.perf_counter() - t
    cpu = _cpu_seconds(group) if group is not None else None
    if proc.returncode != 0:
        raise RuntimeError(f"child failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out.update(wall=wall, cpu=cpu)
    return out


def _idle_fraction(seconds: float = 1.0) -> float:
    """Share of the machine's CPU time that was idle over ``seconds`` (from /proc/stat)."""
    def sample() -> tuple[int, int]:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return v[3] + v[4], sum(v[:8])  # idle + iowait, all but guest time
    i1, t1 = sample()
    time.sleep(seconds)
    i2, t2 = sample()
    return (i2 - i1) / max(1, t2 - t1)


WAIT_IDLE_S = 0.0  # --wait-idle: before each pair, wait up to this long for an idle machine


def _wait_idle() -> None:
    """Wait (up to :data:`WAIT_IDLE_S`) until the machine is >= 90 % idle for a second: paired
    ratios of 2-process loads mean little while another job holds a core."""
    deadline = time.monotonic() + WAIT_IDLE_S
    while WAIT_IDLE_S and time.monotonic() < deadline and _idle_fraction() < 0.9:
        pass


def copies(series: Path) -> dict[str, tuple[Path, str]]:
    """{name: (folder, decoding plugin we use)} for the lossless copies of ``series``."""
    from viewer.dicom import codecs
    from viewer.dicom.scan import scan_folder

    stack = bench_load.main_stack(scan_folder(series))
    files = list(dict.fromkeys(f.header.path for f in stack.frames))
    out = {}
    for name, ts, plugins in bench_load._syntaxes():
        folder, _enc, _secs = bench_load.compressed_copies(files, name, ts, plugins)
        bench_load.warm_page_cache(folder)
        out[name] = folder, codecs.available_plugins(ts)[0]
    return out


def _median(runs: list[dict], key: str) -> float | None:
    values = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(values) if values else None


def _row(what: str, now: float, anchor_name: str, anchor: float, ratio: float, goal: float,
         unit: str, pairs: list[float]) -> dict:
    met = (now if unit == "s" else ratio) <= goal
    return {"what": what, "now": now, "anchor_name": anchor_name, "anchor": anchor,
            "ratio": ratio, "goal": goal, "goal_unit": unit, "met": met, "pairs": pairs}


def rows(series: Path = bench_load.DEFAULT_SERIES, repeat: int = 3, tree: Path = REPO,
         only: tuple[str, ...] = ("first slice", "jpeg-ls", "rle", "jpeg2000"),
         before: Path | None = None) -> list[dict]:
    """Issue 18's compressed-decoding rows, each a paired measurement made in this call.

    Each row: ``{what, now, anchor_name, anchor, ratio, goal, goal_unit, met, pairs}`` (seconds;
    ``ratio`` the median of the per-repeat ratios ``pairs``; ``met`` judges ``now`` for the
    first slice, ``ratio`` for the others). ``tree``: the checkout whose ``viewer`` is ours;
    ``before``: an older checkout measured in the same repeats (adds ``before`` and
    ``before_ratio``); ``only``: the rows to measure (JPEG 2000: ~40 s per repeat on 2 cores).
    """
    found = copies(series.resolve())
    trees = {"now": tree} if before is None else {"before": before, "now": tree}
    out = []

    if "first slice" in only:
        jls, plugin = found["jpeg-ls"]
        runs = {k: [] for k in trees}
        for _ in range(repeat):
            _wait_idle()
            for k, t in trees.items():
                runs[k].append(child(FIRST, jls, plugin, launch=True, tree=t))
        med = {k: statistics.median(r["now"] for r in v) for k, v in runs.items()}
        ratios = {k: [r["now"] / r["anchor"] for r in v] for k, v in runs.items()}
        row = _row("first slice of a compressed series (JPEG-LS CT), fresh process, launch to "
                   "image", med["now"], "in-process, warm",
                   statistics.median(r["anchor"] for r in runs["now"]),
                   statistics.median(ratios["now"]), GOALS["first slice"], "s", ratios["now"])
        if before is not None:
            row.update(before=med["before"], before_ratio=statistics.median(ratios["before"]))
        out.append(row)

    anchors_by = {"jpeg-ls": ("SimpleITK", SITK_VOLUME), "rle": ("pylibjpeg-rle loop, 1 process",
                  CODEC_LOOP), "jpeg2000": ("openjpeg, 2 processes", FLOOR_2PROC)}
    for name, (anchor_name, anchor_code) in anchors_by.items():
        if name not in only:
            continue
        folder, plugin = found[name]
        ours = {k: [] for k in trees}
        peer, sums = [], set()
        for _ in range(repeat):
            _wait_idle()
            for k, t in trees.items():
                o = child(OURS_VOLUME, folder, plugin, launch=True, tree=t)
                ours[k].append(o)
                sums.add(o["sum"])
            peer.append(child(anchor_code, folder, plugin))
        ratios = {k: [a["wall"] / b["wall"] for a, b in zip(v, peer, strict=True)]
                  for k, v in ours.items()}
        row = _row(f"{name} volume, fresh process", _median(ours["now"], "wall"),
                   anchor_name, _median(peer, "wall"), statistics.median(ratios["now"]),
                   GOALS[name], "x", ratios["now"])
        row.update(cpu=_median(ours["now"], "cpu"), anchor_cpu=_median(peer, "cpu"),
                   checksum=sorted(sums))  # one checksum: every run decoded the same volume
        if before is not None:
            row.update(before=_median(ours["before"], "wall"),
                       before_ratio=statistics.median(ratios["before"]),
                       before_cpu=_median(ours["before"], "cpu"))
        out.append(row)
    return out


def print_rows(result: list[dict]) -> None:
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; CPUs {os.cpu_count()}")
    for r in result:
        goal = f"<= {r['goal']} s" if r["goal_unit"] == "s" else f"<= {r['goal']}x"
        print(f"{r['what']}: {r['now']:.3f} s; {r['anchor_name']} {r['anchor']:.3f} s; "
              f"ratio {r['ratio']:.2f} (pairs {', '.join(f'{p:.2f}' for p in r['pairs'])}); "
              f"goal {goal}: {'met' if r['met'] else 'NOT MET'}")
        if r.get("cpu") is not None:
            print(f"    CPU seconds of the whole process tree: ours {r['cpu']:.2f}, "
                  f"{r['anchor_name']} {r['anchor_cpu']:.2f}"
                  + (f", before {r['before_cpu']:.2f}" if r.get("before_cpu") else ""))
        if "before" in r:
            print(f"    before: {r['before']:.3f} s, ratio {r['before_ratio']:.2f}")
        if len(r.get("checksum", ())) > 1:
            print(f"    MISMATCH: runs decoded different volumes ({r['checksum']})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("series_dir", nargs="?", type=Path, default=bench_load.DEFAULT_SERIES)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--tree", type=Path, default=REPO,
                    help="checkout whose viewer package is measured as ours (before/after)")
    ap.add_argument("--before", type=Path,
                    help="an older checkout, measured in the same repeats (before/after)")
    ap.add_argument("--only", nargs="+", choices=("first slice", "jpeg-ls", "rle", "jpeg2000"),
                    default=("first slice", "jpeg-ls", "rle", "jpeg2000"))
    ap.add_argument("--wait-idle", type=float, default=0.0, metavar="SECONDS",
                    help="before each pair, wait up to this long for a >= 90%% idle machine")
    args = ap.parse_args()
    global WAIT_IDLE_S
    WAIT_IDLE_S = args.wait_idle
    print_rows(rows(args.series_dir, max(1, args.repeat), args.tree, tuple(args.only),
                    args.before))


if __name__ == "__main__":
    main()
