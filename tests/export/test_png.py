"""The fast PNG writer (viewer/export/png.py): lossless, readable by Pillow, text kept, and not
much bigger than Pillow's own level-1 files on a real rendered slice."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from viewer.dicom.pixels import StackPixels
from viewer.export import png
from viewer.export.compose import render
from viewer.export.images import save_image
from viewer.export.scene import slice_scene


@pytest.fixture(scope="module")
def rendered(sample_catalog) -> np.ndarray:
    """A real annotated view: the sample T1's middle slice with its corner text."""
    stack = sample_catalog.stacks()[0]
    return render(slice_scene(StackPixels(stack), stack.n_frames // 2))


def test_rendered_slice_reads_back_exactly_and_is_not_much_bigger_than_pillow(rendered):
    data = png.encode_png(rendered)
    back = Image.open(io.BytesIO(data))
    assert back.mode == "RGB" and np.array_equal(np.asarray(back), rendered)
    pil = io.BytesIO()
    Image.fromarray(rendered).save(pil, "PNG", compress_level=1)
    # One filter for all rows where Pillow picks one per row: a little larger on noisy MR.
    assert len(data) <= 1.3 * len(pil.getvalue())


@pytest.mark.parametrize("shape,mode", [((37, 53), "L"), ((37, 53, 3), "RGB"),
                                        ((37, 53, 4), "RGBA")])
def test_grey_rgb_rgba_round_trip(shape, mode):
    img = np.random.default_rng(3).integers(0, 256, shape, dtype=np.uint8)
    back = Image.open(io.BytesIO(png.encode_png(img)))
    assert back.mode == mode and np.array_equal(np.asarray(back), img)


def test_text_chunks_and_refusals(tmp_path, rendered):
    p = save_image(rendered, tmp_path / "a.png",
                   text={"radviewer:model-id": "m", "radviewer:notice": "Research — x ü"})
    assert Image.open(p).text == {"radviewer:model-id": "m",
                                  "radviewer:notice": "Research - x ü"}
    with pytest.raises(ValueError, match="uint8"):
        png.encode_png(rendered.astype(np.uint16))


def test_zlib_fallback_writes_the_same_pixels(monkeypatch, rendered):
    """Where isal has no wheel the standard library's zlib deflates: same image."""
    import zlib

    monkeypatch.setattr(png, "_deflate", zlib)
    back = Image.open(io.BytesIO(png.encode_png(rendered)))
    assert np.array_equal(np.asarray(back), rendered)
