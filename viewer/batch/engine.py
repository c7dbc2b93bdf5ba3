"""Where the workers run: a local process pool (default) or a Dask distributed cluster.

Both are the standard engines, used as they are: :class:`concurrent.futures.ProcessPoolExecutor`
(forkserver on Linux, spawn elsewhere: no forked copy of the parent's threads) and
``dask.distributed.Client``. No queue of our own: each series is one submitted task, results
are taken as they complete.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Iterator

from viewer.batch.worker import run_series

CLUSTER_HINT = ("--scheduler needs Dask distributed: pip install 'radviewer[cluster]' "
                "(or pip install 'dask[distributed]')")


def local_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def local_workers(memory_gb: float | None, n_tasks: int, cores: int | None = None,
                  free_gb: float | None = None) -> int:
    """How many worker processes this machine can run at once: its cores, and the free
    memory divided by the model's declared peak (manifest ``resources.memory_gb``), at most
    one per task, at least one."""
    cores = cores or local_cores()
    n = cores
    if memory_gb and free_gb is not None:
        n = min(n, math.floor(free_gb / memory_gb))
    return max(1, min(n, n_tasks))


class LocalEngine:
    """A process pool of ``workers`` processes; each gives onnxruntime its share of cores."""

    def __init__(self, workers: int):
        self.workers = workers
        self.threads = max(1, local_cores() // workers)
        method = "forkserver" if sys.platform.startswith("linux") else "spawn"
        from concurrent.futures import ProcessPoolExecutor

        self._pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(method))

    def describe(self) -> str:
        return (f"{self.workers} local worker process{'es' if self.workers > 1 else ''}, "
                f"{self.threads} thread{'s' if self.threads > 1 else ''} each")

    def run(self, tasks: list[dict]) -> Iterator[tuple[dict, dict | BaseException]]:
        """Yield ``(task, summary or exception)`` as each task completes."""
        from concurrent.futures import as_completed

        for t in tasks:
            t["threads"] = self.threads
        futures = {self._pool.submit(run_series, t): t for t in tasks}
        try:
            for fut in as_completed(futures):
                exc = fut.exception()
                yield futures[fut], exc if exc is not None else fut.result()
        finally:
            for fut in futures:
                fut.cancel()

    def close(self, grace_s: float = 3.0) -> None:
        """Stop the workers. Each worker has its own decoder pool (viewer.dicom.decode_pool),
        whose exit hook can keep a worker from exiting on the pool's sentinel; a worker not
        gone after ``grace_s`` is terminated (its decoders die with it, PR_SET_PDEATHSIG).
        Finished series are already on disk and in the state file."""
        procs = list((getattr(self._pool, "_processes", None) or {}).values())
        self._pool.shutdown(wait=False, cancel_futures=True)
        deadline = time.monotonic() + grace_s
        for p in procs:
            p.join(max(0.0, deadline - time.monotonic()))
        for p in procs:
            if p.is_alive():
                p.terminate()
                p.join(5)


class DaskEngine:
    """Tasks on the Dask cluster whose scheduler is at ``address`` (``tcp://host:8786``).
    Workers read the input files and write into the output folder themselves: both must be
    at the same paths on every worker machine (a shared file system)."""

    def __init__(self, address: str, connect_timeout_s: float = 30):
        try:
            from distributed import Client
        except ImportError:
            raise LookupError(CLUSTER_HINT) from None
        try:
            self._client = Client(address, timeout=connect_timeout_s)
        except (OSError, TimeoutError) as exc:
            raise LookupError(f"--scheduler {address}: cannot reach the Dask scheduler "
                              f"({type(exc).__name__}); start it with dask scheduler, or check "
                              f"the address") from None
        info = self._client.scheduler_info()
        workers = info.get("workers", {})
        self.host_threads: dict[str, int] = {}
        self.memory_limits: list[float] = []
        for addr, w in workers.items():
            host = addr.rsplit(":", 1)[0]
            self.host_threads[host] = self.host_threads.get(host, 0) + int(w.get("nthreads", 1))
            if w.get("memory_limit"):
                self.memory_limits.append(w["memory_limit"] / 1024**3)
        self.workers = sum(int(w.get("nthreads", 1)) for w in workers.values())
        self.address = address

    def describe(self) -> str:
        return f"Dask cluster at {self.address}: {self.workers} worker threads"

    def memory_warning(self, memory_gb: float | None) -> str | None:
        low = [m for m in self.memory_limits if memory_gb and m < memory_gb]
        if low:
            return (f"{len(low)} Dask worker(s) have a memory limit of {min(low):.1f} GB, "
                    f"below the model's {memory_gb:.1f} GB: they may be restarted mid-run")
        return None

    def run(self, tasks: list[dict]) -> Iterator[tuple[dict, dict | BaseException]]:
        from distributed import as_completed

        for t in tasks:
            t["host_threads"] = self.host_threads
        futures = {}
        for t in tasks:  # one task per series; the key names it on the dashboard
            fut = self._client.submit(run_series, t, pure=False,
                                      key=f"radviewer-series-{t['key'].split('|')[0]}-"
                                      f"{os.urandom(4).hex()}")
            futures[fut.key] = (fut, t)
        try:
            for fut in as_completed([f for f, _ in futures.values()]):
                t = futures[fut.key][1]
                try:
                    yield t, fut.result()
                except Exception as exc:  # noqa: BLE001 (a lost worker: recorded, batch goes on)
                    yield t, exc
        finally:
            for fut, _ in futures.values():
                fut.cancel()

    def close(self) -> None:
        self._client.close()


def make_engine(scheduler: str | None, workers: int | None, memory_gb: float | None,
                n_tasks: int, free_gb: Callable[[], float | None]):
    """The engine for ``--scheduler``/``--workers``; raises LookupError (usage) with a hint."""
    if scheduler:
        return DaskEngine(scheduler)
    n = workers or local_workers(memory_gb, n_tasks, free_gb=free_gb())
    return LocalEngine(n)
