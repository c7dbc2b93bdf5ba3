"""The real files the fuzzer mutates: small pydicom test files and two slices of ../shared/data.

Files are located without downloading anything (``get_testdata_file(..., download=False)``):
a source that is not installed is simply absent, and cases drawn on it are skipped.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True, slots=True)
class Source:
    """One real file: ``name`` (stable id), where it comes from, and what it is."""

    name: str
    origin: str  # "pydicom" (pydicom's or pydicom-data's test files) or "shared"
    rel: str  # file name for pydicom, path below ../shared/data for shared
    encapsulated: bool = False
    colour: bool = False
    frames: int = 1


# The order is part of every case's identity: append, never reorder.
SOURCES: tuple[Source, ...] = (
    Source("CT_small", "pydicom", "CT_small.dcm"),
    Source("MR_small", "pydicom", "MR_small.dcm"),
    Source("MR_small_bigendian", "pydicom", "MR_small_bigendian.dcm"),
    Source("jpeg_baseline_ybr", "pydicom", "SC_rgb_jpeg_dcmtk.dcm", encapsulated=True,
           colour=True),
    Source("jpeg_lossless_16bit", "pydicom", "JPEG-LL.dcm", encapsulated=True),
    Source("jpeg_ls", "pydicom", "MR_small_jpeg_ls_lossless.dcm", encapsulated=True),
    Source("jpeg_2000", "pydicom", "MR_small_jp2klossless.dcm", encapsulated=True),
    Source("rle", "pydicom", "MR_small_RLE.dcm", encapsulated=True),
    Source("rgb_native", "pydicom", "SC_rgb.dcm", colour=True),
    Source("rgb_rle_2frame", "pydicom", "SC_rgb_rle_2frame.dcm", encapsulated=True,
           colour=True, frames=2),
    Source("mr_multiframe", "pydicom", "emri_small.dcm", frames=10),
    Source("rtdose_32bit", "pydicom", "rtdose.dcm", frames=15),
    Source("lidc_ct_slice", "shared", "ct-chest-lidc0314/000001.dcm"),
    Source("mr_brain_t2_slice", "shared", "mr-brain/36444280"),
)

BY_NAME = {s.name: s for s in SOURCES}

# The intact file written beside every case: it must stay in the catalog whatever the case.
COMPANION = "MR_small"


def shared_data() -> Path | None:
    """``../shared/data`` beside the checkout (or $RADVIEWER_SHARED_DATA), as tests/conftest."""
    for c in (os.environ.get("RADVIEWER_SHARED_DATA"), REPO.parent / "shared" / "data"):
        if c and Path(c).is_dir():
            return Path(c)
    return None


def locate(src: Source) -> Path | None:
    """The source's path on this machine, or None when it is not installed here."""
    if src.origin == "shared":
        root = shared_data()
        path = root / src.rel if root else None
        return path if path is not None and path.is_file() else None
    from pydicom.data import get_testdata_file

    found = get_testdata_file(src.rel, download=False)
    return Path(found) if found else None
