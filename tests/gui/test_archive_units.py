"""The archive panels' small rules: the study query from the form's fields, and when a
retrieval's first series counts as arrived (the study opens then)."""

from __future__ import annotations

from pathlib import Path

from viewer.gui.archive_retrieve import ArrivalTracker
from viewer.gui.archive_search import study_query


def test_study_query_from_the_form():
    assert study_query() == {}
    assert study_query("DOE", " 123 ", "A1", "20240101", "", "ct", "chest") == {
        "PatientName": "DOE*", "PatientID": "123", "AccessionNumber": "A1",
        "StudyDate": "20240101-", "ModalitiesInStudy": "CT", "StudyDescription": "*chest*"}
    assert study_query("DOE^J?HN", description="CT*") == {
        "PatientName": "DOE^J?HN", "StudyDescription": "CT*"}
    assert study_query(date_from="20240102", date_to="20240102") == {"StudyDate": "20240102"}


def _p(series: str) -> Path:
    return Path("cache") / "1.2.3" / series / "9.dcm"


def test_first_series_by_count_or_by_the_next_series():
    counted = ArrivalTracker({"1.1": 2, "1.2": 1})
    assert [counted.add(p) for p in (_p("1.1"), None, _p("1.1"))] == [False, False, True]
    uncounted = ArrivalTracker({})
    assert [uncounted.add(_p(s)) for s in ("1.1", "1.1", "1.2")] == [False, False, True]
    # A series the archive listed with a count does not end the first by arriving early.
    interleaved = ArrivalTracker({"1.1": 2, "1.2": 2})
    assert [interleaved.add(_p(s)) for s in ("1.1", "1.2", "1.1")] == [False, False, True]
