"""The scan reads headers on its own thread while reads are fast and hands the rest to a thread
pool once they turn slow (slow media): the same catalog either way."""

from __future__ import annotations

import threading

import pytest

from viewer.dicom import scan
from viewer.paths import sample_study_dir


def _describe(catalog):
    return sorted((st.uid, st.n_frames, tuple(f.header.path for f in st.frames))
                  for st in catalog.stacks())


@pytest.fixture(scope="module")
def reference():
    return _describe(scan.scan_folder(sample_study_dir()))


def test_fast_reads_never_start_a_pool(monkeypatch, reference):
    monkeypatch.setattr(scan, "_SLOW_READ_S", 10.0)

    class NoPool:
        def __init__(self, *a, **k):
            raise AssertionError("a pool was started for fast reads")

    monkeypatch.setattr(scan, "ThreadPoolExecutor", NoPool)
    assert _describe(scan.scan_folder(sample_study_dir())) == reference


def test_slow_reads_go_to_the_pool_with_the_same_catalog(monkeypatch, reference):
    monkeypatch.setattr(scan, "_SLOW_READ_S", -1.0)  # every read counts as slow
    threads = set()
    read_one = scan._read_one

    def spy(path):
        threads.add(threading.current_thread().name)
        return read_one(path)

    monkeypatch.setattr(scan, "_read_one", spy)
    updates = list(scan.iter_scan(sample_study_dir()))
    assert [u.done for u in updates] == list(range(1, len(updates) + 1))
    assert any(name.startswith("scan") for name in threads)  # the pool's threads
    assert threading.current_thread().name in threads  # the first reads, here
    assert _describe(scan.scan_folder(sample_study_dir())) == reference


def test_cancel_stops_the_sequential_reads():
    stop = threading.Event()
    seen = []
    for upd in scan.iter_scan(sample_study_dir(), cancel=stop):
        seen.append(upd)
        if len(seen) == 5:
            stop.set()
    assert len(seen) == 5
