"""The speed test that scales the picker's time estimates: cached, re-measured when the
cache is damaged, and a slower computer gets a longer estimate."""

from __future__ import annotations

import json

import pytest

from viewer.ai import calibration
from viewer.ai.manifest import load_manifest
from viewer.ai.registry import cost_hint, make_entry
from viewer.paths import models_dir


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    calibration._last.clear()
    yield tmp_path / "radviewer" / calibration.CACHE_NAME
    calibration._last.clear()


def _counting(value):
    calls = []

    def measure():
        calls.append(1)
        return value
    return measure, calls


def test_the_figure_is_cached_and_reused(cache):
    measure, calls = _counting(17.0)
    assert calibration.machine_gflops(measure) == 17.0
    saved = json.loads(cache.read_text())
    assert saved["gflops"] == 17.0 and saved["machine"]["cpu_count"] is not None
    calibration._last.clear()  # as a new process would
    assert calibration.machine_gflops(measure) == 17.0
    assert calls == [1]  # the second call read the cache
    assert calibration.known_gflops() == 17.0


def test_a_damaged_or_foreign_cache_is_measured_again(cache):
    cache.parent.mkdir(parents=True)
    cache.write_text('{"schema": "radviewer.calibration/1", "gflops": ')
    measure, calls = _counting(9.0)
    assert calibration.known_gflops() is None
    assert calibration.machine_gflops(measure) == 9.0
    assert calls == [1] and json.loads(cache.read_text())["gflops"] == 9.0
    # measured with another CPU count: measured again
    data = json.loads(cache.read_text())
    data["machine"]["cpu_count"] = (data["machine"]["cpu_count"] or 0) + 64
    cache.write_text(json.dumps(data))
    calibration._last.clear()
    assert calibration.machine_gflops(_counting(5.0)[0]) == 5.0


def test_the_real_measurement_gives_a_plausible_figure(cache):
    g = calibration.measure_gflops()
    assert 0.01 < g < 1e6


def test_a_slower_computer_gets_a_longer_estimate(cache):
    entry = make_entry(load_manifest(models_dir() / "brainchop-tissue" / "manifest.json"),
                       "bundled")
    seconds = entry.manifest.resources["seconds"]
    ref = calibration.REFERENCE_GFLOPS
    same = cost_hint(entry, free_gb=64, gflops=ref)
    assert same.startswith(f"about {seconds:.0f} s and") and "on this computer" in same
    slow = cost_hint(entry, free_gb=64, gflops=ref / 8)
    assert slow.startswith(f"about {seconds * 8:.0f} s and") and "on this computer" in slow
    absurd = cost_hint(entry, free_gb=64, gflops=ref / 1000)  # bounded at 20x
    assert absurd.startswith(f"about {seconds * 20:.0f} s")
    # the figure measured in the background is what the picker's cost_hint uses
    calibration.machine_gflops(lambda: ref / 4)
    assert cost_hint(entry, free_gb=64).startswith(f"about {seconds * 4:.0f} s")


def test_without_a_measurement_the_estimate_names_the_reference_machine(cache):
    entry = make_entry(load_manifest(models_dir() / "brainchop-tissue" / "manifest.json"),
                       "bundled")
    text = cost_hint(entry, free_gb=64)
    assert "on this computer" not in text and entry.manifest.resources["measured_on"] in text
