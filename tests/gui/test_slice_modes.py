"""Slice view reading modes on real series: PET SUV, thick slab, colour maps, fusion."""

from __future__ import annotations

import re

import numpy as np
import pytest

from viewer.dicom.reformat import Reformat
from viewer.display.slab import slab_plane
from viewer.errors import ViewerError


def _loaded(stack):
    from viewer.dicom.pixels import StackPixels

    px = StackPixels(stack)
    px.load_volume()
    return px


@pytest.fixture(scope="session")
def pet_px(shared_data):
    from viewer.dicom.scan import scan_folder

    cat = scan_folder(shared_data / "pet-seg-headneck")
    return _loaded(next(s for s in cat.stacks() if s.first.modality == "PT"))


@pytest.fixture(scope="session")
def mr_pxs(mr_catalog):
    """The T1 (sagittal 3-D) and T2 (axial) of the sample brain: one Frame of Reference."""
    stacks = [s for s in mr_catalog.stacks() if s.n_frames > 50]
    t1 = next(s for s in stacks if s.n_frames == 175)
    t2 = next(s for s in stacks if s.n_frames == 55)
    return _loaded(t1), _loaded(t2)


@pytest.fixture
def view(qtbot):
    from viewer.gui.slice_view import SliceView

    v = SliceView()
    qtbot.addWidget(v)
    v.resize(512, 512)
    v.show()
    qtbot.waitExposed(v)
    return v


def _scene_pos(v, row, col):
    return v.viewbox.mapViewToScene(v.source_to_view(col + 0.5, row + 0.5))


def test_pet_opens_in_suv_and_reads_suv_under_the_cursor(view, pet_px):
    from viewer.dicom import pet

    view.set_stack(pet_px)
    factor = pet.suv_bw_factor(pet.read_suv_parameters(pet_px.stack))
    assert view.suv_factor == pytest.approx(factor)
    assert view.window.name == "SUV 0-5"
    assert "SUV 0.00–5.00" in view._corner["bl"].text()
    k = view.index
    real = pet_px.real(k)
    row, col = np.unravel_index(int(np.argmax(real)), real.shape)
    seen = []
    view.cursor_moved.connect(seen.append)
    view._on_mouse_moved(_scene_pos(view, row, col))
    suv = float(re.search(r"SUV (\d+\.\d+)", seen[-1]).group(1))
    assert suv == pytest.approx(real[row, col] * factor, abs=0.006)
    assert "Bq/ml" in seen[-1] and suv > 1.0


def test_sul_under_the_cursor_only_when_the_header_gives_height(view, pet_px, monkeypatch):
    """SUL (lean body mass, Janmahasatian) needs Patient's Size: the shared PET has none, so
    only SUV bw is read; with a height of 1.75 m the cursor reads SUL by the hand formula."""
    import dataclasses

    from viewer.dicom import pet

    view.set_stack(pet_px)
    k = view.index
    real = pet_px.real(k)
    row, col = np.unravel_index(int(np.argmax(real)), real.shape)
    seen = []
    view.cursor_moved.connect(seen.append)
    view._on_mouse_moved(_scene_pos(view, row, col))
    assert "SUV" in seen[-1] and "SUL" not in seen[-1]

    params = pet.read_suv_parameters(pet_px.stack)
    assert params.height_m is None and params.sex in ("M", "F")
    tall = dataclasses.replace(params, height_m=1.75)
    monkeypatch.setattr(pet, "read_suv_parameters", lambda _stack: tall)
    view.clear()
    view.set_stack(pet_px)
    view._on_mouse_moved(_scene_pos(view, row, col))
    w = tall.weight_kg
    bmi = w / 1.75 ** 2
    lbm = 9270 * w / ((6680 + 216 * bmi) if tall.sex == "M" else (8780 + 244 * bmi))
    sul = float(re.search(r"SUL (\d+\.\d+)", seen[-1]).group(1))
    assert sul == pytest.approx(real[row, col] * pet.suv_bw_factor(tall) * lbm / w, abs=0.006)


