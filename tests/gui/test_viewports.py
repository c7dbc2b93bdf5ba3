"""Viewports through the real window on real series: layouts, maximise, drop, sync by patient
position across series of different spacing, reference lines, the shared 3-D crosshair."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication
from test_main_window import open_and_wait
from test_viewer_tools import screen_point

from viewer.gui.viewport_grid import SERIES_MIME
from viewer.paths import sample_study_dir


def _plane(view) -> tuple[np.ndarray, np.ndarray]:
    """(centre point, unit normal) of the slice ``view`` shows, from its own
    patient_coordinates (not the viewport geometry under test)."""
    rows, cols = view.plane_shape()
    r, c = (rows - 1) / 2, (cols - 1) / 2
    p0, p1, p2 = (np.array(view.patient_coordinates(r + dr, c + dc))
                  for dr, dc in ((0, 0), (10, 0), (0, 10)))
    n = np.cross(p2 - p0, p1 - p0)
    return p0, n / np.linalg.norm(n)


def _spacing(view) -> float:
    """Distance (mm) between this view's slices, from its own geometry."""
    k = view.index
    a, n = _plane(view)
    view.set_index(k + 1 if k + 1 < view.n_slices else k - 1)
    b, _ = _plane(view)
    view.set_index(k)
    return abs(float((b - a) @ n))


def _uid(window, label: str) -> str:
    return next(st.uid for st in window.catalog.stacks() if st.label.startswith(label))


def _loaded(qtbot, *views) -> None:
    qtbot.waitUntil(lambda: all(v._shown is not None for v in views), timeout=30000)


@pytest.fixture
def sample(qtbot, window):
    open_and_wait(qtbot, window, sample_study_dir())
    return window


