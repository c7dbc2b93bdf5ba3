"""Load benchmark: radviewer ("ours") against SimpleITK's ImageSeriesReader ("SimpleITK").

Run from anywhere (paths are resolved from this file)::

    python tests/benchmarks/bench_load.py [SERIES_DIR] [--compressed] [--repeat N]

SERIES_DIR defaults to ``../shared/data/ct-chest-lidc0314`` relative to the repository root.
This is not a test: nothing is asserted, the figures are printed with the targets beside them.

Measurements (each for ours and for SimpleITK):

header scan
    ours ``scan_folder(dir)``; SimpleITK ``ImageSeriesReader.GetGDCMSeriesFileNames(dir)``.
first slice
    until the middle slice is an 8-bit displayable image. Ours: scan +
    ``StackPixels(stack, FrameCache()).frame(mid)`` + ``displayable(arr, header)``; SimpleITK:
    GetGDCMSeriesFileNames + ``sitk.ReadImage(middle file)`` + the header window (0028,1050/1051)
    applied with numpy (the same linear VOI function).
full volume
    ours: scan + ``StackPixels(stack).load_volume()``; SimpleITK: GetGDCMSeriesFileNames +
    ``ImageSeriesReader.Execute()`` + ``GetArrayViewFromImage``.

Each is measured two ways (median of --repeat runs, default 3; page cache warmed first):

in-process
    imports already done. "peak RSS +" is how far this process's peak RSS (VmHWM, reset before
    each run by writing 5 to /proc/self/clear_refs) rose above its RSS before the run: the
    memory the operation itself needed.
whole process
    a fresh ``python -c`` per run, imports included (cold start), timed from outside around
    ``subprocess.run``. The child prints its own peak RSS: VmHWM of /proc/self/status, because
    its ``ru_maxrss`` (RUSAGE_SELF) starts at this benchmark's peak (Linux carries the parent's
    high-water mark across fork + exec); and, separately, ``ru_maxrss`` of RUSAGE_CHILDREN: the
    decoder processes it started and reaped (none for native data; workers forked by a
    forkserver are the server's children, not the measured process's).

Also printed: the raw pixel bytes (slices x rows x columns x 2), the interpreter baseline RSS (a
child that only imports numpy, pydicom and the viewer modules used), whether our volume equals
SimpleITK's (our ``to_real`` per slice vs. its rescaled array, both sorted by z), and the targets:
first slice <= 0.25 s in-process and <= 1 s whole process; our whole-process full volume
<= 0.75 x SimpleITK's (median of the ratios paired per repeat); our whole-process peak RSS
<= 1.4 x raw pixel bytes + baseline.

``--compressed`` adds lossless copies of the series (JPEG-LS with pyjpegls, RLE with
pylibjpeg-rle, JPEG 2000 with pylibjpeg-openjpeg), encoded by a process pool once and cached in
/tmp/radviewer-bench-cache/<syntax>/ (delete it to re-encode). For each syntax, in-process
(a breakdown, not the targets):

* SimpleITK volume: ``ImageSeriesReader.Execute()`` (file names already known);
* ours: ``load_volume()`` (scan done); "first" is the first load of the run, which also pays
  the decoder processes' start, as the first compressed series of a session does;
* codec 1-proc: every file decoded in this process by ``pydicom.pixels.pixel_array`` with the
  plugin we use (``codecs.available_plugins(ts)[0]``);
* 2-proc floor: the same decode split over 2 already-started processes (decode only: nothing is
  sent back, so no volume can be built faster with 2 processes);
* first slice: scan + decode of the middle frame + ``displayable``, in-process and whole process.

Targets (issue 18), timed as a fresh window or command-line run pays them, whole processes
paired with their anchors (bench_compressed.rows): first slice <= 0.4 s from launch; JPEG-LS
volume <= 0.6 x SimpleITK; RLE <= 1.3 x a pylibjpeg-rle loop; JPEG 2000 <= 1.05 x openjpeg in 2
processes. (They were once timed here in-process after ``warm_up()``, which no app run pays.)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

# Only the standard library at import time: decoder processes re-import this module.

REPO = Path(__file__).resolve().parents[2]
DEFAULT_SERIES = REPO.parent / "shared" / "data" / "ct-chest-lidc0314"
CACHE_ROOT = Path("/tmp/radviewer-bench-cache")
MIB = 1024 * 1024

# ----------------------------------------------------------------------------- measured code

# Each task reads ``path`` and is run as it stands: exec'd here (in-process) or as the body of a
# fresh ``python -c`` (whole process). Names it leaves behind (stack, volume, img, image) are
# used for the cross-checks.
TASKS: dict[tuple[str, str], str] = {
    ("scan", "ours"): """
