"""Thick-slab projections, PET resampling and colour maps on the shared PET volume."""

from __future__ import annotations

import numpy as np
import pytest

from viewer.dicom.reformat import PLANES, Reformat
from viewer.display import colormaps, fusion
from viewer.display.slab import SlabMode, slab_count, slab_plane, slab_range


@pytest.fixture(scope="session")
def pet_volume(shared_data):
    from viewer.dicom.pixels import StackPixels
    from viewer.dicom.scan import scan_folder

    cat = scan_folder(shared_data / "pet-seg-headneck")
    stack = next(s for s in cat.stacks() if s.first.modality == "PT")
    px = StackPixels(stack)
    return stack, px.load_volume()


def test_slab_count_and_range():
    assert slab_count(0, 1.0) == 1  # off
    assert slab_count(20, 1.0) == 20
    assert slab_count(20, 3.375) == 6
    assert slab_count(1, 3.375) == 1
    assert slab_range(10, 5, 100) == (8, 13)
    assert slab_range(1, 6, 100) == (0, 5)  # thinner at the edge, not shifted
    assert slab_range(98, 6, 100) == (96, 100)


@pytest.mark.parametrize("plane", PLANES)
@pytest.mark.parametrize("mode", list(SlabMode))
def test_slab_equals_brute_force_over_plane_images(pet_volume, plane, mode):
    stack, vol = pet_volume
    r = Reformat.from_affine(stack.affine, vol.shape)
    k = r.n_slices(plane) // 2
    n = slab_count(20.0, r.slice_spacing(plane))
    lo, hi = slab_range(k, n, r.n_slices(plane))
    planes = np.stack([r.plane(vol, plane, i) for i in range(lo, hi)]).astype(np.float64)
    want = {"mip": planes.max(0), "minip": planes.min(0), "average": planes.mean(0)}[mode.value]
    got = slab_plane(vol, r, plane, k, 20.0, mode=mode)
    assert got.shape == r.plane(vol, plane, k).shape
    np.testing.assert_allclose(got, want, rtol=1e-6)
    if mode is SlabMode.MIP:
        assert got.dtype == vol.dtype and (got >= r.plane(vol, plane, k)).all()
        assert (got > r.plane(vol, plane, k)).any()  # a slab is not the plain slice


def test_acquired_slab_and_off(pet_volume):
    stack, vol = pet_volume
    dz = stack.spacing[0]
    got = slab_plane(vol, None, "acquired", 100, 10.0, dz, "minip")
    lo, hi = slab_range(100, slab_count(10.0, dz), vol.shape[0])
    np.testing.assert_array_equal(got, vol[lo:hi].min(0))
    np.testing.assert_array_equal(slab_plane(vol, None, "acquired", 100, 0, dz), vol[100])


def test_trilinear_is_exact_for_a_linear_field(pet_volume):
    stack, vol = pet_volume
    k, j, i = np.meshgrid(*[np.arange(n, dtype=np.float32) for n in (20, 30, 40)],
                          indexing="ij")
    field = 3 * k - 2 * j + 0.5 * i + 7
    rng = np.random.default_rng(0)
    ijk = rng.uniform([0, 0, 0], [39, 29, 19], size=(200, 3))
    lps = ijk @ stack.affine[:3, :3].T + stack.affine[:3, 3]
    got = fusion.sample(field, stack.affine, lps)
    want = 3 * ijk[:, 2] - 2 * ijk[:, 1] + 0.5 * ijk[:, 0] + 7
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)
    outside = fusion.sample(field, stack.affine, lps[:1] + stack.affine[:3, 2] * 100)
    assert np.isnan(outside).all()


def test_resample_onto_own_geometry_is_identity(pet_volume):
    stack, vol = pet_volume
    r = Reformat.from_affine(stack.affine, vol.shape)
    crop = vol[140:150]
    aff = stack.affine.copy()
    aff[:3, 3] = stack.affine[:3, :3] @ [0, 0, 140] + stack.affine[:3, 3]
    np.testing.assert_allclose(
        fusion.resample_volume(vol, stack.affine, aff, crop.shape), crop, rtol=1e-5, atol=1e-3)
    cor = fusion.resample_plane(vol, stack.affine, stack.affine, vol.shape, r, "coronal", 60)
    np.testing.assert_allclose(cor, r.plane(vol, "coronal", 60), rtol=1e-5, atol=1e-3)
    assert cor.dtype == np.float32


