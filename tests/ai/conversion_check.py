"""Torch vs ONNX Runtime for the bundled brainchop MeshNets, shared by the suite's cropped check
(tests/ai/test_meshnet_conversion.py) and the full-size benchmark
(tests/benchmarks/bench_conversion.py).

The torch network is rebuilt with ``models/convert_meshnet.py`` (strict weight load); both get
the reference conformed T1 (``shared/models-src/brainchop-meshnet/t1_crop.nii.gz``) prepared
as the manifest says (array axes, intensity ops), independently of the conversion script.

The ONNX files have a fixed 256^3 grid, but the networks are fully convolutional (Conv,
activations and, in mindgrab, normalisation by ReduceMean over the spatial axes), so for a
cropped check the graph's spatial dimensions are made symbolic in memory: the same weights and
operators, run on a centre crop. A wrong weight, layer order, dilation or padding shows on a
crop as well as on the full grid; the full grid (and its anatomical sanity checks) is the
benchmark's job, since it needs about 6 GB and minutes.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

import numpy as np

# No telemetry from onnxruntime (read once, at its import; see viewer/ai/runner.py).
os.environ["ORT_DISABLE_TELEMETRY"] = "1"

REPO = Path(__file__).resolve().parents[2]
MODELS = REPO / "models"
MODEL_IDS = ["brainchop-tissue", "brainchop-structures", "brainchop-mindgrab"]


def manifest(model_id: str) -> dict:
    return json.loads((MODELS / model_id / "manifest.json").read_text())


def load_converter():
    """``models/convert_meshnet.py`` as a module (models/ is not a package); needs torch."""
    spec = importlib.util.spec_from_file_location("convert_meshnet", MODELS / "convert_meshnet.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("convert_meshnet", mod)
    spec.loader.exec_module(mod)
    return mod


def network_input(src: Path, mf: dict, crop: int | None = None) -> np.ndarray:
    """The reference T1 as the network sees it, ``(1, 1, *grid)`` float32.

    nibabel's [i, j, k] array, reordered per ``array_axes``, then the intensity ops over the
    whole volume; ``crop`` (voxels a side) then keeps the centre cube, so intensities are the
    same as in the full-size run.
    """
    import nibabel as nib

    img = nib.load(str(src / "t1_crop.nii.gz"))
    grid = mf["input"]["grid"]
    assert "".join(nib.aff2axcodes(img.affine)) == grid["orientation"]
    assert list(img.shape) == grid["shape"]
    assert np.allclose(img.header.get_zooms(), grid["spacing_mm"])
    x = np.asanyarray(img.dataobj).astype(np.float32)  # [i, j, k]
    if grid["array_axes"] == "kji":
        x = x.transpose(2, 1, 0)
    for op in mf["input"]["intensity"]:
        if op["op"] == "percentile_clip":
            x = np.clip(x, *np.percentile(x, [op["low"], op["high"]]))
        elif op["op"] == "minmax":
            x = (x - x.min()) / (x.max() - x.min())
        else:
            raise AssertionError(f"unexpected op {op}")
    if crop is not None:
        lo = [(n - crop) // 2 for n in x.shape]
        x = x[lo[0]:lo[0] + crop, lo[1]:lo[1] + crop, lo[2]:lo[2] + crop]
    return np.ascontiguousarray(x, dtype=np.float32)[None, None]


def onnx_session(model_id: str, threads: int, any_grid: bool):
    """An onnxruntime session of the bundled file; ``any_grid`` makes the spatial dimensions
    of input and output symbolic (in memory only) so that a crop can be run."""
    import onnxruntime as ort

    mf = manifest(model_id)
    path = MODELS / model_id / mf["weights"]["file"]
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    if not any_grid:
        return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    import onnx

    model = onnx.load(str(path))
    for vi in (*model.graph.input, *model.graph.output):
        for axis, dim in enumerate(vi.type.tensor_type.shape.dim[2:]):
            dim.ClearField("dim_value")
            dim.dim_param = f"spatial{axis}"
    return ort.InferenceSession(model.SerializeToString(), so,
                                providers=["CPUExecutionProvider"])


def compare(model_id: str, src: Path, conv, crop: int | None, threads: int = 2) -> dict:
    """Run torch and ONNX Runtime once on the same input; keep only small results (full-size
    logits are up to 1.2 GB each)."""
    import torch

    mf = manifest(model_id)
    x = network_input(src, mf, crop)
    net = conv.build_model(conv.SPECS[model_id], src)  # strict load inside
    torch.set_num_threads(threads)
    with torch.inference_mode():
        ref = net(torch.from_numpy(x)).numpy()
    sess = onnx_session(model_id, threads, any_grid=crop is not None)
    assert [i.name for i in sess.get_inputs()] == [mf["input"]["name"]]
    assert [o.name for o in sess.get_outputs()] == [mf["output"]["name"]]
    got = sess.run([mf["output"]["name"]], {mf["input"]["name"]: x})[0]
    del sess
    n_labels = len(mf["output"]["labels"])
    assert got.shape == ref.shape == (1, n_labels, *x.shape[2:]), (got.shape, ref.shape)
    del x
    max_diff = float(np.abs(ref - got).max())
    a_ref = ref[0].argmax(0).astype(np.uint8)
    del ref
    a_got = got[0].argmax(0).astype(np.uint8)
    del got
    return {
        "max_diff": max_diff,
        "agreement": float((a_ref == a_got).mean()),
        "counts": np.bincount(a_got.ravel(), minlength=n_labels),
    }
