"""The batch's resumable record: ``state.jsonl`` in the output folder, one JSON object per
line, appended once per finished series by the process that drives the batch (workers never
write it).

Each record is written with one ``write`` on a file opened with ``O_APPEND`` and then
fsync'ed: a record is either wholly there or (after a crash mid-write) a torn last line,
which reading ignores. The last record of a key wins, so a retry simply appends.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

STATE_NAME = "state.jsonl"
STATE_SCHEMA = "radviewer.batch-state/1"


def read_state(out: Path) -> dict[str, dict]:
    """``key -> latest record`` from ``out/state.jsonl`` (empty when there is none). Lines that
    are not whole JSON objects with a ``key`` (a torn write) are ignored."""
    path = out / STATE_NAME
    records: dict[str, dict] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return records
    for line in text.splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict) and isinstance(rec.get("key"), str):
            records[rec["key"]] = rec
    return records


def append_record(out: Path, record: dict) -> None:
    """Append ``record`` (JSON-able, with a ``key``) as one line; durable on return.
    Raises OSError (the caller names the file)."""
    line = json.dumps({"schema": STATE_SCHEMA, **record}, separators=(",", ":")) + "\n"
    data = line.encode("utf-8")
    fd = os.open(out / STATE_NAME, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        if _ends_torn(fd):  # a crash left half a line: start ours on a line of its own
            data = b"\n" + data
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def _ends_torn(fd: int) -> bool:
    size = os.fstat(fd).st_size
    return size > 0 and os.pread(fd, 1, size - 1) != b"\n"
