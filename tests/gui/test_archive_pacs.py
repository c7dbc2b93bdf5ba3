"""The archive GUI against a real Orthanc (tests/pacs/orthanc_server.py, started once for this
module): search fills the table and pages, a retrieval fills a throw-away study cache and the
study opens in the window, a SEG goes back by C-STORE, Verify answers, a dead node is one
line in the Problems panel."""

from __future__ import annotations

import sys
from pathlib import Path

import pydicom
import pytest
import requests

sys.path.insert(0, str(Path(__file__).parents[1] / "pacs"))
import orthanc_server  # noqa: E402

from viewer.gui import archive_search  # noqa: E402
from viewer.gui.archive_prefs import ArchivesDialog, NodeEditor, load_nodes, save_nodes  # noqa: E402
from viewer.gui.workers import running_jobs  # noqa: E402
from viewer.pacs.nodes import DicomWebNode, DimseNode  # noqa: E402

N_PET, N_CT = 4, 3


@pytest.fixture(scope="module")
def files(shared_data):
    pet = sorted((shared_data / "pet-seg-headneck" / "PET").iterdir())[:N_PET]
    seg = sorted(p for p in (shared_data / "pet-seg-headneck" / "SEG").rglob("*") if p.is_file())
    ct = sorted((shared_data / "ct-chest-lidc0314").glob("*.dcm"))[:N_CT]
    mr = sorted(p for p in (shared_data / "mr-brain").iterdir() if p.suffix != ".md")[:1]
    return {"pet": pet, "seg": seg, "ct": ct, "mr": mr}


@pytest.fixture(scope="module")
def scp_port():
    return orthanc_server.free_port()


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory, files, scp_port):
    why = orthanc_server.missing()
    if why:
        pytest.skip(why)
    server = orthanc_server.start(tmp_path_factory.mktemp("orthanc-gui"),
                                  {"radviewer": (orthanc_server.CLIENT_AET, scp_port)})
    try:
        server.upload(files["pet"] + files["ct"])
        yield server
    finally:
        server.process.kill()  # throw-away storage: no need for Orthanc's 3 s shutdown
        server.process.wait(10)


@pytest.fixture(scope="module")
def nodes(orthanc, scp_port):
    return [DimseNode("orthanc", orthanc_server.ORTHANC_AET, "127.0.0.1", orthanc.dicom_port,
                      our_ae_title=orthanc_server.CLIENT_AET, scp_port=scp_port),
            DicomWebNode("orthanc-web", orthanc.dicomweb_url, token="s3cret-token")]


@pytest.fixture
def archives(window, nodes, tmp_path, monkeypatch):
    """The window with the archive controller installed, its cache in ``tmp_path``."""
    monkeypatch.setenv("RADVIEWER_STUDY_CACHE", str(tmp_path / "cache"))
    save_nodes(window.settings, nodes)
    ctrl = window.archives  # installed by MainWindow
    ctrl.set_nodes(nodes)  # as the Archives dialog does after saving
    ctrl.show_search()
    yield ctrl
    for job in running_jobs():
        job.cancel()
        job.wait(3)
    ctrl.cache.close()


def _search(qtbot, ctrl, node: str, **fields) -> None:
    s = ctrl.search
    s.nodes.setCurrentText(node)
    for name, value in fields.items():
        getattr(s, name).setEditText(value) if name == "modality" else \
            getattr(s, name).setText(value)
    s.search_button.click()
    qtbot.waitUntil(lambda: s.search_button.isEnabled(), timeout=10000)


def test_search_retrieve_opens_the_study(qtbot, window, archives, files):
    """Search by modality, choose the study, C-GET it: progress per instance, the study opens
    from the cache and is listed there as complete."""
    s, r = archives.search, archives.retrieve
    _search(qtbot, archives, "orthanc", modality="PT")
    assert s.study_table.rowCount() == 1, s.status.text()
    want = pydicom.dcmread(files["pet"][0], stop_before_pixels=True)
    assert s.studies[0]["StudyInstanceUID"] == want.StudyInstanceUID
    s.study_table.selectRow(0)
    qtbot.waitUntil(lambda: s.series_table.rowCount() == 1, timeout=10000)
    assert s.series_counts() == {want.SeriesInstanceUID: N_PET}
    opened = []
    r.open_requested.connect(opened.append)
    r.study_button.click()
    qtbot.waitUntil(lambda: r.last_result is not None, timeout=20000)
    assert r.last_result.state == "complete" and r.last_result.received == N_PET
    assert r.progress.value() == N_PET and r.progress.maximum() == N_PET
    study_dir = Path(archives.cache.root) / want.StudyInstanceUID
    assert opened and opened[0] == str(study_dir)  # opened once the series was in
    assert len(opened) == 1  # no second scan: nothing arrived after it opened
    qtbot.waitUntil(lambda: window.catalog is not None and not window.progress.isVisible(),
                    timeout=20000)
    assert Path(window.catalog.root) == study_dir
    assert window.catalog.stacks()[0].n_frames == N_PET
    qtbot.waitUntil(lambda: r.table.rowCount() == 1, timeout=10000)
    assert r.table.item(0, 3).text() == "complete" and r.cached[0].instances == N_PET
    # Hiding patient details masks the names in both tables (a study pushed to the cache
    # as the Storage SCP does: its index row holds the patient's name).
    mr = pydicom.dcmread(files["mr"][0])
    archives.cache.store(mr)
    window.hide_patient_action.setChecked(True)
    assert s.study_table.item(0, 0).text() == archive_search.MASK
    qtbot.waitUntil(lambda: r.table.rowCount() == 2, timeout=10000)
    names = [r.table.item(i, 0).text() for i in range(r.table.rowCount())]
    assert archive_search.MASK in names
    assert not any(str(mr.PatientName).split("^")[0] in n for n in names if n)
    window.hide_patient_action.setChecked(False)
    qtbot.waitUntil(lambda: str(mr.PatientName).replace("^", " ").strip() in [
        r.table.item(i, 0).text() for i in range(r.table.rowCount())], timeout=10000)


