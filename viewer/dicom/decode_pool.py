"""Worker processes for the native decoders, so that a decoder's crash is a failed frame.

GDCM, CharLS, openjpeg and libjpeg are C/C++ libraries: a malformed codestream can abort the
process that runs them (an uncaught C++ exception is SIGABRT). Compressed pixel data is
therefore decoded only here, in a pool of worker processes, never in the app's own process.

- :func:`run_each` runs a batch function over items in the pool and yields each item's result
  as it arrives. When a worker dies, the items it may have been decoding are retried one at a
  time in a one-worker *quarantine* pool, where a crash can only be that item's: it is then
  reported as :class:`WorkerCrashed`, and the main pool is rebuilt for the rest.
- The pool is kept for the session (start-up costs ~1 s; :func:`start` pays it ahead, e.g.
  in the background at GUI launch) and :func:`shutdown` terminates it. Workers die with their
  parent (Linux ``PR_SET_PDEATHSIG``; the forkserver exits when the app's pipe to it closes),
  so not even ``kill -9`` of the app leaves decoder processes behind.
- Where worker processes cannot start at all (a locked-down host), items are run in this
  process instead, and a log line says that a hostile file could then crash the app.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, CancelledError, Future, wait
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool, ProcessPoolExecutor
from typing import Any

from viewer.errors import OperationCancelled

log = logging.getLogger(__name__)

START_TIMEOUT_S = 30.0  # a pool whose workers do not answer by then cannot start here
_POLL_S = 0.2  # how often a waiting caller looks at its cancel flag

BatchFn = Callable[[Sequence[Any]], list[Any]]


class WorkerCrashed(Exception):
    """The worker process died (abort, segfault, killed) while running this item alone."""


# ----------------------------------------------------------------------------- in the worker

_PR_SET_PDEATHSIG = 1


def _worker_init(app_pid: int) -> None:
    """(worker) Die with the app; leave Ctrl+C to the app."""
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


def _watch_app(app_pid: int) -> None:
    while True:
        time.sleep(1.0)
        try:
            os.kill(app_pid, 0)
        except ProcessLookupError:
            os._exit(1)
        except PermissionError:  # the pid was reused by another user's process
            os._exit(1)


def _ping() -> int:
    return os.getpid()


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
_preload: tuple[str, ...] = ()
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


def _new_executor(workers: int) -> ProcessPoolExecutor:
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
    return ProcessPoolExecutor(max_workers=workers, mp_context=_context(),
                               initializer=_worker_init, initargs=(os.getpid(),))


def workers() -> int:
    """Number of decoder processes in the main pool."""
    return max(1, os.cpu_count() or 1)


def _terminate(pool: ProcessPoolExecutor | None, grace_s: float = 0.5) -> None:
    """Stop ``pool`` within about ``grace_s`` + 2 s, whatever its workers are doing.

    Workers get ``grace_s`` to finish the item in hand (killing one while it sends a result
    leaves a partial message that the executor's reader thread would wait for forever, and
    that thread is joined at exit); one still busy then (a hostile file can take minutes) is
    killed, and the result pipe's last writer, ours, is closed so that the reader ends.
    """
    if pool is None:
        return
    # Private attributes of ProcessPoolExecutor (stable from 3.9 to 3.13): it has no public
    # way to stop a busy worker before 3.14's terminate_workers().
    procs = list((getattr(pool, "_processes", None) or {}).values())
    results = getattr(pool, "_result_queue", None)
    manager = getattr(pool, "_executor_manager_thread", None)
    pool.shutdown(wait=False, cancel_futures=True)
    deadline = time.monotonic() + grace_s
    for p in procs:
        p.join(max(0.0, deadline - time.monotonic()))
    busy = [p for p in procs if p.is_alive()]
    for p in busy:
        p.terminate()
    for p in busy:
        p.join(1.0)
        if p.is_alive():
            p.kill()
            p.join(1.0)
    if busy and results is not None:
        try:
            results._writer.close()
        except (AttributeError, OSError):
            pass
    if manager is not None and manager is not threading.current_thread():
        manager.join(1.0)


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

    The first call costs ~1 s (the forkserver imports the decoders). Where processes cannot
    start, decoding falls back to this process and a warning is logged once.
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
            futures = [pool.submit(_ping) for _ in range(workers())]
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


def shutdown(final: bool = True) -> None:
    """Terminate the decoder processes. ``final`` (at exit): no pool is started again, and
    callers still waiting get :class:`OperationCancelled`; otherwise the next use restarts."""
    global _pool, _quarantine, _closed, _started, _generation
    with _lock:
        if final:
            _closed = True
        old, _pool = _pool, None
        _generation += 1
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


# ----------------------------------------------------------------------------- running


def _cancelled(cancel: threading.Event | None) -> bool:
    return cancel is not None and cancel.is_set()


def _quarantined(fn: BatchFn, item: Any, cancel: threading.Event | None) -> Any:
    """Run ``fn([item])`` alone in the one-worker pool: a crash there is this item's."""
    global _quarantine
    with _quarantine_lock:
        for _attempt in range(2):
            if _closed:
                raise OperationCancelled("decoding stopped: radviewer is closing")
            if _quarantine is None:
                _quarantine = _new_executor(1)
            pool = _quarantine
            try:
                fut = pool.submit(fn, [item])
                while True:
                    if _cancelled(cancel):
                        fut.cancel()
                        raise OperationCancelled("decoding cancelled")
                    try:
                        return fut.result(timeout=_POLL_S)[0]
                    except FutureTimeout:
                        continue
            except BrokenProcessPool:
                _quarantine = None
                _terminate(pool)
                if _closed:
                    raise OperationCancelled("decoding stopped: radviewer is closing") from None
                return WorkerCrashed()
            except (CancelledError, RuntimeError):
                _quarantine = None  # shut down meanwhile (not a crash): try a fresh one
        raise OperationCancelled("decoding stopped: the decoder processes were shut down")


