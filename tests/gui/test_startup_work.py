"""Start-up work that waits (issue 18, start-up row): garbage collection during the launch
imports, the memory give-back of a first folder. Timing is measured by
tests/benchmarks/bench_startup.py; these tests check that the behaviour stays right."""

from __future__ import annotations

import gc
import shutil

import pytest

from viewer.app import _collect_later
from viewer.gui import memory
from viewer.paths import sample_study_dir


def test_launch_collects_later_and_freezes_what_it_made():
    before = gc.get_freeze_count()
    assert gc.isenabled()
    try:
        with _collect_later():
            assert not gc.isenabled()
            made = [[] for _ in range(1000)]
        assert gc.isenabled()  # collection resumes after the window is made
        assert gc.get_freeze_count() >= before + len(made)
        with pytest.raises(RuntimeError), _collect_later():
            raise RuntimeError("window failed")
        assert gc.isenabled()  # also when the start fails
        gc.disable()
        with _collect_later():
            pass
        assert not gc.isenabled()  # a caller that had it off keeps it off
    finally:
        gc.enable()
        gc.unfreeze()


def test_first_folder_skips_the_give_back_later_ones_do_it(window, qtbot, tmp_path,
                                                            monkeypatch):
    folder = tmp_path / "study"
    folder.mkdir()
    for f in sorted(sample_study_dir().iterdir())[:2]:
        shutil.copy(f, folder / f.name)
    calls = []
    monkeypatch.setattr(memory, "give_back", lambda *a, **k: calls.append(a))
    window.open_folder(str(folder))
    qtbot.waitUntil(lambda: window._scan is None and window.catalog is not None, timeout=10000)
    assert calls == []  # nothing was open: nothing to give back
    assert len(window.catalog.stacks()) == 1
    window.open_folder(str(folder))
    assert len(calls) == 1  # the first study's memory goes back before the second opens
    qtbot.waitUntil(lambda: window._scan is None and window.catalog is not None, timeout=10000)
