"""Worker processes for the native decoders, so that a decoder's crash is a failed frame.

GDCM, CharLS, openjpeg and libjpeg are C/C++ libraries: a malformed codestream can abort the
process that runs them (an uncaught C++ exception is SIGABRT). Compressed pixel data is
therefore decoded only here, in a pool of worker processes, never in the app's own process.

- :func:`run_each` runs a batch function over items in the pool and yields each item's result
  as it arrives. When a worker dies, the items it may have been decoding are retried one at a
  time in a one-worker *quarantine* pool, where a crash can only be that item's: it is then
  reported as :class:`WorkerCrashed`, and the main pool is rebuilt for the rest.
- The pool is kept for the session and :func:`shutdown` terminates it. Most of its start is
  the forkserver importing the decoders: :func:`prestart` sets that going at launch, and
  :func:`start_soon` forks the workers in the background once compressed data is in sight.
  A command-line run, single-threaded at its start, forks them from itself instead
  (:func:`fork_now`).
  Workers die with their parent (Linux ``PR_SET_PDEATHSIG``; the forkserver exits when the
  app's pipe to it closes), so not even ``kill -9`` of the app leaves decoder processes behind.
- Decoded frames come back through shared memory (:mod:`viewer.dicom.shm_frames`); results
  dropped on the way (a cancelled load) are handed to run_each's ``discard``.
- Where worker processes cannot start at all (a locked-down host), items are run in this
  process instead, and a log line says that a hostile file could then crash the app.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, wait
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool, ProcessPoolExecutor
from typing import Any

from viewer.dicom.decode_worker import ping, worker_init, worker_init_forked
from viewer.dicom.pool_stop import terminate as _terminate
from viewer.errors import OperationCancelled

log = logging.getLogger(__name__)

START_TIMEOUT_S = 30.0  # a pool whose workers do not answer by then cannot start here
_POLL_S = 0.2  # how often a waiting caller looks at its cancel flag

BatchFn = Callable[[Sequence[Any]], list[Any]]


class WorkerCrashed(Exception):
    """The worker process died (abort, segfault, killed) while running this item alone."""


# ----------------------------------------------------------------------------- the pools

_lock = threading.RLock()
_start_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None
_generation = 0
_quarantine: ProcessPoolExecutor | None = None
_quarantine_lock = threading.Lock()
_started = False  # the first pool answered (or was found impossible)
_unavailable: str | None = None  # why worker processes cannot start on this host
_retry_at = 0.0  # time.monotonic() after which a failed start is tried again
RETRY_S = 60.0  # isolation is worth retrying: a failed start may have been a passing hiccup
_closed = False  # shut down for good: the app is exiting
# Imported once by the forkserver, so that each worker forks with them: the frame decoders and
# the codecs they call directly (CharLS, openjpeg, pylibjpeg-rle; a missing one is skipped).
# Not pydicom (0.17 s more before the first worker can fork, measured on a fresh process): a
# worker imports it when a frame needs it (other codecs, fallbacks). Named here, not imported,
# so that the app can start the forkserver before it imports them itself (prestart at launch).
# forkserver_exit: the forkserver skips Python's finalization when the app has gone.
_preload: tuple[str, ...] = ("viewer.dicom.isolated", "jpeg_ls", "openjpeg", "rle.rle",
                             "viewer.dicom.forkserver_exit")
_soon: threading.Thread | None = None  # start_soon()'s thread
_exit_hook_installed = False


def configure(preload: Sequence[str]) -> None:
    """Modules the forkserver imports once, so each worker starts with them (the decoders)."""
    global _preload
    _preload = tuple(preload)


def _context():
    # forkserver: safe with the GUI's threads, and workers fork from a server that has
    # already imported the decoders.
    method = "forkserver" if sys.platform.startswith("linux") else "spawn"
    ctx = multiprocessing.get_context(method)
    if method == "forkserver" and _preload:
        ctx.set_forkserver_preload(list(_preload))
    return ctx


def _new_executor(workers: int, fork: bool = False) -> ProcessPoolExecutor:
    global _exit_hook_installed
    if not _exit_hook_installed:
        _exit_hook_installed = True
        # Before concurrent.futures' own exit hook, which would wait for busy workers.
        register = getattr(threading, "_register_atexit", None)
        if register is not None:
            try:
                register(shutdown)
            except RuntimeError:  # the interpreter is already exiting
                pass
        atexit.register(shutdown)
    if fork:  # see fork_now
        return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context(
            "fork"), initializer=worker_init_forked, initargs=(os.getpid(), _preload))
    return ProcessPoolExecutor(max_workers=workers, mp_context=_context(),
                               initializer=worker_init, initargs=(os.getpid(),))


def workers() -> int:
    """Number of decoder processes in the main pool."""
    return max(1, os.cpu_count() or 1)


def _main_pool() -> tuple[ProcessPoolExecutor | None, int]:
    """The main pool and its generation; ``None`` where worker processes cannot start."""
    global _pool, _started, _unavailable
    with _start_lock:
        if _unavailable is not None and time.monotonic() >= _retry_at and not _closed:
            _started, _unavailable = False, None  # try the processes again
    start()
    with _lock:
        if _closed:
            raise OperationCancelled("decoding stopped: radviewer is closing")
        if _unavailable is not None:
            return None, _generation
        if _pool is None:
            _pool = _new_executor(workers())
        return _pool, _generation


def _discard(generation: int) -> None:
    """A worker of pool ``generation`` died: the next caller gets a fresh pool."""
    global _pool, _generation
    with _lock:
        if generation != _generation or _pool is None:
            return  # another caller has already replaced it
        old, _pool = _pool, None
        _generation += 1
    _terminate(old)


def start() -> None:
    """Start the decoder processes and wait until they answer (idempotent, thread-safe).

    The first call costs ~0.1-0.2 s (the forkserver imports the decoders, unless prestart has
    done it). Where processes cannot start, decoding falls back to this process and a warning
    is logged once.
    """
    global _started, _pool, _unavailable, _retry_at
    if _started:
        return
    with _start_lock:
        if _started:
            return
        with _lock:
            if _closed:
                return
            if _pool is None:
                _pool = _new_executor(workers())
            pool = _pool
        try:
            # One task per worker: the pool starts a worker for each pending task. One answer
            # shows that workers start here; the others come up while work is sent.
            futures = [pool.submit(ping) for _ in range(workers())]
            done, _ = wait(futures, timeout=START_TIMEOUT_S, return_when=FIRST_COMPLETED)
            if not done:
                raise FutureTimeout(f"no decoder process answered in {START_TIMEOUT_S:.0f} s")
            next(iter(done)).result()
        except FutureTimeout:
            # A loaded machine, not an impossible one: keep the pool (work sent to it waits for
            # its workers) rather than decode in this process.
            log.warning("decoder processes are slow to start (no answer in %.0f s); "
                        "compressed images wait for them", START_TIMEOUT_S)
        except (BrokenProcessPool, OSError, RuntimeError) as exc:
            with _lock:
                closing = _closed
                if not closing:
                    _unavailable = f"{type(exc).__name__}: {exc}"
                    _retry_at = time.monotonic() + RETRY_S
                    _pool = None
            _terminate(pool)
            if not closing:
                log.warning("decoder processes cannot start on this host (%s); compressed "
                            "images are decoded in radviewer's own process, where a "
                            "malformed file can crash it (tried again in %.0f s)",
                            _unavailable, RETRY_S)
        _started = True


def prestart() -> None:
    """Start the forkserver, which then imports the decoders (:data:`_preload`) on its own,
    and return at once (a few ms; idempotent). Called first thing at launch: that import, most
    of a worker's start (~0.12 s idle), then overlaps the app's own imports and folder scan;
    workers fork from it in milliseconds when first needed.
    Without a forkserver (spawned workers import everything themselves) the whole pool is
    started in the background instead."""
    if _closed:
        return
    if not sys.platform.startswith("linux"):
        start_soon()
        return
    _context()  # sets the preload
    try:
        from multiprocessing import forkserver

        forkserver.ensure_running()
    except (OSError, RuntimeError) as exc:  # start() will try again, and say so if it fails
        log.debug("forkserver not started ahead: %s", exc)


def fork_now() -> bool:
    """Fork the decoder processes from this process now, where that is safe: on Linux, while
    it runs no other Python thread and before any pool (a fork with other threads alive can
    deadlock the children). True where it did; else call :func:`prestart`. Only for a
    process that is one command from its start (``viewer.cli_common.OWN_PROCESS``): native
    threads (Qt's, onnxruntime's) are not seen here.

    For a command-line run, which starts single-threaded and whose imports (numpy among them)
    the workers then share: no forkserver to start and import everything again (~0.25 s of
    CPU, measured on 2 cores, that the run waited ~0.1 s for), and the workers answer within
    milliseconds. They are the same isolated processes (a decoder's crash is still a failed
    frame); a pool started later (a worker lost) comes from the forkserver as usual. The
    window never forks itself: Qt runs threads from the start."""
    global _pool
    if not sys.platform.startswith("linux") or threading.active_count() > 1:
        return False
    with _start_lock, _lock:
        if _closed or _started or _pool is not None:
            return False
        try:
            pool = _new_executor(workers(), fork=True)
            # The first task forks every worker, here and now (a "fork" pool starts them all
            # before its manager thread); start() then waits for their answer as usual.
            pool.submit(ping)
        except (OSError, RuntimeError, ValueError) as exc:
            log.debug("decoder processes not forked: %s", exc)
            return False
        _pool = pool
    return True


def start_soon() -> None:
    """:func:`start` in a background thread; returns at once (idempotent).

    Used once a compressed series is known (e.g. its pixels are set up), so that its workers
    are forking while the caller prepares. Work sent meanwhile waits for the same start
    (:func:`start` holds its lock until the first worker answers).
    """
    global _soon
    with _lock:
        if _started or _closed or _soon is not None:
            return
        _soon = threading.Thread(target=start, name="decoder-start", daemon=True)
    _soon.start()


def shutdown(final: bool = True) -> None:
    """Terminate the decoder processes. ``final`` (at exit): no pool is started again, and
    callers still waiting get :class:`OperationCancelled`; otherwise the next use restarts."""
    global _pool, _quarantine, _closed, _started, _generation, _soon
    with _lock:
        if final:
            _closed = True
        old, _pool = _pool, None
        _generation += 1
        _soon = None
        if not final:
            _started = _unavailable is not None
    with _quarantine_lock:
        q, _quarantine = _quarantine, None
    _terminate(old)
    _terminate(q)


def is_closed() -> bool:
    return _closed


def pids() -> list[int]:
    """Process ids of the live decoder workers (diagnostics and tests)."""
    out = []
    with _lock:
        pools = [p for p in (_pool, _quarantine) if p is not None]
    for pool in pools:
        out.extend(pid for pid, p in list((getattr(pool, "_processes", None) or {}).items())
                   if p.is_alive())
    return out


# Running items (re-exported: callers and tests use decode_pool.run_each).
from viewer.dicom.decode_run import _groups, run_each  # noqa: E402, F401
