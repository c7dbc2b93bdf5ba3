"""Native decoders run in worker processes: a decoder that aborts costs one frame, not the app.

The crash is real: tests/dicom/crashing_decoder.py makes GDCM abort (SIGABRT) on files named
``crash*`` inside the worker; if that decode ran in this process, pytest itself would die.
"""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from viewer.dicom import decode_pool, isolated, pixels
from viewer.dicom.pixels import (
    DecodeFailure,
    StackPixels,
    decode_frame,
    decode_frame_isolated,
    decode_many,
)
from viewer.dicom.scan import scan_folder
from viewer.errors import DicomReadError, MissingCodecError
from viewer.paths import sample_study_dir

N_FILES = 12  # enough for several batches around the crashing one


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture
def crash_stack(tmp_path, monkeypatch):
    """(stack, k): a JPEG-LS stack copied from the sample whose slice ``k`` crashes GDCM."""
    import crashing_decoder

    src = scan_folder(str(sample_study_dir()))
    t2 = next(st for st in src.stacks() if st.n_frames >= N_FILES and st.rows == 512)
    for ref in t2.frames[:N_FILES]:
        shutil.copy(ref.header.path, tmp_path / os.path.basename(ref.header.path))
    stack = scan_folder(str(tmp_path)).stacks()[0]
    victim = stack.frames[3].header.path  # neither the first slice loaded nor the last
    os.rename(victim, tmp_path / f"crash-{os.path.basename(victim)}")
    stack = scan_folder(str(tmp_path)).stacks()[0]
    assert stack.n_frames == N_FILES
    k = next(i for i, ref in enumerate(stack.frames)
             if os.path.basename(ref.header.path).startswith("crash"))
    monkeypatch.setattr(isolated, "_decode_batch", crashing_decoder.decode_batch)
    return stack, k


def test_decoder_abort_fails_its_frame_and_the_rest_loads(crash_stack):
    stack, k = crash_stack
    decode_pool.start()
    before = set(decode_pool.pids())
    px = StackPixels(stack, pixels.FrameCache())
    with pytest.raises(DicomReadError, match=r"decoder crashed on frame 1") as info:
        px.load_volume()
    assert os.path.basename(stack.frames[k].header.path) in str(info.value)
    assert set(px.failed) == {k}
    others = [i for i in range(stack.n_frames) if i != k]
    assert all(px.is_loaded(i) for i in others) and not px.is_loaded(k)
    vol = px.frame_volume()
    for i in others:  # the good files decode here safely: compare with an in-process decode
        ref = stack.frames[i]
        np.testing.assert_array_equal(vol[i], decode_frame(ref.header, ref.frame))
    # The workers that died are gone (no orphans); the rebuilt pool serves the next request.
    assert not [pid for pid in before - set(decode_pool.pids()) if _alive(pid)]
    ref = stack.frames[others[0]]
    np.testing.assert_array_equal(decode_frame_isolated(ref.header, ref.frame), vol[others[0]])
    # Asking again for the failed slice does not crash another worker.
    pids = set(decode_pool.pids())
    with pytest.raises(DicomReadError, match="decoder crashed"):
        px.frame(k)
    assert set(decode_pool.pids()) == pids


def test_single_frame_on_demand_crash_is_a_read_error(crash_stack):
    stack, k = crash_stack
    px = StackPixels(stack, pixels.FrameCache())
    with pytest.raises(DicomReadError, match="decoder crashed on frame 1"):
        px.frame(k)
    j = (k + 1) % stack.n_frames
    assert px.frame(j).shape == (stack.rows, stack.columns)


def test_decode_many_reports_the_crash_per_item(crash_stack):
    stack, k = crash_stack  # as the thumbnail job uses it: one item a task
    items = [(ref.header, ref.frame) for ref in stack.frames]
    got = dict(decode_many(items, batch=1))
    assert sorted(got) == list(range(stack.n_frames))
    assert isinstance(got[k], DicomReadError) and "decoder crashed" in str(got[k])
    assert all(isinstance(got[i], np.ndarray) for i in got if i != k)


def test_worker_failures_cross_back_as_the_right_errors():
    # Exceptions are returned as plain data: MissingCodecError's __init__ would not unpickle.
    h = scan_folder(str(sample_study_dir())).stacks()[0].first
    missing = isolated._outcome(h, 0, DecodeFailure("x", ("f.dcm", "JPEG-LS", ("pyjpegls",))))
    assert isinstance(missing, MissingCodecError) and missing.packages == ["pyjpegls"]
    damaged = isolated._outcome(h, 0, DecodeFailure("f.dcm: pixel data truncated"))
    assert type(damaged) is DicomReadError and str(damaged) == "f.dcm: pixel data truncated"
