"""Stopping a :class:`~concurrent.futures.ProcessPoolExecutor` of decoder processes now, even
while a worker is busy (a hostile file can keep a decoder going for minutes)."""

from __future__ import annotations

import threading
import time
from concurrent.futures.process import ProcessPoolExecutor


def terminate(pool: ProcessPoolExecutor | None, grace_s: float = 0.5) -> None:
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
