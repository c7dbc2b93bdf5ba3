"""Issue 18's analysis rows, each a paired ratio measured in one run (a benchmark: prints,
asserts nothing; pytest does not collect it).

    python tests/benchmarks/bench_analyze.py [--models tissue,structures] [--repeat 2]
                                             [--no-profile] [--profile-crop N]

``--repeat 0`` prints the Conv profile alone.

Rows (``rows()`` returns them as dicts {what, now, anchor, ratio, goal, met} for
bench_issue18.py):

analyze end to end
    ``python -m viewer.cli analyze --sample --model M --out TMP --quiet`` as a whole process
    (start-up, scan, read, resample, inference, labels mapped back, outputs written) against a
    bare onnxruntime process: import onnxruntime, the runner's session options, the same input
    tensor (the runner's own resampled T1, saved once as .npy), one run. Interleaved pairs
    (analyze first, then bare, then the next pair); the ratio is the median of the pairs' ratios.
    Peak memory is each process's own maximum RSS (VmHWM, printed by the child as it exits),
    so no other model or comparison inflates it.
MeshNet Conv3d kernels
    onnxruntime's own profiler over one run of the model on that input (or its centre N^3 with
    --profile-crop N): each Conv node's time and FLOPs (2 * Cin * prod(kernel) * Cout * voxels
    + bias) as GFLOP/s, against the peak of onnxruntime's MatMul (MLAS, 2048^2 float32, all
    cores) measured just before and after (best of both). Printed per node (dilation,
    Cin -> Cout, and the rate its GEMM streams the im2col operand, K = Cin * 27 rows by voxels,
    against the memory bandwidth), then the median over the 3x3x3 convolutions.

Load average is printed with every figure: the machine may be shared. The profile reads the
graph with ``onnx`` (the ``convert`` extra).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ["ORT_DISABLE_TELEMETRY"] = "1"  # read once, at onnxruntime's import
HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path[:0] = [str(REPO), str(HERE)]
ALIASES = {"tissue": "brainchop-tissue", "structures": "brainchop-structures",
           "mindgrab": "brainchop-mindgrab"}
GOALS = {"brainchop-tissue": (1.15, None), "brainchop-structures": (1.10, 3.0)}  # ratio, GB
GB = 1e9  # the goal's unit: decimal gigabytes (GiB printed beside)
CONV_GOAL = 0.5  # of the MLAS matmul peak
SHORT_RUN_PAIRS = {"brainchop-tissue": 4}  # pairs per repeat for a model that runs in seconds

# The bare onnxruntime process: nothing of radviewer imported.
BARE = """
import os, sys, time
os.environ["ORT_DISABLE_TELEMETRY"] = "1"
import numpy as np, onnxruntime as ort
so = ort.SessionOptions()
so.intra_op_num_threads = os.cpu_count() or 1
so.log_severity_level = 3
so.enable_cpu_mem_arena = False  # as viewer.ai.runner
prof = len(sys.argv) > 3
if prof:
    so.enable_profiling = True
    so.profile_file_prefix = sys.argv[3]
sess = ort.InferenceSession(sys.argv[1], so, providers=["CPUExecutionProvider"])
x = np.load(sys.argv[2])
t = time.perf_counter()
sess.run(None, {sess.get_inputs()[0].name: x})
print(time.perf_counter() - t)
if prof:
    print(sess.end_profiling())
"""


def load() -> str:
    return ", ".join(f"{v:.1f}" for v in os.getloadavg())


def timed(cmd: list[str]) -> tuple[float, str]:
    """Wall seconds and stdout of one child process."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO,
                         env={**os.environ, "QT_QPA_PLATFORM": "offscreen"}, text=True)
    out, err = p.communicate()
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"{cmd[:4]} failed ({p.returncode}): {err.strip()[-500:]}")
    return wall, out


def model_input(entry) -> Path:
    """The runner's own input tensor for ``entry`` on the sample T1, saved as .npy."""
    import numpy as np
    from bench_models import model_input_3d

    from viewer.dicom.pixels import StackPixels, to_real_volume
    from viewer.dicom.scan import scan_folder
    from viewer.paths import sample_study_dir

    stack = scan_folder(str(sample_study_dir())).stacks()[0]
    vol = StackPixels(stack).load_volume()
    real = to_real_volume(vol, [f.header for f in stack.frames])
    path = Path(tempfile.mkdtemp(prefix="bench18-")) / f"{entry.id}.npy"
    np.save(path, model_input_3d(entry, real, stack))
    return path


