"""The archive panel's cost: a retrieval driven from the window against the core alone, and
``archive_actions.install`` against the window it is installed in.

    python tests/benchmarks/bench_archive_gui.py [--rounds N]

A throw-away Orthanc holds the shared MR study (4 series, 232 instances). Each round, in an
interleaved order, retrieves it by C-GET into a fresh cache (1) with ``PacsClient.retrieve``
on this thread (the anchor) and (2) from the window's Search archive panel (worker thread,
a progress signal per instance, the study opened when its first series is in, the window's
own scan and thumbnails running meanwhile). Printed: medians of the core's time, the
panel's time to the result on screen and to the first open, their ratios to the anchor of
the same round, and the median time of ``MainWindow(...)`` and of ``install`` on it. The
load average is printed with the figures; nothing is asserted. Needs Orthanc with its
DICOMweb plugin (apt install orthanc orthanc-dicomweb).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "pacs"))
MR = REPO.parent / "shared" / "data" / "mr-brain"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import orthanc_server

    why = orthanc_server.missing()
    if why:
        print(why)
        return 0
    tmp = Path(tempfile.mkdtemp(prefix="bench-archive-gui-"))
    os.environ["XDG_DATA_HOME"] = str(tmp / "data")
    import pyqtgraph as pg
    from PySide6.QtCore import QEventLoop, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from viewer.gui import archive_actions
    from viewer.gui.archive_prefs import save_nodes
    from viewer.gui.main_window import MainWindow
    from viewer.gui.workers import stop_all
    from viewer.pacs.cache import StudyCache
    from viewer.pacs.client import PacsClient
    from viewer.pacs.nodes import DimseNode

    pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)
    app = QApplication([sys.argv[0]])  # noqa: F841 (kept alive for the run)

    def spin_until(cond, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > deadline:
                raise TimeoutError
            loop = QEventLoop()
            QTimer.singleShot(5, loop.quit)
            loop.exec()

    files = [p for p in sorted(MR.iterdir()) if p.suffix != ".md"]
    # Orthanc answers C-GET only for an AE title it knows.
    server = orthanc_server.start(tmp / "orthanc",
                                  {"radviewer": ("RADVIEWER", orthanc_server.free_port())})
    try:
        server.upload(files)
        node = DimseNode("orthanc", "ORTHANC", "127.0.0.1", server.dicom_port)
        study = PacsClient(node).find("STUDY", {})[0]["StudyInstanceUID"]
        settings = QSettings(str(tmp / "s.ini"), QSettings.Format.IniFormat)
        save_nodes(settings, [node])
        core, shown, opened, ratio_shown, ratio_open, make, inst = [], [], [], [], [], [], []
        for rnd in range(args.rounds):
            def run_core(rnd: int = rnd) -> None:
                cache = StudyCache(tmp / f"core{rnd}")
                t0 = time.perf_counter()
                r = PacsClient(node, cache).retrieve(study)
                core.append(time.perf_counter() - t0)
                if r.state != "complete":
                    print(f"  core round {rnd}: {r.state} {r.message}")
                cache.close()

            def run_gui(rnd: int = rnd) -> None:
                t0 = time.perf_counter()
                win = MainWindow(settings)
                t1 = time.perf_counter()
                ctrl = archive_actions.install(win, StudyCache(tmp / f"gui{rnd}"))
                t2 = time.perf_counter()
                make.append(t1 - t0)
                inst.append(t2 - t1)
                win.resize(1200, 800)
                win.show()
                ctrl.show_search()
                s, r = ctrl.search, ctrl.retrieve
                s.search_button.click()
                spin_until(lambda: s.search_button.isEnabled() and s.studies)
                s.study_table.selectRow(0)
                spin_until(lambda: s.series_table.rowCount() == 4)
                first: list[float] = []
                r.open_requested.connect(lambda _p: first.append(time.perf_counter()))
                t0 = time.perf_counter()
                r.study_button.click()
                spin_until(lambda: r.last_result is not None)
                shown.append(time.perf_counter() - t0)
                opened.append(first[0] - t0)
                spin_until(lambda: win.catalog is not None and win._scan is None)
                win.close()
                stop_all(5)
                ctrl.cache.close()

            for step in ((run_core, run_gui) if rnd % 2 == 0 else (run_gui, run_core)):
                step()
            ratio_shown.append(shown[-1] / core[-1])
            ratio_open.append(opened[-1] / core[-1])
        med = statistics.median
        print(f"MR study, {len(files)} instances, C-GET, {args.rounds} rounds, "
              f"load average {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores)")
        print(f"  core PacsClient.retrieve          {med(core):6.2f} s   (anchor)")
        print(f"  panel: result on screen           {med(shown):6.2f} s   "
              f"x{med(ratio_shown):.2f} of the anchor (paired)")
        print(f"  panel: study opened (1st series)  {med(opened):6.2f} s   "
              f"x{med(ratio_open):.2f} of the anchor (paired)")
        print(f"  MainWindow(...)                   {med(make) * 1000:6.1f} ms")
        print(f"  archive_actions.install(window)   {med(inst) * 1000:6.1f} ms   "
              f"x{med(i / m for i, m in zip(inst, make, strict=True)):.2f} of the window")
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