def test_value_under_a_still_cursor_follows_scrolling(view, pet_px):
    view.set_stack(pet_px)
    seen = []
    view.cursor_moved.connect(seen.append)
    view._on_mouse_moved(_scene_pos(view, 64, 64))
    before = seen[-1]
    view.step(10)
    assert len(seen) >= 2 and seen[-1] != before  # refreshed without a mouse move
    want = view.value_text(float(pet_px.real(view.index)[64, 64]))
    assert want in seen[-1]


def test_suv_roi_statistics_against_the_header(view, pet_px):
    """SUVmax, SUVmean and SUVpeak of a rectangle ROI on the hottest voxel, against the
    files read here with pydicom: SUV = (stored x slope + intercept) x the header's factor;
    the peak is the mean over the voxels whose centres lie within 6.204 mm (1 cm^3)."""
    import pydicom

    from viewer.dicom import pet
    from viewer.display.measure import Measurement

    view.set_stack(pet_px)
    factor = pet.suv_bw_factor(pet.read_suv_parameters(pet_px.stack))
    k = int(np.argmax([pet_px.real(i).max() for i in range(pet_px.stack.n_frames)]))
    view.set_index(k)
    r, c = np.unravel_index(int(np.argmax(pet_px.real(k))), pet_px.real(k).shape)
    text = view.suv_roi_text(Measurement("rect", (c - 3.0, r - 3.0), (c + 4.0, r + 4.0)))
    got = [float(x) for x in re.findall(r"(?:SUVmax|mean|peak) (\d+\.\d+)", text)]

    def suv(i):
        ds = pydicom.dcmread(pet_px.stack.frames[i].header.path)
        return (ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)) * factor

    slices = {i: suv(i) for i in (k - 1, k, k + 1)}
    roi = slices[k][r - 3:r + 4, c - 3:c + 4]
    pos = {i: np.array(pydicom.dcmread(pet_px.stack.frames[i].header.path,
                                       stop_before_pixels=True).ImagePositionPatient, float)
           for i in slices}
    dz = float(np.linalg.norm(pos[k + 1] - pos[k]))
    dy, dx = (float(v) for v in pydicom.dcmread(pet_px.stack.first.path,
                                                 stop_before_pixels=True).PixelSpacing)
    sphere = [slices[k + a][r + b, c + d] for a in (-1, 0, 1) for b in (-2, -1, 0, 1, 2)
              for d in (-2, -1, 0, 1, 2)
              if (a * dz) ** 2 + (b * dy) ** 2 + (d * dx) ** 2 <= 6.2035 ** 2]
    assert got == pytest.approx([roi.max(), roi.mean(), np.mean(sphere)], abs=0.006)
    assert roi.max() > 3  # a hot lesion, not background
    # A polygon ROI over the same pixels reads the same SUV figures.
    corners = [(c - 3.0, r - 3.0), (c + 4.0, r - 3.0), (c + 4.0, r + 4.0), (c - 3.0, r + 4.0)]
    poly = Measurement("polygon", corners[0], corners[-1], points=corners)
    assert view.suv_roi_text(poly) == text


def test_slab_mip_in_a_reformatted_plane(view, pet_px):
    view.set_stack(pet_px)
    view.set_plane("coronal")
    plain = view.current_image().copy()
    changed = []
    view.slab_changed.connect(lambda m, t: changed.append((m, t)))
    view.set_slab("mip", 20.0)
    r = Reformat.from_affine(pet_px.stack.affine, pet_px.shape)
    want = slab_plane(pet_px.frame_volume(), r, "coronal", view.index, 20.0, mode="mip")
    np.testing.assert_array_equal(view._shown, want)
    assert (view._shown >= plain).all() and (view._shown > plain).any()
    assert changed == [("mip", 20.0)] and "MIP 20 mm (6 slices)" in view._corner["tr"].text()
    view.step(1)  # scrolling keeps the slab
    np.testing.assert_array_equal(
        view._shown, slab_plane(pet_px.frame_volume(), r, "coronal", view.index, 20.0))
    view.cycle_slab_mode()
    assert view.slab_mode.value == "minip" and (view._shown <= plain.max()).all()
    view.set_slab(thickness_mm=0)
    np.testing.assert_array_equal(view._shown, view._reformat.plane(
        pet_px.frame_volume(), "coronal", view.index))
    assert "MIP" not in view._corner["tr"].text() and "MinIP" not in view._corner["tr"].text()
    view.set_slab(thickness_mm=10)
    assert view._projector is not None and view._slab_vol is not None
    view.clear()  # closing the series gives the slab's memory back
    assert view._projector is None and view._slab_vol is None
    view.set_stack(pet_px)  # the next study opens as acquired, not as the last one's slab
    assert view.slab_thickness_mm == 0 and not view.slab_active
    assert "MinIP" not in view._corner["tr"].text()