def analyze_cmd(model_id: str, out: Path) -> list[str]:
    return [sys.executable, "-c", PEAK_WRAP, "-m", "viewer.cli", "analyze", "--sample",
            "--model", model_id, "--out", str(out), "--quiet", "--overwrite"]


# Runs a module as __main__ and prints its own peak RSS last (VmHWM), so each child's peak
# is its own whatever ran before it.
PEAK_WRAP = """
import runpy, sys, atexit
def peak():
    for ln in open('/proc/self/status'):
        if ln.startswith('VmHWM:'):
            print('PEAK_KB', ln.split()[1], flush=True)
atexit.register(peak)
sys.argv = sys.argv[2:]
try:
    runpy.run_module(sys.argv[0], run_name='__main__', alter_sys=True)
except SystemExit as e:
    if e.code not in (0, 3, None):
        raise
"""


def gb(x: float) -> str:
    return f"{x:.2f} GB = {x * GB / 2**30:.2f} GiB"


def peak_of(stdout: str) -> float:
    """The child's peak RSS in GB, from the PEAK_KB line it printed as it exited."""
    kb = [int(ln.split()[1]) for ln in stdout.splitlines() if ln.startswith("PEAK_KB")]
    return kb[-1] * 1024 / GB if kb else float("nan")  # VmHWM is in KiB


def analyze_pairs(entry, x_path: Path, repeat: int) -> dict:
    out = x_path.parent / "out"
    pairs = []
    for k in range(repeat):
        wall_a, so = timed(analyze_cmd(entry.id, out))
        peak_a = peak_of(so)
        steps = json.loads((out / "report.json").read_text()).get("timings_s", {})
        print("   analyze's own steps: " + ", ".join(f"{k} {v:.2f}" for k, v in steps.items())
              + f" s; the rest of its {wall_a:.2f} s: start-up, scan, outputs", flush=True)
        bare = [sys.executable, "-c", PEAK_WRAP_BARE, str(entry.weights_path), str(x_path)]
        wall_b, sb = timed(bare)
        pairs.append({"analyze": wall_a, "bare": wall_b, "peak_analyze": peak_a,
                      "peak_bare": peak_of(sb), "load": load()})
        # Each process less its own inference: what analyze adds, apart from the run's noise
        # (other work on a shared machine moves the inference most).
        rest_b = wall_b - float(sb.split()[0])
        print(f"   pair {k + 1}: analyze {wall_a:.2f} s ({gb(peak_a)}), bare onnxruntime "
              f"{wall_b:.2f} s ({gb(pairs[-1]['peak_bare'])}), ratio {wall_a / wall_b:.3f}; "
              f"less their inference: analyze {wall_a - steps.get('inference', 0):.2f} s, "
              f"bare {rest_b:.2f} s; load {pairs[-1]['load']}", flush=True)
    return {"pairs": pairs,
            "ratio": statistics.median(p["analyze"] / p["bare"] for p in pairs),
            "peak": max(p["peak_analyze"] for p in pairs),
            "peak_bare": max(p["peak_bare"] for p in pairs)}


PEAK_WRAP_BARE = BARE + """
for ln in open('/proc/self/status'):
    if ln.startswith('VmHWM:'):
        print('PEAK_KB', ln.split()[1], flush=True)
"""


