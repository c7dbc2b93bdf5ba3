"""``radviewer --sample --exit-after-first-image``: time from launch to the first image painted.

Used by the start-up benchmark (tests/benchmarks/bench_startup.py) and by the packaging smoke
test: the window starts as usual, and once the first slice of the opened series has been
painted the probe prints ``first image: S s after launch`` on stdout and quits with exit 0. If
no image is painted within ``timeout_s`` it prints why and quits with exit 1.
"""

from __future__ import annotations

import os
import sys
import time

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication

HEAVY_MODULES = ("onnxruntime", "highdicom", "torch", "SimpleITK")


def process_age_s() -> float | None:
    """Seconds since this process was started by the OS (Linux), or None where unknown.

    /proc/self/stat's start time counts clock ticks since boot, the clock CLOCK_BOOTTIME
    reads, so the difference includes the interpreter's own start-up and every import.
    """
    try:
        with open("/proc/self/stat") as fh:
            stat = fh.read()
        start_ticks = int(stat.rsplit(")", 1)[1].split()[19])
        return time.clock_gettime(time.CLOCK_BOOTTIME) - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return None


class FirstImageProbe(QObject):
    """Waits for ``view.image_shown``, then for the paint that puts it on screen."""

    def __init__(self, app: QApplication, view, timeout_s: float = 60.0):
        super().__init__()
        self._app = app
        self._view = view
        self._armed = False
        self._done = False
        view.image_shown.connect(self._on_image_shown)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._on_timeout)
        self._timer.start(int(timeout_s * 1000))

    def _on_image_shown(self) -> None:
        if not self._armed:
            self._armed = True
            viewport = self._view.graphics.viewport()
            viewport.installEventFilter(self)
            viewport.update()

    def eventFilter(self, obj, ev) -> bool:  # noqa: N802
        if ev.type() == QEvent.Type.Paint and self._armed and not self._done:
            # The paint event is being delivered: report once it has been handled.
            QTimer.singleShot(0, self._report)
        return False

    def _report(self) -> None:
        if self._done:
            return
        self._done = True
        self._timer.stop()
        age = process_age_s()
        text = f"{age:.3f} s after launch" if age is not None else "painted"
        print(f"first image: {text}", flush=True)
        # The start-up path must not pay for the heavy libraries (they load on first use).
        heavy = [m for m in HEAVY_MODULES if m in sys.modules]
        print(f"heavy modules loaded: {', '.join(heavy) or 'none'}", flush=True)
        from viewer.dicom import prefetch

        print(f"launch prefetch: {'used' if prefetch.used else 'not used'}", flush=True)
        self._app.exit(0)

    def _on_timeout(self) -> None:
        if not self._done:
            self._done = True
            print("radviewer: no image was shown before the time limit", file=sys.stderr,
                  flush=True)
            self._app.exit(1)
