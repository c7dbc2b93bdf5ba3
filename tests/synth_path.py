"""Lets tests outside tests/dicom use the synthetic-series writer."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "dicom"))

from synth import write_broken_files, write_series  # noqa: E402

__all__ = ["write_broken_files", "write_series"]