def conv_profile(entry, x_path: Path, crop: int = 0) -> dict:
    """Per-Conv time (onnxruntime's profiler, one run) and GFLOP/s against the MLAS matmul
    peak, and the rate at which each GEMM streams its im2col operand against the memory
    bandwidth, both measured here before and after (best of the two). ``crop``: run on the
    centre ``crop``^3 of the input (the graph's spatial sizes made symbolic) to save time."""
    import numpy as np
    import onnx
    from bench_models import machine_limits
    from onnx import helper

    model = onnx.load(str(entry.weights_path))
    dil = {n.name: list(helper.get_attribute_value(a) for a in n.attribute
                        if a.name == "dilations")[0][0]
           for n in model.graph.node if n.op_type == "Conv"}
    if crop:
        for vi in [*model.graph.input, *model.graph.output]:
            for d in vi.type.tensor_type.shape.dim[2:]:
                d.ClearField("dim_value")
                d.dim_param = "s"
        x = np.load(x_path)
        lo = [(n - crop) // 2 for n in x.shape[2:]]
        x = np.ascontiguousarray(x[:, :, lo[0]:lo[0] + crop, lo[1]:lo[1] + crop,
                                   lo[2]:lo[2] + crop])
        x_path = x_path.with_name(f"crop{crop}-{x_path.name}")
        np.save(x_path, x)
    onnx_path = x_path.with_name(f"{entry.id}-profiled.onnx")
    onnx.save(model, onnx_path)
    before = machine_limits(False)
    prefix = str(x_path.parent / f"prof-{entry.id}")
    _, so = timed([sys.executable, "-c", BARE, str(onnx_path), str(x_path), prefix])
    after = machine_limits(False)
    peak = max(before["detail"]["matmul onnxruntime"], after["detail"]["matmul onnxruntime"])
    bw = max(before["bw"], after["bw"])
    events = json.loads(Path(so.strip().splitlines()[-1]).read_text())
    rows = []
    for ev in events:
        args, name = ev.get("args", {}), ev.get("name", "")
        if ev.get("cat") != "Node" or not name.endswith("_kernel_time") \
                or args.get("op_name") not in ("Conv", "FusedConv"):
            continue
        w = next(iter(args["input_type_shape"][1].values()))  # (Cout, Cin, k, k, k)
        out = next(iter(args["output_type_shape"][0].values()))
        voxels = int(np.prod(out[2:]))
        k3 = int(np.prod(w[2:]))
        flops = 2 * w[1] * k3 * w[0] * voxels + w[0] * voxels  # + bias
        secs = ev["dur"] / 1e6
        rows.append({"node": name.removesuffix("_kernel_time"), "op": args["op_name"],
                     "k": w[2], "dilation": dil.get(name.removesuffix("_kernel_time"), 1),
                     "cin": w[1], "cout": w[0], "s": secs, "gflops": flops / secs / 1e9,
                     "of_peak": flops / secs / 1e9 / peak,
                     # the GEMM's B operand (K = Cin * k^3 rows by voxels), streamed once
                     "b_gbs": 4 * w[1] * k3 * voxels / secs / 1e9})
    big = [r for r in rows if r["k"] > 1]  # the 3x3x3 convolutions: nearly all the FLOPs
    by_op: dict[str, float] = {}  # every node's time by operator (the activations unfused)
    for ev in events:
        if ev.get("cat") == "Node" and ev.get("name", "").endswith("_kernel_time"):
            op = ev.get("args", {}).get("op_name", "?")
            by_op[op] = by_op.get(op, 0.0) + ev["dur"] / 1e6
    return {"peak": peak, "bw": bw, "convs": rows, "crop": crop, "by_op": by_op,
            "median_of_peak": statistics.median(r["of_peak"] for r in big) if big else None}


def conv_rows(entry, x_path: Path, profile_crop: int, verbose: bool) -> list[dict]:
    """The Conv-kernel row of ``entry`` from one profiled run (see conv_profile)."""
    out: list[dict] = []
    p = conv_profile(entry, x_path, profile_crop)
    if verbose:
        print(f"   Conv nodes{f' (centre {profile_crop}^3 crop)' if profile_crop else ''}"
              f": MLAS matmul peak {p['peak']:.1f} GFLOP/s, memory {p['bw']:.1f} GB/s; "
              f"load {load()}")
        for c in p["convs"]:
            print(f"     {c['node']:<24} {c['op']:<9} k{c['k']} d{c['dilation']:<2} "
                  f"{c['cin']:>2}->{c['cout']:<2} {c['s']:7.3f} s {c['gflops']:6.1f} "
                  f"GFLOP/s {c['of_peak']:.2f} of peak; im2col operand "
                  f"{c['b_gbs']:5.1f} GB/s", flush=True)
        total = sum(p["by_op"].values())
        print("   time by operator: " + ", ".join(
            f"{op} {t:.2f} s ({t / total:.0%})" for op, t in
            sorted(p["by_op"].items(), key=lambda kv: -kv[1])), flush=True)
    n_big = sum(c["k"] > 1 for c in p["convs"])
    out.append({
        "what": f"{entry.id} Conv3d kernels (median of {n_big} 3x3x3 Conv nodes)",
        "now": f"{p['median_of_peak'] * p['peak']:.1f} GFLOP/s",
        "anchor": f"onnxruntime MatMul peak {p['peak']:.1f} GFLOP/s",
        "ratio": round(p["median_of_peak"], 3), "goal": f">= {CONV_GOAL} of peak",
        "met": p["median_of_peak"] >= CONV_GOAL, "load": load()})
    return out


def rows(models=("tissue", "structures"), repeat: int = 2, profile: bool = True,
         verbose: bool = True, profile_crop: int = 0) -> list[dict]:
    """Issue 18's analysis rows for bench_issue18.py: dicts {what, now, anchor, ratio, goal,
    met}, measured now (minutes: whole analyze runs of each model)."""
    from viewer.ai.registry import discover

    entries = {e.id: e for e in discover()}
    out: list[dict] = []
    for name in models:
        entry = entries[ALIASES.get(name, name)]
        if verbose:
            print(f"\n== {entry.id}: "
                  f"{'analyze end to end vs bare onnxruntime' if repeat else 'Conv profile'} "
                  f"(load {load()})", flush=True)
        x_path = model_input(entry)
        try:
            if repeat < 1:  # the profile alone
                out.extend(conv_rows(entry, x_path, profile_crop, verbose) if profile else [])
                continue
            # A short run's ratio moves with the machine's noise (the inference alone varies by
            # +-5 % from run to run here): four times the pairs for a model under ~10 s.
            r = analyze_pairs(entry, x_path, repeat * SHORT_RUN_PAIRS.get(entry.id, 1))
            goal_ratio, goal_gb = GOALS.get(entry.id, (1.15, None))
            met = r["ratio"] <= goal_ratio and (goal_gb is None or r["peak"] <= goal_gb)
            pairs = r["pairs"]
            bare_s = statistics.median(p["bare"] for p in pairs)
            out.append({
                "what": f"analyze {entry.id} end to end (whole process; median of "
                        f"{len(pairs)} pairs, "
                        f"{min(p['analyze'] / p['bare'] for p in pairs):.2f}-"
                        f"{max(p['analyze'] / p['bare'] for p in pairs):.2f})",
                "now": f"{statistics.median(p['analyze'] for p in pairs):.2f} s, peak "
                       f"{gb(r['peak'])}",
                "anchor": f"bare onnxruntime process {bare_s:.2f} s, peak "
                          f"{gb(r['peak_bare'])}",
                "ratio": round(r["ratio"], 3),
                "goal": f"<= {goal_ratio}x" + (f", <= {goal_gb} GB" if goal_gb else ""),
                "met": met, "load": pairs[-1]["load"]})
            if profile:
                out.extend(conv_rows(entry, x_path, profile_crop, verbose))
        finally:  # the input tensor, profile and analyze outputs (~0.1 GB)
            shutil.rmtree(x_path.parent, ignore_errors=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="tissue,structures")
    ap.add_argument("--repeat", type=int, default=2,
                    help="interleaved pairs per model (0: only the Conv profile)")
    ap.add_argument("--no-profile", action="store_true", help="skip the per-Conv profile")
    ap.add_argument("--profile-crop", type=int, default=0,
                    help="profile on the centre N^3 of the input (0: the whole input)")
    args = ap.parse_args()
    print(f"{os.cpu_count()} cores; load average at start {load()}")
    res = rows(tuple(m for m in args.models.split(",") if m), max(0, args.repeat),
               not args.no_profile, profile_crop=args.profile_crop)
    print()
    from bench_models import print_table

    print_table(["what", "now", "anchor", "ratio", "goal", "", "load"],
                [[r["what"], r["now"], r["anchor"], f"{r['ratio']:.3f}", r["goal"],
                  "met" if r["met"] else "NOT MET", r["load"]] for r in res])


if __name__ == "__main__":
    main()
