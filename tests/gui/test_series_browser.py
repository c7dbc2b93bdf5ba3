"""The series browser in the real window: patient and study headers, the two-patient
banner, and patient details hidden with Ctrl+H."""

from __future__ import annotations

from PySide6.QtGui import QColor
from synth_path import write_series
from test_main_window import open_and_wait

WARNING = "This folder holds 2 patients — check which one you are reading"


def _two_patients(tmp_path):
    write_series(tmp_path / "a", n_slices=4, seed=1, patient_id="PID-ALPHA",
                 patient_name="Alpha^Anna")
    write_series(tmp_path / "b", n_slices=6, seed=2, patient_id="PID-BRAVO",
                 patient_name="Bravo^Bert", modality="MR")


def test_two_patients_show_headers_and_banner(qtbot, window, tmp_path):
    _two_patients(tmp_path)
    open_and_wait(qtbot, window, tmp_path)
    browser = window.series_list
    rows = browser.row_texts()
    assert rows[0] == "Alpha Anna · ID PID-ALPHA"
    assert rows[1] == "2024-01-15  (CT)"
    assert rows[2].startswith("1. CT")
    assert rows[3] == "Bravo Bert · ID PID-BRAVO"
    assert rows[4] == "2024-01-15  (MR)"
    assert rows[5].startswith("2. MR")
    assert browser.count() == 2
    assert browser.banner.isVisibleTo(window)
    assert WARNING in browser.banner.text()
    assert WARNING in window.statusBar().currentMessage()
    # Loud means coloured: the banner's background is orange, not the window's grey.
    img = browser.banner.grab().toImage()
    assert QColor(img.pixel(6, 3)).name() == "#f5a623"

    # Rows still address Catalog.stacks(): the second patient's series opens.
    browser.setCurrentRow(1)
    qtbot.waitUntil(lambda: window.view.pixels.stack.first.patient_id == "PID-BRAVO",
                    timeout=30000)
    assert window.view.pixels.stack.n_frames == 6


def test_hidden_patient_details_show_no_names(qtbot, window, tmp_path):
    _two_patients(tmp_path)
    window.hide_patient_action.trigger()  # Ctrl+H, before the folder opens
    assert window.hide_patient_action.isChecked()
    open_and_wait(qtbot, window, tmp_path)
    rows = window.series_list.row_texts()
    text = "\n".join(rows)
    for secret in ("Alpha", "Anna", "Bravo", "Bert", "PID-ALPHA", "PID-BRAVO"):
        assert secret not in text
    assert rows[0] == "Patient 1" and rows[3] == "Patient 2"
    assert WARNING in window.series_list.banner.text()  # the warning itself names no one
    window.hide_patient_action.trigger()  # shown again at once, without rescanning
    assert window.series_list.row_texts()[0] == "Alpha Anna · ID PID-ALPHA"


def test_one_patient_has_no_banner(qtbot, window, tmp_path):
    write_series(tmp_path / "a", n_slices=4, seed=1)
    write_series(tmp_path / "b", n_slices=3, seed=2)
    open_and_wait(qtbot, window, tmp_path)
    assert not window.series_list.banner.isVisibleTo(window)
    rows = window.series_list.row_texts()
    assert sum(r.endswith("ID SYNTH001") for r in rows) == 1
    assert window.series_list.count() == 2


def test_hidden_details_hide_the_study_description_too(qtbot, window):
    """The sample's Study Description carries a person's name ("BORJAN GAGOSKI^Normal
    Volunteer Protocol"): with patient details hidden the study header shows date and
    modalities only, as the image corners do."""
    from viewer.paths import sample_study_dir

    window.hide_patient_action.trigger()
    open_and_wait(qtbot, window, sample_study_dir())
    text = "\n".join(window.series_list.row_texts())
    assert "GAGOSKI" not in text and "Volunteer" not in text
    assert "2012-04-14  (MR)" in text
    window.hide_patient_action.trigger()
    assert "Normal Volunteer Protocol" in "\n".join(window.series_list.row_texts())
