"""``radviewer evaluate`` end to end on real data: the shared PET SEG as reference against an
eroded copy (segmentation), and a classification CSV against analyze-style reports."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("SimpleITK")
pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")

from viewer.cli import main  # noqa: E402


@pytest.fixture(scope="module")
def pet(shared_data):
    from viewer.dicom.scan import scan_folder
    from viewer.dicom.seg import read_seg

    root = shared_data / "pet-seg-headneck"
    stack = scan_folder(root / "PET").stacks()[0]
    seg_file = next(p for p in sorted((root / "SEG").rglob("*.dcm")))
    return root, stack, read_seg(seg_file, stack)


def _analyze_folder(folder, stack, labels, names):
    folder.mkdir(parents=True)
    np.save(folder / "labels.npy", labels.astype(np.uint8))
    (folder / "report.json").write_text(json.dumps({
        "series": {"series_uid": stack.series_uid},
        "labels": [{"value": v, "name": n} for v, n in names.items()]}))


def _bracket(m):
    lo, hi = m["ci95"]
    assert lo <= m["value"] <= hi, m


def test_seg_truth_against_eroded_prediction(pet, tmp_path, capsys):
    from scipy.ndimage import binary_erosion

    root, stack, ov = pet
    ref = ov.label_volume
    eroded = np.zeros_like(ref)
    cross = np.array([[[0, 1, 0], [1, 1, 1], [0, 1, 0]]], bool)  # in-plane: 1 voxel
    for lab in ov.labels:
        eroded[binary_erosion(ref == lab.value, structure=cross)] = lab.value
    _analyze_folder(tmp_path / "pred", stack, eroded, {lab.value: lab.name for lab in ov.labels})
    out = tmp_path / "out"
    code = main(["evaluate", str(root / "PET"), "--truth", str(root / "SEG"), "--pred",
                 str(tmp_path / "pred"), "--out", str(out), "--resamples", "200"])
    assert code == 0, capsys.readouterr().err
    doc = json.loads((out / "metrics.json").read_text())
    assert doc["schema"] == "radviewer.evaluation/1" and "Research use" in doc["notice"]
    assert doc["bootstrap"] == {**doc["bootstrap"], "resamples": 200, "seed": 0}
    labels = doc["segmentation"]["labels"]
    assert set(labels) == {lab.name for lab in ov.labels}
    for m in labels.values():
        assert m["bootstrap_unit"] == "slice"
        assert 0.0 < m["dice"]["value"] < 1.0  # erosion loses the outer ring
        assert m["volume_diff_ml"]["value"] < 0
        assert m["hd95_mm"]["value"] > 0
        for key in ("dice", "hd95_mm", "asd_mm", "volume_diff_ml"):
            _bracket(m[key])
    html = (out / "report.html").read_text()
    assert "Research use" in html and html.count("data:image/png;base64,") == 3
    assert (out / "dice.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_identical_prediction_is_perfect(pet, tmp_path):
    root, stack, ov = pet
    _analyze_folder(tmp_path / "pred", stack, ov.label_volume,
                    {lab.value: lab.name for lab in ov.labels})
    out = tmp_path / "out"
    assert main(["evaluate", str(root / "PET"), "--truth", str(root / "SEG"), "--pred",
                 str(tmp_path / "pred"), "--out", str(out), "--resamples", "50"]) == 0
    labels = json.loads((out / "metrics.json").read_text())["segmentation"]["labels"]
    for m in labels.values():
        assert m["dice"]["value"] == 1.0 and m["hd95_mm"]["value"] == 0.0


def test_classification_csv(pet, tmp_path, capsys):
    root, stack, _ = pet
    n = stack.n_frames
    classes = ["a", "b"]
    rng = np.random.default_rng(1)
    truth = rng.integers(0, 2, n)
    p_b = np.clip(0.5 + (truth - 0.5) * 0.6 + rng.normal(0, 0.25, n), 0, 1)
    rep = tmp_path / "pred" / "report.json"
    rep.parent.mkdir()
    rep.write_text(json.dumps({
        "series": {"series_uid": stack.series_uid}, "model": {"id": "demo"},
        "labels": [{"value": 0, "name": "a"}, {"value": 1, "name": "b"}],
        "slice_scores": [{"a": 1 - p, "b": p} for p in p_b],
        "slices_outside_range": [1, 2]}))
    csv = tmp_path / "truth.csv"
    csv.write_text("series_uid,slice,label\n" + "".join(
        f"{stack.series_uid},{k + 1},{classes[t]}\n" for k, t in enumerate(truth)))
    out = tmp_path / "out"
    assert main(["evaluate", str(root / "PET"), "--truth", str(csv), "--pred",
                 str(tmp_path / "pred"), "--out", str(out), "--resamples", "200"]) == 0, \
        capsys.readouterr().err
    c = json.loads((out / "metrics.json").read_text())["classification"]
    assert c["n"] == n - 2 and c["excluded"]["outside the model's range"] == 2
    for key in ("accuracy", "macro_f1", "macro_roc_auc", "macro_precision", "macro_recall"):
        _bracket(c["summary"][key])
    assert c["summary"]["macro_roc_auc"]["value"] > 0.7
    assert np.sum(c["confusion_matrix"]) == n - 2
    assert len(c["reliability"]["count"]) >= 2
    assert (out / "report.html").read_text().count("data:image/png;base64,") == 3


def test_bad_csv_is_one_line(pet, tmp_path, capsys):
    root, _, _ = pet
    csv = tmp_path / "truth.csv"
    csv.write_text("id,what\n1,2\n")
    code = main(["evaluate", str(root / "PET"), "--truth", str(csv), "--pred", str(tmp_path),
                 "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "truth.csv" in err
