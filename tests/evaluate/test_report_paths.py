"""metrics.json and report.html record no absolute paths (reports are shared; absolute paths
carry user and machine names): the reference and prediction folders appear relative to the
working folder, or as their last two parts."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("SimpleITK")
pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")

from viewer.cli import main  # noqa: E402
from viewer.evaluate.sources import shown_path  # noqa: E402


def test_shown_path_is_never_absolute(tmp_path, monkeypatch):
    (tmp_path / "a" / "b").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert shown_path(tmp_path / "a" / "b") == "a/b"
    assert shown_path("a") == "a"
    outside = tmp_path.parent / "x" / "y" / "z"
    assert shown_path(outside) == "y/z"


def test_metrics_and_report_hold_no_absolute_path(shared_data, tmp_path, monkeypatch):
    from viewer.dicom.scan import scan_folder
    from viewer.dicom.seg import read_seg

    root = shared_data / "pet-seg-headneck"
    stack = scan_folder(root / "PET").stacks()[0]
    ov = read_seg(sorted((root / "SEG").rglob("*.dcm"))[0], stack)
    pred = tmp_path / "work" / "pred"
    pred.mkdir(parents=True)
    np.save(pred / "labels.npy", ov.label_volume)
    (pred / "report.json").write_text(json.dumps({
        "series": {"series_uid": stack.series_uid},
        "labels": [{"value": lab.value, "name": lab.name} for lab in ov.labels]}))
    monkeypatch.chdir(tmp_path / "work")
    out = tmp_path / "out"
    assert main(["evaluate", str(root / "PET"), "--truth", str(root / "SEG"), "--pred",
                 str(pred), "--out", str(out), "--resamples", "20"]) == 0
    text = (out / "metrics.json").read_text() + (out / "report.html").read_text()
    assert str(tmp_path) not in text and str(shared_data) not in text
    doc = json.loads((out / "metrics.json").read_text())
    assert doc["truth"] == "pet-seg-headneck/SEG"
    assert doc["model"]["id"] == "predictions in pred"
