"""Shared fixtures. Qt runs offscreen: set before any Qt import."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from skip_reasons import NO_DATA, SUMMARY

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Some tests import onnxruntime before viewer.ai.runner does: no telemetry from them either.
os.environ["ORT_DISABLE_TELEMETRY"] = "1"
# User data the commands under test write (the audit trail, viewer/audit.py) goes to a
# throw-away folder, never into the developer's own.
os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="radviewer-test-data-")

REPO = Path(__file__).resolve().parents[1]


def _shared_data() -> Path | None:
    """``../shared/data`` beside the checkout (or $RADVIEWER_SHARED_DATA)."""
    candidates = [os.environ.get("RADVIEWER_SHARED_DATA"), REPO.parent / "shared" / "data"]
    for c in candidates:
        if c and Path(c).is_dir():
            return Path(c)
    return None


SHARED_DATA = _shared_data()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if SHARED_DATA is None:
        pytest.skip(NO_DATA)
    return SHARED_DATA


def pytest_terminal_summary(terminalreporter):
    """One line per opt-in or missing prerequisite, so a green run says what it did not test."""
    counts: dict[str, int] = {}
    for rep in terminalreporter.stats.get("skipped", []):
        longrepr = getattr(rep, "longrepr", None)
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        for key in SUMMARY:
            if key in reason:
                counts[key] = counts.get(key, 0) + 1
    for key, n in counts.items():
        terminalreporter.write_line(
            f"{n} test{'s' if n > 1 else ''} skipped: {SUMMARY[key]}", yellow=True)


@pytest.fixture(scope="session")
def ct_catalog(shared_data):
    from viewer.dicom.scan import scan_folder

    return scan_folder(shared_data / "ct-chest-lidc0314")


@pytest.fixture(scope="session")
def mr_catalog(shared_data):
    from viewer.dicom.scan import scan_folder

    return scan_folder(shared_data / "mr-brain")


@pytest.fixture(scope="session")
def sample_catalog():
    from viewer.dicom.scan import scan_folder
    from viewer.paths import sample_study_dir

    return scan_folder(sample_study_dir())


@pytest.fixture(scope="session")
def sample_t1_tissue():
    """The bundled tissue model on the sample T1, run once for the whole session (~10 s):
    ``(stack, StackPixels, AnalysisResult)``. Tests that check the run itself use it; tests of
    the command line or the window run their own."""
    pytest.importorskip("onnxruntime")
    from viewer.ai.registry import discover
    from viewer.ai.runner import Runner
    from viewer.dicom.pixels import StackPixels
    from viewer.dicom.scan import scan_folder
    from viewer.paths import sample_study_dir

    stack = scan_folder(str(sample_study_dir())).stacks()[0]
    assert "MEMPRAGE" in stack.label
    px = StackPixels(stack)
    entry = {e.id: e for e in discover()}["brainchop-tissue"]
    return stack, px, Runner().run(entry, px)
