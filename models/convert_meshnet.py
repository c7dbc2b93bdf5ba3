#!/usr/bin/env python3
"""Convert brainchop MeshNet brain-MRI segmentation networks to ONNX, reproducibly.

Source: ``../shared/models-src/brainchop-meshnet`` (MIT, neuroneural/brainchop-models and
neuroneural/brainchop; Masoud, Plis et al., "Brainchop: in-browser MRI volumetric segmentation
and rendering"). For each network this script

1. rebuilds the network in torch from its layer config (``model.json``, or ``layers.json`` for
   mindgrab), with module names that match the checkpoint's keys;
2. loads the weights strictly (every key consumed, every shape equal);
3. exports ONNX (fixed 1x1x256x256x256 input named ``input``, output ``logits``; the batch axis
   may be dynamic), runs ``onnx.checker`` and writes ``<out>/<id>/model.onnx``;
4. writes ``<out>/<id>/manifest.json`` (schema ``radviewer.model/1``) and copies the MIT LICENSE.

The model cards (MODEL_CARD.md) hold measured figures and are written by hand from
``--measure`` output (see below), so a re-run of the conversion never overwrites them.

Conversion-time tools only: torch, safetensors, onnx (and onnxruntime, nibabel for
``--measure``). The app itself never imports torch: it runs the ONNX file.

Usage (from the repository root)::

    python models/convert_meshnet.py                    # convert all three
    python models/convert_meshnet.py --only brainchop-tissue
    python models/convert_meshnet.py --measure          # convert, then compare torch/ONNX

The input array is the conformed NIfTI volume (uint8, 256^3, 1 mm, LIA) indexed [i, j, k]: the
array nibabel returns, axis 0 running towards Left, axis 1 towards Inferior, axis 2 towards
Anterior. NOT the file's raw C-order buffer reshaped to (256, 256, 256), which is [k, j, i]:
measured on t1_crop.nii.gz, the 17-structure network finds no deep grey nuclei at all in that
order, and the tissue network is less clean. See ``reference_input`` and the model cards.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import time
import warnings
import zipfile
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# No telemetry from onnxruntime (read once, at its import; see viewer/ai/runner.py).
os.environ["ORT_DISABLE_TELEMETRY"] = "1"

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SRC = REPO.parent / "shared" / "models-src" / "brainchop-meshnet"
DEFAULT_OUT = REPO / "models"

SCHEMA = "radviewer.model/1"
OPSET = 17
GRID = (256, 256, 256)
# The intensity transform validated on t1_crop.nii.gz (see the model cards): min-max to [0, 1]
# over the whole conformed volume. Clipping at the 2nd/98th percentiles first was also tried:
# about the same for the structures and mindgrab networks, a little worse for the tissue network
# (on that volume the 98th percentile, 127, is about the white-matter mean, so the clip
# flattens white matter; agreement with the structures network 77.8 % vs 80.3 %).
INTENSITY = [{"op": "minmax"}]

CITATION = (
    "Masoud M, Hu F, Plis S. Brainchop: in-browser MRI volumetric segmentation and rendering. "
    "Journal of Open Source Software 2023;8(83):5098. https://doi.org/10.21105/joss.05098"
)
SOURCE = (
    "brainchop (MIT): weights from neuroneural/brainchop-models and neuroneural/brainchop "
    "(https://github.com/neuroneural/brainchop), converted from the {folder} folder of "
    "shared/models-src/brainchop-meshnet"
)
INTENDED_USE = (
    "Research use only \u2014 not a diagnosis. {what} Output is an automatic, unreviewed "
    "label map for visual exploration; it must not be used for clinical decisions."
)
LIMITS = (
    "Meant for adult T1-weighted brain MR. Expects a whole-head volume conformed to 256\u00b3 "
    "voxels of 1 mm in LIA orientation (FreeSurfer-style); other contrasts (T2, FLAIR, CT), "
    "children, strong pathology (tumours, large lesions, resections), heavy motion or "
    "bias-field artefacts, and partial fields of view give unreliable results. No uncertainty "
    "estimate; not validated by radviewer against manual segmentations."
)


@dataclass(frozen=True)
class ModelSpec:
    id: str
    folder: str
    config: str  # model.json (flat MeshNet) or layers.json (mindgrab forward_pass)
    colormap: str | None  # None: labels given in ``labels`` (mindgrab ships no colormap)
    name: str
    what: str
    version: str = "1.0.0"
    label_names: dict[int, str] = field(default_factory=dict)  # display-name overrides
    labels: tuple = ()  # (value, name, (r, g, b)) when there is no colormap file
    citation: str = ""  # model-specific paper, after the brainchop one
    # Measured cost of `radviewer analyze` on the bundled sample T1 (peak RSS of the whole
    # process, wall time), shown in the model picker; see tests/benchmarks/bench_models.py.
    resources: dict = field(default_factory=dict)


MEASURED_ON = "2 CPU cores, the 175-slice sample T1"

SPECS: dict[str, ModelSpec] = {
    s.id: s
    for s in (
        ModelSpec(
            id="brainchop-tissue",
            resources={"memory_gb": 1.4, "seconds": 5, "measured_on": MEASURED_ON},
            folder="model5_gw_ae",
            config="model.json",
            colormap="colormap3.json",
            name="Grey/white matter tissue (brainchop MeshNet)",
            what="Labels each voxel of a T1-weighted brain MR as background, white matter or "
            "grey matter.",
            label_names={0: "Background"},
        ),
        ModelSpec(
            id="brainchop-structures",
            resources={"memory_gb": 4.4, "seconds": 23, "measured_on": MEASURED_ON},
            folder="model18cls",
            config="model.json",
            colormap="colormap.json",
            name="Brain structures, 17 classes (brainchop MeshNet)",
            what="Labels each voxel of a T1-weighted brain MR with one of 17 FreeSurfer-style "
            "structures (cerebral white matter and cortex, ventricles, cerebellum, deep grey "
            "nuclei, hippocampus, amygdala, brain stem, ventral DC) or background.",
            label_names={0: "Background"},
        ),
        ModelSpec(
            id="brainchop-mindgrab",
            resources={"memory_gb": 2.7, "seconds": 42, "measured_on": MEASURED_ON},
            folder="mindgrab",
            config="layers.json",
            colormap=None,
            name="Brain extraction / skull stripping (brainchop mindgrab)",
            what="Labels each voxel of a T1-weighted head MR as brain or non-brain (skull "
            "stripping).",
            # mindgrab's folder has no colormap; brainchop's two-label brain-mask colours
            # (model5_gw_ae/colormap.json, "background"/"brain") are used.
            labels=((0, "Background", (0, 0, 0)), (1, "Brain", (255, 0, 0))),
            citation="MindGrab for BrainChop: Fast and Accurate Skull Stripping for Command Line "
            "and Browser. arXiv:2506.11860 (2025).",
        ),
    )
}


# --------------------------------------------------------------------------------------------
# files


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_state_dict(path: Path) -> OrderedDict:
    """Weights file -> state dict. ``model.pth`` is safetensors for model5_gw_ae/model18cls but a
    regular torch zip checkpoint for mindgrab (despite the source README): detect, never guess.
    The torch checkpoint is read with ``weights_only=True`` (no arbitrary unpickling)."""
    import torch

    if zipfile.is_zipfile(path):
        sd = torch.load(path, map_location="cpu", weights_only=True)
    else:
        from safetensors.torch import load_file

        sd = load_file(str(path))
    return OrderedDict((k, v.float().contiguous()) for k, v in sd.items())


def spec_labels(spec: ModelSpec, src: Path) -> list[dict]:
    """The output labels (index = output channel) with display-name overrides applied."""
    if spec.colormap is None:
        return [{"value": v, "name": n, "color": list(c)} for v, n, c in spec.labels]
    labels = load_colormap(src / spec.folder / spec.colormap)
    for lab in labels:
        lab["name"] = spec.label_names.get(lab["value"], lab["name"])
    return labels


def load_colormap(path: Path) -> list[dict]:
    cm = json.loads(path.read_text())
    n = len(cm["labels"])
    if not (len(cm["R"]) == len(cm["G"]) == len(cm["B"]) == n):
        raise ValueError(f"{path}: R/G/B/labels lengths differ")
    return [
        {"value": i, "name": cm["labels"][i], "color": [cm["R"][i], cm["G"][i], cm["B"][i]]}
        for i in range(n)
    ]


# --------------------------------------------------------------------------------------------
# network construction (torch imported lazily so that the numpy helpers work without it)


def _activation(config: dict):
    import torch.nn as nn

    if config.get("gelu"):
        return nn.GELU()
    if config.get("elu"):
        return nn.ELU()
    return nn.ReLU()


def build_from_model_json(config: dict, in_channels: int, n_classes: int):
    """Flat MeshNet from a brainchop ``model.json``.

    ``self.model`` is one ``nn.Sequential``: for every layer but the last, Conv3d, then (when
    ``bnorm``) a non-affine GroupNorm with one group per channel, then the activation (GELU if
    ``gelu``, ELU if ``elu``, ReLU otherwise; dropout p=0 adds nothing); the last layer is the
    1x1x1 classifier conv. ``in_channels``/``out_channels`` of -1 in the config are the input
    channels and the number of classes. Module indices thus match checkpoint keys
    ``model.0.weight``, ``model.2.weight``, ...
    """
    import torch.nn as nn

    if config.get("dropout_p", 0):
        raise ValueError("dropout_p > 0 is not supported (inference only, would add modules)")
    bias = bool(config.get("bias", False))
    layers = config["layers"]
    mods: list[nn.Module] = []
    for n, layer in enumerate(layers):
        cin = in_channels if layer["in_channels"] == -1 else layer["in_channels"]
        cout = n_classes if layer["out_channels"] == -1 else layer["out_channels"]
        last = n == len(layers) - 1
        if last and cout != n_classes:
            raise ValueError(f"classifier has {cout} outputs, colormap has {n_classes} labels")
        mods.append(
            nn.Conv3d(
                cin,
                cout,
                kernel_size=layer["kernel_size"],
                stride=layer["stride"],
                padding=layer["padding"],
                dilation=layer["dilation"],
                bias=bias,
            )
        )
        if not last:
            if config.get("bnorm"):
                mods.append(nn.GroupNorm(cout, cout, affine=False))
            mods.append(_activation(config))
    return _Wrap(nn.Sequential(*mods))


def build_from_layers_json(spec: dict, state_dict: dict | None = None):
    """Nested MeshNet from mindgrab's ``layers.json`` (``forward_pass`` op list).

    Each ``conv3d`` and the ops after it up to the next conv form one block
    ``nn.Sequential(conv, norm, act)``; the final conv stands alone. This gives the checkpoint's
    keys ``model.<block>.0.weight`` ... ``model.25.weight``.

    Two places where layers.json (written for brainchop's tinygrad runtime) and the trained
    PyTorch checkpoint disagree; the checkpoint wins, since it is what was trained:

    * ``batch_norm3d`` after each ``group_norm``: the checkpoint has no BatchNorm parameters or
      running statistics and its module tree (``_metadata``) has exactly three children per block
      (conv, GroupNorm, GELU). A BatchNorm in the saved model would have left ``running_mean``/
      ``running_var`` buffers and version-2 metadata. It is therefore omitted. (Applied with
      batch statistics it would re-normalise already per-channel-normalised maps, and with
      default running statistics it divides by sqrt(1 + 1e-5): both are near no-ops. Measured
      on t1_crop with batch statistics: logits change by <= 0.004, 4 mask voxels flip.)
    * the classifier's ``"bias": false``: the checkpoint holds ``model.25.bias`` (shape (2,)),
      so the classifier gets a bias. (A brainchop-cli version of the tinygrad loader pairs the
      checkpoint's keys with a bias-free model's by position, which drops that last tensor;
      on t1_crop that changes 5,569 mask voxels.)

    ``state_dict`` (optional) is only consulted to decide the classifier bias.
    """
    import torch.nn as nn

    ops = spec["forward_pass"]
    blocks: list[list[dict]] = []
    for op in ops:
        if op["op"] == "conv3d":
            blocks.append([op])
        elif not blocks:
            raise ValueError(f"layers.json: {op['op']} before the first conv3d")
        else:
            blocks[-1].append(op)
    top: list[nn.Module] = []
    for b, block in enumerate(blocks):
        p = block[0]["params"]
        last = b == len(blocks) - 1
        bias = bool(p.get("bias", True))
        if last and state_dict is not None:
            bias = f"model.{b}.bias" in state_dict
        conv = nn.Conv3d(
            p["in_channels"],
            p["out_channels"],
            kernel_size=p["kernel_size"],
            stride=p["stride"],
            padding=p["padding"],
            dilation=p["dilation"],
            bias=bias,
        )
        if last:
            if len(block) != 1:
                raise ValueError("layers.json: ops after the classifier conv")
            top.append(conv)
            continue
        mods: list[nn.Module] = [conv]
        for op in block[1:]:
            kind, q = op["op"], op.get("params", {})
            if kind == "group_norm":
                if q.get("affine", False):
                    raise ValueError("affine GroupNorm not expected (no parameters stored)")
                mods.append(nn.GroupNorm(q["num_groups"], q["num_channels"], affine=False))
            elif kind == "batch_norm3d":
                continue  # not part of the trained model: see docstring
            elif kind == "gelu":
                mods.append(nn.GELU())
            elif kind == "elu":
                mods.append(nn.ELU())
            elif kind == "relu":
                mods.append(nn.ReLU())
            else:
                raise ValueError(f"layers.json: unsupported op {kind!r}")
        top.append(nn.Sequential(*mods))
    return _Wrap(nn.Sequential(*top))


def _Wrap(seq):  # noqa: N802 - module factory
    import torch.nn as nn

    class MeshNet(nn.Module):
        def __init__(self, model: nn.Sequential):
            super().__init__()
            self.model = model

        def forward(self, x):
            return self.model(x)

    return MeshNet(seq)


def build_model(spec: ModelSpec, src: Path):
    """Rebuild ``spec``'s network from its config and load its weights strictly.

    Returns the torch module in eval mode. Raises if any checkpoint key is left over or missing,
    or any shape differs (``load_state_dict(strict=True)`` plus an explicit shape check)."""
    folder = src / spec.folder
    sd = load_state_dict(folder / "model.pth")
    labels = spec_labels(spec, src)
    config = json.loads((folder / spec.config).read_text())
    if spec.config == "layers.json":
        net = build_from_layers_json(config, sd)
    else:
        net = build_from_model_json(config, in_channels=1, n_classes=len(labels))
    expected = net.state_dict()
    missing = sorted(set(expected) - set(sd))
    unexpected = sorted(set(sd) - set(expected))
    bad = [k for k in expected if k in sd and tuple(expected[k].shape) != tuple(sd[k].shape)]
    if missing or unexpected or bad:
        raise ValueError(
            f"{spec.id}: checkpoint does not match the config: missing={missing} "
            f"unexpected={unexpected} shape mismatch={bad}"
        )
    net.load_state_dict(sd, strict=True)
    out_ch = [m for m in net.modules() if m.__class__.__name__ == "Conv3d"][-1].out_channels
    if out_ch != len(labels):
        raise ValueError(f"{spec.id}: {out_ch} output channels but {len(labels)} labels")
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


# --------------------------------------------------------------------------------------------
# input (numpy only)


def reference_input(nifti_path: Path) -> np.ndarray:
    """The conformed reference T1 as the network's array, indexed [i, j, k] (nibabel's data
    array as is; C-contiguous float32). Checks that the file really is conformed (256^3, 1 mm,
    LIA), since that is what the models were trained on."""
    import nibabel as nib

    img = nib.load(str(nifti_path))
    codes = "".join(nib.aff2axcodes(img.affine))
    if img.shape != GRID or codes != "LIA" or not np.allclose(img.header.get_zooms(), 1.0):
        raise ValueError(f"{nifti_path}: not conformed (shape {img.shape}, axcodes {codes})")
    return np.ascontiguousarray(np.asanyarray(img.dataobj), dtype=np.float32)


def preprocess(volume: np.ndarray, ops: list[dict] = INTENSITY) -> np.ndarray:
    """Apply the manifest's ``input.intensity`` ops; returns float32 (1, 1, D, H, W)."""
    x = np.asarray(volume, dtype=np.float32)
    for op in ops:
        if op["op"] == "percentile_clip":
            lo, hi = np.percentile(x, [op["low"], op["high"]])
            x = np.clip(x, lo, hi)
        elif op["op"] == "minmax":
            lo, hi = float(x.min()), float(x.max())
            x = (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)
        else:
            raise ValueError(f"unknown intensity op {op['op']!r}")
    return np.ascontiguousarray(x, dtype=np.float32)[None, None]


