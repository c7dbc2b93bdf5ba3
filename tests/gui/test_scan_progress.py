"""A folder scan reports progress a few times a second, not once per file (each report
repaints the progress bar on the GUI thread), and always ends with done == total."""

from __future__ import annotations

from PySide6.QtCore import Qt

from viewer.gui.workers import ScanJob
from viewer.paths import sample_study_dir


def test_scan_progress_is_throttled_and_ends_complete(qtbot):
    seen, done = [], []
    job = ScanJob(1, str(sample_study_dir()))
    job.progress.connect(lambda _r, d, t: seen.append((d, t)),
                         Qt.ConnectionType.DirectConnection)
    job.finished.connect(lambda _r, catalog: done.append(catalog),
                         Qt.ConnectionType.DirectConnection)
    job.start()
    qtbot.waitUntil(lambda: bool(done), timeout=60000)
    assert done[0].stacks() and seen
    n_files = seen[-1][1]
    assert seen[-1] == (n_files, n_files) and n_files >= 200  # the sample: 232 files
    assert len(seen) < n_files / 4  # ~20 a second at most, where it was one per file
