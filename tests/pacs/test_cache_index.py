"""The study cache's index keeps what the browser lists, whatever made the study's row first."""

from __future__ import annotations

import pydicom

from viewer.pacs.cache import StudyCache


def test_a_study_row_made_by_a_retrieval_gets_its_patient_fields(tmp_path, study_files):
    src = study_files["pet"][0]
    ds = pydicom.dcmread(src)
    cache = StudyCache(tmp_path / "cache")
    try:
        # A retrieval marks the study before its first instance arrives (no patient fields).
        cache.set_state(ds.StudyInstanceUID, "retrieving", source="node")
        cache.store(ds)
        (study,) = cache.studies()
    finally:
        cache.close()
    assert study.patient_id == str(ds.PatientID) != ""
    assert study.patient_name == str(ds.PatientName)
    assert study.study_date == str(ds.StudyDate)
    assert study.state == "retrieving"
    assert study.instances == 1
