"""One undecodable frame never aborts its stack in the window (issue 12, section 3).

Real files: slices of the bundled JPEG-LS T2, copied; one gets a codestream whose height differs
from the header (it never reaches a decoder: viewer.dicom.codestream).
"""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from viewer.dicom.scan import scan_folder
from viewer.paths import sample_study_dir

N = 7


def _t2_files() -> list[str]:
    cat = scan_folder(str(sample_study_dir()))
    st = next(s for s in cat.stacks() if s.rows == 512 and s.n_frames >= N)
    return [ref.header.path for ref in st.frames[:N]]


def _bad_height(path) -> None:
    """Make the JPEG-LS SOF (FFF7) claim one row more than Rows."""
    data = bytearray(open(path, "rb").read())
    i = data.find(b"\xff\xf7")
    assert i > 0
    y = int.from_bytes(data[i + 5:i + 7], "big")
    data[i + 5:i + 7] = (y + 1).to_bytes(2, "big")
    open(path, "wb").write(bytes(data))


def _open(qtbot, win, folder):
    win.open_folder(str(folder))
    qtbot.waitUntil(lambda: win._scan is None and win.catalog is not None, timeout=30000)
    stack = win.catalog.stacks()[0]
    qtbot.waitUntil(lambda: win._load is not None and not win._load.is_running, timeout=60000)
    qtbot.wait(50)  # the queued signals of the job's last moments
    return stack


@pytest.fixture
def bad_jpegls(tmp_path):
    files = _t2_files()
    for f in files:
        shutil.copy(f, tmp_path / os.path.basename(f))
    cat = scan_folder(str(tmp_path))
    stack = cat.stacks()[0]
    k = 2  # not the middle slice (loaded first) nor an end
    _bad_height(stack.frames[k].header.path)
    return tmp_path, k, os.path.basename(stack.frames[k].header.path)


def test_bad_frame_shows_placeholder_and_the_rest_loads(qtbot, window, bad_jpegls):
    folder, k, name = bad_jpegls
    stack = _open(qtbot, window, folder)
    assert stack.n_frames == N
    view = window.view
    px = view.pixels
    assert set(px.failed) == {k}
    assert all(px.is_loaded(i) for i in range(N) if i != k)
    # Said once, naming the file and the frame.
    items = [window.problems.item(i).text() for i in range(window.problems.count())]
    hits = [t for t in items if name in t]
    assert len(hits) == 1 and "frame 1 cannot be shown" in hits[0], items
    # Scrolling onto the bad slice: a dark placeholder with the reason drawn on the view.
    view.set_index(k)
    assert view._shown is not None and not view._shown.any()
    assert view._placeholder
    text = view._notice.text()
    assert name in text and "frame 1 cannot be shown" in text
    assert "differs" in text or "header" in text, text
    # and past it: the next slice is a real image again, without the notice.
    view.set_index(k + 1)
    assert view._shown is not None and view._shown.any()
    assert view._notice.text() == "" and not view._placeholder
    # Coming back to the stack does not report the same problem again.
    n = window.problems.count()
    window._pixels_by_uid.clear()  # a fresh StackPixels would report again; the same one not
    window.views[0].pixels = None
    window.show_stack(stack)
    qtbot.waitUntil(lambda: not window._load.is_running, timeout=60000)
    qtbot.wait(50)
    assert window.problems.count() == n + 1
    window.views[0].pixels = None
    window.show_stack(stack)  # the same StackPixels again
    qtbot.waitUntil(lambda: not window._load.is_running, timeout=60000)
    qtbot.wait(50)
    assert window.problems.count() == n + 1


def test_cine_runs_past_the_bad_slice(qtbot, window, bad_jpegls):
    folder, k, _ = bad_jpegls
    _open(qtbot, window, folder)
    view = window.view
    view.set_index(k - 1)
    window._cine_tick()
    assert view.index == k
    window._cine_tick()
    assert view.index == k + 1


def test_mpr_shows_the_bad_slice_as_a_gap(qtbot, window, bad_jpegls):
    folder, k, _ = bad_jpegls
    _open(qtbot, window, folder)
    px = window.view.pixels
    assert set(px.failed) == {k}
    window.set_layout("1x3")  # the reformat is not refused
    assert window.layout_mode == "1x3"
    qtbot.waitUntil(lambda: all(v._shown is not None for v in window.visible_views()),
                    timeout=30000)
    others = [v for v in window.visible_views() if v.plane != "axial"]
    assert others and all("drawn as black gaps" in v._notice.text() for v in others)
    vol = px.frame_volume()
    assert not vol[k].any() and vol[k + 1].any()
    # The coronal plane's rows are the slices (superior axis): exactly one row is the gap.
    cor = next(v for v in others if v.plane == "coronal")
    img = cor.current_image()
    assert img.shape[0] == N
    assert np.count_nonzero(~img.any(axis=1)) == 1


def test_multiframe_cut_short_shows_the_frames_it_holds(qtbot, window, tmp_path):
    """pydicom's emri_small.dcm (10 frames of 64x64, native) cut short inside frame 8."""
    import pydicom
    from pydicom.data import get_testdata_file

    src = get_testdata_file("emri_small.dcm")
    ds = pydicom.dcmread(src)
    frame_bytes = ds.Rows * ds.Columns * 2
    raw = open(src, "rb").read()
    (tmp_path / "mf.dcm").write_bytes(raw[:-(2 * frame_bytes + 100)])
    stack = _open(qtbot, window, tmp_path)
    assert stack.n_frames == 10
    px = window.view.pixels
    assert sorted(px.failed) == [7, 8, 9]
    want = ds.pixel_array
    for k in range(7):  # the frames present are shown as they are
        ref = stack.frames[k]
        np.testing.assert_array_equal(px.frame(k), want[ref.frame])
    items = [window.problems.item(i).text() for i in range(window.problems.count())]
    hits = [t for t in items if "mf.dcm" in t]
    assert len(hits) == 1 and "2 more slices" in hits[0], items
    bad = next(k for k in (7, 8, 9) if stack.frames[k].frame == 7)
    window.view.set_index(bad)
    assert "frame 8 cannot be shown" in window.view._notice.text()


def test_window_opens_a_dicomdir_given_as_the_path(qtbot, window):
    from pydicom.data import get_testdata_file

    path = get_testdata_file("DICOMDIR")
    window.open_folder(path)
    qtbot.waitUntil(lambda: window._scan is None and window.catalog is not None, timeout=30000)
    assert len(window.catalog.stacks()) > 20
    assert window.catalog.indexes == [path]
    assert path not in {s.path for s in window.catalog.skipped}
