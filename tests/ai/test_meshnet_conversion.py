"""The bundled brainchop ONNX models against the torch networks they were converted from.

For each model: rebuild the torch network with ``models/convert_meshnet.py`` (strict weight load),
feed torch and ONNX Runtime the reference conformed T1 prepared as the manifest says (array axes,
intensity ops), and compare logits and label maps. Plus sanity checks that would catch a wrong
axis order or intensity transform: adult grey/white matter volumes for the tissue model, every
structure present for the 17-structure model, a plausible brain mask for mindgrab.

Needs the conversion tools (torch, safetensors, nibabel, onnxruntime) and ``../shared``; skipped
otherwise. The manifest checksum tests need neither. About 3 minutes on 2 CPU cores (three
full 256^3 volumes, each through torch and ONNX Runtime).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
MODELS = REPO / "models"
MODEL_IDS = ["brainchop-tissue", "brainchop-structures", "brainchop-mindgrab"]
THREADS = 2


def _manifest(model_id: str) -> dict:
    return json.loads((MODELS / model_id / "manifest.json").read_text())


# ---------------------------------------------------------------------------------------------
# cheap: no torch, no shared data


@pytest.mark.parametrize("model_id", MODEL_IDS)
def test_manifest_checksum_and_files(model_id):
    mf = _manifest(model_id)
    assert mf["schema"] == "radviewer.model/1" and mf["id"] == model_id
    onnx_path = MODELS / model_id / mf["weights"]["file"]
    assert hashlib.sha256(onnx_path.read_bytes()).hexdigest() == mf["weights"]["sha256"]
    assert onnx_path.stat().st_size < 2_000_000  # weights only: no folded activations
    assert "MIT License" in (MODELS / model_id / "LICENSE").read_text()
    assert (MODELS / model_id / "MODEL_CARD.md").is_file()
    assert [lab["value"] for lab in mf["output"]["labels"]] == list(
        range(len(mf["output"]["labels"]))
    )
    assert mf["input"]["grid"]["orientation"] == "LIA"
    assert mf["input"]["grid"]["array_axes"] in ("ijk", "kji")
    assert "not a diagnosis" in mf["intended_use"]


# ---------------------------------------------------------------------------------------------
# torch vs ONNX Runtime on the reference T1


@pytest.fixture(scope="module")
def meshnet_src(shared_data) -> Path:
    """``shared/models-src/brainchop-meshnet`` beside ``shared/data`` (conftest's logic)."""
    src = shared_data.parent / "models-src" / "brainchop-meshnet"
    if not (src / "t1_crop.nii.gz").is_file():
        pytest.skip(f"{src} is not present")
    return src


@pytest.fixture(scope="module")
def conv():
    """``models/convert_meshnet.py`` as a module (models/ is not a package)."""
    for name in ("torch", "safetensors", "nibabel", "onnxruntime"):
        pytest.importorskip(name)
    spec = importlib.util.spec_from_file_location("convert_meshnet", MODELS / "convert_meshnet.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("convert_meshnet", mod)
    spec.loader.exec_module(mod)
    return mod


def _network_input(src: Path, manifest: dict) -> np.ndarray:
    """The reference T1 prepared as the manifest says, independently of the conversion script:
    nibabel's [i, j, k] array, reordered per ``array_axes``, then the intensity ops."""
    import nibabel as nib

    img = nib.load(str(src / "t1_crop.nii.gz"))
    grid = manifest["input"]["grid"]
    assert "".join(nib.aff2axcodes(img.affine)) == grid["orientation"]
    assert list(img.shape) == grid["shape"]
    assert np.allclose(img.header.get_zooms(), grid["spacing_mm"])
    x = np.asanyarray(img.dataobj).astype(np.float32)  # [i, j, k]
    if grid["array_axes"] == "kji":
        x = x.transpose(2, 1, 0)
    for op in manifest["input"]["intensity"]:
        if op["op"] == "percentile_clip":
            x = np.clip(x, *np.percentile(x, [op["low"], op["high"]]))
        elif op["op"] == "minmax":
            x = (x - x.min()) / (x.max() - x.min())
        else:
            raise AssertionError(f"unexpected op {op}")
    return np.ascontiguousarray(x, dtype=np.float32)[None, None]


@functools.cache
def _compare(model_id: str, src: Path, conv) -> dict:
    """Run torch and ONNX Runtime once per model; keep only small results (logits are up to
    1.2 GB each)."""
    import onnxruntime as ort
    import torch

    mf = _manifest(model_id)
    x = _network_input(src, mf)
    net = conv.build_model(conv.SPECS[model_id], src)  # strict load inside
    torch.set_num_threads(THREADS)
    with torch.inference_mode():
        ref = net(torch.from_numpy(x)).numpy()
    so = ort.SessionOptions()
    so.intra_op_num_threads = THREADS
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(
        str(MODELS / model_id / mf["weights"]["file"]), so, providers=["CPUExecutionProvider"]
    )
    assert [i.name for i in sess.get_inputs()] == [mf["input"]["name"]]
    assert [o.name for o in sess.get_outputs()] == [mf["output"]["name"]]
    got = sess.run([mf["output"]["name"]], {mf["input"]["name"]: x})[0]
    del x, sess
    assert got.shape == ref.shape == (1, len(mf["output"]["labels"]), *mf["input"]["grid"]["shape"])
    max_diff = float(np.abs(ref - got).max())
    a_ref = ref[0].argmax(0).astype(np.uint8)
    del ref
    a_got = got[0].argmax(0).astype(np.uint8)
    del got
    return {
        "max_diff": max_diff,
        "agreement": float((a_ref == a_got).mean()),
        "counts": np.bincount(a_got.ravel(), minlength=len(mf["output"]["labels"])),
    }


@pytest.mark.parametrize("model_id", MODEL_IDS)
def test_onnx_matches_torch(model_id, meshnet_src, conv):
    r = _compare(model_id, meshnet_src, conv)
    assert r["max_diff"] <= 1e-3, r["max_diff"]
    assert r["agreement"] >= 0.999, r["agreement"]


def test_tissue_volumes_are_adult(meshnet_src, conv):
    counts = _compare("brainchop-tissue", meshnet_src, conv)["counts"]
    names = [lab["name"] for lab in _manifest("brainchop-tissue")["output"]["labels"]]
    ml = dict(zip(names, counts / 1000.0, strict=True))  # 1 mm^3 voxels
    wm, gm = ml["White Matter"], ml["Grey Matter"]
    # Adults: grey matter (cortex, cerebellar cortex, deep nuclei) ~500-850 mL, white matter
    # ~350-650 mL, GM/WM ~1.1-1.8. (t1_crop: GM 735 mL, WM 518 mL.)
    assert 450 < gm < 950 and 300 < wm < 750, ml
    assert 1.0 < gm / wm < 2.0, ml


def test_structures_all_found(meshnet_src, conv):
    """Every one of the 17 structures is found: with the array axes wrong the network still
    finds cortex and white matter but misses the deep grey nuclei entirely."""
    counts = _compare("brainchop-structures", meshnet_src, conv)["counts"]
    names = [lab["name"] for lab in _manifest("brainchop-structures")["output"]["labels"]]
    ml = dict(zip(names, counts / 1000.0, strict=True))
    missing = {n: v for n, v in ml.items() if v < 0.5}
    assert not missing, missing
    # Whole structures, adult size: thalamus (both sides) ~12-22 mL, hippocampi ~6-10 mL.
    assert 8 < ml["Thalamus"] < 30 and 4 < ml["Hippocampus"] < 14, ml
    assert 350 < ml["Cerebral-White-Matter"] < 750 and 350 < ml["Cerebral-Cortex"] < 800, ml


def test_mindgrab_mask_is_a_brain(meshnet_src, conv):
    counts = _compare("brainchop-mindgrab", meshnet_src, conv)["counts"]
    brain_ml = counts[1] / 1000.0
    # Brain with its CSF down to the bottom of the field of view (brain stem): adult
    # intracranial volumes are ~1200-1900 mL. (t1_crop: 1606 mL.)
    assert 1100 < brain_ml < 2000, brain_ml
