"""Real projection and ultrasound files for the measurement tests and the measurement benchmark.

Projection images are pydicom-data's real CR chest X-ray RG1 (MONOCHROME1, Pixel Spacing
0.000\\0.000 as published), cropped to a square and re-labelled with the spacing attributes a
test needs; ultrasound files are pydicom's own test files, copied as they are:
- ``gdcm-US-ALOKA-16.dcm``: 640x480 dual view, two calibrated regions side by side
  (columns 32-335 and 336-639, 0.3827 mm per pixel each);
- ``OBXXXX1A.dcm``: 800x600, a B-mode region (columns 120-800, rows 60-518, 0.2623 mm) above a
  spectral Doppler strip (time and velocity: no length).
Nothing is downloaded: a missing file skips the test.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

DX_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.1.1"  # Digital X-Ray Image Storage - For Presentation
US_TWO_REGIONS = "gdcm-US-ALOKA-16.dcm"
US_WITH_DOPPLER = "OBXXXX1A.dcm"
_SPACING_KEYWORDS = ("PixelSpacing", "ImagerPixelSpacing", "NominalScannedPixelSpacing",
                     "EstimatedRadiographicMagnificationFactor", "PixelSpacingCalibrationType",
                     "PixelSpacingCalibrationDescription")


def real_file(name: str) -> str:
    path = get_testdata_file(name, download=False)  # tests never reach the network
    if path is None:
        pytest.skip(f"{name} is not installed (pip install pydicom-data)")
    return path


def projection_file(path: Path, *, modality: str = "DX", size: int = 400,
                    sop_class: str = DX_SOP_CLASS, **attrs) -> Path:
    """Write RG1 cropped to ``size`` x ``size`` as its own series at ``path``.

    Every spacing attribute is removed, then ``attrs`` (pydicom keywords) are set, e.g.
    ``ImagerPixelSpacing=[0.2, 0.2]``; a value of None leaves the attribute out.
    """
    ds = pydicom.dcmread(real_file("RG1_UNCI.dcm"))
    arr = np.ascontiguousarray(ds.pixel_array[:size, :size]).astype("<u2")
    ds.PixelData = arr.tobytes()
    ds.Rows, ds.Columns = arr.shape
    for kw in _SPACING_KEYWORDS:
        if kw in ds:
            delattr(ds, kw)
    ds.Modality = modality
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    for kw, value in attrs.items():
        if value is not None:
            setattr(ds, kw, value)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def ultrasound_file(folder: Path, name: str) -> Path:
    """Copy pydicom's ultrasound test file ``name`` into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(real_file(name), folder / name))


def record_drawn_text(monkeypatch) -> list[str]:
    """From now on, every string Pillow draws (the exports' text) is appended to the list."""
    from PIL import ImageDraw

    drawn: list[str] = []
    depth = [0]  # Pillow's multiline_text calls text per line: record the outer call only
    for name in ("text", "multiline_text"):
        original = getattr(ImageDraw.ImageDraw, name)

        def record(self, xy, text, *a, _original=original, **k):
            if depth[0] == 0:
                drawn.append(str(text))
            depth[0] += 1
            try:
                return _original(self, xy, text, *a, **k)
            finally:
                depth[0] -= 1

        monkeypatch.setattr(ImageDraw.ImageDraw, name, record)
    return drawn
