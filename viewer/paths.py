"""Where bundled resources and models live: a checkout, an installed wheel or a frozen build."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def _root() -> Path:
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen:
        return Path(frozen)
    env = os.environ.get("RADVIEWER_ROOT")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent
    # A checkout (or editable install) has resources/ beside the package; a wheel ships them
    # inside the package as viewer/_data.
    if (here.parent / "resources").is_dir():
        return here.parent
    return here / "_data"


def resources_dir() -> Path:
    """Folder of bundled resources (sample study, icons)."""
    return _root() / "resources"


def models_dir() -> Path:
    """Folder of bundled models (one sub-folder per model id)."""
    return _root() / "models"


def sample_study_dir() -> Path:
    """The bundled sample brain MR study."""
    return resources_dir() / "sample"


def study_path(path: str | None, sample: bool) -> str:
    """The folder a command works on: ``path``, or the sample study with ``--sample``."""
    from viewer.errors import StudyNotFoundError

    if sample:
        return str(sample_study_dir())
    if not path:
        raise StudyNotFoundError("give a study folder (PATH) or --sample")
    return path
