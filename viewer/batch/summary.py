"""The batch's table: ``summary.csv`` and ``summary.json`` in the output folder, one row per
series found (analysed, failed, or not applicable), written atomically after each run.

Rows name the series by UIDs, description and modality only; patient name, ID, study date and
accession number are added only when the user asks (``--include-patient-details``).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from viewer.export.atomic import atomic_write

SUMMARY_SCHEMA = "radviewer.batch-summary/1"
COLUMNS = ("series_uid", "study_uid", "series", "modality", "model", "model_version", "status",
           "result", "reason", "seconds", "folder")
PATIENT_COLUMNS = ("patient_id", "patient_name", "study_date", "accession_number")


def series_fields(stack) -> dict:
    """The patient-free columns that describe a stack."""
    h = stack.first
    return {"series_uid": stack.uid, "study_uid": h.study_uid, "series": stack.label,
            "modality": h.modality}


def patient_fields(stack) -> dict:
    h = stack.first
    return {"patient_id": h.patient_id, "patient_name": h.patient_name,
            "study_date": h.study_date, "accession_number": h.accession_number}


def result_text(rec: dict) -> str:
    """``White Matter 512.3 mL; Grey Matter 700.1 mL`` or ``No tumour 0.98 (score (not
    calibrated))``: the table's one-cell result."""
    if rec.get("volumes_ml"):
        return "; ".join(f"{k} {v:.1f} mL" for k, v in rec["volumes_ml"].items())
    if rec.get("top_label"):
        return f"{rec['top_label']} {rec['top_score']:.2f} ({rec.get('score_kind', 'score')})"
    return ""


def write_summary(out: Path, rows: list[dict], include_patient: bool, doc: dict) -> None:
    """Write both files (each atomically). ``doc`` holds the JSON's header keys (model, root,
    counts); raises ExportError naming the file."""
    cols = [*COLUMNS, *(PATIENT_COLUMNS if include_patient else ())]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({**r, "result": result_text(r)})
    atomic_write(out / "summary.csv", lambda fh: fh.write(buf.getvalue()), "w", overwrite=True)
    keep = [*cols, "volumes_ml", "top_label", "top_score", "score_kind", "flags"]
    body = {"schema": SUMMARY_SCHEMA, **doc,
            "series": [{k: r[k] for k in keep if k in r} for r in rows]}
    text = json.dumps(body, indent=2)
    atomic_write(out / "summary.json", lambda fh: fh.write(text), "w", overwrite=True)
