"""Give freed memory back to the system after an analysis, a cleared result or a closed study.

Python and numpy free a result's arrays at once, but glibc keeps the freed space of its heaps
(arenas) for later allocations: after an analysis about 50 MB stays counted in the process's
resident size (RSS) although nothing uses it. ``malloc_trim(0)`` hands it back; it takes well
under a millisecond. Measured on the sample T1 (tests/benchmarks/bench_gui_memory.py): the
window's RSS after Analyze and Clear goes back to within ~0.1 GB of its start.

The onnxruntime sessions the runner caches are kept: without the CPU arena (viewer/ai/runner.py)
a cached MeshNet session holds 1-3 MB and saves its creation at the next Analyze, so dropping
it gives nothing back worth having.

Decoded volumes of the series a user has looked at stay in memory for a quick return, up to
:data:`VOLUME_BUDGET_BYTES` (:func:`keep_recent`): the series least recently shown are let go
first (they decode again if shown again).

No Qt here: the window and the background jobs call :func:`give_back` and :func:`keep_recent`.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import os
import sys
from collections.abc import Iterable

log = logging.getLogger(__name__)
VOLUME_BUDGET_BYTES = 2 * 1024**3  # decoded volumes kept for series not on screen, in bytes
_trim = None  # libc's malloc_trim, looked up once (None where there is none)
_looked_up = False


def rss_bytes() -> int:
    """This process's resident set size in bytes (Linux /proc; 0 where unknown)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _malloc_trim():
    global _trim, _looked_up
    if not _looked_up:
        _looked_up = True
        if sys.platform.startswith("linux"):
            try:  # glibc only: musl and other C libraries have no malloc_trim
                _trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
                _trim.argtypes = [ctypes.c_size_t]
            except (OSError, AttributeError):
                _trim = None
    return _trim


def give_back(collect: bool = True) -> None:
    """Free unreachable objects (``collect``: a gc pass, for reference cycles such as a job
    and its signals) and return the C heap's free space to the system (glibc)."""
    if collect:
        gc.collect()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def volume_bytes(pixels) -> int:
    """Bytes of ``pixels``' decoded volume (a StackPixels), 0 while none is allocated."""
    try:
        return int(pixels.frame_volume().nbytes)
    except RuntimeError:  # load_volume() not called yet: nothing held
        return 0


def keep_recent(pixels_by_uid: dict, shown: Iterable[str],
                budget: int | None = None) -> list[str]:
    """Mark the ``shown`` stack uids (every viewport's) as the most recently shown entries of
    ``pixels_by_uid`` (stack uid -> StackPixels, in the order shown) and drop the least
    recently shown others until their decoded volumes fit in ``budget`` bytes (default
    :data:`VOLUME_BUDGET_BYTES`); shown ones always stay. Returns the dropped uids."""
    budget = VOLUME_BUDGET_BYTES if budget is None else budget
    shown = [uid for uid in dict.fromkeys(shown) if uid in pixels_by_uid]
    for uid in shown:
        pixels_by_uid[uid] = pixels_by_uid.pop(uid)  # to the end: newest
    # Entries without a volume cost nothing and remember failed slices (said only once).
    sizes = {uid: volume_bytes(px) for uid, px in pixels_by_uid.items() if uid not in shown}
    held = sum(sizes.values())
    dropped = []
    for uid, size in sizes.items():  # oldest first
        if held <= budget:
            break
        if size:
            del pixels_by_uid[uid]
            held -= size
            dropped.append(uid)
    if dropped:
        log.info("let go of %d decoded series to stay within %.1f GB", len(dropped),
                 budget / 1024**3)
        give_back(collect=False)
    return dropped
