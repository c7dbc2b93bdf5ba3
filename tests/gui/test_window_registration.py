"""Tools ▸ Register series… in the real window, on a copy of the sample study: the T2 onto
the T1 in the background, the quality view, the Spatial Registration object saved and found
again, cancel, and scrolling linked through the registration."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PySide6.QtWidgets import QDialogButtonBox
from test_main_window import open_and_wait
from window_helpers import shown_window

from viewer.gui.main_window import MainWindow
from viewer.gui.window_registration import Registered, RegistrationController
from viewer.paths import sample_study_dir
from viewer.registration import sro


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    dst = tmp_path_factory.mktemp("registration") / "study"
    shutil.copytree(sample_study_dir(), dst)
    return dst


def make_window(qtbot, tmp_path, name: str) -> MainWindow:
    win = shown_window(qtbot, tmp_path / f"{name}.ini", (1100, 760))
    assert isinstance(win.registration, RegistrationController)  # composed by MainWindow
    return win


def t1_t2(win):
    stacks = win.catalog.stacks()
    return (next(s for s in stacks if "MEMPRAGE" in s.label),
            next(s for s in stacks if "T2" in s.label))


def side_by_side(qtbot, win, study):
    """T1 (axial reformat) left, T2 (acquired axial) right, the T1 active."""
    open_and_wait(qtbot, win, study)
    t1, t2 = t1_t2(win)
    win.set_layout("1x2")
    win.show_in_viewport(0, t1.uid, "axial")
    win.show_in_viewport(1, t2.uid)
    win.set_active_view(0)
    left, right = win.all_views[:2]
    qtbot.waitUntil(lambda: left._shown is not None and right._shown is not None,
                    timeout=30000)
    return t1, t2, left, right


def register_from_menu(qtbot, win, moving):
    reg = win.registration
    reg.action.trigger()
    dlg = reg.dialog
    assert dlg is not None and dlg.isVisible()
    dlg.series.setCurrentIndex(dlg.candidates.index(moving))
    dlg.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    assert reg.job is not None and reg.cancel_button.isVisible()


def test_register_t2_onto_t1_from_the_menu_save_and_find_again(qtbot, tmp_path, study):
    win = make_window(qtbot, tmp_path, "a")
    t1, t2, left, right = side_by_side(qtbot, win, study)
    reg = win.registration
    iterations = []
    register_from_menu(qtbot, win, t2)
    reg.job.iteration.connect(lambda _r, p: iterations.append(p))
    qtbot.waitUntil(lambda: reg.current is not None, timeout=90000)
    cur = reg.current
    assert cur.fixed is t1 and cur.moving is t2 and cur.result is not None
    assert iterations and all(np.isfinite(p.metric) for p in iterations)
    assert cur.result.metric_after < cur.result.metric_before  # Mattes MI: lower is better
    assert not reg.cancel_button.isVisible() and not reg.progress.isVisible()
    # Same session, same scanner: a small correction (millimetres, not centimetres).
    assert np.linalg.norm(cur.fixed_to_moving[:3, 3]) < 20
    assert "before" in reg.panel.summary.text() and reg.dock.isVisible()
    # The quality view: the fixed slice being read, half of its squares from the T2.
    shown = reg.panel.shown
    assert reg.fixed_slice() == ("axial", left.index)  # the plane and image being read
    assert shown is not None and shown.shape == left.plane_shape()
    reg.panel.mode.setCurrentIndex(1)  # blend
    blended = reg.panel.shown
    assert blended.shape == shown.shape and not np.array_equal(blended, shown)
    assert reg.panel.caption.text().startswith(f"{t1.label} axial {left.index + 1}/")
    left.set_index(left.index + 3)  # scrolling the fixed series moves the quality view
    assert reg.panel.caption.text().startswith(f"{t1.label} axial {left.index + 1}/")
    assert not np.array_equal(reg.panel.shown, blended)

    reg.panel.save.click()
    assert reg.wait(30)
    qtbot.waitUntil(lambda: cur.saved_path is not None, timeout=10000)
    path = study / sro.file_name(t1, t2)
    assert path.is_file()
    [saved] = sro.find_registrations(str(study), t1, t2)
    assert np.allclose(saved.moving_to_fixed, cur.moving_to_fixed, atol=1e-6)
    win.close()

    # Opened again, the pair side by side: the saved registration is found and used.
    win2 = make_window(qtbot, tmp_path, "b")
    side_by_side(qtbot, win2, study)
    qtbot.waitUntil(lambda: win2.registration.current is not None, timeout=30000)
    again = win2.registration.current
    assert again.result is None and again.saved_path == str(path)
    assert np.allclose(again.fixed_to_moving, cur.fixed_to_moving, atol=1e-6)
    win2.close()


def test_cancel_leaves_the_window_as_it_was(qtbot, tmp_path, study):
    win = make_window(qtbot, tmp_path, "c")
    t1, t2, left, right = side_by_side(qtbot, win, study)
    reg = win.registration
    assert reg.wait(60)  # a registration saved by the test above may be found and shown
    qtbot.wait(100)
    before = [(v.pixels.stack.uid, v.plane, v.index) for v in (left, right)]
    state = (reg.current, reg.dock.isVisible(), reg.panel.summary.text())
    problems = win.problems.count()  # the sample's own warnings
    register_from_menu(qtbot, win, t2)
    job = reg.job
    qtbot.wait(300)
    reg.cancel_button.click()
    assert job.wait(30)
    qtbot.wait(100)  # a late signal of the cancelled job must change nothing
    assert reg.job is None
    assert (reg.current, reg.dock.isVisible(), reg.panel.summary.text()) == state
    assert not reg.cancel_button.isVisible() and not reg.progress.isVisible()
    assert win.problems.count() == problems
    assert [(v.pixels.stack.uid, v.plane, v.index) for v in (left, right)] == before
    assert win.statusBar().currentMessage() == "Registration cancelled"
    win.close()


def test_linked_scrolling_follows_the_registration(qtbot, tmp_path, study):
    """A known 12 mm shift along the slice normal: the T2 follows the T1 twelve mm off,
    and goes back to plain positions when unlinked."""
    win = make_window(qtbot, tmp_path, "d")
    t1, t2, left, right = side_by_side(qtbot, win, study)
    win.set_sync("position", "sync_position", True)
    dst = win.slice_planes_of(right)
    shift = np.eye(4)
    shift[:3, 3] = 12.0 * dst.normal
    empty = np.zeros((t1.n_frames, t1.rows, t1.columns), np.float32)
    reg = win.registration
    reg.current = Registered(t1, t2, shift, None, None, empty, empty, 0.0)
    k = left.index + 5
    left.set_index(k)
    point = win._current_point(left)
    assert right.index == dst.nearest_slice(np.asarray(point) + 12.0 * dst.normal)
    assert right.index != dst.nearest_slice(point)  # 12 mm is several 2.5 mm T2 slices
    reg.panel.link.setChecked(False)
    left.set_index(k + 1)
    assert right.index == dst.nearest_slice(win._current_point(left))
    win.close()
