"""scripts/_env.sh, the set-up that scripts/start, scripts/test and packaging/build.sh share:
one environment, extras installed as a union, no pip at all when the stamp is current (so the
commands start offline and never reinstall each other's extras).

The environment is a fake one (``bin/python`` is a shell script that records its arguments), so
these tests run the real script logic in milliseconds without touching the network.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def venv(tmp_path) -> Path:
    v = tmp_path / "venv"
    (v / "bin").mkdir(parents=True)
    py = v / "bin" / "python"
    py.write_text(f'#!/bin/sh\necho "$@" >> "{tmp_path}/calls.log"\n')
    py.chmod(0o755)
    return v


def _source(venv: Path, extras: str) -> list[str]:
    """Source _env.sh with ``extras``; the pip calls it made (one line each)."""
    log = venv.parent / "calls.log"
    log.unlink(missing_ok=True)
    env = dict(os.environ, RADVIEWER_VENV=str(venv))
    proc = subprocess.run(["bash", "-c", f'source scripts/_env.sh "{extras}"'], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return log.read_text().splitlines() if log.exists() else []


def _hash() -> str:
    """pyproject.toml's hash with setup.py and the C sources it builds (as _env.sh takes it)."""
    files = [REPO / "pyproject.toml", REPO / "setup.py",
             *sorted((REPO / "viewer" / "ai").glob("*.c"))]
    return hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()[:16]


def test_first_install_then_nothing(venv):
    calls = _source(venv, "test")
    assert any(c.endswith("install --quiet -e .[test]") for c in calls), calls
    assert (venv / ".radviewer-installed").read_text().split() == [_hash(), "test"]
    # Current stamp: no pip at all (offline start), for the same extras or a subset.
    assert _source(venv, "test") == []
    assert _source(venv, "") == []


def test_extras_accumulate_and_are_not_reinstalled_back_and_forth(venv):
    _source(venv, "test")
    calls = _source(venv, "test,convert")
    assert any(c.endswith("install --quiet -e .[convert,test]") for c in calls), calls
    # scripts/start (no extras) and scripts/test (test) after --convert: nothing to do.
    assert _source(venv, "") == [] and _source(venv, "test") == []
    calls = _source(venv, "test,package")
    assert any(c.endswith("-e .[convert,package,test]") for c in calls), calls


def test_changed_pyproject_reinstalls_with_every_extra_seen(venv):
    (venv / ".radviewer-installed").write_text("0123456789abcdef convert,test\n")
    calls = _source(venv, "")
    assert any(c.endswith("-e .[convert,test]") for c in calls), calls
    assert (venv / ".radviewer-installed").read_text().split() == [_hash(), "convert,test"]


def test_old_stamp_format_is_not_trusted(venv):
    (venv / ".radviewer-installed").write_text(f"{_hash()} extras=[test,convert]\n")
    calls = _source(venv, "test")
    assert any(c.endswith("-e .[test]") for c in calls), calls