from viewer.dicom.scan import scan_folder
catalog = scan_folder(path)
""",
    ("scan", "SimpleITK"): """
import SimpleITK as sitk
names = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(path)
""",
    ("first slice", "ours"): """
from viewer.dicom.pixels import FrameCache, StackPixels
from viewer.dicom.scan import scan_folder
from viewer.display.window import displayable
stack = max(scan_folder(path).stacks(), key=lambda s: s.n_frames)
mid = stack.n_frames // 2
# A fresh cache, as in a new process (the shared one would answer repeats).
image = displayable(StackPixels(stack, FrameCache()).frame(mid), stack.frames[mid].header)
""",
    ("first slice", "SimpleITK"): r"""
import numpy as np
import SimpleITK as sitk
names = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(path)
img = sitk.ReadImage(names[len(names) // 2])
real = sitk.GetArrayViewFromImage(img)[0].astype(np.float32)
if img.HasMetaDataKey("0028|1050") and img.HasMetaDataKey("0028|1051"):
    c, w = (float(img.GetMetaData(k).split("\\")[0]) for k in ("0028|1050", "0028|1051"))
else:
    lo, hi = np.percentile(real, [1, 99])
    c, w = (lo + hi) / 2, max(hi - lo, 2.0)
scale = np.float32(255.0 / (w - 1.0))
out = (real - np.float32(c - 0.5 - (w - 1.0) / 2.0)) * scale
image = np.clip(out, 0, 255, out=out).astype(np.uint8)
""",
    ("full volume", "ours"): """
from viewer.dicom.pixels import StackPixels
from viewer.dicom.scan import scan_folder
stack = max(scan_folder(path).stacks(), key=lambda s: s.n_frames)
volume = StackPixels(stack).load_volume()
""",
    ("full volume", "SimpleITK"): """
import SimpleITK as sitk
reader = sitk.ImageSeriesReader()
reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(path))
img = reader.Execute()
volume = sitk.GetArrayViewFromImage(img)
""",
}
MEASURES = ("scan", "first slice", "full volume")
PEERS = ("ours", "SimpleITK")
BASELINE = """
import numpy
import pydicom
import viewer.dicom.pixels
import viewer.dicom.scan
import viewer.display.window
"""
CHILD_HEAD = "import sys\npath = sys.argv[1]\n"
CHILD_TAIL = """
import json, resource
hwm = [line for line in open("/proc/self/status") if line.startswith("VmHWM:")]
print(json.dumps({"hwm": int(hwm[0].split()[1]) if hwm else None,
                  "self": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "children": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""


def _status_kib(field: str) -> int:
    """A ``kB`` field of /proc/self/status (VmRSS, VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def _reset_peak_rss() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def run_in_process(code: str, path: Path) -> tuple[float, int | None, dict]:
    """Exec ``code``: (seconds, rise of peak RSS in KiB or None, the names it left)."""
    compiled = compile(code, "<task>", "exec")
    ns: dict = {"path": str(path)}
    can_reset = _reset_peak_rss()
    before = _status_kib("VmRSS")
    t0 = time.perf_counter()
    exec(compiled, ns)
    seconds = time.perf_counter() - t0
    rise = _status_kib("VmHWM") - before if can_reset else None
    return seconds, rise, ns


def run_child(code: str, path: Path) -> tuple[float, int, int]:
    """Run ``code`` in a fresh interpreter: (wall seconds, peak RSS KiB, children's KiB)."""
    argv = [sys.executable, "-c", CHILD_HEAD + code + CHILD_TAIL, str(path)]
    t0 = time.perf_counter()
    proc = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"child failed ({proc.returncode}):\n{proc.stderr}")
    rss = json.loads(proc.stdout.strip().splitlines()[-1])
    # ru_maxrss of a child started by fork/vfork + exec starts at the parent's peak (Linux keeps
    # the old address space's high-water mark across exec), so VmHWM, which does not, is used.
    peak = rss["hwm"] if rss["hwm"] is not None else rss["self"]
    return seconds, peak, rss["children"]


def warm_page_cache(folder: Path) -> None:
    for p in folder.rglob("*"):
        if p.is_file():
            p.read_bytes()


# ----------------------------------------------------------------------------- formatting


def fmt_s(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds:.3f} s"


def fmt_mib(kib: float | None, sign: str = "") -> str:
    return "n/a" if kib is None else f"{sign}{kib / 1024:.1f} MiB"


def print_table(header: list[str], rows: list[list[str]], left: int = 2) -> None:
    """Columns padded to their widest cell; the first ``left`` ones left-aligned."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, ["-" * w for w in widths], *rows]:
        cells = zip(r, widths, strict=True)
        print("  ".join(c.ljust(w) if i < left else c.rjust(w)
                        for i, (c, w) in enumerate(cells)).rstrip())


def target_line(label: str, value: str, target: str, met: bool) -> list[str]:
    return [label, value, target, "met" if met else "NOT MET"]


def median(values: list[float]) -> float:
    return statistics.median(values)


# ----------------------------------------------------------------------------- checks


def main_stack(catalog):
    return max(catalog.stacks(), key=lambda s: s.n_frames)


def compare_volumes(ours: dict, peer: dict) -> str:
    """Our stored volume through ``to_real`` against SimpleITK's array, slices sorted by z."""
    import numpy as np

    from viewer.dicom.pixels import to_real

    stack, vol = ours["stack"], ours["volume"]
    img, arr = peer["img"], peer["volume"]
    if vol.shape != arr.shape:
        return f"MISMATCH: shape {vol.shape} (ours) vs {arr.shape} (SimpleITK)"
    if any(f.position is None for f in stack.frames):
        return "MISMATCH: slices without Image Position (Patient); cannot sort by z"
    ours_z = np.array([f.position[2] for f in stack.frames])
    peer_z = np.array([img.TransformIndexToPhysicalPoint((0, 0, k))[2] for k in range(len(arr))])
    order_o, order_p = np.argsort(ours_z, kind="stable"), np.argsort(peer_z, kind="stable")
    z_gap = float(np.abs(ours_z[order_o] - peer_z[order_p]).max())
    max_diff, peak = 0.0, 1.0
    for i, j in zip(order_o, order_p, strict=True):
        real = to_real(vol[i], stack.frames[i].header).astype(np.float64)
        max_diff = max(max_diff, float(np.abs(real - arr[j]).max()))
        peak = max(peak, float(np.abs(real).max()))
    ok = max_diff <= 1e-3 * peak and z_gap < 1e-3
    return (f"{'OK' if ok else 'MISMATCH'}: max |HU difference| {max_diff:g}, "
            f"max z difference {z_gap:g} mm ({len(arr)} slices)")


# ----------------------------------------------------------------------------- plain series


def bench_series(series: Path, repeat: int) -> dict:
    """The side-by-side table for the series as stored; returns our stored volume and stack."""
    import numpy as np

    from viewer.dicom.scan import scan_folder

    warm_page_cache(series)
    stack = main_stack(scan_folder(series))
    h = stack.first
    itemsize = np.dtype(np.uint16).itemsize
    raw = stack.n_frames * h.rows * h.columns * itemsize
    print(f"series: {series}")
    print(f"  {stack.n_frames} slices x {h.rows} x {h.columns}, {h.transfer_syntax} "
          f"({stack.n_files} files)")
    print(f"raw pixel bytes: {stack.n_frames} x {h.rows} x {h.columns} x {itemsize} = "
          f"{raw:,} B ({raw / MIB:.1f} MiB)")
    print(f"repeat: {repeat} (medians); CPUs: {os.cpu_count()}; python {sys.version.split()[0]}")

    # In-process: one untimed pass for the imports, then ``repeat`` timed passes.
    for key in TASKS:
        run_in_process(TASKS[key], series)
    inproc: dict[tuple[str, str], list[tuple[float, int | None]]] = {k: [] for k in TASKS}
    last: dict[tuple[str, str], dict] = {}
    for _ in range(repeat):
        for key in TASKS:
            last.pop(key, None)  # free the previous run's volume before the next run
            seconds, rise, ns = run_in_process(TASKS[key], series)
            inproc[key].append((seconds, rise))
            last[key] = ns

    # Whole process: ours and SimpleITK alternate so each repeat is a fair pair.
    whole: dict[tuple[str, str], list[tuple[float, int, int]]] = {k: [] for k in TASKS}
    baseline: list[int] = []
    for _ in range(repeat):
        baseline.append(run_child(BASELINE, series)[1])
        for key in TASKS:
            whole[key].append(run_child(TASKS[key], series))
    base_kib = median(baseline)
    print(f"interpreter baseline RSS: {fmt_mib(base_kib)} "
          "(python + numpy + pydicom + viewer modules)")
    print()

    rows = []
    for measure in MEASURES:
        for peer in PEERS:
            ip, wp = inproc[(measure, peer)], whole[(measure, peer)]
            rises = [r for _, r in ip if r is not None]
            rows.append([
                measure if peer == "ours" else "", peer,
                fmt_s(median([t for t, _ in ip])),
                fmt_mib(median(rises) if rises else None, "+"),
                fmt_s(median([t for t, _, _ in wp])),
                fmt_mib(median([s for _, s, _ in wp])),
                fmt_mib(median([c for _, _, c in wp])),
            ])
    print_table(["measure", "peer", "in-process", "peak RSS +", "whole process", "peak RSS",
                 "children RSS"], rows)
    print()

    ours_vol = "full volume", "ours"
    sitk_vol = "full volume", "SimpleITK"
    print("volume check (ours vs SimpleITK):", compare_volumes(last[ours_vol], last[sitk_vol]))
    slice_a = last["first slice", "ours"]["image"]
    slice_b = last["first slice", "SimpleITK"]["image"]
    diff = int(np.abs(slice_a.astype(np.int16) - slice_b).max())
    print(f"first-slice check (8-bit images): {'OK' if diff <= 1 else 'MISMATCH'}, "
          f"max difference {diff}")
    print()

    first_in = median([t for t, _ in inproc["first slice", "ours"]])
    first_whole = median([t for t, _, _ in whole["first slice", "ours"]])
    pairs = [o[0] / s[0] for o, s in zip(whole[ours_vol], whole[sitk_vol], strict=True)]
    vol_ratio = median(pairs)
    rss = median([s + c for _, s, c in whole[ours_vol]])
    rss_limit = 1.4 * raw / 1024 + base_kib
    print("targets")
    print_table(["figure", "value", "target", "status"], left=1, rows=[
        target_line("first slice, in-process", fmt_s(first_in), "<= 0.250 s", first_in <= 0.25),
        target_line("first slice, whole process", fmt_s(first_whole), "<= 1.000 s",
                    first_whole <= 1.0),
        target_line("full volume, whole process: ours / SimpleITK", f"{vol_ratio:.3f}",
                    "<= 0.75", vol_ratio <= 0.75),
        target_line("peak RSS, full volume, ours (self + children)", fmt_mib(rss),
                    f"<= 1.4 x {raw / MIB:.1f} + {base_kib / 1024:.1f} = {fmt_mib(rss_limit)}",
                    rss <= rss_limit),
    ])
    print(f"  (paired full-volume ratios: {', '.join(f'{r:.2f}' for r in pairs)})")
    return {"stack": stack, "volume": last[ours_vol]["volume"].copy()}


# ----------------------------------------------------------------------------- compressed


def _syntaxes():
    from pydicom import uid

    # name, transfer syntax, encoding plugins in order of preference
    return [
        ("jpeg-ls", uid.JPEGLSLossless, ("pyjpegls",)),
        ("rle", uid.RLELossless, ("pylibjpeg", "pydicom")),
        ("jpeg2000", uid.JPEG2000Lossless, ("pylibjpeg",)),
    ]


def _compress_file(job: tuple[str, str, str, str]) -> None:
    """Write a compressed copy of one file (runs in an encoder process)."""
    import pydicom

    src, dst, ts, plugin = job
    ds = pydicom.dcmread(src)
    ds.compress(ts, encoding_plugin=plugin)
    ds.save_as(dst, enforce_file_format=True)


def compressed_copies(files: list[str], name: str, ts: str, plugins: tuple[str, ...]):
    """Folder of compressed copies of ``files``: (folder, plugin, encoding seconds or None)."""
    from pydicom.pixels import get_encoder

    have = get_encoder(ts).available_plugins
    plugin = next((p for p in plugins if p in have), None)
    if plugin is None:
        raise SystemExit(f"no encoder for {name}: install one of {plugins}")
    digest = hashlib.sha256()
    for f in files:
        st = os.stat(f)
        digest.update(f"{os.path.realpath(f)}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    key = {"source": digest.hexdigest(), "transfer_syntax": ts, "plugin": plugin}
    dest, stamp = CACHE_ROOT / name, CACHE_ROOT / f"{name}.json"
    if dest.is_dir() and stamp.is_file() and json.loads(stamp.read_text()) == key:
        return dest, plugin, None
    CACHE_ROOT.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=CACHE_ROOT, prefix=f".{name}-") as tmp:
        out = Path(tmp) / name
        out.mkdir()
        jobs = [(f, str(out / f"{i:06d}.dcm"), ts, plugin) for i, f in enumerate(files)]
        # spawn: leaves the forkserver that viewer.dicom.pixels uses untouched until first used.
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(os.cpu_count() or 2, mp_context=ctx) as pool:
            list(pool.map(_compress_file, jobs, chunksize=8))
        stamp.unlink(missing_ok=True)
        shutil.rmtree(dest, ignore_errors=True)
        os.replace(out, dest)
    stamp.write_text(json.dumps(key))
    return dest, plugin, time.perf_counter() - t0


def _init_decoder(plugin: str, sample: str) -> None:
    from pydicom.pixels import pixel_array

    pixel_array(sample, decoding_plugin=plugin)


def _decode_files(job: tuple[list[str], str]) -> int:
    """Decode each file and drop the result (the decode floor sends nothing back)."""
    from pydicom.pixels import pixel_array

    paths, plugin = job
    for p in paths:
        pixel_array(p, decoding_plugin=plugin)
    return len(paths)


def bench_compressed(ref: dict, repeat: int, series: Path = DEFAULT_SERIES) -> None:
    import numpy as np
    import SimpleITK as sitk

    from viewer.dicom import codecs, pixels
    from viewer.dicom.scan import scan_folder

    files = list(dict.fromkeys(f.header.path for f in ref["stack"].frames))
    print()
    print("=" * 100)
    print(f"compressed copies ({len(files)} files each; cache: {CACHE_ROOT})")
    copies = []
    for name, ts, plugins in _syntaxes():
        folder, plugin, enc = compressed_copies(files, name, ts, plugins)
        size = sum(p.stat().st_size for p in folder.iterdir())
        how = "cached" if enc is None else f"encoded in {enc:.1f} s"
        print(f"  {name:9} {codecs.syntax_name(ts)}: {size / MIB:.1f} MiB, "
              f"encoder {plugin!r}, {how}")
        copies.append((name, ts, folder))

    print()

    rows, checks = [], []
    for name, ts, folder in copies:
        warm_page_cache(folder)
        paths = sorted(str(p) for p in folder.iterdir())
        plugin = codecs.available_plugins(ts)[0]

        scan_t, stack = [], None
        for _ in range(repeat):
            t0 = time.perf_counter()
            stack = main_stack(scan_folder(folder))
            scan_t.append(time.perf_counter() - t0)

        names = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder))
        sitk_t = []
        for _ in range(repeat):
            reader = sitk.ImageSeriesReader()
            reader.SetFileNames(names)
            t0 = time.perf_counter()
            sitk.GetArrayViewFromImage(reader.Execute())
            sitk_t.append(time.perf_counter() - t0)

        load_t, vol = [], None
        for _ in range(repeat):
            vol = None
            sp = pixels.StackPixels(stack, pixels.FrameCache())
            t0 = time.perf_counter()
            vol = sp.load_volume()
            load_t.append(time.perf_counter() - t0)
        same = vol.shape == ref["volume"].shape and np.array_equal(vol, ref["volume"])
        checks.append(f"  {name:9} ours == native stored values: {'OK' if same else 'MISMATCH'}")

        _decode_files(([paths[0]], plugin))
        codec_t = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            _decode_files((paths, plugin))
            codec_t.append(time.perf_counter() - t0)

        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(2, initializer=_init_decoder, initargs=(plugin, paths[0])) as pool:
            halves = [(paths[0::2], plugin), (paths[1::2], plugin)]
            pool.map(_decode_files, halves, chunksize=1)  # untimed: both workers ready
            floor_t = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                pool.map(_decode_files, halves, chunksize=1)
                floor_t.append(time.perf_counter() - t0)

        slice_in = [run_in_process(TASKS["first slice", "ours"], folder)[0]
                    for _ in range(repeat)]
        slice_whole = [run_child(TASKS["first slice", "ours"], folder)[0] for _ in range(repeat)]

        sitk_m, load_m, codec_m, floor_m = map(median, (sitk_t, load_t, codec_t, floor_t))
        rows.append([name, plugin, fmt_s(median(scan_t)), fmt_s(sitk_m), fmt_s(load_m),
                     fmt_s(load_t[0]), fmt_s(codec_m), fmt_s(floor_m),
                     fmt_s(median(slice_in)), fmt_s(median(slice_whole))])
    print_table(["syntax", "decoder", "our scan", "SimpleITK", "ours load", "(first)",
                 "codec 1-proc", "2-proc floor", "1st slice in", "1st slice whole"], rows)
    print()
    print("lossless check")
    print("\n".join(checks))
    print()
    print("targets: whole processes, paired (bench_compressed.py)")
    import bench_compressed

    bench_compressed.print_rows(bench_compressed.rows(series, repeat))


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("series_dir", nargs="?", type=Path, default=DEFAULT_SERIES)
    ap.add_argument("--compressed", action="store_true",
                    help="also time JPEG-LS, RLE and JPEG 2000 lossless copies")
    ap.add_argument("--repeat", type=int, default=3, help="runs per figure (median; default 3)")
    args = ap.parse_args(argv)
    series = args.series_dir.resolve()
    if not series.is_dir():
        raise SystemExit(f"{series}: no such folder")
    ref = bench_series(series, max(1, args.repeat))
    if args.compressed:
        bench_compressed(ref, max(1, args.repeat), series)


if __name__ == "__main__":
    main()