# --------------------------------------------------------------------------------------------
# export


def _stable_instance_norm(eps: float):
    """Per-sample, per-channel normalisation over D, H, W written with one ReduceMean per axis.

    Why not ONNX InstanceNormalization (what torch emits for GroupNorm/InstanceNorm)? ONNX
    Runtime 1.31's CPU kernel accumulates the 256^3 = 16.7 M values of a channel in float32 and
    loses precision: on mindgrab's layer-1 activations its output is off by 0.05 to 0.08 from a
    float64 reference (torch's GroupNorm: 1e-6), which ends as logit differences of 0.5 and 500
    flipped voxels. A single ReduceMean over (2, 3, 4) is as bad (0.05). Averaging one axis at a
    time (256 values per sum, groups of equal size so the mean is exact) gives 2e-6 at the same
    speed. Two passes (mean, then the mean of squared deviations) as torch does: no
    E[x^2] - E[x]^2 cancellation."""
    import torch
    import torch.nn as nn

    class StableInstanceNorm(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.eps = eps

        def forward(self, x):
            mean = x.mean(dim=4, keepdim=True).mean(dim=3, keepdim=True).mean(dim=2, keepdim=True)
            d = x - mean
            sq = d * d
            var = sq.mean(dim=4, keepdim=True).mean(dim=3, keepdim=True).mean(dim=2, keepdim=True)
            return d * torch.rsqrt(var + self.eps)

    return StableInstanceNorm()


def export_form(net):
    """A copy of ``net`` for export, with every non-affine GroupNorm that has one group per
    channel (mindgrab's) replaced by the mathematically identical ``_stable_instance_norm`` (same
    per-sample, per-channel mean and biased variance over D, H, W; same eps). See that function
    for why torch's own export of GroupNorm is not used. The equality is checked on a small
    random input before returning; the full-size check is the ``--measure`` report and
    tests/ai/test_meshnet_conversion.py."""
    import copy

    import torch
    import torch.nn as nn

    out = copy.deepcopy(net)

    def swap(module: nn.Module) -> None:
        for name, child in module.named_children():
            if (
                isinstance(child, nn.GroupNorm)
                and child.num_groups == child.num_channels
                and not child.affine
            ):
                setattr(module, name, _stable_instance_norm(child.eps))
            else:
                swap(child)

    swap(out)
    out.eval()
    g = torch.Generator().manual_seed(0)
    probe = torch.rand((2, 1, 40, 36, 33), generator=g)
    with torch.no_grad():
        if not torch.allclose(net(probe), out(probe), rtol=1e-4, atol=1e-4):
            raise AssertionError("export form differs from the GroupNorm network")
    return out


def export_onnx(net, path: Path, dynamic_batch: bool = True) -> None:
    """Export with the TorchScript-based exporter (``dynamo=False``): plain opset-17 graph, the
    weights as initializers, no external data file, deterministic for a given torch version."""
    import onnx
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    dummy = torch.zeros((1, 1, *GRID), dtype=torch.float32)
    kwargs = {}
    if dynamic_batch:
        kwargs["dynamic_axes"] = {"input": {0: "batch"}, "logits": {0: "batch"}}
    # The TorchScript exporter traces one 1x1x256^3 forward pass (seconds to a minute on CPU).
    # It is deprecated in favour of the torch.export-based one (which needs onnxscript) but
    # gives a plain Conv/ReduceMean/activation graph; silence its deprecation notice.
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            export_form(net),
            (dummy,),
            str(path),
            input_names=["input"],
            output_names=["logits"],
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
            **kwargs,
        )
    model = onnx.load(str(path))
    # Doc strings may embed source paths; clear them so the bytes do not depend on the checkout.
    for node in model.graph.node:
        node.doc_string = ""
    model.graph.doc_string = ""
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(path))


