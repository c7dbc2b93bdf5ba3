"""Copies of the bundled sample T1 as new studies: every UID replaced (study, series, frame of
reference, instances) with pydicom, pixel data untouched, so each copy is a distinct real
series that a batch analyses on its own."""

from __future__ import annotations

import os
from pathlib import Path

import pydicom
from pydicom.uid import generate_uid

from viewer.paths import sample_study_dir

T1_DESCRIPTION = "mocoMEMPRAGE_220FOV RMS"
CBF_DESCRIPTION = "relCBF"  # a derived perfusion map: no brain model applies to it


def sample_series(description: str = T1_DESCRIPTION) -> list[pydicom.Dataset]:
    """One series of the sample study, read once (pixel data still encoded)."""
    out = []
    for name in sorted(os.listdir(sample_study_dir())):
        ds = pydicom.dcmread(sample_study_dir() / name)
        if ds.get("SeriesDescription") == description:
            out.append(ds)
    return out


def write_copy(files: list[pydicom.Dataset], folder: Path, n: int) -> str:
    """Write ``files`` into ``folder`` as copy number ``n`` under new UIDs (the same on every
    run for the same ``n``: ``generate_uid`` with an entropy source); returns the series UID."""
    folder.mkdir(parents=True, exist_ok=True)
    study = generate_uid(entropy_srcs=["radviewer-batch-test", "study", str(n)])
    series = generate_uid(entropy_srcs=["radviewer-batch-test", "series", str(n)])
    frame = generate_uid(entropy_srcs=["radviewer-batch-test", "for", str(n)])
    for i, ds in enumerate(files):
        sop = generate_uid(entropy_srcs=["radviewer-batch-test", "sop", str(n), str(i)])
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = study, series, sop
        ds.FrameOfReferenceUID = frame
        ds.file_meta.MediaStorageSOPInstanceUID = sop
        ds.save_as(folder / f"im{i:04d}.dcm", enforce_file_format=True)
    return series


def make_studies(root: Path, n: int, files: list[pydicom.Dataset] | None = None) -> list[str]:
    """``root/study01`` … ``root/studyNN``, each a copy of the sample T1; their series UIDs."""
    files = files or sample_series()
    return [write_copy(files, root / f"study{k:02d}", k) for k in range(1, n + 1)]


def corrupt_pixels(folder: Path) -> None:
    """Cut every file in ``folder`` short inside its pixel data: the headers still scan as a
    series, decoding the images fails (a damaged copy)."""
    for p in folder.iterdir():
        with open(p, "r+b") as fh:  # the compressed frame is the file's last ~30 kB
            fh.truncate(p.stat().st_size - 2000)
