"""(decoder forkserver) Exit at once when the app has gone, skipping Python's finalization.

The forkserver (:mod:`viewer.dicom.decode_pool`) holds no state worth tearing down: it forks
the decoder workers and ends when the app's pipe to it closes. Its interpreter finalization
(module teardown, garbage collection of numpy and the codecs) still took ~30 ms after each
app exit, measured with ``strace`` on a fresh CLI load, and a caller reading the app's output
through a pipe waits for it, since the forkserver inherits stdout/stderr. So its exit hook
ends the process with ``os._exit(0)``. Imported only through the forkserver's preload list;
anywhere else (a test importing every module) importing it does nothing.
"""

from __future__ import annotations

import atexit
import os
import sys


def _in_forkserver_preload() -> bool:
    """Whether this import runs inside ``multiprocessing.forkserver.main`` (its preload)."""
    frame = sys._getframe(1)
    while frame is not None:
        code = frame.f_code
        if code.co_name == "main" and code.co_filename.endswith(
                os.path.join("multiprocessing", "forkserver.py")):
            return True
        frame = frame.f_back
    return False


def _exit_now() -> None:
    for stream in (sys.stdout, sys.stderr):  # a warning it printed is not lost
        try:
            stream.flush()
        except (AttributeError, OSError, ValueError):
            pass
    os._exit(0)


if _in_forkserver_preload():
    # Workers forked later end through os._exit themselves (multiprocessing's child path), so
    # this hook runs only when the forkserver itself exits.
    atexit.register(_exit_now)
