"""What a model run produced, with its provenance, and its JSON report."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field

import numpy as np

from viewer.ai.manifest import Label

RESEARCH_NOTICE = "Research use — not a diagnosis."
REPORT_SCHEMA = "radviewer.analysis/1"


@dataclass
class AnalysisResult:
    """One model on one stack.

    ``label_volume`` is uint8 ``[k, j, i]`` on the stack's own voxels (segmentation);
    ``slice_scores`` is ``(n_slices, n_labels)`` probabilities in stack slice order
    (classification); ``series_scores`` maps label name to the mean over slices.
    """

    model_id: str
    model_name: str
    model_version: str
    sha256: str
    task: str
    mode: str
    series_uid: str
    stack_uid: str
    stack_label: str
    labels: tuple[Label, ...]
    provider: str
    timings_s: dict[str, float]
    label_volume: np.ndarray | None = None
    label_volumes_ml: dict[str, float] = field(default_factory=dict)
    slice_scores: np.ndarray | None = None
    series_scores: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # Honest outputs (see models/README.md, "Honest outputs"):
    calibrated: bool = False  # scores are calibrated probabilities (manifest output.calibrated)
    slice_in_range: np.ndarray | None = None  # bool per slice: inside the model's range (2-D)
    aggregate_rule: str = ""  # how series_scores were made from slice_scores
    flags: list[str] = field(default_factory=list)  # implausible results, use outside its domain
    geometry_warnings: list[str] = field(default_factory=list)  # the stack's own warnings
    created: str = field(default_factory=lambda: _dt.datetime.now().isoformat(timespec="seconds"))

    @property
    def title(self) -> str:
        return f"{self.model_name} {self.model_version}"

    @property
    def top_label(self) -> str | None:
        if not self.series_scores:
            return None
        return max(self.series_scores, key=self.series_scores.get)

    @property
    def score_word(self) -> str:
        """What the numbers are: "probability" when calibrated, else "score (not calibrated)"."""
        return "probability" if self.calibrated else "score (not calibrated)"

    def format_score(self, value: float) -> str:
        """``87 %`` for calibrated probabilities, ``0.87`` for scores (never a % that
        suggests a probability the model was never calibrated to give)."""
        return f"{100 * value:.0f} %" if self.calibrated else f"{value:.2f}"

    @property
    def warnings(self) -> list[str]:
        """Everything a reader must see beside the numbers: flags, then geometry."""
        return [*self.flags, *(f"geometry: {w}" for w in self.geometry_warnings)]

    def provenance(self) -> dict[str, str]:
        """PNG tEXt chunks for an image showing this result (no patient data)."""
        return {"radviewer:model-id": self.model_id, "radviewer:model-version":
                self.model_version, "radviewer:model-sha256": self.sha256,
                "radviewer:series-uid": self.series_uid, "radviewer:notice": RESEARCH_NOTICE,
                **({"radviewer:flags": "; ".join(self.warnings)} if self.warnings else {})}

    def report(self) -> dict:
        """The JSON-able report (schema ``radviewer.analysis/1``); no patient data."""
        out = {
            "schema": REPORT_SCHEMA,
            "notice": RESEARCH_NOTICE,
            "model": {"id": self.model_id, "name": self.model_name,
                      "version": self.model_version, "sha256": self.sha256,
                      "task": self.task, "mode": self.mode},
            "series": {"series_uid": self.series_uid, "stack_uid": self.stack_uid,
                       "label": self.stack_label},
            "provider": self.provider,
            "timings_s": {k: round(v, 3) for k, v in self.timings_s.items()},
            "created": self.created,
            "labels": [{"value": lab.value, "name": lab.name, "color": list(lab.color)}
                       for lab in self.labels],
            "notes": list(self.notes),
            "flags": list(self.flags),
            "geometry_warnings": list(self.geometry_warnings),
        }
        if self.task == "segmentation":  # 0.1 mL: what the 1 mm model grid supports
            out["label_volumes_ml"] = {k: round(v, 1) for k, v in self.label_volumes_ml.items()}
        if self.slice_scores is not None:
            names = [lab.name for lab in self.labels]
            out["scores"] = {"kind": self.score_word, "calibrated": self.calibrated,
                             "aggregate": self.aggregate_rule}
            out["series_scores"] = {k: round(v, 4) for k, v in self.series_scores.items()}
            out["top_label"] = self.top_label
            out["slice_scores"] = [dict(zip(names, (round(float(v), 4) for v in row),
                                            strict=True)) for row in self.slice_scores]
            if self.slice_in_range is not None:
                out["slices_outside_range"] = [int(k) + 1 for k in
                                               np.flatnonzero(~self.slice_in_range)]
        return out


def result_from_seg(seg, stack) -> AnalysisResult:
    """A loaded DICOM SEG (``viewer.dicom.seg.SegOverlay``) on ``stack``, shaped like a model
    result so it gets the same overlay controls, legend and exports. Its provenance is the
    SEG's own: series description and algorithm (or "manual")."""
    vol = seg.label_volume
    voxel_ml = float(np.prod(stack.spacing)) / 1000.0 if stack.spacing else 0.0
    counts = np.bincount(vol.ravel(), minlength=256)
    return AnalysisResult(
        model_id=f"dicom-seg:{seg.sop_instance_uid}",
        model_name=f"DICOM SEG: {seg.series_description or 'segmentation'}",
        model_version=seg.algorithm or "", sha256="", task="segmentation", mode="3d",
        series_uid=stack.series_uid, stack_uid=stack.uid, stack_label=stack.label,
        labels=tuple(seg.labels), provider="file", timings_s={"total": 0.0},
        label_volume=vol,
        label_volumes_ml={lab.name: round(float(counts[lab.value]) * voxel_ml, 3)
                          for lab in seg.labels if lab.value != 0},
        notes=[f"loaded from {seg.path}"] if getattr(seg, "path", None) else [],
    )
