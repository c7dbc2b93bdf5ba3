"""Frames come back from the decoder processes through shared memory, and none is left behind;
the decoder processes can be started in the background at launch (decode_pool.start_soon)."""

from __future__ import annotations

import glob
import threading
import time

import numpy as np
import pytest

from viewer.dicom import decode_pool, shm_frames
from viewer.dicom.pixels import FrameCache, StackPixels, decode_frame
from viewer.dicom.scan import scan_folder
from viewer.errors import OperationCancelled
from viewer.paths import sample_study_dir


def _segments() -> set[str]:
    return set(glob.glob("/dev/shm/psm_*"))


def _gone(names: set[str], within_s: float = 10.0) -> bool:
    """Whether every block in ``names`` is unlinked (results still running are freed when
    they arrive, so give them a moment)."""
    deadline = time.monotonic() + within_s
    while names & _segments():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.fixture(scope="module")
def t2():
    """The sample study's axial T2: 55 JPEG-LS slices of 512x384 (384 KiB each, decoded)."""
    return next(s for s in scan_folder(str(sample_study_dir())).stacks() if s.n_frames == 55)


def test_volume_arrives_through_shared_memory_identical_and_unlinked(t2, monkeypatch):
    seen: list[str] = []
    real_unpack = shm_frames.unpack

    def spy(sf, out=None):
        seen.append(sf.name)
        return real_unpack(sf, out)

    monkeypatch.setattr(shm_frames, "unpack", spy)
    vol = StackPixels(t2, FrameCache()).load_volume()
    assert len(seen) == t2.n_frames  # every slice came through a block, none through the pipe
    assert not {f"/dev/shm/{name.lstrip('/')}" for name in seen} & _segments()  # all unlinked
    for k in (0, 27, 54):  # as decoded in this process (safe here: a good file)
        ref = t2.frames[k]
        np.testing.assert_array_equal(vol[k], decode_frame(ref.header, ref.frame))


def test_cancelled_load_frees_the_blocks_still_on_their_way(t2, monkeypatch):
    created: list[str] = []
    real_outcome_unpack = shm_frames.unpack

    def spy(sf, out=None):
        created.append(sf.name)
        return real_outcome_unpack(sf, out)

    monkeypatch.setattr(shm_frames, "unpack", spy)
    cancel = threading.Event()
    px = StackPixels(t2, FrameCache())
    before = _segments()
    with pytest.raises(OperationCancelled):
        px.load_volume(cancel=cancel, on_slice=lambda k: cancel.set())
    assert 0 < len(created) < t2.n_frames  # stopped early, with batches in flight
    # The rest loads on the next call. Workers take tasks in order, and results are handled in
    # the order they arrive, so once it is done every batch of the cancelled load has arrived.
    assert px.load_volume().shape == (55, 512, 384)
    assert _gone(_segments() - before), "shared-memory blocks left after a cancelled load"


def test_unpack_checks_the_destination_and_always_unlinks():
    arr = np.arange(256 * 256, dtype=np.int16).reshape(256, 256)
    assert shm_frames.pack(arr[:8, :8]) is not None and isinstance(
        shm_frames.pack(arr[:8, :8]), np.ndarray)  # small: through the pipe
    sf = shm_frames.pack(arr)
    assert isinstance(sf, shm_frames.SharedFrame)
    with pytest.raises(ValueError, match="destination"):
        shm_frames.unpack(sf, np.empty((256, 255), np.int16))
    with pytest.raises(FileNotFoundError):  # unlinked even though the copy failed
        shm_frames.unpack(sf)
    sf = shm_frames.pack(arr)
    out = np.empty((256, 256), np.int32)
    assert shm_frames.unpack(sf, out) is out
    np.testing.assert_array_equal(out, arr)
    sf = shm_frames.pack(arr)
    assert f"/dev/shm/{sf.name}" in _segments()
    shm_frames.discard(sf)
    shm_frames.discard(sf)  # twice: nothing left, no error
    assert f"/dev/shm/{sf.name}" not in _segments()


def test_start_soon_starts_once_in_the_background_and_the_pool_serves(t2):
    decode_pool.shutdown(final=False)
    assert decode_pool.pids() == []
    decode_pool.start_soon()
    thread = decode_pool._soon
    decode_pool.start_soon()  # idempotent: no second start
    assert decode_pool._soon is thread and thread is not None
    thread.join(60)
    assert not thread.is_alive() and decode_pool.pids()
    px = StackPixels(t2, FrameCache())
    ref = t2.frames[3]
    np.testing.assert_array_equal(px.frame(3), decode_frame(ref.header, ref.frame))


def test_a_frame_without_room_in_shared_memory_goes_through_the_pipe(monkeypatch):
    def full(*_args, **_kwargs):
        raise OSError(28, "No space left on device")

    made = []
    real_open = shm_frames.os.open

    def spy(path, *args, **kwargs):
        made.append(path)
        return real_open(path, *args, **kwargs)

    arr = np.ones((512, 512), np.int16)
    monkeypatch.setattr(shm_frames.os, "open", spy)
    monkeypatch.setattr(shm_frames.os, "posix_fallocate", full)
    assert shm_frames.pack(arr) is arr  # no room: the block is given up and unlinked
    assert len(made) == 1 and made[0] not in _segments()
    monkeypatch.setattr(shm_frames.os, "open", full)
    assert shm_frames.pack(arr) is arr  # cannot even be made
