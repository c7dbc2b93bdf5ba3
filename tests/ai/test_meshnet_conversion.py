"""The bundled brainchop ONNX models against the torch networks they were converted from.

For each model: rebuild the torch network with ``models/convert_meshnet.py`` (strict weight load),
feed torch and ONNX Runtime the same centre crop (96^3) of the reference conformed T1 prepared as
the manifest says, and compare logits and label maps (see tests/ai/conversion_check.py for why a
crop is a faithful check). The full 256^3 grid, with its anatomical sanity checks (adult tissue
volumes, all 17 structures found, a brain-sized mask), is a benchmark:
``python tests/benchmarks/bench_conversion.py`` (about 6 GB and 3 minutes on 2 cores).

The torch checks are opt-in: they need the conversion tools (``scripts/test --convert`` installs
torch, safetensors, onnx and nibabel) and ``../shared``; skipped with the reason otherwise. The
manifest checksum tests need neither.
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

import pytest
from conversion_check import MODEL_IDS, MODELS, compare, load_converter, manifest
from skip_reasons import NO_CONVERT, NO_DATA

CROP = 96  # voxels a side: ~20 s for all three models on 2 cores, < 1 GB


# ---------------------------------------------------------------------------------------------
# cheap: no torch, no shared data


@pytest.mark.parametrize("model_id", MODEL_IDS)
def test_manifest_checksum_and_files(model_id):
    mf = manifest(model_id)
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
# torch vs ONNX Runtime on a crop of the reference T1 (opt-in: scripts/test --convert)


@pytest.fixture(scope="module")
def meshnet_src(shared_data) -> Path:
    """``shared/models-src/brainchop-meshnet`` beside ``shared/data`` (conftest's logic)."""
    src = shared_data.parent / "models-src" / "brainchop-meshnet"
    if not (src / "t1_crop.nii.gz").is_file():
        pytest.skip(f"{src} is not present; {NO_DATA}")
    return src


@pytest.fixture(scope="module")
def conv():
    # Opt-in even where torch happens to be installed: scripts/test --convert sets this.
    if os.environ.get("RADVIEWER_TEST_CONVERT") != "1":
        pytest.skip(NO_CONVERT)
    for name in ("torch", "safetensors", "nibabel", "onnx", "onnxruntime"):
        pytest.importorskip(name, reason=f"{name} is not installed; {NO_CONVERT}")
    return load_converter()


@functools.cache
def _cropped(model_id: str, src: Path, conv) -> dict:
    return compare(model_id, src, conv, crop=CROP)


@pytest.mark.parametrize("model_id", MODEL_IDS)
def test_onnx_matches_torch_on_a_crop(model_id, meshnet_src, conv):
    r = _cropped(model_id, meshnet_src, conv)
    assert r["max_diff"] <= 1e-3, r["max_diff"]
    assert r["agreement"] >= 0.999, r["agreement"]
    # The crop holds brain: more than one label is predicted (a broken graph gives one).
    assert (r["counts"] > 0).sum() >= 2, r["counts"]
