"""A DICOM SEG gets the same defences as an image (viewer/dicom/seg_pixels.py): compressed
pixel data is decoded in a worker process, lying sizes are refused before anything is
allocated, a FIFO is never opened for reading, and a damaged codestream is a one-line
DicomReadError naming the file."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pydicom
import pytest
from pydicom.uid import RLELossless

from viewer.ai.manifest import Label
from viewer.dicom.scan import scan_folder
from viewer.dicom.seg import read_seg, write_seg
from viewer.errors import DicomReadError
from viewer.paths import sample_study_dir

pytest.importorskip("highdicom")


@pytest.fixture(scope="module")
def t1():
    return scan_folder(str(sample_study_dir())).stacks()[0]


@pytest.fixture(scope="module")
def seg(t1, tmp_path_factory):
    """A real SEG written by radviewer for a made-up two-label result on the sample T1."""
    from viewer.ai.result import AnalysisResult

    k, j, i = np.ogrid[:t1.n_frames, :t1.rows, :t1.columns]
    r2 = (k - t1.n_frames / 2) ** 2 + (j - t1.rows / 2) ** 2 + (i - t1.columns / 2) ** 2
    vol = np.where(r2 < 20 ** 2, 1, np.where(r2 < 40 ** 2, 2, 0)).astype(np.uint8)
    result = AnalysisResult(
        model_id="synthetic", model_name="Synthetic", model_version="0", sha256="0" * 64,
        task="segmentation", mode="3d", series_uid=t1.series_uid, stack_uid=t1.uid,
        stack_label=t1.label, provider="none", timings_s={},
        labels=(Label(1, "Core", (255, 0, 0)), Label(2, "Shell", (0, 0, 255))),
        label_volume=vol)
    return write_seg(result, t1, tmp_path_factory.mktemp("seg") / "seg.dcm")


def _rle_copy(src, dst) -> None:
    """``src`` (BINARY, 1 bit) as an 8-bit FRACTIONAL SEG compressed with RLE Lossless."""
    ds = pydicom.dcmread(src)
    binary = np.asarray(ds.pixel_array, dtype=np.uint8)
    ds.SegmentationType = "FRACTIONAL"
    ds.SegmentationFractionalType = "PROBABILITY"
    ds.MaximumFractionalValue = 255
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.compress(RLELossless, binary * 255, encoding_plugin="pydicom")
    ds.save_as(dst)


def test_compressed_seg_is_decoded_in_a_worker(seg, t1, tmp_path, monkeypatch):
    rle = tmp_path / "rle.dcm"
    _rle_copy(seg, rle)
    assert pydicom.dcmread(rle).file_meta.TransferSyntaxUID == RLELossless

    def in_this_process(self):
        raise AssertionError("a compressed SEG was decoded in the app's process")

    # The worker processes start from a fresh interpreter (forkserver): the patch only
    # fires if this process decodes.
    monkeypatch.setattr(pydicom.dataset.Dataset, "pixel_array", property(in_this_process))
    got = read_seg(rle, t1)
    monkeypatch.undo()
    assert np.array_equal(got.label_volume, read_seg(seg, t1).label_volume)
    assert (got.label_volume > 0).sum() > 1000


def test_lying_frame_count_is_refused_before_allocating(seg, t1, tmp_path):
    ds = pydicom.dcmread(seg)
    ds.NumberOfFrames = 10 ** 9
    lie = tmp_path / "lie.dcm"
    ds.save_as(lie)
    t0 = time.perf_counter()
    with pytest.raises(DicomReadError, match="lie.dcm") as err:
        read_seg(lie, t1)
    print(f"refused in {time.perf_counter() - t0:.2f} s: {err.value}")
    assert "1000000000" in str(err.value)


def test_damaged_rle_is_one_line_naming_the_file(seg, t1, tmp_path):
    rle = tmp_path / "rle.dcm"
    _rle_copy(seg, rle)
    ds = pydicom.dcmread(rle)
    ds.Columns = ds.Columns // 2  # the RLE segments no longer fit the frame
    bad = tmp_path / "bad.dcm"
    ds.save_as(bad)
    with pytest.raises(DicomReadError) as err:
        read_seg(bad, t1)
    msg = str(err.value)
    assert msg.startswith(str(bad)) and "\n" not in msg
    assert "Pickling" not in msg and "Traceback" not in msg


def test_fifo_is_not_opened(t1, tmp_path):
    fifo = tmp_path / "seg.dcm"
    os.mkfifo(fifo)
    box: dict = {}

    def read() -> None:
        try:
            read_seg(fifo, t1)
        except DicomReadError as exc:
            box["error"] = str(exc)

    th = threading.Thread(target=read, daemon=True)
    th.start()
    th.join(10)
    assert not th.is_alive(), "reading a FIFO blocked"
    assert "not a regular file" in box["error"]
