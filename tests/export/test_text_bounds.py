"""Hostile header text (16,000 characters, undecodable bytes, controls) on a real MR slice:
every line drawn is bounded, clean and inside the image, and the export stays quick."""

from __future__ import annotations

import time
import unicodedata
import warnings

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.dataelem import DataElement

from viewer.cli import main as cli_main
from viewer.dicom.pixels import StackPixels
from viewer.dicom.scan import scan_folder
from viewer.display.text import ELLIPSIS, MAX_CHARS, clean
from viewer.export.compose import Legend, _font, fit, render, wrap
from viewer.export.scene import slice_scene

HOSTILE = (b"\xff\xfe\x1b[31mRED\x00\x07\r\n\t\xe2\x80\xaeevil \xc3("  # bad UTF-8, ESC, NUL
           + b"T2 axial " * 1776)  # 16,000+ characters in all


# pydicom notes that the value is longer than LO allows: that is the point of the file.
pytestmark = pytest.mark.filterwarnings("ignore:The value length:UserWarning")


def _controls(text: str) -> list[str]:
    return [c for c in text if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp")]


@pytest.fixture(scope="module")
def hostile(shared_data, tmp_path_factory):
    """A copy of a real axial T2 slice whose Series Description is ``HOSTILE`` (UTF-8 declared)."""
    src = sorted(p for p in (shared_data / "mr-brain").iterdir() if p.name.isdigit())[0]
    ds = pydicom.dcmread(src)
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.add(DataElement(0x0008103E, "LO", HOSTILE))
    ds.add(DataElement(0x00081030, "LO", HOSTILE))  # Study Description, shown with patient
    folder = tmp_path_factory.mktemp("hostile")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom: value longer than LO allows (on purpose)
        ds.save_as(folder / "IM1")
        catalog = scan_folder(str(folder))
    stack = catalog.stacks()[0]
    assert len(stack.label) > 16000  # the reader keeps the raw text; drawing must bound it
    return folder, stack


def test_clean_bounds_and_strips():
    text = clean("a\x00b\x1b[0m\r\nc\u202ed\u200b" + "x" * 20000)
    assert len(text) == MAX_CHARS and text.endswith(ELLIPSIS)
    assert text.startswith("ab[0m cd") and not _controls(text)
    assert clean("  short\tone ") == "short one"


def test_fit_and_wrap_stay_inside_the_width():
    font = _font(14)
    long = "T2 axial " * 1800
    cut = fit(long, font, 180)
    assert cut.endswith(ELLIPSIS) and font.getlength(cut) <= 180
    lines = wrap(long, font, 180, 3)
    assert len(lines) == 3 and lines[-1].endswith(ELLIPSIS)
    assert all(font.getlength(t) <= 180 for t in lines)
    word = wrap("x" * 5000, font, 100, 2)  # one word wider than the panel is broken
    assert len(word) == 2 and all(font.getlength(t) <= 100 for t in word)
    assert wrap("two words", font, 180, 3) == ["two words"]


def test_corner_and_legend_text_of_a_hostile_series(hostile):
    folder, stack = hostile
    pixels = StackPixels(stack)
    scene = slice_scene(pixels, 0, include_patient=True)
    for lines in scene.corners.values():
        for t in lines:
            assert len(t) <= MAX_CHARS and not _controls(t)
    title = scene.corners["tr"][0]
    assert title.startswith("MR") and "RED" in title and title.endswith(ELLIPSIS)
    # The legend of a result on this series: the panel is no taller than the image, its
    # source line is cut, and the render is the image plus a fixed-width panel.
    scene.legend = Legend(title="model 1.0", source=f"on {stack.label}", notice="Research use.")
    t0 = time.perf_counter()
    rgb = render(scene)
    print(f"render with legend: {time.perf_counter() - t0:.3f} s")
    assert rgb.shape[0] == stack.rows
    assert stack.columns + 240 <= rgb.shape[1] <= stack.columns + 30 * 17


def test_cli_export_of_a_hostile_series(hostile, tmp_path):
    folder, stack = hostile
    out = tmp_path / "slice.png"
    t0 = time.perf_counter()
    code = cli_main(["export", str(folder), "--out", str(out), "--quiet"])
    print(f"export of one slice with a 16,000-character description: "
          f"{time.perf_counter() - t0:.2f} s (was 169-390 s)")
    assert code == 0
    rgb = np.asarray(Image.open(out).convert("RGB"))
    assert rgb.shape[:2] == (stack.rows, stack.columns)
    # The corner text stays in its half: the right half's top rows hold text, and nothing
    # runs left past the middle (the orientation letter sits there, +-8 px; the date ends
    # near column 80).
    top = rgb[: 40].astype(int)
    yellow = (top[..., 0] > 200) & (top[..., 1] > 180) & (top[..., 2] < 170)
    cols = np.nonzero(yellow.any(axis=0))[0]
    assert cols.max() > stack.columns * 0.9  # title drawn at the right
    assert yellow[:, stack.columns // 2 + 12: stack.columns // 2 + 40].any()  # and it is long
    middle = yellow[:, stack.columns // 2 - 40: stack.columns // 2 - 12]
    assert not middle.any()
