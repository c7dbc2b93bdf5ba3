"""(decoder forkserver) Per-batch timings of the decoder workers, for bench_decode_timeline.py.

Preloaded by the forkserver of a traced run (``RADVIEWER_DECODE_TRACE`` names the log file
prefix): it wraps ``viewer.dicom.isolated._decode_one`` and ``_decode_batch`` so that each
worker appends one JSON line per batch to ``<prefix>.<pid>``: ``[start, end]`` (perf_counter,
seconds; the clock is shared by the processes of one machine), the process CPU seconds at both,
the batch's item count and the seconds spent decoding and in returning frames.
"""

from __future__ import annotations

import json
import os
import time

from viewer.dicom import isolated

_LOG = os.environ.get("RADVIEWER_DECODE_TRACE")
_real_one = isolated._decode_one
_real_batch = isolated._decode_batch
_spent = {"decode": 0.0, "return": 0.0}


def _decode_frame_timed(h, f):
    t = time.perf_counter()
    try:
        return _real_frame(h, f)
    finally:
        _spent["decode"] += time.perf_counter() - t


def _one(item, writer):
    t = time.perf_counter()
    d0 = _spent["decode"]
    try:
        return _real_one(item, writer)
    finally:
        _spent["return"] += time.perf_counter() - t - (_spent["decode"] - d0)


def _batch(items):
    _spent.update({"decode": 0.0, "return": 0.0})
    t, c = time.perf_counter(), time.process_time()
    out = _real_batch(items)
    row = [t, time.perf_counter(), c, time.process_time(), len(items), _spent["decode"],
           _spent["return"]]
    with open(f"{_LOG}.{os.getpid()}", "a") as fh:
        fh.write(json.dumps(row) + "\n")
    return out


if _LOG:
    _real_frame = isolated.decode_frame
    isolated.decode_frame = _decode_frame_timed
    isolated._decode_one = _one
    isolated._decode_batch = _batch
