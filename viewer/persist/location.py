"""Where the objects radviewer writes for a study go, and where they are looked for again.

In order: the study folder itself; when it cannot be written (a read-only share, a CD), a
sibling folder ``<study>.radviewer``; when that cannot be made either, a per-study folder under
``$XDG_DATA_HOME/radviewer/studies`` (``~/.local/share``). The bundled sample study is never
written into. Loading looks in every one of them.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from viewer.paths import resources_dir


def _user_folder(study_dir: Path) -> Path:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local",
                                                           "share")
    # A digest of the folder's path, not the path: no patient names in folder names.
    digest = hashlib.sha256(str(study_dir).encode()).hexdigest()[:16]
    return Path(base) / "radviewer" / "studies" / digest


def candidates(study_dir: str | os.PathLike) -> list[Path]:
    """The folders, in order of preference, for objects written for ``study_dir``."""
    study = Path(study_dir).resolve()
    return [study, study.with_name(study.name + ".radviewer"), _user_folder(study)]


def _bundled(folder: Path) -> bool:
    try:
        return folder.is_relative_to(resources_dir().resolve())
    except OSError:
        return False


def _writable(folder: Path) -> bool:
    """Whether radviewer may create a file in ``folder`` (made if absent). A folder without
    any write permission bit is read-only by its owner's choice, even for root, who could
    write there; otherwise a file is tried, since read-only mounts show no sign."""
    if _bundled(folder):
        return False
    try:
        # The folder, or (still to be made) its nearest existing ancestor: one without any
        # write bit is read-only by its owner's choice, even for root.
        here = folder if folder.is_dir() else next(p for p in folder.parents if p.is_dir())
        if not here.stat().st_mode & 0o222:
            return False
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder, prefix=".radviewer-probe-"):
            pass
    except (OSError, StopIteration):
        return False
    return True


def output_folder(study_dir: str | os.PathLike) -> Path:
    """The first writable folder of :func:`candidates` (created when needed).

    Raises
    ------
    OSError
        No candidate can be written (the home folder too is read-only).
    """
    for folder in candidates(study_dir):
        if _writable(folder):
            return folder
    raise OSError(f"{study_dir}: no writable folder for radviewer's files (the study folder, "
                  "the folder beside it and the home folder are read-only)")


def existing(study_dir: str | os.PathLike) -> list[Path]:
    """The candidate folders that exist, to look for earlier objects in."""
    return [f for f in candidates(study_dir) if f.is_dir()]
