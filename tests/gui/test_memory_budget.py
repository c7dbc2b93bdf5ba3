"""Decoded volumes of series no longer shown are let go, oldest first, beyond a budget
(viewer/gui/memory.keep_recent), on the sample study's real series."""

from __future__ import annotations

import gc
import weakref

import pytest

from viewer.dicom.pixels import StackPixels
from viewer.gui.memory import keep_recent, volume_bytes


def test_least_recently_shown_volumes_go_first(sample_catalog):
    stacks = sorted(sample_catalog.stacks(), key=lambda st: st.n_frames)[:3]  # 12, 12, 55
    pixels = {st.uid: StackPixels(st) for st in stacks}
    for px in list(pixels.values())[:2]:
        px.load_volume()
    small, other, never = (st.uid for st in stacks)
    one = volume_bytes(pixels[small])
    assert one > 0 and volume_bytes(pixels[never]) == 0
    gone = weakref.ref(pixels[small].frame_volume())

    # Shown in the order small, other, never: within a budget of one volume, the least
    # recently shown loaded one (small) goes; the shown one and the volume-less one stay.
    for uid in (small, other):
        assert keep_recent(pixels, [uid], budget=10 * one) == []
    assert keep_recent(pixels, [never], budget=one) == [small]
    assert list(pixels) == [other, never]
    gc.collect()
    assert gone() is None  # nothing else held the volume

    # Showing "other" again makes it the newest; shown series (every viewport's) stay.
    assert keep_recent(pixels, [other, never], budget=0) == []
    assert list(pixels) == [other, never]
    assert keep_recent(pixels, [never], budget=0) == [other]


def test_the_window_lets_go_of_series_left_beyond_the_budget(qtbot, window, monkeypatch):
    """Switching series in the window: with no budget, the series left is let go (once the
    window calls memory.keep_recent when it shows a series)."""
    from test_main_window import open_and_wait

    from viewer.gui import memory
    from viewer.paths import sample_study_dir

    calls = []
    real = memory.keep_recent
    monkeypatch.setattr(memory, "keep_recent", lambda *a, **k: calls.append(1) or real(*a, **k))
    monkeypatch.setattr(memory, "VOLUME_BUDGET_BYTES", 0)
    open_and_wait(qtbot, window, sample_study_dir())
    stacks = window.catalog.stacks()
    first = window.view.pixels.stack
    qtbot.waitUntil(lambda: window.view.pixels.is_loaded(first.n_frames // 2), timeout=30000)
    window.show_stack(next(st for st in stacks if st.uid != first.uid))
    if not calls:
        pytest.skip("MainWindow does not call memory.keep_recent yet (hook for the lead)")
    assert first.uid not in window._pixels_by_uid
