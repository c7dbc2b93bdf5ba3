"""File ▸ Export de-identified from the window (real CT slices and a real PET slice turned
into a secondary capture that says its pixels carry text), Help ▸ Audit log, and the
archive settings kept in QSettings."""

from __future__ import annotations

import shutil

import pydicom
import pytest

from viewer.gui import archive_actions
from viewer.gui.archive_prefs import KEY_NODES, NodeEditor, load_nodes, save_nodes
from viewer.gui.deid_dialog import OPTION_FIELDS
from viewer.pacs.nodes import DicomWebNode, DimseNode

N_CT = 3


@pytest.fixture
def study(tmp_path, shared_data):
    """Three real CT slices and, in the same study, a secondary capture with Burned In
    Annotation YES (a real PET slice relabelled: the rule reads headers only)."""
    folder = tmp_path / "study"
    folder.mkdir()
    cts = sorted((shared_data / "ct-chest-lidc0314").glob("*.dcm"))[:N_CT]
    for p in cts:
        shutil.copy(p, folder / p.name)
    pet = pydicom.dcmread(sorted((shared_data / "pet-seg-headneck" / "PET").iterdir())[0])
    ct = pydicom.dcmread(cts[0], stop_before_pixels=True)
    pet.SOPClassUID = pet.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    pet.StudyInstanceUID, pet.PatientID = ct.StudyInstanceUID, ct.PatientID
    pet.BurnedInAnnotation = "YES"
    pet.save_as(folder / "sc.dcm")
    return folder


@pytest.fixture
def opened(qtbot, window, study, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))  # the audit trail
    monkeypatch.setenv("RADVIEWER_STUDY_CACHE", str(tmp_path / "cache"))
    ctrl = window.archives  # installed by MainWindow
    window.open_folder(str(study))
    qtbot.waitUntil(lambda: window.catalog is not None and not window.progress.isVisible(),
                    timeout=20000)
    return ctrl


def _export(qtbot, ctrl, out, answer, **options):
    asked = []

    def ask(_parent, flagged):
        asked.append(flagged)
        return answer

    dlg = ctrl.show_deid()
    dlg.ask = ask
    dlg.folder.setText(str(out))
    for key in OPTION_FIELDS:
        dlg.options[key].setChecked(options.get(key, False))
    dlg.export_button.click()
    qtbot.waitUntil(lambda: dlg.export_button.isEnabled(), timeout=20000)
    return dlg, asked


def test_deid_export_from_the_dialog_and_audit_view(qtbot, opened, tmp_path, study):
    out = tmp_path / "out"
    dlg, asked = _export(qtbot, opened, out, False, modified_dates=True)
    assert len(asked) == 1 and [r for _, r in asked[0]] == [
        "sc.dcm: Burned In Annotation is YES"]
    report = dlg.report
    assert len(report.written) == N_CT and len(report.flagged) == 1, dlg.status.text()
    assert "1 held back" in dlg.status.text()
    src = pydicom.dcmread(sorted(study.glob("*.dcm"))[0])
    copy = pydicom.dcmread(report.written[0])
    assert copy.PatientIdentityRemoved == "YES"
    assert copy.PatientID != src.PatientID and copy.StudyInstanceUID != src.StudyInstanceUID
    assert "113107" in [c.CodeValue for c in copy.DeidentificationMethodCodeSequence]
    assert copy.pixel_array.tobytes() == src.pixel_array.tobytes()
    dlg.close()

    # The same folder again: refused (not empty), one line in the Problems panel.
    n_before = opened.w.problems.count()
    dlg, _ = _export(qtbot, opened, out, False)
    assert dlg.report is None and dlg.status.text().startswith("✗")
    assert opened.w.problems.count() == n_before + 1
    assert "not an empty folder" in opened.w.problems.item(n_before).text()
    dlg.close()

    # Cancelling at the burned-in question writes nothing.
    dlg, _ = _export(qtbot, opened, tmp_path / "out2", None)
    assert dlg.report is None and not (tmp_path / "out2").exists()
    dlg.close()

    # The audit log shows the export: hashed study, no patient ID anywhere in the table.
    view = opened.show_audit()
    qtbot.waitUntil(lambda: view.table.rowCount() > 0, timeout=10000)
    cells = [view.table.item(r, c).text() for r in range(view.table.rowCount())
             for c in range(view.table.columnCount())]
    assert view.table.item(0, 1).text() == "deid"
    assert "written=3 flagged=1" in cells and str(out) in cells
    assert not any(src.PatientID in c or src.StudyInstanceUID in c for c in cells)
    view.close()


def test_archive_nodes_in_qsettings(settings):
    nodes = [DimseNode("pacs", "PACS", "10.0.0.5", 11112, tls=True, ca_file="/ca.pem"),
             DicomWebNode("web", "https://pacs.example.org/dicom-web", username="u",
                          password="pw")]
    save_nodes(settings, nodes)
    assert load_nodes(settings) == (nodes, [])
    settings.setValue(KEY_NODES, '[{"kind": "dimse", "name": "x", "ae_title": "A\\\\B", '
                                 '"host": "h"}]')
    loaded, problems = load_nodes(settings)
    assert loaded == [] and len(problems) == 1 and "AE title" in problems[0]


def test_node_editor_refuses_a_bad_ae_title(qtbot):
    ed = NodeEditor(kind="dimse")
    qtbot.addWidget(ed)
    ed.name.setText("pacs")
    ed.ae_title.setText("BAD\\TITLE")
    ed.host.setText("pacs.local")
    ed._on_ok_clicked()
    assert ed.node() is None and "not a valid AE title" in ed.error.text()
    ed.ae_title.setText("PACS")
    ed._on_ok_clicked()
    assert ed.node() == DimseNode("pacs", "PACS", "pacs.local", 104)


def test_install_adds_menus_without_shortcut_clashes(window, tmp_path, monkeypatch):
    monkeypatch.setenv("RADVIEWER_STUDY_CACHE", str(tmp_path / "cache"))
    ctrl = window.archives  # installed by MainWindow
    menus = {a.text(): [x.text() for x in a.menu().actions()]
             for a in window.menuBar().actions() if a.menu() is not None}
    file_menu = menus["&File"]
    assert file_menu[-1] == "&Quit" and "Arc&hives…" in file_menu
    assert file_menu.index("Search &archive…") < file_menu.index("&Preferences…")
    assert "&Audit log" in menus["&Help"]
    keys = [a.shortcut().toString() for a in window.actions() if not a.shortcut().isEmpty()]
    assert ctrl.actions["search"].shortcut().toString() == archive_actions.SEARCH_SHORTCUT
    assert len(keys) == len(set(keys)), sorted(k for k in keys if keys.count(k) > 1)
    assert ctrl._search is None  # the panels wait for the dock to show (start-up time)
    ctrl.actions["search"].trigger()
    assert ctrl.dock.isVisible() and ctrl._search is not None
