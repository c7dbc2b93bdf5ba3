"""Find the series a batch analyses: every study folder under ROOT is scanned with
:func:`viewer.dicom.scan.scan_folder` and each stack the model may run on (the registry's
applicability check) becomes a :class:`Job`."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Job:
    """One series to analyse. ``stack`` is the scanned stack (picklable: it travels to the
    worker, whose file paths must be the same there); ``key`` identifies the result in the
    state file."""

    key: str
    stack: object
    folder: str  # the study folder it was found in (absolute)
    index: int  # 1-based, as ``radviewer info FOLDER`` prints it

    @property
    def series_uid(self) -> str:
        return self.stack.uid  # a split stack's own uid, else the Series Instance UID


@dataclass
class Skipped:
    """A series (or folder) left out, with the one-line reason."""

    folder: str
    series_uid: str
    label: str
    reason: str
    stack: object = None  # None for a folder without image series


def job_key(series_uid: str, model_id: str, sha256: str) -> str:
    """The state file's key: the same series with the same model weights is done once."""
    return f"{series_uid}|{model_id}|{sha256}"


def study_folders(root: Path) -> list[Path]:
    """The folders scanned one by one: each sub-folder of ``root`` (a study, or a patient
    with its studies), and ``root`` itself when it has files of its own but no sub-folders
    (a single study given directly). Hidden folders (``.radviewer-*`` staging, ``.git``)
    are left out."""
    try:
        with os.scandir(root) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError:
        return [root]
    subs = [Path(e.path) for e in entries
            if not e.name.startswith(".") and e.is_dir(follow_symlinks=False)]
    has_files = any(e.is_file() for e in entries if not e.name.startswith("."))
    if has_files and not subs:
        return [root]
    return subs + ([root] if has_files else [])


def find_jobs(root: Path, entry, out: Path | None = None,
              progress: Callable[[int, int, str], None] | None = None,
              ) -> Iterator[Job | Skipped]:
    """Scan each study folder under ``root`` and yield a :class:`Job` per applicable stack and
    a :class:`Skipped` per other stack (reason: the registry's). ``out`` (the batch's output
    folder) is never scanned, should it lie inside ``root``. ``progress(done, total, folder)``
    is called after each folder. A folder with files of the root itself is scanned without
    its sub-folders' files counted twice: its stacks found in sub-folders are dropped."""
    from viewer.ai.registry import not_applicable_reason
    from viewer.dicom.scan import scan_folder

    root = root.resolve()
    out_r = out.resolve() if out is not None else None
    folders = [f for f in study_folders(root) if out_r is None or f.resolve() != out_r]
    m = entry.manifest
    for n, folder in enumerate(folders, 1):
        catalog = scan_folder(folder)
        nested_root = folder == root and len(folders) > 1
        for index, st in enumerate(catalog.stacks(), 1):
            if nested_root and any(os.path.dirname(f.header.path) != str(root)
                                   for f in st.frames):
                continue  # found again when its own sub-folder is scanned
            reason = not_applicable_reason(entry, st)
            if reason:
                yield Skipped(str(folder), st.uid, st.label, reason, st)
            else:
                yield Job(job_key(st.uid, m.id, m.sha256), st, str(folder), index)
        if not catalog.stacks() and catalog.skipped:
            yield Skipped(str(folder), "", "", f"no image series ({len(catalog.skipped)} files "
                          f"skipped; {catalog.skipped[0].reason})")
        if progress is not None:
            progress(n, len(folders), str(folder))
