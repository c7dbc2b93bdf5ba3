"""Running items in the decoder processes (:mod:`viewer.dicom.decode_pool`'s pools):
:func:`run_each` sends them in batches and yields their results as they arrive; the items of
a worker that died are run again one at a time in the one-worker quarantine pool, where a
crash can only be that item's (:class:`~viewer.dicom.decode_pool.WorkerCrashed`).

Callers use it as ``decode_pool.run_each`` (re-exported there)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, CancelledError, Future, wait
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from viewer.dicom import decode_pool as pools
from viewer.dicom.decode_pool import BatchFn, WorkerCrashed
from viewer.dicom.pool_stop import terminate as _terminate
from viewer.errors import OperationCancelled


def _cancelled(cancel: threading.Event | None) -> bool:
    return cancel is not None and cancel.is_set()


def _drop_later(fut: Future, discard: Callable[[Any], None] | None) -> None:
    """Cancel ``fut``; if it runs on, hand each of its results to ``discard`` when done (a
    result may hold a resource, e.g. a shared-memory frame, that only the receiver frees)."""
    if fut.cancel() or discard is None:
        return

    def drop(f: Future) -> None:
        try:
            results = f.result()
        except BaseException:  # noqa: B036 - crashed or cancelled: nothing to free
            return
        for r in results:
            discard(r)

    fut.add_done_callback(drop)


def _quarantined(fn: BatchFn, item: Any, cancel: threading.Event | None,
                 discard: Callable[[Any], None] | None = None) -> Any:
    """Run ``fn([item])`` alone in the one-worker pool: a crash there is this item's."""
    with pools._quarantine_lock:
        for _attempt in range(2):
            if pools._closed:
                raise OperationCancelled("decoding stopped: radviewer is closing")
            if pools._quarantine is None:
                pools._quarantine = pools._new_executor(1)
            pool = pools._quarantine
            try:
                fut = pool.submit(fn, [item])
                while True:
                    if _cancelled(cancel):
                        _drop_later(fut, discard)
                        raise OperationCancelled("decoding cancelled")
                    try:
                        return fut.result(timeout=pools._POLL_S)[0]
                    except FutureTimeout:
                        continue
            except BrokenProcessPool:
                pools._quarantine = None
                _terminate(pool)
                if pools._closed:
                    raise OperationCancelled("decoding stopped: radviewer is closing") from None
                return WorkerCrashed()
            except (CancelledError, RuntimeError):
                pools._quarantine = None  # shut down meanwhile (not a crash): try a fresh one
        raise OperationCancelled("decoding stopped: the decoder processes were shut down")


def _groups(n: int, batch: int, nproc: int) -> list[list[int]]:
    """Indices 0..n-1 in messages: the first alone, then ``batch`` at a time shrinking to one
    near the end, so that the workers finish together (with JPEG 2000, ~28 ms a CT frame, a
    full last batch kept one worker busy 0.2 s longer than the other)."""
    out, i = ([[0]] if n else []), 1
    while i < n:
        size = max(1, min(batch, (n - i) // (4 * nproc)))  # a quarter of each one's share
        out.append(list(range(i, min(n, i + size))))
        i += size
    return out


def run_each(fn: BatchFn, items: Sequence[Any], *, cancel: threading.Event | None = None,
             batch: int = 8, in_flight: int | None = None,
             discard: Callable[[Any], None] | None = None) -> Iterator[tuple[int, Any]]:
    """Run ``fn`` (a module-level function: list of items -> list of results, one each) over
    ``items`` in the worker processes; yields ``(index, result)`` as results arrive.

    The first item is sent alone (it is the one the user waits for), the rest in batches of
    ``batch`` shrinking to one at the end (:func:`_groups`), at most ``in_flight`` batches at a
    time (default: two per worker). An item whose worker dies even when it runs alone yields a
    :class:`WorkerCrashed` instance as its result. Stops quietly when ``cancel`` is set or the
    caller stops iterating: results still running are dropped, each handed to ``discard`` (if
    given) when it arrives.

    Raises
    ------
    OperationCancelled
        The pool has been shut down for good (the app is exiting).
    """
    if not items:
        return
    pool, _ = pools._main_pool()
    if pool is None:  # no worker processes on this host
        for i, item in enumerate(items):
            if _cancelled(cancel):
                return
            yield i, fn([item])[0]
        return
    groups = _groups(len(items), batch, pools.workers())
    groups.reverse()  # popped from the end
    limit = in_flight or 2 * pools.workers()
    pending: dict[Future, tuple[int, list[int]]] = {}
    suspects: list[int] = []

    def submit(group: list[int]) -> None:
        for _attempt in range(3):
            p, gen = pools._main_pool()
            if p is None:  # became unavailable meanwhile: run it here
                suspects.extend(group)
                return
            try:
                pending[p.submit(fn, [items[i] for i in group])] = (gen, group)
                return
            except (BrokenProcessPool, RuntimeError):
                # Broken by another caller's crash, or replaced since: take the new one.
                pools._discard(gen)
        suspects.extend(group)

    try:
        yield from _run_groups(fn, items, groups, limit, pending, suspects, submit, cancel,
                               discard)
    finally:
        for fut in pending:
            _drop_later(fut, discard)


def _run_groups(fn, items, groups, limit, pending, suspects, submit, cancel, discard):
    """run_each's loop: submit groups, yield results, retry the suspects of a dead worker."""
    while groups or pending or suspects:
        if _cancelled(cancel):
            return
        while groups and len(pending) < limit:
            submit(groups.pop())
        if suspects:
            i = suspects.pop(0)
            p, _ = pools._main_pool()
            result = (fn([items[i]])[0] if p is None
                      else _quarantined(fn, items[i], cancel, discard))
            yield i, result
            continue
        if not pending:
            continue
        done, _ = wait(list(pending), timeout=pools._POLL_S, return_when=FIRST_COMPLETED)
        for fut in done:
            gen, group = pending.pop(fut)
            try:
                results = fut.result()
            except (BrokenProcessPool, CancelledError):
                if pools._closed:
                    raise OperationCancelled("decoding stopped: radviewer is closing") from None
                # A worker died: this group's, or another's that took the pool down with it.
                pools._discard(gen)
                suspects.extend(group)
                continue
            for n, (i, r) in enumerate(zip(group, results, strict=True)):
                try:
                    yield i, r
                except GeneratorExit:  # the caller stopped: free what it will never see
                    for rest in results[n + 1:] if discard is not None else ():
                        discard(rest)
                    raise
