"""(decoder worker processes) What runs in each worker of :mod:`viewer.dicom.decode_pool`
before its first item: die with the app, leave Ctrl+C to the app."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

_PR_SET_PDEATHSIG = 1
IN_WORKER = False  # set in the decoder processes (results then go back through shared memory)


def worker_init(app_pid: int) -> None:
    """(worker) Die with the app; leave Ctrl+C to the app."""
    global IN_WORKER
    IN_WORKER = True
    # The terminal sends SIGINT to the whole process group; the app decides what to stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The forkserver gives each worker a copy of the pipe whose closing tells the forkserver
    # that the app has gone; held here it would keep the forkserver (and, through
    # PR_SET_PDEATHSIG, this worker) alive after a kill -9 of the app.
    fs = getattr(sys.modules.get("multiprocessing.forkserver"), "_forkserver", None)
    alive_fd = getattr(fs, "_forkserver_alive_fd", None)
    if alive_fd is not None:
        try:
            os.close(alive_fd)
        except OSError:
            pass
        fs._forkserver_alive_fd = None
    if sys.platform.startswith("linux"):
        import ctypes

        parent = os.getppid()
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)
    # Elsewhere (and as a second line): a watchdog that ends this worker once the app is gone.
    threading.Thread(target=_watch_app, args=(app_pid,), name="watch-app", daemon=True).start()


def worker_init_forked(app_pid: int, preload: tuple[str, ...]) -> None:
    """(worker forked from the app itself, :func:`~viewer.dicom.decode_pool.fork_now`) As
    :func:`worker_init`, then import the decoders that a forkserver would have imported for
    it (the app has numpy and the rest already); a missing one is skipped."""
    worker_init(app_pid)
    import importlib

    for name in preload:
        try:
            importlib.import_module(name)
        except ImportError:
            pass


def _watch_app(app_pid: int) -> None:
    while True:
        time.sleep(1.0)
        try:
            os.kill(app_pid, 0)
        except ProcessLookupError:
            os._exit(1)
        except PermissionError:  # the pid was reused by another user's process
            os._exit(1)


def ping() -> int:
    return os.getpid()
