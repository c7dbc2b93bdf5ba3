"""Measurements and key images that last: drawn in the real window on a copy of the sample
study, saved (Ctrl+S, or on close), and back when the study is opened again."""

from __future__ import annotations

import shutil

import pytest
from PySide6.QtCore import Qt
from test_main_window import open_and_wait
from window_helpers import shown_window

from viewer.dicom.scan import scan_folder
from viewer.display.measure import Measurement, ruler_length_mm
from viewer.gui.main_window import MainWindow
from viewer.gui.window_persist import KEY_MARK, PersistController
from viewer.paths import sample_study_dir
from viewer.persist import key_images, measurements


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A writable copy of the sample MR study (never written into the bundled one)."""
    dst = tmp_path_factory.mktemp("persist") / "study"
    shutil.copytree(sample_study_dir(), dst)
    return dst


def make_window(qtbot, tmp_path, name: str) -> MainWindow:
    win = shown_window(qtbot, tmp_path / f"{name}.ini", (1000, 760))
    assert isinstance(win.persist, PersistController)  # composed by MainWindow
    return win


def wait_restored(qtbot, win) -> None:
    uid = win.view.pixels.stack.uid
    qtbot.waitUntil(lambda: uid in win.persist._loaded, timeout=10000)
    assert win.persist.wait(30)
    qtbot.wait(50)  # the loaded signal's queued delivery


def test_ruler_and_key_image_saved_and_restored(qtbot, tmp_path, study):
    win = make_window(qtbot, tmp_path, "a")
    open_and_wait(qtbot, win, study)
    wait_restored(qtbot, win)
    view = win.view
    stack = view.pixels.stack
    k = view.index
    assert win.measurements.on(view.slice_key()) == []
    ruler = Measurement("ruler", (40.5, 60.5), (140.5, 90.5))
    view.add_measurement(ruler)
    shown_text = view.measurement_text(ruler)
    qtbot.keyClick(view, Qt.Key.Key_K)  # flag the slice as a key image
    assert win.persist.is_key(view)
    mark = win.persist._marks[id(view)]
    assert mark.isVisible() and mark.text() == KEY_MARK
    qtbot.keyClick(view, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    assert win.persist.wait(30)
    sr = study / measurements.file_name(stack)
    ko = study / key_images.file_name(stack)
    qtbot.waitUntil(lambda: sr.is_file() and ko.is_file(), timeout=10000)
    assert not win.persist.pending
    win.close()

    win2 = make_window(qtbot, tmp_path, "b")
    open_and_wait(qtbot, win2, study)
    wait_restored(qtbot, win2)
    v2 = win2.view
    assert v2.pixels.stack.uid == stack.uid and v2.index == k
    [back] = win2.measurements.on(v2.slice_key())
    spacing = stack.spacing[1:]
    assert back.kind == "ruler"
    assert ruler_length_mm(back.p0, back.p1, spacing) == pytest.approx(
        ruler_length_mm(ruler.p0, ruler.p1, spacing), abs=1e-3)
    assert v2.measurement_text(back) == shown_text  # the same figure on screen
    assert [m.id for _roi, _text, m in v2._items.values()] == [back.id]  # and drawn
    assert win2.persist.is_key(v2) and win2.persist._marks[id(v2)].isVisible()
    # A scan's later (partial or final) catalog of the same study reloads nothing twice.
    win2._show_catalog(scan_folder(study))
    v2.refresh()
    assert win2.persist.wait(30)
    qtbot.wait(50)
    assert len(win2.measurements) == 1 and win2.persist.is_key(v2)
    v2.set_index(k + 1)
    assert not win2.persist._marks[id(v2)].isVisible()

    # Deleting the ruler and unflagging the slice last too: saved when the window closes.
    v2.set_index(k)
    v2.delete_all_on_slice()
    qtbot.keyClick(v2, Qt.Key.Key_K)
    assert not win2.persist.is_key(v2)
    win2.close()
    assert not sr.exists() and not ko.exists()


def test_changed_work_saved_when_another_study_opens(qtbot, tmp_path, study, shared_data):
    win = make_window(qtbot, tmp_path, "c")
    open_and_wait(qtbot, win, study)
    wait_restored(qtbot, win)
    view = win.view
    stack = view.pixels.stack
    view.add_measurement(Measurement("ellipse", (60.5, 60.5), (100.5, 90.5)))
    sr = study / measurements.file_name(stack)
    assert not sr.exists()  # not saved on every change
    open_and_wait(qtbot, win, shared_data / "mr-enhanced-multiframe")  # the first study closes
    assert win.persist.wait(30)
    qtbot.waitUntil(sr.is_file, timeout=10000)
    [ann] = measurements.load_measurements(str(study), stack)
    assert ann.kind == "ellipse" and ann.slice_index == stack.n_frames // 2
    win.close()
    sr.unlink()


def test_failed_save_is_one_problem_line_and_nothing_is_lost(qtbot, tmp_path, monkeypatch):
    """No folder can be written (study read-only, a file where the sibling folder would go,
    the user data folder under a file): one line in Problems, the work stays pending, and it
    is saved once a folder can be written."""
    study = tmp_path / "ro-study"
    shutil.copytree(sample_study_dir(), study)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    win = make_window(qtbot, tmp_path, "d")
    open_and_wait(qtbot, win, study)
    wait_restored(qtbot, win)
    view = win.view
    stack = view.pixels.stack
    view.add_measurement(Measurement("ruler", (20.5, 20.5), (80.5, 20.5)))
    study.chmod(0o555)
    sibling = study.with_name(study.name + ".radviewer")
    sibling.write_text("")
    monkeypatch.setenv("XDG_DATA_HOME", str(blocker))
    problems = win.problems.count()
    try:
        win.persist.save_all()
        assert win.persist.wait(30)
        qtbot.waitUntil(lambda: win.problems.count() == problems + 1, timeout=10000)
        line = win.problems.item(win.problems.count() - 1).text()
        assert "not saved" in line and "\n" not in line and stack.label in line
        assert stack.uid in win.persist.pending  # nothing lost
        assert len(win.measurements.on(view.slice_key())) == 1
    finally:
        study.chmod(0o755)
        sibling.unlink()
    win.persist.save_all()
    assert win.persist.wait(30)
    qtbot.waitUntil(lambda: (study / measurements.file_name(stack)).is_file(), timeout=10000)
    assert not win.persist.pending
    win.close()