def test_layouts_outline_maximise_and_drop(qtbot, sample):
    window = sample
    qtbot.keyClick(window, Qt.Key.Key_4, Qt.KeyboardModifier.AltModifier)  # 2x2
    assert window.layout_mode == "2x2" and window.layout_actions["2x2"].isChecked()
    assert len(window.views) == 4 and all(v.isVisible() for v in window.views)
    labels = [v.pixels.stack.label for v in window.views]
    assert len(set(labels)) == 4  # empty viewports took the study's other series
    assert [a.text() for a in window.layout_button.menu().actions()][:5] == [
        "1×1", "1×2 side by side", "2×1 one above the other", "2×2",
        "1×3 MPR (axial, coronal, sagittal)"]
    # A press makes a viewport active; the active one (only) is outlined.
    third = window.views[2]
    QTest.mousePress(third.graphics.viewport(), Qt.MouseButton.RightButton)
    QTest.mouseRelease(third.graphics.viewport(), Qt.MouseButton.RightButton)
    assert window.view is third
    frames = window.grid.frames
    assert "#3c8cdc" in frames[2].styleSheet() and "#3c8cdc" not in frames[0].styleSheet()
    # Double-click maximises it; again brings the 2x2 back.
    QTest.mouseDClick(third.graphics.viewport(), Qt.MouseButton.LeftButton)
    assert window.visible_views() == [third]
    qtbot.waitUntil(lambda: third.width() > window.grid.width() * 0.9, timeout=3000)
    assert not window.views[0].isVisible()
    QTest.mouseDClick(third.graphics.viewport(), Qt.MouseButton.LeftButton)
    assert all(v.isVisible() for v in window.views)
    # A series dropped onto viewport 1 shows there.
    t1 = _uid(window, "mocoMEMPRAGE")
    md = QMimeData()
    md.setData(SERIES_MIME, t1.encode())
    vp = window.views[1].graphics.viewport()
    enter = QDragEnterEvent(QPoint(20, 20), Qt.DropAction.CopyAction, md,
                            Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(vp, enter)  # Qt delivers a drop only to the target of a drag
    assert enter.isAccepted()
    drop = QDropEvent(QPointF(20, 20), Qt.DropAction.CopyAction, md, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(vp, drop)
    assert drop.isAccepted()
    assert window.views[1].pixels.stack.uid == t1 and window.view is window.views[1]
    # The viewport menu lists the planes and every series.
    frames[1].menu.aboutToShow.emit()
    texts = [a.text() for a in frames[1].menu.actions()]
    assert texts[:4] == ["Acquired", "Axial", "Coronal", "Sagittal"]
    assert any("AX FSE T2" in t for t in texts)


def test_sync_by_position_across_different_spacing(qtbot, sample):
    """T2 acquired axial (thick slices) beside the T1 reformatted axial (thin): scrolling one
    moves the other to the slice nearest the same patient position."""
    window = sample
    window.set_layout("1x2")
    t2, t1 = window.views
    window.show_in_viewport(0, _uid(window, "AX FSE T2"))
    window.show_in_viewport(1, _uid(window, "mocoMEMPRAGE"), plane="axial")
    _loaded(qtbot, t1, t2)
    assert t1.plane == "axial" and t2.plane == "acquired"
    s1, s2 = _spacing(t1), _spacing(t2)
    assert s2 > 2 * s1  # really different spacing
    t2.set_index(27)
    for step in (-12, 5, 9):
        t2.step(step)
        p2, _ = _plane(t2)
        p1, n1 = _plane(t1)
        assert abs(float((p2 - p1) @ n1)) <= s1 / 2 + 0.01
    window.set_active_view(1)
    for step in (-7, -20):  # inside the T2's extent (beyond it, its last slice stays)
        t1.step(step)
        p1, _ = _plane(t1)
        p2, n2 = _plane(t2)
        assert abs(float((p1 - p2) @ n2)) <= s2 / 2 + 0.01
    # Index is not position: the two slices' indices differ by far more than one.
    assert abs(t1.index - t2.index) > 5
    # Off, nothing follows.
    window.set_sync("position", "sync_position", False)
    before = t2.index
    t1.step(6)
    assert t2.index == before
    assert not window.sync_actions["position"].isChecked()


def test_reference_lines_and_shared_crosshair(qtbot, sample):
    window = sample
    window.set_layout("1x2")
    t2, t1 = window.views
    window.show_in_viewport(0, _uid(window, "AX FSE T2"))
    window.show_in_viewport(1, _uid(window, "mocoMEMPRAGE"))  # acquired sagittal
    _loaded(qtbot, t1, t2)
    for step in (0, 10):
        t2.step(step)
        seg = window.reference_segment(t1, 0)  # where the T2 slice cuts the sagittal T1
        assert seg is not None
        p2, n2 = _plane(t2)
        pix = t1.pixels.stack.spacing[1]
        for x, y in seg:
            inside = (min(max(y - 0.5, 0), t1.plane_shape()[0] - 1),
                      min(max(x - 0.5, 0), t1.plane_shape()[1] - 1))
            q = np.array(t1.patient_coordinates(*inside))
            assert abs(float((q - p2) @ n2)) <= pix  # on the T2 plane within a pixel
    # Click in the T2: the T1 goes to the sagittal slice through that point, crosshair on it.
    row, col = 250, 200
    QTest.mouseClick(t2.graphics.viewport(), Qt.MouseButton.LeftButton,
                     Qt.KeyboardModifier.NoModifier, screen_point(t2, col + 0.5, row + 0.5))
    point = np.array(t2.patient_coordinates(row, col))
    assert window.vp_model.crosshair == pytest.approx(point, abs=0.25)  # within a pixel
    p1, n1 = _plane(t1)
    assert abs(float((point - p1) @ n1)) <= _spacing(t1) / 2 + 0.01
    assert t1.crosshair is not None and t2.crosshair is not None


def _copy_as_prior(stack, folder, shift_mm=None, **changes) -> str:
    """The files of ``stack`` written to ``folder`` as another study (new study, series and
    instance UIDs, attributes ``changes`` set, Image Position moved by ``shift_mm``); returns
    the new Study Instance UID."""
    import pydicom
    from pydicom.uid import generate_uid

    study, series = generate_uid(), generate_uid()
    for f in stack.frames:
        ds = pydicom.dcmread(f.header.path)
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        for k, v in changes.items():
            setattr(ds, k, v)
        if shift_mm is not None:
            ds.ImagePositionPatient = [float(a) + b for a, b in
                                       zip(ds.ImagePositionPatient, shift_mm, strict=True)]
        ds.save_as(folder / f"{ds.SOPInstanceUID}.dcm")
    return study


def test_compare_with_a_prior_study(qtbot, sample, tmp_path):
    """A copy of the sample's T1 with new study/series/instance UIDs stands in as the prior:
    the compare layout pairs it with the current T1 and links their scrolling."""
    window = sample
    t1_stack = next(st for st in window.catalog.stacks() if st.label.startswith("mocoMEMPRAGE"))
    study = _copy_as_prior(t1_stack, tmp_path, StudyDate="20110101")
    window.open_comparison(str(tmp_path))
    qtbot.waitUntil(lambda: window.prior_catalog is not None, timeout=30000)
    assert window.layout_mode == "1x2"
    cur, pri = window.views
    _loaded(qtbot, cur, pri)
    assert cur.pixels.stack is t1_stack
    assert pri.pixels.stack.uid == window.prior_catalog.stacks()[0].uid
    assert window.grid.frames[1].title.text().startswith("Prior")
    assert window.sync_actions["position"].isChecked()
    cur.step(-30)
    assert pri.position_mm() == pytest.approx(cur.position_mm(), abs=0.5)
    # Opening the prior is audited like any open: its study UID hashed, never raw.
    from viewer.audit import hash_uid, read_entries

    opens = [e for e in read_entries() if e["action"] == "open"]
    assert hash_uid(study) in {e["study"] for e in opens}
    assert not any("another patient" in window.problems.item(i).text()
                   for i in range(window.problems.count()))


def test_compare_with_another_patient_warns(qtbot, sample, tmp_path):
    """A "prior" of another patient (the sample's T2 under another Patient ID and name) is
    paired as asked, with a warning that names neither patient."""
    window = sample
    t2 = next(st for st in window.catalog.stacks() if st.label.startswith("AX FSE T2"))
    _copy_as_prior(t2, tmp_path, PatientID="OTHER-4711", PatientName="Other^Person")
    window.open_comparison(str(tmp_path))
    qtbot.waitUntil(lambda: window.prior_catalog is not None, timeout=30000)
    texts = [window.problems.item(i).text() for i in range(window.problems.count())]
    warned = [t for t in texts if "another patient" in t]
    assert len(warned) == 1 and window.problems_dock.isVisible()
    assert "4711" not in warned[0] and "Other" not in warned[0]
    assert not any(p.patient_id in warned[0] for p in window.catalog.patients if p.patient_id)


def test_window_and_zoom_sync_and_the_viewport_state(qtbot, sample):
    window = sample
    window.set_layout("1x2")
    t2, t1 = window.views
    window.show_in_viewport(0, _uid(window, "AX FSE T2"))
    window.show_in_viewport(1, _uid(window, "mocoMEMPRAGE"), plane="axial")
    _loaded(qtbot, t1, t2)
    window.set_active_view(0)
    # Window sync (off by default): series of one modality share the window when on.
    t2.apply_preset("auto")
    assert t1.window != t2.window
    window.sync_actions["window"].trigger()
    assert window.vp_model.sync_window
    t2.apply_preset("auto")
    t2.set_window(type(t2.window)(center=400.0, width=900.0))
    assert (t1.window.center, t1.window.width) == (400.0, 900.0)
    # Zoom sync: the other viewport shows the same extent in mm.
    window.sync_actions["zoom"].trigger()
    qtbot.keyClick(window, Qt.Key.Key_Plus)
    (a0, a1), _ = t2.viewbox.viewRange()
    (b0, b1), _ = t1.viewbox.viewRange()
    assert b1 - b0 == pytest.approx(a1 - a0, rel=1e-6)
    state = window.viewport_state(1)
    assert state.stack_uid == t1.pixels.stack.uid and state.plane == "axial"
    assert state.window == (400.0, 900.0) and state.zoom == pytest.approx(t1.zoom_factor())
    assert state.point is not None
    assert window.settings.value("view/sync_window", type=bool)


def test_a_study_opened_in_a_saved_2x2_fills_it(qtbot, settings):
    from viewer.gui.main_window import MainWindow

    settings.setValue("view/layout", "2x2")
    win = MainWindow(settings)
    qtbot.addWidget(win)
    win.resize(1100, 800)
    win.show()
    assert win.layout_mode == "2x2" and len(win.views) == 4
    open_and_wait(qtbot, win, sample_study_dir())
    assert len({v.pixels.stack.uid for v in win.views if v.pixels is not None}) == 4
    assert win.grid.frames[3].title.text().startswith("MR ")
    win.close()


def test_no_reference_line_from_another_frame_of_reference(qtbot, sample, tmp_path):
    """A prior's axial T2 in its own Frame of Reference (same scanner coordinates, unrelated by
    DICOM's rule) draws no reference line in the current sagittal T1; the current T2 does."""
    from pydicom.uid import generate_uid

    window = sample
    t2 = next(st for st in window.catalog.stacks() if st.label.startswith("AX FSE T2"))
    _copy_as_prior(t2, tmp_path, FrameOfReferenceUID=generate_uid())
    window.open_comparison(str(tmp_path))
    qtbot.waitUntil(lambda: window.prior_catalog is not None, timeout=30000)
    window.set_layout("2x2")
    window.show_in_viewport(0, t2.uid)
    window.show_in_viewport(1, window.prior_catalog.stacks()[0].uid)
    window.show_in_viewport(2, _uid(window, "mocoMEMPRAGE"))
    views = window.views
    _loaded(qtbot, *views[:3])
    window._update_references()
    assert window.reference_segment(views[2], 0) is not None  # current T2: one frame
    assert window.reference_segment(views[2], 1) is None  # the prior's: not related


def test_a_prior_in_another_frame_of_reference_syncs_by_anatomy(qtbot, sample, tmp_path):
    """A prior from another session (its own Frame of Reference, the patient 60 mm further
    along the table): scanner positions mean nothing across the two, so scrolling is linked
    by the volumes' centres, re-lined-up from the slices shown when Sync scroll is switched
    on again; no crosshair or reference line crosses between them."""
    from pydicom.uid import generate_uid

    window = sample
    t2 = next(st for st in window.catalog.stacks() if st.label.startswith("AX FSE T2"))
    _copy_as_prior(t2, tmp_path, shift_mm=(0.0, 0.0, 60.0),
                   FrameOfReferenceUID=generate_uid())
    window.open_comparison(str(tmp_path))
    qtbot.waitUntil(lambda: window.prior_catalog is not None, timeout=30000)
    cur, pri = window.views[:2]
    _loaded(qtbot, cur, pri)
    assert cur.pixels.stack is t2 and window.layout_mode == "1x2"
    cur.step(-12)  # by scanner position the prior would sit 24 slices away (or at its end)
    assert pri.index == cur.index
    window.set_sync("position", "sync_position", False)
    pri.step(3)  # the reader lines the prior up by hand, then links again
    window.set_active_view(0)
    window.set_sync("position", "sync_position", True)
    cur.step(2)
    assert pri.index == cur.index + 3