def run_each(fn: BatchFn, items: Sequence[Any], *, cancel: threading.Event | None = None,
             batch: int = 8, in_flight: int | None = None) -> Iterator[tuple[int, Any]]:
    """Run ``fn`` (a module-level function: list of items -> list of results, one each) over
    ``items`` in the worker processes; yields ``(index, result)`` as results arrive.

    The first item is sent alone (it is the one the user waits for), the rest in batches of
    ``batch``, at most ``in_flight`` batches at a time (default: two per worker). An item whose
    worker dies even when it runs alone yields a :class:`WorkerCrashed` instance as its
    result. Stops quietly when ``cancel`` is set (results still running are dropped).

    Raises
    ------
    OperationCancelled
        The pool has been shut down for good (the app is exiting).
    """
    if not items:
        return
    pool, _ = _main_pool()
    if pool is None:  # no worker processes on this host
        for i, item in enumerate(items):
            if _cancelled(cancel):
                return
            yield i, fn([item])[0]
        return
    order = list(range(len(items)))
    groups = [order[:1]] + [order[i:i + batch] for i in range(1, len(order), batch)]
    groups.reverse()  # popped from the end
    limit = in_flight or 2 * workers()
    pending: dict[Future, tuple[int, list[int]]] = {}
    suspects: list[int] = []

    def submit(group: list[int]) -> None:
        for _attempt in range(3):
            p, gen = _main_pool()
            if p is None:  # became unavailable meanwhile: run it here
                suspects.extend(group)
                return
            try:
                pending[p.submit(fn, [items[i] for i in group])] = (gen, group)
                return
            except (BrokenProcessPool, RuntimeError):
                # Broken by another caller's crash, or replaced since: take the new one.
                _discard(gen)
        suspects.extend(group)

    while groups or pending or suspects:
        if _cancelled(cancel):
            for fut in pending:
                fut.cancel()
            return
        while groups and len(pending) < limit:
            submit(groups.pop())
        if suspects:
            i = suspects.pop(0)
            p, _ = _main_pool()
            result = fn([items[i]])[0] if p is None else _quarantined(fn, items[i], cancel)
            yield i, result
            continue
        if not pending:
            continue
        done, _ = wait(list(pending), timeout=_POLL_S, return_when=FIRST_COMPLETED)
        for fut in done:
            gen, group = pending.pop(fut)
            try:
                results = fut.result()
            except (BrokenProcessPool, CancelledError):
                if _closed:
                    raise OperationCancelled("decoding stopped: radviewer is closing") from None
                # A worker died: this group's, or another's that took the pool down with it.
                _discard(gen)
                suspects.extend(group)
                continue
            for i, r in zip(group, results, strict=True):
                yield i, r