def test_move_series_and_web_paging(qtbot, archives):
    """C-MOVE of a chosen series to the window's Storage SCP; DICOMweb pages of one study."""
    s, r = archives.search, archives.retrieve
    _search(qtbot, archives, "orthanc", modality="CT")
    s.study_table.selectRow(0)
    qtbot.waitUntil(lambda: s.series_table.rowCount() == 1, timeout=10000)
    s.series_table.selectRow(0)
    r.method.setCurrentIndex(r.method.findData("move"))
    r.series_button.click()
    qtbot.waitUntil(lambda: r.last_result is not None, timeout=20000)
    assert (r.last_result.method, r.last_result.state, r.last_result.received) == \
        ("C-MOVE", "complete", N_CT)

    s.page_size = 1
    _search(qtbot, archives, "orthanc-web", modality="")
    assert [r.method.itemData(i) for i in range(r.method.count())] == ["wado"]
    first = [st["StudyInstanceUID"] for st in s.studies]
    assert len(first) == 1 and s.next_button.isEnabled() and not s.prev_button.isEnabled()
    s.next_button.click()
    qtbot.waitUntil(lambda: s.search_button.isEnabled() and s.page == 1, timeout=10000)
    second = [st["StudyInstanceUID"] for st in s.studies]
    assert len(second) == 1 and second != first and not s.next_button.isEnabled()


def test_cancel_leaves_nothing_retrieving(qtbot, archives):
    s, r = archives.search, archives.retrieve
    _search(qtbot, archives, "orthanc", modality="PT")
    s.study_table.selectRow(0)
    r.study_button.click()
    r.cancel_button.click()
    assert r.study_button.isEnabled() and not r.cancel_button.isEnabled()  # at once
    assert "cancelled" in r.status.text()
    qtbot.waitUntil(lambda: not running_jobs(), timeout=10000)
    assert all(st.state in ("partial", "complete") for st in archives.cache.studies())


def test_send_seg_back(qtbot, archives, orthanc, files):
    dlg = archives.show_send()
    dlg.node.setCurrentText("orthanc")
    dlg.set_files(files["seg"])
    dlg.send_button.click()
    qtbot.waitUntil(lambda: dlg.send_button.isEnabled(), timeout=20000)
    assert dlg.outcomes and all(o.ok for o in dlg.outcomes), dlg.status.text()
    assert dlg.table.item(0, 1).text().startswith("✓")
    sop = str(pydicom.dcmread(files["seg"][0], stop_before_pixels=True).SOPInstanceUID)
    found = requests.post(f"{orthanc.url}/tools/lookup", data=sop, timeout=10).json()
    assert [f["Type"] for f in found] == ["Instance"]


def test_archives_dialog_verify_and_secrets(qtbot, window, archives, nodes):
    dlg = ArchivesDialog(window.settings, window)
    qtbot.addWidget(dlg)
    assert "s3cret" not in " ".join(dlg.list.item(i).text() for i in range(dlg.list.count()))
    for row in (0, 1):  # C-ECHO, then a QIDO request
        dlg.list.setCurrentRow(row)
        dlg.verify_button.click()
        qtbot.waitUntil(lambda: dlg.verify_button.isEnabled(), timeout=10000)
        assert dlg.status.text().startswith("✓"), dlg.status.text()
    editor = NodeEditor(kind="dimse", parent=dlg)
    editor.name.setText("dead")
    editor.ae_title.setText("NOBODY")
    editor.host.setText("127.0.0.1")
    editor.port.setValue(orthanc_server.free_port())
    editor._on_ok_clicked()
    dlg.add("dimse", editor)
    dlg._on_ok_clicked()
    saved, problems = load_nodes(window.settings)
    assert [n.name for n in saved] == ["orthanc", "orthanc-web", "dead"] and not problems
    assert saved[1].token == "s3cret-token"  # stored, though never shown
    # The dead node: a search fails with one line in the window's Problems panel.
    archives.set_nodes(saved)
    n_before = window.problems.count()
    _search(qtbot, archives, "dead")
    assert window.problems.count() == n_before + 1
    line = window.problems.item(n_before).text()
    assert "dead" in line and "\n" not in line and archives.search.status.text().startswith("✗")



def test_move_nobody_listening_is_shown_as_failed(qtbot, window, archives, nodes):
    """C-MOVE while the archive's idea of this station's port is wrong: nothing arrives, the
    panel says so and the Problems panel has the one-line reason."""
    import dataclasses

    wrong = dataclasses.replace(nodes[0], name="wrong-port", scp_port=orthanc_server.free_port())
    archives.set_nodes([wrong])
    s, r = archives.search, archives.retrieve
    _search(qtbot, archives, "wrong-port", modality="CT")
    s.study_table.selectRow(0)
    r.method.setCurrentIndex(r.method.findData("move"))
    n_before = window.problems.count()
    r.study_button.click()
    qtbot.waitUntil(lambda: r.last_result is not None, timeout=30000)
    assert r.last_result.state == "failed" and r.last_result.received == 0
    assert r.status.text().startswith("⚠ C-MOVE: failed")
    assert window.problems.count() == n_before + 1
    assert "\n" not in window.problems.item(n_before).text()
    qtbot.waitUntil(lambda: r.table.rowCount() == 1, timeout=10000)
    assert r.table.item(0, 3).text() == "partial"  # kept for a later resume
