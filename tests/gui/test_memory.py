"""Memory comes back: after Analyze and Clear result the window's resident size is near where
it was before the analysis, and nothing of the finished job is left (issue 18: a window held
6.25 GB after three analyses and Clear). One real run of the tissue model on the sample T1."""

from __future__ import annotations

import gc
import weakref

import pytest
from test_main_window import open_and_wait

from viewer.gui.memory import give_back, rss_bytes
from viewer.gui.workers import AnalyzeJob, LoadJob, running_jobs
from viewer.paths import sample_study_dir

GB = 1e9


@pytest.mark.skipif(rss_bytes() == 0, reason="no /proc/self/statm: RSS cannot be read here")
def test_rss_returns_near_its_baseline_after_analyze_and_clear(qtbot, window):
    pytest.importorskip("onnxruntime")
    from viewer.ai.registry import discover

    entry = {e.id: e for e in discover()}["brainchop-tissue"]
    if not entry.available:
        pytest.skip(entry.problem)
    open_and_wait(qtbot, window, sample_study_dir())
    px = window.view.pixels
    qtbot.waitUntil(lambda: not any(isinstance(j, LoadJob) for j in running_jobs()),
                    timeout=30000)
    give_back()
    baseline = rss_bytes()

    window.analyze(entry)
    job = weakref.ref(next(j for j in running_jobs() if isinstance(j, AnalyzeJob)))
    uid = px.stack.uid
    qtbot.waitUntil(lambda: uid in window.results, timeout=120000)
    result = weakref.ref(window.results[uid])
    assert window.results[uid].label_volume.shape == px.shape  # a real run, on this stack

    window.clear_result()
    qtbot.waitUntil(lambda: (gc.collect(), job())[1] is None, timeout=10000)
    gc.collect()
    assert result() is None, gc.get_referrers(result())  # who still holds the result
    assert window.runner.cached(uid, entry) is None
    held = rss_bytes() - baseline
    # onnxruntime's library and the cached session stay (~0.05 GB); activations, the
    # resampled input, the logits and the result must not (0.9-2.8 GB with the CPU arena).
    assert held < 0.5 * GB, f"{held / GB:.2f} GB more than before Analyze"
