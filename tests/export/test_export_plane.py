"""``radviewer export --plane``: reformatted planes of the bundled sample T1 (sagittal
acquisition), drawn as the window's MPR view draws them."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from viewer.cli import main as cli_main
from viewer.cli_models import pick_stack
from viewer.dicom.pixels import StackPixels
from viewer.dicom.reformat import Reformat
from viewer.dicom.scan import scan_folder
from viewer.display.window import apply_window, default_window
from viewer.export.compose import output_size
from viewer.paths import sample_study_dir


@pytest.fixture(scope="module")
def sample():
    folder = str(sample_study_dir())
    stack = pick_stack(scan_folder(folder), None)
    pixels = StackPixels(stack)
    pixels.load_volume()
    ref = Reformat.from_affine(stack.affine, pixels.shape)
    return folder, stack, pixels, ref


def test_axial_middle_equals_the_windowed_reformat(sample, tmp_path):
    folder, stack, pixels, ref = sample
    assert stack.plane.lower() == "sagittal"  # the premise: axial must be reformatted
    out = tmp_path / "axial.png"
    assert cli_main(["export", folder, "--plane", "axial", "--out", str(out), "--quiet"]) == 0
    rgb = np.asarray(Image.open(out).convert("RGB")).astype(int)
    k = ref.n_slices("axial") // 2
    plane = np.ascontiguousarray(ref.plane(pixels.frame_volume(), "axial", k))
    from viewer.dicom.pixels import to_real

    real = to_real(plane, stack.first)
    grey = apply_window(real, default_window(stack.first, real)).astype(int)
    h, w = output_size(plane.shape, ref.pixel_spacing("axial"), 1)
    assert rgb.shape[:2] == (h, w)  # no legend without an overlay
    r_mm, c_mm = ref.pixel_spacing("axial")
    assert abs(h / w - plane.shape[0] * r_mm / (plane.shape[1] * c_mm)) < 0.02
    ri = (np.arange(h) * plane.shape[0]) // h
    ci = (np.arange(w) * plane.shape[1]) // w
    expected = grey[ri[:, None], ci[None, :]]
    # Text (corners, edge letters, scale bar) is drawn in colour or near the edges: compare
    # the grey pixels of the central part, which must all be equal.
    centre = (slice(h // 4, 3 * h // 4), slice(w // 4, 3 * w // 4))
    got = rgb[centre]
    is_grey = (got[..., 0] == got[..., 1]) & (got[..., 1] == got[..., 2])
    assert is_grey.mean() > 0.95
    assert np.array_equal(got[..., 0][is_grey], expected[centre][is_grey])
    # And it is not the acquired (sagittal) slice: the shapes differ.
    assert plane.shape != pixels.frame_shape


def test_coronal_is_exported_with_its_own_shape(sample, tmp_path):
    folder, stack, pixels, ref = sample
    out = tmp_path / "cor.png"
    assert cli_main(["export", folder, "--plane", "coronal", "--slice", "1",
                     "--out", str(out), "--quiet"]) == 0
    shape = ref.plane(pixels.frame_volume(), "coronal", 0).shape
    assert Image.open(out).size[::-1] == output_size(shape, ref.pixel_spacing("coronal"), 1)


def test_bad_plane_exits_2_with_one_line(sample, tmp_path, capsys):
    folder = sample[0]
    code = cli_main(["export", folder, "--plane", "oblique", "--out",
                     str(tmp_path / "x.png"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and "--plane" in err and "axial" in err
    assert not (tmp_path / "x.png").exists()


def test_plane_slice_out_of_range_exits_2(sample, tmp_path, capsys):
    folder, _, _, ref = sample
    n = ref.n_slices("sagittal")
    code = cli_main(["export", folder, "--plane", "sagittal", "--slice", str(n + 1),
                     "--out", str(tmp_path / "x.png"), "--quiet"])
    assert code == 2
    assert f"1 to {n}" in capsys.readouterr().err


def test_plane_scene_has_the_planes_letters_and_spacing(sample):
    from viewer.export.scene import plane_scene

    _, _, pixels, ref = sample
    scene = plane_scene(pixels, ref, "axial", 10)
    assert scene.letters == ref.edge_letters("axial")
    assert scene.letters["top"].startswith("A") and scene.letters["left"].startswith("R")
    assert scene.spacing == ref.pixel_spacing("axial")
    assert any("11/" in line or "11 /" in line for line in scene.corners.get("tr", [])
               + scene.corners.get("tl", []) + scene.corners.get("bl", [])
               + scene.corners.get("br", []))
