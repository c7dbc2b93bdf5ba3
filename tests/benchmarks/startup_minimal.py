"""The start-up anchor: a minimal PySide6 + pyqtgraph window showing one DICOM slice.

    python tests/benchmarks/startup_minimal.py FILE

Reads ``FILE`` with pydicom (its own codecs, in this process), shows it windowed by its
header in a pyqtgraph ImageItem, and prints ``first image: S s after launch`` once the paint
that shows it has been handled (the time counted as radviewer's probe counts it: from the
OS's start of the process, /proc). What radviewer pays beyond this is its own start-up work.
"""

from __future__ import annotations

import os
import sys
import time


def process_age_s() -> float:
    with open("/proc/self/stat") as fh:
        start_ticks = int(fh.read().rsplit(")", 1)[1].split()[19])
    return time.clock_gettime(time.CLOCK_BOOTTIME) - start_ticks / os.sysconf("SC_CLK_TCK")


def main() -> None:
    import numpy as np
    import pydicom
    import pyqtgraph as pg
    from PySide6.QtCore import QEvent, QObject, QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication(sys.argv[:1])
    ds = pydicom.dcmread(sys.argv[1])
    img = ds.pixel_array.astype(np.float32) * float(getattr(ds, "RescaleSlope", 1) or 1) \
        + float(getattr(ds, "RescaleIntercept", 0) or 0)
    def first(v) -> float:  # a window value may be multi-valued: the first one
        return float(v[0] if isinstance(v, pydicom.multival.MultiValue) else v)

    centre = first(ds.WindowCenter) if "WindowCenter" in ds else float(img.mean())
    width = first(ds.WindowWidth) if "WindowWidth" in ds else float(np.ptp(img) or 1)
    pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)
    view = pg.GraphicsLayoutWidget()
    box = view.addViewBox(lockAspect=True, invertY=True)
    box.addItem(pg.ImageItem(img, levels=(centre - width / 2, centre + width / 2)))
    view.resize(1100, 800)

    class Probe(QObject):
        def eventFilter(self, obj, ev):  # noqa: N802
            if ev.type() == QEvent.Type.Paint:
                QTimer.singleShot(0, self.report)
            return False

        def report(self):
            print(f"first image: {process_age_s():.3f} s after launch", flush=True)
            app.exit(0)

    probe = Probe()
    view.viewport().installEventFilter(probe)
    view.show()
    app.exec()


if __name__ == "__main__":
    main()