def manifest_for(spec: ModelSpec, src: Path, onnx_path: Path, dynamic_batch: bool) -> dict:
    folder = src / spec.folder
    labels = spec_labels(spec, src)
    names = ["model.pth", spec.config] + ([spec.colormap] if spec.colormap else [])
    source_files = {name: sha256_file(folder / name) for name in names}
    return {
        "schema": SCHEMA,
        "id": spec.id,
        "name": spec.name,
        "version": spec.version,
        "task": "segmentation",
        "mode": "3d",
        "weights": {"file": onnx_path.name, "sha256": sha256_file(onnx_path)},
        "input": {
            "name": "input",
            "layout": "NCDHW",
            "shape": ["batch" if dynamic_batch else 1, 1, *GRID],
            "channels": 1,
            "dtype": "float32",
            "grid": {
                "shape": list(GRID),
                "spacing_mm": [1.0, 1.0, 1.0],
                "orientation": "LIA",
                "array_axes": "ijk",
                "note": "voxel axes i,j,k point Left, Inferior, Anterior; the array is indexed "
                "[i, j, k] (as nibabel returns a NIfTI's data), so array axis 0 (D) runs towards "
                "Left, axis 1 (H) towards Inferior, axis 2 (W) towards Anterior. The NIfTI "
                "file's raw buffer (i fastest) read in C order is [k, j, i]: transpose it "
                "(2, 1, 0) first. Logits come back on the same [i, j, k] grid.",
            },
            "intensity": INTENSITY,
        },
        "output": {
            "name": "logits",
            "layout": "NCDHW",
            "activation": "softmax",
            "labels": labels,
        },
        "applicability": {
            "modality": ["MR"],
            "sequence": "T1-weighted",
            "body_part": "brain",
            "dimensions": 3,
        },
        "resources": dict(spec.resources),
        "intended_use": INTENDED_USE.format(what=spec.what),
        "limits": LIMITS,
        "licence": "MIT",
        "source": SOURCE.format(folder=spec.folder),
        "citation": CITATION + (" " + spec.citation if spec.citation else ""),
        "conversion": {
            "script": "models/convert_meshnet.py",
            "opset": OPSET,
            "source_files": source_files,
        },
    }