def test_hot_iron_colour_map_and_colour_bar(view, pet_px):
    view.set_stack(pet_px)
    view.set_plane("coronal")
    view.set_slab("mip", 20.0)
    assert view._bar.isHidden()
    view.set_colormap("hot iron")
    img = view.grab().toImage()
    assert not view._bar.isHidden()
    # Hot spots show as hot iron's white/yellow/red, never grey with a blue tint; and the
    # image has reds (R > G = B) that a grey map cannot draw.
    px = np.array([[img.pixelColor(x, y).getRgb()[:3] for x in range(0, 512, 4)]
                   for y in range(0, 512, 4)])
    reds = (px[..., 0] > 120) & (px[..., 1] < 40) & (px[..., 2] < 40)
    assert reds.sum() > 100
    bar = view._bar.geometry()
    bar_px = img.pixelColor(bar.right() - 6, bar.top() + 16).getRgb()[:3]
    assert bar_px[0] > 240 and bar_px[1] > 200  # the bar's top: white-hot
    view.set_colormap("grey")
    assert view._bar.isHidden()
    with pytest.raises(ValueError):
        view.set_colormap("jet")


def test_fusion_resamples_onto_the_shown_plane(view, mr_pxs):
    t1, t2 = mr_pxs
    view.set_stack(t1)
    view.set_plane("axial")
    view.set_fusion(t2, opacity=0.4)
    vals = view.fusion_plane()
    assert vals.shape == view._shown.shape and np.isfinite(vals).sum() > 1000
    # One pixel by hand: its patient point, then T2's voxel there.
    rows, cols = view.plane_shape()
    finite = np.argwhere(np.isfinite(vals))
    row, col = finite[len(finite) // 2]
    lps = np.array(view.patient_coordinates(int(row), int(col)))
    i, j, k = np.linalg.solve(t2.stack.affine[:3, :3], lps - t2.stack.affine[:3, 3])
    # Trilinear by hand: the 8 T2 voxels around (k, j, i), weighted by distance.
    vol = t2.frame_volume().astype(np.float64)
    k0, j0, i0 = (int(np.floor(x)) for x in (k, j, i))
    want = sum(vol[k0 + a, j0 + b, i0 + c] * (k - k0 if a else 1 - (k - k0))
               * (j - j0 if b else 1 - (j - j0)) * (i - i0 if c else 1 - (i - i0))
               for a in (0, 1) for b in (0, 1) for c in (0, 1))
    assert vals[row, col] == pytest.approx(want, rel=1e-3)
    assert view.fusion_item.opacity() == pytest.approx(0.4)
    view.set_fusion_opacity(0.8)
    assert view.fusion_item.opacity() == pytest.approx(0.8)
    assert view.fusion_item.image is not None and view.fusion_item.image.shape[2] == 4
    view.set_fusion(None)
    assert view.fusion_item.image is None


def test_fusion_of_unrelated_series_is_refused_in_one_line(view, mr_pxs, pet_px):
    view.set_stack(mr_pxs[0])
    with pytest.raises(ViewerError, match=r"Frame of Reference") as info:
        view.set_fusion(pet_px)
    assert "\n" not in str(info.value)
    assert view.fusion_pixels is None


def test_fusion_action_in_the_real_window(qtbot, window, shared_data):
    from test_main_window import open_and_wait

    from viewer.gui.fusion_action import FusionController

    open_and_wait(qtbot, window, shared_data / "mr-brain")
    window.fusion_action.trigger()  # View > Fuse PET: the brain study has no PET
    assert "nothing to fuse" in window.statusBar().currentMessage()
    assert window.view.fusion_pixels is None
    assert not window.fusion_action.isChecked()  # the menu does not claim a fusion
    # The same path with the T2 as the moving series (one Frame of Reference with the T1).
    t1 = next(s for s in window.catalog.stacks() if s.n_frames == 175)
    window.show_stack(t1)
    qtbot.waitUntil(lambda: window.view._shown is not None, timeout=30000)
    fuse = FusionController(window, modalities=("MR",))
    fuse.slider.setValue(30)
    fuse.toggle(True)
    qtbot.waitUntil(lambda: window.view.fusion_pixels is not None, timeout=30000)
    assert window.view.fusion_pixels.stack.n_frames == 55
    assert window.view.fusion_item.opacity() == pytest.approx(0.3)
    fuse.slider.setValue(70)
    assert window.view.fusion_item.opacity() == pytest.approx(0.7)
    fuse.toggle(False)
    assert window.view.fusion_pixels is None


def test_pet_without_suv_says_why(qtbot, view, shared_data, tmp_path):
    import shutil

    import pydicom

    from viewer.dicom.pixels import StackPixels
    from viewer.dicom.scan import scan_folder

    src = shared_data / "pet-seg-headneck" / "PET"
    for f in src.iterdir():
        shutil.copy(f, tmp_path / f.name)
    first = scan_folder(tmp_path).stacks()[0].first.path
    ds = pydicom.dcmread(first)
    ds.DecayCorrection = "NONE"  # not decay corrected: SUV needs START or ADMIN
    ds.save_as(first)
    px = StackPixels(scan_folder(tmp_path).stacks()[0])
    px.load_volume()
    view.set_stack(px)
    assert view.suv_factor is None and view.window.name != "SUV 0-5"
    assert "no SUV: Decay Correction (0054,1102) is NONE" in view._corner["bl"].text()
    seen = []
    view.cursor_moved.connect(seen.append)
    view._on_mouse_moved(_scene_pos(view, 64, 64))
    assert f"Bq/ml  (no SUV: {view.suv_problem})" in seen[-1]
    assert view.suv_problem.startswith(f"{first.rsplit('/', 1)[-1]}: ")


def test_native_export_draws_the_colour_map_and_the_fusion(view, pet_px, mr_pxs):
    from viewer.export.compose import render
    from viewer.gui.export_actions import view_scene
    from viewer.gui.overlay import ResultPanel

    panel = ResultPanel()
    view.set_stack(pet_px)
    view.set_plane("coronal")
    grey = render(view_scene(view, panel, False)).astype(int)
    view.set_colormap("hot iron")
    hot = render(view_scene(view, panel, False)).astype(int)
    assert grey.shape == hot.shape
    red = lambda a: ((a[..., 0] > 120) & (a[..., 1] < 40) & (a[..., 2] < 40)).sum()  # noqa: E731
    assert red(grey) == 0 and red(hot) > 500
    view.set_colormap("grey")
    t1, t2 = mr_pxs
    view.set_stack(t1)
    view.set_plane("axial")
    plain = render(view_scene(view, panel, False)).astype(int)
    view.set_fusion(t2, opacity=0.5)
    fused = render(view_scene(view, panel, False)).astype(int)
    tint = np.abs(fused[..., 0] - fused[..., 2])  # hot iron tints the fused region
    assert (np.abs(plain[..., 0] - plain[..., 2]) > 40).sum() < 2000  # grey, bar the text
    assert (tint > 40).sum() > 10000


def test_fusion_turned_off_while_loading_stays_off(qtbot, window, shared_data):
    """Fuse, then un-fuse before the moving volume has loaded: the late load draws nothing."""
    from test_main_window import open_and_wait

    from viewer.gui.fusion_action import FusionController

    open_and_wait(qtbot, window, shared_data / "mr-brain")
    t1 = next(s for s in window.catalog.stacks() if s.n_frames == 175)
    window.show_stack(t1)
    qtbot.waitUntil(lambda: window.view._shown is not None, timeout=30000)
    fuse = FusionController(window, modalities=("MR",))
    fuse.toggle(True)
    fuse.toggle(False)  # at once: the T2 is still loading
    assert fuse._jobs and fuse._jobs[-1].wait(30)
    qtbot.wait(100)  # the job's queued finished signal is delivered
    assert window.view.fusion_pixels is None
