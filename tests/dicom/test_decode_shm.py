"""Frames come back from the decoder processes through shared memory (written straight into a
volume's memfd, or one block each), and none is left behind; the decoder processes can be
started in the background at launch (decode_pool.start_soon)."""

from __future__ import annotations

import dataclasses
import glob
import mmap
import threading
import time

import numpy as np
import pytest

from viewer.dicom import decode_pool, isolated, shm_frames, shm_volume
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


def _mapped(arr: np.ndarray) -> bool:
    """Whether ``arr``'s memory is a mapping (the shared volume), not numpy's own."""
    while isinstance(arr, np.ndarray):
        arr = arr.base
    return isinstance(arr.obj if isinstance(arr, memoryview) else arr, mmap.mmap)


def _results(monkeypatch) -> list:
    """Records every worker result that decode_many receives."""
    seen: list = []
    real_outcome = isolated._outcome

    def spy(h, frame, result, out=None):
        seen.append(result)
        return real_outcome(h, frame, result, out)

    monkeypatch.setattr(isolated, "_outcome", spy)
    return seen


def test_volume_is_written_by_the_workers_into_shared_memory_identical(t2, monkeypatch):
    seen = _results(monkeypatch)
    px = StackPixels(t2, FrameCache())
    vol = px.load_volume()
    # Every slice was written into the volume by a worker: no block, no pipe, no copy here.
    assert len(seen) == t2.n_frames and all(isinstance(r, shm_volume.Written) for r in seen)
    assert _mapped(vol)
    assert px._shared is None  # loaded: the descriptor is closed (the mapping stays)
    for k in (0, 27, 54):  # as decoded in this process (safe here: a good file)
        ref = t2.frames[k]
        np.testing.assert_array_equal(vol[k], decode_frame(ref.header, ref.frame))


def test_without_a_shared_volume_frames_come_through_blocks_identical_and_unlinked(
        t2, monkeypatch):
    seen = _results(monkeypatch)
    monkeypatch.setattr(shm_volume, "allocate", lambda shape, dtype: None)  # e.g. no memfd
    vol = StackPixels(t2, FrameCache()).load_volume()
    names = [r.name for r in seen if isinstance(r, shm_frames.SharedFrame)]
    assert len(names) == t2.n_frames  # every slice came through a block, none through the pipe
    assert not {f"/dev/shm/{name}" for name in names} & _segments()  # all unlinked
    assert not _mapped(vol)
    for k in (0, 54):
        ref = t2.frames[k]
        np.testing.assert_array_equal(vol[k], decode_frame(ref.header, ref.frame))


def test_cancelled_load_finishes_later_identical(t2, monkeypatch):
    seen = _results(monkeypatch)
    cancel = threading.Event()
    px = StackPixels(t2, FrameCache())
    with pytest.raises(OperationCancelled):
        px.load_volume(cancel=cancel, on_slice=lambda k: cancel.set())
    assert 0 < len(seen) < t2.n_frames  # stopped early, with batches in flight
    assert px._shared is not None  # kept for the rest
    vol = px.load_volume()
    assert px._shared is None
    ref = t2.frames[30]
    np.testing.assert_array_equal(vol[30], decode_frame(ref.header, ref.frame))


def test_cancelled_load_without_a_shared_volume_frees_the_blocks_still_on_their_way(
        t2, monkeypatch):
    """Where frames come through blocks (no memfd, /proc hidden), a cancelled load's blocks
    still on their way are unlinked when they arrive."""
    seen = _results(monkeypatch)
    monkeypatch.setattr(shm_volume, "allocate", lambda shape, dtype: None)
    cancel = threading.Event()
    px = StackPixels(t2, FrameCache())
    before = _segments()
    with pytest.raises(OperationCancelled):
        px.load_volume(cancel=cancel, on_slice=lambda k: cancel.set())
    assert 0 < len(seen) < t2.n_frames  # stopped early, with batches in flight
    # Workers take tasks in order and results are handled as they arrive: once the rest has
    # loaded, every batch of the cancelled load has arrived (and been discarded).
    assert px.load_volume().shape == (55, 512, 384)
    assert any(isinstance(r, shm_frames.SharedFrame) for r in seen)
    assert _gone(_segments() - before), "shared-memory blocks left after a cancelled load"


def test_a_load_with_a_slice_that_cannot_be_decoded_lets_go_of_the_descriptor(t2, tmp_path):
    """A failed slice is never decoded again, so once every other slice is in, the volume's
    memfd descriptor is closed (the mapping stays): a study of damaged series does not hold
    one open descriptor per series."""
    import shutil

    from viewer.errors import DicomReadError

    for ref in t2.frames[20:25]:
        shutil.copy(ref.header.path, tmp_path)
    bad = tmp_path / t2.frames[22].header.path.rsplit("/", 1)[-1]
    data = bytearray(bad.read_bytes())
    soi = data.index(b"\xff\xd8\xff\xf7", t2.frames[22].header.encapsulated_offset)
    data[soi:soi + 64] = bytes(64)  # no JPEG-LS start of image: no decoder can read it
    bad.write_bytes(bytes(data))
    stack = scan_folder(str(tmp_path)).stacks()[0]
    assert stack.n_frames == 5
    px = StackPixels(stack, FrameCache())
    with pytest.raises(DicomReadError):
        px.load_volume()
    assert len(px.failed) == 1 and all(px.is_loaded(k) for k in range(5) if k not in px.failed)
    assert px._shared is None
    assert _mapped(px.frame_volume())


def test_a_worker_never_writes_where_the_descriptor_now_names_another_file():
    shared = shm_volume.allocate((2, 256, 256), np.dtype(np.int16))
    assert shared is not None
    frame = np.arange(256 * 256, dtype=np.int16).reshape(256, 256)
    good = shared.target(shared.array[1])
    assert good is not None and good.offset == 256 * 256 * 2
    with shm_volume.Writer() as w:
        assert w.write(good, frame)
        assert not w.write(good, frame.astype(np.int32))  # another type: through a block
    np.testing.assert_array_equal(shared.array[1], frame)
    assert not shared.array[0].any()
    other = shm_volume.allocate((1,), np.dtype(np.int16))  # its own inode
    stale = dataclasses.replace(good, fd=other.fd)
    with shm_volume.Writer() as w:
        assert not w.write(stale, frame)  # a reused number: refused, nothing written
    assert shared.target(np.zeros((256, 256), np.int16)) is None  # not in the volume


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


def test_batches_shrink_towards_the_end_so_the_workers_finish_together():
    groups = decode_pool._groups(275, 8, 2)
    assert [i for g in groups for i in g] == list(range(275))  # each once, in order
    sizes = [len(g) for g in groups]
    assert sizes[0] == 1 and max(sizes) == 8  # the first alone, then full batches
    assert sizes[-8:] == [1] * 8  # the last ones alone: no worker waits on a full batch
    assert sizes[1:] == sorted(sizes[1:], reverse=True)
    assert decode_pool._groups(0, 8, 2) == [] and decode_pool._groups(3, 8, 2) == [[0], [1], [2]]


def test_the_fast_exit_hook_is_the_forkservers_only():
    import atexit
    import importlib

    from viewer.dicom import forkserver_exit

    # Imported here (not by a forkserver's preload): the app's own exit is never cut short.
    before = atexit._ncallbacks()
    importlib.reload(forkserver_exit)
    assert atexit._ncallbacks() == before
    assert not forkserver_exit._in_forkserver_preload()
    assert "viewer.dicom.forkserver_exit" in decode_pool._preload
