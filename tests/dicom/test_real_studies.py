"""The three shared studies and the bundled sample: real scanners, real values."""

from __future__ import annotations

import numpy as np
import pytest

from viewer.dicom.pixels import StackPixels, decode_frame
from viewer.dicom.reformat import Reformat
from viewer.display.window import displayable


def test_ct_one_stack_sorted_by_position(ct_catalog):
    (stack,) = ct_catalog.stacks()
    assert stack.n_frames == 275
    assert stack.first.modality == "CT"
    z = [f.position[2] for f in stack.frames]
    assert z == sorted(z)
    assert z[0] == pytest.approx(-679.800049) and z[-1] == pytest.approx(-405.800049)
    assert stack.spacing == pytest.approx((1.0, 0.78125, 0.78125))
    # LIDC gives every slice its own Frame of Reference UID.
    assert stack.plane == "AXIAL"
    assert stack.warnings == ("slices carry 275 different Frame of Reference UIDs",)
    np.testing.assert_allclose(stack.affine[:3, 3], [-201.0, -59.0, -679.800049])
    np.testing.assert_allclose(np.diag(stack.affine)[:3], [0.78125, 0.78125, 1.0])
    # The README is listed as skipped, never read as an image.
    assert [s.path.rsplit("/", 1)[-1] for s in ct_catalog.skipped] == ["README.md"]


def test_ct_window_parsed_from_zero_padded_strings(ct_catalog):
    h = ct_catalog.stacks()[0].first
    # Stored as "-0450\\-0450" and "02000\\02000".
    assert h.windows == ((-450.0, 2000.0, ""), (-450.0, 2000.0, ""))


def test_ct_hounsfield_units(ct_catalog):
    (stack,) = ct_catalog.stacks()
    px = StackPixels(stack)
    assert px.frame(137).dtype == np.uint16  # stored type kept; HU only on request
    air = px.real(137)[12:29, 240:273]  # anterior to the chest wall, outside the body
    assert air.mean() == pytest.approx(-1000, abs=15)
    # Descending aorta beside the spine at the level of the liver (non-contrast blood).
    aorta = px.real(60)[318:327, 239:248]
    assert 10 < aorta.mean() < 80
    assert aorta.std() < 40


def test_ct_volume_equals_single_frames(ct_catalog):
    (stack,) = ct_catalog.stacks()
    px = StackPixels(stack)
    vol = px.load_volume()
    assert vol.shape == (275, 512, 512) and vol.dtype == np.uint16
    for k in (0, 100, 274):
        ref = stack.frames[k]
        np.testing.assert_array_equal(vol[k], decode_frame(ref.header, ref.frame))


def test_mr_series_and_missing_slices(mr_catalog):
    stacks = mr_catalog.stacks()
    t1, t2 = stacks[0], stacks[1]
    assert (t1.n_frames, t1.rows, t1.columns, t1.plane) == (175, 192, 192, "SAGITTAL")
    assert (t2.n_frames, t2.rows, t2.columns, t2.plane) == (55, 512, 384, "AXIAL")
    # Both published series lack one slice: a 2 mm gap in T1, a 5 mm gap in T2.
    assert t1.warnings == ("1 missing slice(s) (after slice 114)",)
    assert t2.warnings == ("1 missing slice(s) (after slice 34)",)
    assert t1.spacing[0] == pytest.approx(1.0, abs=1e-3)
    assert t2.spacing[0] == pytest.approx(2.5, abs=1e-3)
    assert t1.edge_letters == {"left": "A", "right": "P", "top": "S", "bottom": "I"}
    assert len(stacks) == 4


def test_sample_pixels_identical_to_source(sample_catalog, mr_catalog):
    src = {st.first.sop_instance_uid: st for st in mr_catalog.stacks()}
    for st in sample_catalog.stacks():
        assert st.first.transfer_syntax == "1.2.840.10008.1.2.4.80"  # JPEG-LS lossless
        ref = src[st.first.sop_instance_uid]
        for k in (0, st.n_frames // 2, st.n_frames - 1):
            np.testing.assert_array_equal(
                decode_frame(st.frames[k].header), decode_frame(ref.frames[k].header)
            )


def test_sample_t1_reformatted_axial(sample_catalog):
    t1 = sample_catalog.stacks()[0]
    vol = StackPixels(t1).load_volume()
    r = Reformat.from_affine(t1.affine, vol.shape)
    assert r.n_slices("axial") == 192
    axial = r.plane(vol, "axial", 96)
    # Rows run A->P (192 rows of 1.146 mm), columns R->L (175 sagittal slices of 1 mm).
    assert axial.shape == (192, 175)
    assert r.pixel_spacing("axial") == pytest.approx((1.1458, 1.0), abs=1e-3)
    assert r.edge_letters("axial") == {"left": "R", "right": "L", "top": "A", "bottom": "P"}
    assert r.edge_letters("coronal") == {"left": "R", "right": "L", "top": "S", "bottom": "I"}
    assert r.edge_letters("sagittal") == {"left": "A", "right": "P", "top": "S", "bottom": "I"}
    # The sagittal plane is the acquired slice itself, unflipped.
    np.testing.assert_array_equal(r.plane(vol, "sagittal", 0), vol[-1] if r.flip[2] else vol[0])
    # Head in the middle of the axial plane, air at its corner.
    assert axial[90:100, 80:95].mean() > 5 * max(1.0, axial[:8, :8].mean())


def test_pet_stack_and_linked_seg(shared_data):
    from viewer.dicom.scan import scan_folder

    cat = scan_folder(shared_data / "pet-seg-headneck")
    (stack,) = cat.stacks()
    assert stack.n_frames == 299 and stack.first.modality == "PT"
    assert stack.spacing[0] == pytest.approx(3.375, abs=1e-3)
    (seg,) = cat.objects()
    assert seg.kind == "SEG" and seg.header.number_of_frames == 13
    assert seg.linked_stacks == [stack] and stack.linked_objects == [seg]
    img = displayable(StackPixels(stack).frame(150), stack.frames[150].header)
    assert img.dtype == np.uint8 and img.max() > img.min()
