"""Drive the real window against a local Orthanc and take the README's archive screenshot
(docs/screenshots/pacs-search.png).

    DISPLAY=:99 python scripts/screenshot_pacs.py [--out docs/screenshots]

A throw-away Orthanc (tests/pacs/orthanc_server.py; Debian packages ``orthanc`` and
``orthanc-dicomweb``) is loaded with the shared MR study, the PET and 40 CT slices. The
window (throw-away settings, study cache and audit trail; patient details hidden) searches
it, retrieves the MR study by C-GET (it opens once its first series is in), sends the PET's
DICOM SEG back by C-STORE, writes a de-identified copy and reads the audit log; each step's
outcome is printed. Without $DISPLAY Qt draws offscreen.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "tests" / "pacs"))
SHARED = ROOT.parent / "shared" / "data"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = ap.parse_args()
    if not os.environ.get("DISPLAY"):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    import orthanc_server

    why = orthanc_server.missing()
    if why:
        print(why, file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="radviewer-pacs-shot-"))
    os.environ["RADVIEWER_STUDY_CACHE"] = str(tmp / "cache")
    os.environ["XDG_DATA_HOME"] = str(tmp / "data")
    import pydicom
    import requests
    import shot_common
    from PySide6.QtCore import QSettings, Qt
    from PySide6.QtWidgets import QDockWidget
    from shot_common import qt_app, spin

    from viewer.gui import archive_actions
    from viewer.gui.archive_prefs import save_nodes
    from viewer.gui.main_window import MainWindow
    from viewer.pacs.nodes import DicomWebNode, DimseNode

    _app = qt_app()

    def wait_for(cond, what: str, timeout: float = 120) -> None:
        shot_common.wait_for(cond, what, timeout, settle_ms=0)


    pet = sorted((SHARED / "pet-seg-headneck" / "PET").iterdir())
    seg = sorted(p for p in (SHARED / "pet-seg-headneck" / "SEG").rglob("*") if p.is_file())
    ct = sorted((SHARED / "ct-chest-lidc0314").glob("*.dcm"))[:40]
    mr = [p for p in sorted((SHARED / "mr-brain").iterdir()) if p.suffix != ".md"]
    scp_port = orthanc_server.free_port()
    server = orthanc_server.start(tmp / "orthanc", {"radviewer": ("RADVIEWER", scp_port)})
    try:
        server.upload(pet + ct + mr)
        settings = QSettings(str(tmp / "radviewer.ini"), QSettings.Format.IniFormat)
        save_nodes(settings, [
            DimseNode("Orthanc (local)", "ORTHANC", "127.0.0.1", server.dicom_port,
                      our_ae_title="RADVIEWER", scp_port=scp_port),
            DicomWebNode("Orthanc DICOMweb", server.dicomweb_url)])
        win = MainWindow(settings)
        ctrl = archive_actions.install(win)
        win.resize(1500, 950)
        win.show()
        win.hide_patient_action.trigger()
        ctrl.show_search()
        series_dock = win.findChild(QDockWidget, "series_dock")
        win.resizeDocks([ctrl.dock], [560], Qt.Orientation.Horizontal)
        win.resizeDocks([series_dock, ctrl.dock], [200, 720], Qt.Orientation.Vertical)
        s, r = ctrl.search, ctrl.retrieve
        s.search_button.click()
        wait_for(s.search_button.isEnabled, "the search")
        print("search:", s.status.text())
        s.study_table.selectRow(next(i for i, st in enumerate(s.studies)
                                     if "MR" in st.get("ModalitiesInStudy", "")))
        wait_for(lambda: s.series_table.rowCount() > 0, "the series")
        opened: list[float] = []
        r.open_requested.connect(lambda _p: opened.append(time.perf_counter()))
        t0 = time.perf_counter()
        r.study_button.click()
        wait_for(lambda: r.last_result is not None, "the retrieval")
        done = time.perf_counter() - t0
        print(f"retrieve: {r.status.text()}; opened after "
              f"{', '.join(f'{t - t0:.2f}' for t in opened)} s; result shown after {done:.2f} s")
        wait_for(lambda: win.catalog is not None and win._scan is None, "the scan")
        wait_for(lambda: win.view._shown is not None, "the image")
        win.view.set_position(win.view.n_slices // 2)
        spin(800)
        args.out.mkdir(parents=True, exist_ok=True)
        path = args.out / "pacs-search.png"
        if not win.grab().save(str(path), "PNG"):
            raise RuntimeError(f"could not write {path}")
        print(path)

        send = ctrl.show_send()
        send.clear()
        send.node.setCurrentText("Orthanc (local)")
        send.set_files([str(p) for p in seg])
        send.send_button.click()
        wait_for(send.send_button.isEnabled, "the send")
        sop = str(pydicom.dcmread(seg[0], stop_before_pixels=True).SOPInstanceUID)
        found = requests.post(f"{server.url}/tools/lookup", data=sop, timeout=10).json()
        print(f"send: {send.status.text()}; Orthanc has it: {bool(found)}")
        send.close()
        deid = ctrl.show_deid()
        deid.folder.setText(str(tmp / "deid"))
        deid.ask = lambda *_: False
        deid.export_button.click()
        wait_for(deid.export_button.isEnabled, "the de-identified export")
        print("deid:", deid.status.text())
        deid.close()
        audit = ctrl.show_audit()
        wait_for(lambda: audit.table.rowCount() > 0, "the audit log")
        print("audit:", [audit.table.item(i, 1).text() for i in range(audit.table.rowCount())])
        audit.close()
        win.close()
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
