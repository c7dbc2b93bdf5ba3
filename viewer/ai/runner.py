"""Run models with onnxruntime: the only module that imports it.

One session per model (keyed by id and weights checksum), created on first use and reused;
the CUDA execution provider when onnxruntime offers it, else the CPU with one thread per core.
2-D models run in batches over the slices; 3-D models get the stack resampled into their grid
with the stack's affine, and their labels are brought back onto the stack's voxels (nearest
neighbour). Cancel is cooperative: between batches, and during a long 3-D inference through
onnxruntime's ``RunOptions.terminate`` within a fraction of a second.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from viewer.ai import resample
from viewer.ai.labels import channel_labels
from viewer.ai.manifest import ModelManifest
from viewer.ai.preprocess import apply_intensity, resize_2d
from viewer.ai.registry import ModelEntry, applicability_warnings, check_applicable
from viewer.ai.resample import grid_affine, labels_to_stack, resample_to_grid, stack_center
from viewer.ai.result import AnalysisResult
from viewer.ai.rules import implausible, slices_in_range
from viewer.dicom import shm_volume
from viewer.errors import ModelError, OperationCancelled

log = logging.getLogger(__name__)
Progress = Callable[[int, int, str], None]

# radviewer makes no network connection and writes no telemetry. onnxruntime's Linux/macOS
# wheels (1.2x and later) carry Microsoft's 1DS telemetry: at import they write a device id and
# an event queue under ~/.cache/Microsoft/DeveloperTools/.onnxruntime and later upload to
# mobile.events.data.microsoft.com. ORT_DISABLE_TELEMETRY=1 turns all of it off, but only when
# set before onnxruntime is imported (it is read once, then latched), so it is set here, when
# the only module that imports onnxruntime is itself imported. Windows builds use ETW instead,
# which disable_telemetry_events() switches off (see _ort).
TELEMETRY_ENV = "ORT_DISABLE_TELEMETRY"
os.environ[TELEMETRY_ENV] = "1"


def _ort():
    try:
        import onnxruntime as ort
    except ImportError as exc:  # declared in pyproject; a broken install lands here
        raise ModelError("onnxruntime is not installed: pip install onnxruntime") from exc
    if hasattr(ort, "disable_telemetry_events"):  # cheap, and idempotent
        ort.disable_telemetry_events()
    return ort


def default_providers() -> list[str]:
    available = _ort().get_available_providers()
    if "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return (text[-1] if text else type(exc).__name__)[:300]


class Runner:
    """Creates sessions once, runs models on stacks, and caches results per (stack, model)."""

    def __init__(self, providers: list[str] | None = None, threads: int | None = None):
        self.providers = providers
        self.threads = threads or os.cpu_count() or 1
        self._sessions: dict[tuple[str, str], object] = {}
        self._results: dict[tuple[str, str, str], AnalysisResult] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ sessions

    def session(self, entry: ModelEntry):
        """The model's onnxruntime session (created on first use), its input checked against
        the manifest; raises :class:`ModelError` with the reason otherwise."""
        if entry.problem:
            raise ModelError(f"{entry.manifest.name}: {entry.problem}")
        m = entry.manifest
        key = (m.id, m.sha256)
        with self._lock:
            if key in self._sessions:
                return self._sessions[key]
            ort = _ort()
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = self.threads
            opts.log_severity_level = 3
            # No CPU arena: with it each cached session keeps its peak activations (about
            # 1 GB for the tissue MeshNet) after the run. Measured on the sample T1: analyze
            # peak 1.34 -> 0.91 GB, the window's Analyze test 2.41 -> 1.10 GB, same time.
            opts.enable_cpu_mem_arena = False
            providers = self.providers or default_providers()
            try:
                sess = ort.InferenceSession(str(entry.weights_path), sess_options=opts,
                                            providers=providers)
            except Exception as exc:
                raise ModelError(f"{entry.weights_path}: onnxruntime cannot load this model "
                                 f"({_short(exc)}); the file is damaged or uses an operator "
                                 f"this onnxruntime lacks — reinstall the model") from exc
            _check_io(sess, m, entry)
            self._sessions[key] = sess
            return sess

    def _timed_session(self, entry: ModelEntry):
        t = time.perf_counter()
        return self.session(entry), time.perf_counter() - t

    # ------------------------------------------------------------------ running

    def cached(self, stack_uid: str, entry: ModelEntry) -> AnalysisResult | None:
        return self._results.get((stack_uid, entry.id, entry.manifest.sha256))

    def forget(self, stack_uid: str, model_id: str | None = None) -> None:
        for key in [k for k in self._results if k[0] == stack_uid
                    and (model_id is None or k[1] == model_id)]:
            del self._results[key]

    def run(self, entry: ModelEntry, pixels, progress: Progress | None = None,
            cancel: threading.Event | None = None) -> AnalysisResult:
        """Run ``entry`` on the stack behind ``pixels`` (a StackPixels); cached per stack."""
        stack = pixels.stack
        check_applicable(entry, stack)
        hit = self.cached(stack.uid, entry)
        if hit is not None:
            return hit
        cancel = cancel or threading.Event()
        progress = progress or (lambda d, t, s: None)
        t0 = time.perf_counter()
        # The session is built on a thread while the volume is read (its ~0.05 s is mostly in
        # onnxruntime's C++; the reading waits on the decoder processes); a session that
        # cannot be built still stops the run, once the reading is done.
        with ThreadPoolExecutor(1, thread_name_prefix="session") as pool:
            built = pool.submit(self._timed_session, entry)
            progress(0, 100, "reading images")
            vol = pixels.load_volume(cancel=cancel)
            sess, t_session = built.result()
        if cancel.is_set():
            raise OperationCancelled("analysis cancelled")
        from viewer.dicom.pixels import to_real_volume

        m = entry.manifest
        heads = [f.header for f in stack.frames]
        # A 3-D model's volume going to the decoder processes for resampling is written
        # straight into shared memory, not copied there.
        shared = (shm_volume.allocate(vol.shape, np.float32)
                  if m.mode == "3d" and resample.processes_help() else None)
        if shared is not None:
            real = to_real_volume(vol, heads, out=shared.array)
        else:
            real = to_real_volume(vol, heads).astype(np.float32, copy=False)
        t_load = time.perf_counter() - t0  # the session's build overlaps it
        timings = {"session": t_session, "read": t_load}
        if m.mode == "2d":
            result = self._run_2d(entry, sess, real, stack, progress, cancel, timings)
        else:
            held = [(real, shared)]  # _run_3d lets go of it once resampled
            del real, shared
            result = self._run_3d(entry, sess, held, stack, progress, cancel, timings)
        result.timings_s["total"] = time.perf_counter() - t0
        self._results[(stack.uid, entry.id, m.sha256)] = result
        progress(100, 100, "done")
        log.info("model %s %s on stack %s: %s", m.id, m.version, stack.uid,
                 {k: round(v, 2) for k, v in result.timings_s.items()})
        return result

    def _base(self, entry: ModelEntry, sess, stack, timings) -> AnalysisResult:
        m = entry.manifest
        return AnalysisResult(
            model_id=m.id, model_name=m.name, model_version=m.version, sha256=m.sha256,
            task=m.task, mode=m.mode, series_uid=stack.series_uid, stack_uid=stack.uid,
            stack_label=stack.label, labels=m.labels, provider=sess.get_providers()[0],
            timings_s=timings, calibrated=m.rules.calibrated,
            flags=applicability_warnings(entry, stack),
            geometry_warnings=list(stack.warnings))

    def _run_2d(self, entry, sess, real, stack, progress, cancel, timings) -> AnalysisResult:
        m = entry.manifest
        n = real.shape[0]
        batch = 8
        scores = []
        t = time.perf_counter()
        for start in range(0, n, batch):
            if cancel.is_set():
                raise OperationCancelled("analysis cancelled")
            x = np.stack([_prepare_2d(real[k], m) for k in range(start, min(n, start + batch))])
            out = _run(sess, m, x)
            scores.append(_activate(out.reshape(out.shape[0], -1), m.activation))
            progress(5 + int(90 * min(n, start + batch) / n), 100,
                     f"slice {min(n, start + batch)} of {n}")
        timings["inference"] = time.perf_counter() - t
        slice_scores = np.concatenate(scores).astype(np.float32)
        if slice_scores.shape[1] != len(m.labels):
            raise ModelError(f"{m.name}: the model gives {slice_scores.shape[1]} scores, the "
                             f"manifest names {len(m.labels)} labels")
        res = self._base(entry, sess, stack, timings)
        res.slice_scores = slice_scores
        dom = m.rules.slice_domain
        inside = np.ones(n, bool) if dom is None else slices_in_range(real, dom)
        res.slice_in_range = inside
        if inside.any():
            means = slice_scores[inside].mean(axis=0)
            res.aggregate_rule = (f"mean of the {int(inside.sum())} of {n} slices inside the "
                                  f"model's range" + (f" ({dom.text})" if dom else ""))
        else:
            means = slice_scores.mean(axis=0)
            res.aggregate_rule = f"mean of all {n} slices"
            res.flags.append("no slice is inside the model's range: the series scores mean "
                             "nothing")
        res.series_scores = {lab.name: float(means[i]) for i, lab in enumerate(m.labels)}
        if dom is not None and not inside.all():
            res.notes.append(f"{int((~inside).sum())} slice(s) outside the model's range "
                             f"(skull base, vertex) are shown but left out of the series "
                             f"scores.")
        if not m.rules.calibrated:
            res.notes.append("Scores are the network's outputs, not calibrated probabilities.")
        return res

    def _run_3d(self, entry, sess, held: list, stack, progress, cancel,
                timings) -> AnalysisResult:
        """``held``: [(the stack's real values, float32; the SharedVolume they are in, or
        None)], emptied here, so that the volume is freed once resampled and not held
        through the inference (the memory peak)."""
        m = entry.manifest
        grid = m.grid
        t = time.perf_counter()
        real, shared = held.pop()
        shape = real.shape
        g_aff = grid_affine(grid, stack_center(stack.affine, shape))
        pos = stack.slice_positions  # each slice's own position: gap-aware
        # Straight into the network's axis order ([i, j, k] or [k, j, i]), then normalised in
        # place: the one full-size float32 array until the output.
        value_range: list = []  # the grid's [min, max], found plane by plane
        x = resample_to_grid(real, stack.affine, g_aff, grid.shape, cancel=cancel.is_set,
                             slice_mm=pos, ijk=grid.array_axes == "ijk", threads=self.threads,
                             processes=True, shared=shared, value_range=value_range)
        del real, shared
        x = apply_intensity(x, m.intensity, inplace=True, value_range=value_range or None)
        x = x[None, None] if m.layout == "NCDHW" else x[None, ..., None]
        timings["resample"] = time.perf_counter() - t
        progress(20, 100, "running the model")
        t = time.perf_counter()
        out = _run(sess, m, x, cancel)
        del x
        timings["inference"] = time.perf_counter() - t
        progress(85, 100, "mapping labels back")
        t = time.perf_counter()
        # Output channels are listed in the manifest's label order.
        values = np.array([lab.value for lab in m.labels], dtype=np.uint8)
        logits = out[0] if m.layout == "NCDHW" else np.moveaxis(out[0], -1, 0)
        # In shared memory where the decoder processes map the labels back onto the stack.
        shared = (shm_volume.allocate(logits.shape[1:], np.uint8)
                  if resample.processes_help() else None)
        labels = channel_labels(logits, values, threads=self.threads,
                                out=None if shared is None else shared.array)
        del out, logits
        if grid.array_axes == "ijk":
            labels = labels.transpose(2, 1, 0)  # a view: labels_to_stack gathers through it
        counts = np.zeros(256, np.int64)
        on_stack = labels_to_stack(labels, g_aff, stack.affine, shape, slice_mm=pos,
                                   threads=self.threads, counts=counts, processes=True,
                                   shared=shared)
        del shared
        timings["map_back"] = time.perf_counter() - t
        res = self._base(entry, sess, stack, timings)
        res.label_volume = on_stack
        voxel_ml = float(np.prod(stack.spacing)) / 1000.0
        res.label_volumes_ml = {lab.name: float(counts[lab.value] * voxel_ml)
                                for lab in m.labels if lab.value != 0}
        res.flags += implausible(m.rules, res.label_volumes_ml)
        res.notes.append(f"Volumes count the labelled voxels of the series ({stack.spacing[0]:.2f}"
                         f" x {stack.spacing[1]:.2f} x {stack.spacing[2]:.2f} mm).")
        return res


def _check_io(sess, m: ModelManifest, entry: ModelEntry) -> None:
    inputs = sess.get_inputs()
    names = [i.name for i in inputs]
    if m.input_name not in names:
        raise ModelError(f"{entry.weights_path}: no input named {m.input_name!r} (the model has "
                         f"{', '.join(names)}); fix input.name in the manifest")
    shape = next(i.shape for i in inputs if i.name == m.input_name)
    if len(shape) != len(m.layout):
        raise ModelError(f"{entry.weights_path}: wrong input rank: the model takes rank "
                         f"{len(shape)} input {shape}, the manifest says {m.layout} "
                         f"(rank {len(m.layout)})")
    ch = shape[m.layout.index("C")]
    if isinstance(ch, int) and ch != m.channels:
        raise ModelError(f"{entry.weights_path}: the model takes {ch} channel(s), the manifest "
                         f"says {m.channels}")
    _check_spatial(shape, m, entry)
    outputs = sess.get_outputs()
    outs = [o.name for o in outputs]
    if m.output_name and m.output_name not in outs:
        raise ModelError(f"{entry.weights_path}: no output named {m.output_name!r} (the model "
                         f"has {', '.join(outs)})")
    out = next(o for o in outputs if o.name == m.output_name) if m.output_name else outputs[0]
    _check_output(list(out.shape or []), m, entry)


def _check_spatial(shape: list, m: ModelManifest, entry: ModelEntry) -> None:
    """The input's fixed spatial sizes (symbolic ones are not checked) against the manifest's
    2-D ``size`` or 3-D ``grid`` in tensor order."""
    axes = m.layout.replace("N", "").replace("C", "")
    sizes = [shape[m.layout.index(a)] for a in axes]
    if m.mode == "2d":
        want = list(m.size)
    else:
        want = list(m.grid.shape if m.grid.array_axes == "ijk" else m.grid.shape[::-1])
    if any(isinstance(s, int) and s > 0 and s != w for s, w in zip(sizes, want, strict=True)):
        raise ModelError(f"{entry.weights_path}: the model takes {axes} {sizes}, the manifest "
                         f"gives {want}; fix input.{'size' if m.mode == '2d' else 'grid'} in the "
                         f"manifest")


def _check_output(shape: list, m: ModelManifest, entry: ModelEntry) -> None:
    """One output channel (3-D) or score (2-D) per manifest label, where the graph says."""
    n = len(m.labels)
    if m.mode == "3d":
        if shape and len(shape) != 5:
            raise ModelError(f"{entry.weights_path}: the model's output has rank {len(shape)} "
                             f"{shape}; a 3-D segmentation model gives (1, C, D, H, W) or "
                             f"(1, D, H, W, C)")
        ch = shape[1 if m.layout == "NCDHW" else -1] if shape else None
    else:
        rest = shape[1:]
        ch = math.prod(rest) if rest and all(isinstance(v, int) and v > 0 for v in rest) \
            else None
    if isinstance(ch, int) and ch > 0 and ch != n:
        raise ModelError(f"{entry.weights_path}: the model gives {ch} output "
                         f"{'channels' if m.mode == '3d' else 'scores'}, the manifest names {n} "
                         f"labels; give output.labels one entry per channel")


def _prepare_2d(img: np.ndarray, m: ModelManifest) -> np.ndarray:
    x = apply_intensity(img, m.intensity)
    x = resize_2d(x, m.size, m.resize)
    if m.channels == 3:
        x = np.repeat(x[..., None], 3, axis=-1)  # grey -> RGB
    else:
        x = x[..., None]
    return x if m.layout == "NHWC" else np.moveaxis(x, -1, 0)


def _activate(x: np.ndarray, activation: str) -> np.ndarray:
    if activation == "softmax":
        e = np.exp(x - x.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    if activation == "sigmoid":
        return 1 / (1 + np.exp(-x))
    return x


def _run(sess, m: ModelManifest, x: np.ndarray, cancel: threading.Event | None = None):
    ort = _ort()
    opts = ort.RunOptions()
    done = threading.Event()

    def watch():  # onnxruntime stops a running session when asked through RunOptions
        while not done.wait(0.1):
            if cancel is not None and cancel.is_set():
                opts.terminate = True
                return

    watcher = threading.Thread(target=watch, daemon=True) if cancel is not None else None
    if watcher is not None:
        watcher.start()
    try:
        out_names = [m.output_name] if m.output_name else None
        return sess.run(out_names, {m.input_name: np.ascontiguousarray(x, np.float32)}, opts)[0]
    except Exception as exc:
        if cancel is not None and cancel.is_set():
            raise OperationCancelled("analysis cancelled") from exc
        raise ModelError(f"{m.name}: inference failed ({_short(exc)})") from exc
    finally:
        done.set()