def convert(spec: ModelSpec, src: Path, out: Path, dynamic_batch: bool = True) -> Path:
    import torch

    torch.manual_seed(0)
    net = build_model(spec, src)
    dest = out / spec.id
    onnx_path = dest / "model.onnx"
    export_onnx(net, onnx_path, dynamic_batch=dynamic_batch)
    manifest = manifest_for(spec, src, onnx_path, dynamic_batch)
    (dest / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    shutil.copyfile(src / "LICENSE", dest / "LICENSE")
    return dest


# --------------------------------------------------------------------------------------------
# measuring (torch vs ONNX Runtime on the reference T1)


def run_torch(net, x: np.ndarray, threads: int = 2) -> np.ndarray:
    import torch

    torch.set_num_threads(threads)
    with torch.inference_mode():
        return net(torch.from_numpy(x)).numpy()


def ort_session(onnx_path: Path, threads: int = 2):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    return ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])


def measure(spec: ModelSpec, src: Path, out: Path, threads: int = 2) -> dict:
    """Figures for the model card: torch vs ONNX Runtime on t1_crop.nii.gz."""
    x = preprocess(reference_input(src / "t1_crop.nii.gz"))
    net = build_model(spec, src)
    t0 = time.perf_counter()
    ref = run_torch(net, x, threads)
    t_torch = time.perf_counter() - t0
    sess = ort_session(out / spec.id / "model.onnx", threads)
    t0 = time.perf_counter()
    got = sess.run(["logits"], {"input": x})[0]
    t_ort = time.perf_counter() - t0
    diff = float(np.abs(ref - got).max())
    a_ref = ref[0].argmax(0).astype(np.uint8)
    del ref
    a_got = got[0].argmax(0).astype(np.uint8)
    del got
    counts = np.bincount(a_got.ravel(), minlength=len(spec_labels(spec, src)))
    return {
        "id": spec.id,
        "max_abs_logit_diff": diff,
        "argmax_agreement": float((a_ref == a_got).mean()),
        "argmax_disagreeing_voxels": int((a_ref != a_got).sum()),
        "torch_s": round(t_torch, 2),
        "onnxruntime_s": round(t_ort, 2),
        "threads": threads,
        "onnx_bytes": (out / spec.id / "model.onnx").stat().st_size,
        "label_voxels": {int(i): int(c) for i, c in enumerate(counts)},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--src", type=Path, default=DEFAULT_SRC, help="brainchop-meshnet folder")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output models folder")
    ap.add_argument("--only", action="append", choices=sorted(SPECS), help="model id(s)")
    ap.add_argument(
        "--static-batch", action="store_true", help="fix the batch axis to 1 (default: dynamic)"
    )
    ap.add_argument(
        "--measure", action="store_true", help="then compare torch and ONNX Runtime on t1_crop"
    )
    ap.add_argument("--threads", type=int, default=2, help="threads for --measure")
    args = ap.parse_args(argv)
    src = args.src.resolve()
    if not src.is_dir():
        print(f"source folder not found: {src}", file=sys.stderr)
        return 2
    for mid in args.only or list(SPECS):
        spec = SPECS[mid]
        dest = convert(spec, src, args.out, dynamic_batch=not args.static_batch)
        size = (dest / "model.onnx").stat().st_size
        print(
            f"{mid}: {dest / 'model.onnx'} ({size} bytes) sha256 {sha256_file(dest / 'model.onnx')}"
        )
        if args.measure:
            print(json.dumps(measure(spec, src, args.out, args.threads)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