def test_colour_maps():
    hot = colormaps.colormap_lut("hot iron")
    assert hot.shape == (256, 4) and hot.dtype == np.uint8 and (hot[:, 3] == 255).all()
    # PS3.6 B.1.2 Hot Iron: red ramps over the first half, green over the second, blue last.
    assert tuple(hot[0, :3]) == (0, 0, 0) and tuple(hot[255, :3]) == (255, 255, 255)
    assert tuple(hot[64, :3]) == (128, 0, 0) and hot[191, 2] == 0 and hot[191, 1] == 126
    inv = colormaps.colormap_lut("inverted grey")
    assert inv[0, 0] == 255 and inv[255, 0] == 0
    rainbow = colormaps.colormap_lut("rainbow")
    assert tuple(rainbow[1, :3])[2] == 255 and tuple(rainbow[255, :3]) == (255, 0, 0)
    assert (np.diff(np.argmax(rainbow[1:, :3], axis=1)) <= 0).all()  # blue -> green -> red
    bar = colormaps.colour_bar("hot iron", 100, 8)
    assert bar.shape == (100, 8, 3)
    assert tuple(bar[0, 0]) == (255, 255, 255) and tuple(bar[-1, 0]) == (0, 0, 0)
    with pytest.raises(ValueError, match="unknown colour map"):
        colormaps.colormap_lut("viridis")


@pytest.mark.parametrize("plane", ["sagittal", "acquired"])
def test_projector_slides_like_the_stateless_slab(pet_volume, plane):
    from viewer.display.slab import SlabProjector

    stack, vol = pet_volume
    r = Reformat.from_affine(stack.affine, vol.shape)
    proj = SlabProjector(vol, r, stack.spacing[0])
    for k, mode in ((60, "mip"), (61, "mip"), (63, "average"), (62, "minip"), (0, "mip")):
        want = slab_plane(vol, r, plane, k, 15.0, stack.spacing[0], mode)
        np.testing.assert_allclose(proj.image(plane, k, 15.0, mode), want, rtol=1e-6)
    # 15 mm at 3.4-3.5 mm is 4 slices; at slice 0 the slab is 0..2: only those are kept.
    assert sorted(proj._planes) == [0, 1, 2]


@pytest.mark.parametrize("plane", ["acquired", *PLANES])
def test_separable_resampling_equals_the_general_trilinear(pet_volume, plane):
    stack, vol = pet_volume
    # A finer, shifted grid along the same axes (as a CT under a PET), and the same grid
    # rotated 10 degrees about z (oblique: the general path).
    fixed = stack.affine.copy()
    fixed[:3, :3] = stack.affine[:3, :3] * 0.37
    fixed[:3, 3] += (-28.7, -7.1, 40.2)  # 29 mm to the right: a strip outside the PET
    shape = (60, 200, 180)
    r = Reformat.from_affine(fixed, shape)
    lps = fusion.plane_lps(fixed, shape, r, plane, 30)
    got = fusion.resample_plane(vol, stack.affine, fixed, shape, r, plane, 30)
    want = fusion.sample(vol, stack.affine, lps)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-2)
    assert np.isfinite(got).sum() > 1000
    assert np.isnan(got).sum() > 0  # part of each plane lies outside the PET: NaN
    c, s = np.cos(np.radians(10)), np.sin(np.radians(10))
    rot = np.eye(4)
    rot[:2, :2] = [[c, -s], [s, c]]
    oblique = rot @ fixed
    assert fusion._sample_aligned(vol, np.zeros(3), oblique[:3, 0], oblique[:3, 1], 2, 2) \
        is None
    np.testing.assert_allclose(
        fusion.resample_plane(vol, stack.affine, oblique, shape, None, "acquired", 30),
        fusion.sample(vol, stack.affine, fusion.plane_lps(oblique, shape, None, "acquired", 30)),
        rtol=1e-5, atol=1e-3)
