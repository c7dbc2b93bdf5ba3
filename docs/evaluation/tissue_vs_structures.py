"""Regenerate docs/evaluation/tissue-vs-structures: brainchop-tissue (grey/white matter) against
a reference made from brainchop-structures (17 structures) grouped into the same two tissues,
on the sample T1 (series 1).

    .venv/bin/python docs/evaluation/tissue_vs_structures.py   (from the repository root;
    about 2 min and 4.4 GB on 2 cores, most of it the structures model)

Both are MeshNets from the same project (brainchop), trained on FreeSurfer-style labels: the
result measures agreement between two automatic labellings, not accuracy against a manual
ground truth (docs/evaluation/README.md says what it does and does not show).
"""

import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from viewer.cli import main
from viewer.paths import sample_study_dir

HERE = Path(__file__).resolve().parent
OUT = HERE / "tissue-vs-structures"

# brainchop-structures label value -> tissue (models/brainchop-structures/manifest.json).
# FreeSurfer's convention: cortex, cerebellar cortex and the deep grey nuclei are grey matter
# (pallidum and thalamus too, though they look paler on T1); cerebral and cerebellar white
# matter are white matter; ventricles are CSF, i.e. background for a tissue model.
WHITE = {1: "Cerebral-White-Matter", 5: "Cerebellum-White-Matter"}
GREY = {2: "Cerebral-Cortex", 6: "Cerebellum-Cortex", 7: "Thalamus", 8: "Caudate",
        9: "Putamen", 10: "Pallidum", 14: "Hippocampus", 15: "Amygdala", 16: "Accumbens-area"}
# Mixed grey and white tissue with no side either convention agrees on: left out of the
# comparison (set to background in both maps) and reported separately.
IGNORED = {13: "Brain-Stem", 17: "VentralDC"}
TISSUE = {1: "White Matter", 2: "Grey Matter"}


def analyze(model: str, out: Path) -> tuple[np.ndarray, dict]:
    code = main(["analyze", "--sample", "--model", model, "--series", "1", "--out", str(out),
                 "--quiet"])
    if code not in (0, 3):  # 3: flagged (plausibility), the labels are still written
        sys.exit(f"radviewer analyze --model {model} failed with exit status {code}")
    return (np.load(out / "labels.npy"),
            json.loads((out / "report.json").read_text(encoding="utf-8")))


def write_labels(folder: Path, labels: np.ndarray, series: dict, names: dict[int, str]) -> None:
    folder.mkdir(parents=True)
    np.save(folder / "labels.npy", labels.astype(np.uint8))
    (folder / "report.json").write_text(json.dumps({
        "series": {"series_uid": series["series_uid"]},
        "labels": [{"value": v, "name": n} for v, n in names.items()]}), encoding="utf-8")


def run() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "tissue-vs-structures"
        structures, s_rep = analyze("brainchop-structures", work / "structures-analyze")
        tissue, t_rep = analyze("brainchop-tissue", work / "tissue-analyze")
        lut = np.zeros(256, np.uint8)
        lut[list(WHITE)] = 1
        lut[list(GREY)] = 2
        reference = lut[structures]
        ignored = np.isin(structures, list(IGNORED))
        # What the tissue model calls the left-out structures (not part of the metrics).
        voxel_ml = float(np.prod(_spacing(s_rep))) / 1000.0
        left_out = {}
        for v, name in IGNORED.items():
            m = structures == v
            left_out[name] = {
                "volume_ml": round(float(m.sum()) * voxel_ml, 1),
                **{f"tissue_says_{TISSUE.get(t, 'Background')}": round(
                    float((tissue[m] == t).mean()) if m.any() else 0.0, 3) for t in (0, 1, 2)}}
        reference[ignored] = 0
        prediction = np.where(ignored, 0, tissue).astype(np.uint8)
        write_labels(work / "structures-grouped", reference, s_rep["series"], TISSUE)
        write_labels(work / "brainchop-tissue", prediction, t_rep["series"], TISSUE)
        code = main(["evaluate", str(sample_study_dir()), "--truth",
                     str(work / "structures-grouped"), "--pred", str(work / "brainchop-tissue"),
                     "--out", str(OUT), "--overwrite"])
        if code:
            return code
    (OUT / "grouping.json").write_text(json.dumps({
        "reference": "brainchop-structures " + s_rep["model"]["version"] + " (sha256 "
                     + s_rep["model"]["sha256"][:12] + "), labels grouped",
        "prediction": "brainchop-tissue " + t_rep["model"]["version"] + " (sha256 "
                      + t_rep["model"]["sha256"][:12] + ")",
        "series": "sample T1 (" + s_rep["series"]["label"] + ")",
        "White Matter": list(WHITE.values()), "Grey Matter": list(GREY.values()),
        "background": "Background and the ventricles (CSF)",
        "ignored (background in both maps)": left_out,
        "volumes_ml": {"structures": s_rep.get("label_volumes_ml"),
                       "tissue": t_rep.get("label_volumes_ml")}}, indent=2), encoding="utf-8")
    return 0


def _spacing(rep: dict) -> tuple[float, float, float]:
    """Voxel size (mm) from the report's affine (column lengths)."""
    a = np.asarray(rep["label_volume"]["affine_ijk_to_lps_mm"], float)
    return tuple(float(np.linalg.norm(a[:3, c])) for c in range(3))


if __name__ == "__main__":
    sys.exit(run())
