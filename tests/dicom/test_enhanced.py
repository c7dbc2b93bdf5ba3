"""Enhanced multi-frame objects read from their Shared / Per-Frame Functional Groups.

Real data: ../shared/data/mr-enhanced-multiframe (a Philips B0 field map, one 64-frame object
holding a magnitude and a field-map image type, and a Siemens XA10 fMRI series, one 6-frame
object per time point), with dcm2niix's NIfTI + JSON in Ref/ as the independent reference.

The NIfTI-1 header is parsed here with struct (348 bytes: dim at 40, datatype at 70, vox_offset
at 108, scl_slope/inter at 112/116, srow_x/y/z at 280/296/312). NIfTI is RAS, the viewer's
affine LPS: negate the first two rows. dcm2niix stores the voxel axes possibly reversed (it
flips the row axis; for the Philips object both in-plane axes): the test finds the axis
reversal that makes the affines agree, then checks that the data agree under the *same*
reversal, so geometry and pixels are checked together.
"""

from __future__ import annotations

import itertools
import json
import struct

import numpy as np
import pydicom
import pytest

from viewer import cli
from viewer.dicom.pixels import StackPixels, to_real, to_real_volume
from viewer.dicom.scan import scan_folder
from viewer.dicom.volumes import volume_series
from viewer.display.window import default_window, header_windows

_NIFTI_DTYPES = {2: "u1", 4: "<i2", 8: "<i4", 16: "<f4", 64: "<f8", 512: "<u2"}


def read_nifti(path) -> tuple[np.ndarray, np.ndarray, float, float]:
    """(raw data in (i, j, k[, t]) order, 4x4 RAS affine from srow, scl_slope, scl_inter)."""
    b = path.read_bytes()
    assert struct.unpack("<i", b[:4])[0] == 348
    dim = struct.unpack("<8h", b[40:56])
    dtype = _NIFTI_DTYPES[struct.unpack("<h", b[70:72])[0]]
    vox_offset = int(struct.unpack("<f", b[108:112])[0])
    slope, inter = struct.unpack("<2f", b[112:120])
    shape = dim[1:1 + dim[0]]
    data = np.frombuffer(b, dtype=dtype, count=int(np.prod(shape)), offset=vox_offset)
    affine = np.eye(4)
    affine[:3] = np.array(struct.unpack("<12f", b[280:328])).reshape(3, 4)
    return data.reshape(shape, order="F"), affine, slope or 1.0, inter


def ras(stack) -> np.ndarray:
    """The stack's voxel (column, row, slice) -> RAS affine."""
    return np.diag([-1.0, -1.0, 1.0, 1.0]) @ stack.affine


def reversal_matching(stack, nifti_affine, shape) -> tuple[bool, bool, bool]:
    """The one reversal of the (i, j, k) axes under which the stack's affine is dcm2niix's,
    within 0.01 mm (origin) / 1e-4 mm (axis vectors)."""
    found = []
    for rev in itertools.product((False, True), repeat=3):
        flip = np.eye(4)
        for axis, r in enumerate(rev):
            if r:
                flip[axis, axis], flip[axis, 3] = -1.0, shape[axis] - 1
        a = ras(stack) @ flip
        if (np.allclose(a[:3, :3], nifti_affine[:3, :3], atol=1e-4, rtol=0)
                and np.allclose(a[:3, 3], nifti_affine[:3, 3], atol=0.01, rtol=0)):
            found.append(rev)
    assert len(found) == 1, f"no single axis reversal matches dcm2niix: {found}"
    return found[0]


def as_nifti_order(volume: np.ndarray, rev) -> np.ndarray:
    """A viewer volume (slice, row, column) as (i=column, j=row, k=slice), reversed as ``rev``."""
    out = volume.transpose(2, 1, 0)
    for axis, r in enumerate(rev):
        if r:
            out = np.flip(out, axis)
    return out


@pytest.fixture(scope="module")
def enh(shared_data):
    return shared_data / "mr-enhanced-multiframe"


@pytest.fixture(scope="module")
def philips(enh):
    return scan_folder(enh / "In" / "Philips")


@pytest.fixture(scope="module")
def siemens(enh):
    return scan_folder(enh / "In" / "Siemens" / "XA10")


def _by_type(cat) -> dict[str, object]:
    """The Philips stacks keyed by their frame type value 4 (M, FIELD_MAP)."""
    return {st.frames[0].header.frame_group[0][3]: st for st in cat.stacks()}


def test_philips_field_map_splits_by_frame_type_into_two_stacks(philips):
    stacks = philips.stacks()
    assert len(stacks) == 2
    by_type = _by_type(philips)
    assert set(by_type) == {"M", "FIELD_MAP"}
    for st in stacks:
        assert st.n_frames == 32
        assert volume_series(st) is None  # magnitude + field map are not volumes of one 4-D
        assert len({f.header.frame_group for f in st.frames}) == 1
        assert not any("duplicated" in w for w in st.warnings), st.warnings
    assert "FIELD_MAP" in by_type["FIELD_MAP"].split_reason
    assert "MAGNITUDE" in by_type["M"].split_reason


def test_philips_rescale_is_per_frame_type(philips, enh):
    ds = pydicom.dcmread(enh / "In" / "Philips" / "IM_0027_fMAP.dcm", stop_before_pixels=True)
    by_type = _by_type(philips)
    m, fmap = by_type["M"].frames[0].header, by_type["FIELD_MAP"].frames[0].header
    assert (m.rescale_slope, m.rescale_intercept) != (fmap.rescale_slope, fmap.rescale_intercept)
    for st in by_type.values():
        for f in st.frames:
            t = ds.PerFrameFunctionalGroupsSequence[f.frame].PixelValueTransformationSequence[0]
            assert f.header.rescale_slope == pytest.approx(float(t.RescaleSlope), rel=1e-12)
            assert f.header.rescale_intercept == pytest.approx(float(t.RescaleIntercept))
    assert fmap.rescale_intercept == -500.0
    stored = StackPixels(by_type["FIELD_MAP"]).frame(10)
    np.testing.assert_allclose(to_real(stored, by_type["FIELD_MAP"].frames[10].header),
                               stored * float(fmap.rescale_slope) - 500.0, rtol=1e-6, atol=1e-3)


def test_philips_window_is_the_frames_own(philips, enh):
    ds = pydicom.dcmread(enh / "In" / "Philips" / "IM_0027_fMAP.dcm", stop_before_pixels=True)
    st = _by_type(philips)["M"]
    centers = set()
    for k in (0, 5, 20):
        f = st.frames[k]
        voi = ds.PerFrameFunctionalGroupsSequence[f.frame].FrameVOILUTSequence[0]
        win = header_windows(f.header)[0]
        assert (win.center, win.width) == (float(voi.WindowCenter), float(voi.WindowWidth))
        centers.add(win.center)
        real = StackPixels(st).real(k)
        # The frame's window keeps the tissue visible, so it is the one the slice opens with.
        assert default_window(f.header, real) == win
    assert len(centers) > 1  # Philips gives each magnitude frame its own window


@pytest.mark.parametrize("kind, ref", [("M", "Philips_WIP_B0_NS_801_e1"),
                                       ("FIELD_MAP", "Philips_WIP_B0_NS_801_e2_fieldmaphz")])
def test_philips_matches_dcm2niix(philips, enh, kind, ref):
    st = _by_type(philips)[kind]
    data, affine, slope, inter = read_nifti(enh / "Ref" / f"{ref}.nii")
    assert data.shape == (st.columns, st.rows, st.n_frames)
    rev = reversal_matching(st, affine, data.shape)
    stored = StackPixels(st).load_volume()
    np.testing.assert_array_equal(as_nifti_order(stored, rev), data)
    # dcm2niix writes Philips "floating point" values FP = DV / (RS * SS) (its JSON's
    # PhilipsRescaleSlope, PhilipsScaleSlope); DICOM's display value DV is what the viewer
    # shows, so DV = FP * RS * SS.
    meta = json.loads((enh / "Ref" / f"{ref}.json").read_text())
    rs_ss = meta["PhilipsRescaleSlope"] * meta["PhilipsScaleSlope"]
    real = to_real_volume(stored, [f.header for f in st.frames])
    for k in (0, 13, st.n_frames - 1):
        nifti_k = data[:, :, k] if not rev[2] else data[:, :, st.n_frames - 1 - k]
        expected = (nifti_k * np.float64(slope) + inter) * rs_ss
        got = as_nifti_order(real[k:k + 1], (rev[0], rev[1], False))[:, :, 0]
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=0.02)


def test_siemens_xa10_is_four_time_points_matching_dcm2niix(siemens, enh):
    stacks = siemens.stacks()
    assert len(stacks) == 1
    vs = volume_series(stacks[0])
    assert vs is not None and vs.kind == "time" and vs.count == 4
    data, affine, slope, inter = read_nifti(enh / "Ref" / "Siemens_REST1_w_SMS_PF7-8_6.nii")
    assert data.shape == (64, 64, 6, 4)
    for t, st in enumerate(vs.volumes):
        assert st.n_frames == 6
        assert {f.header.temporal_position for f in st.frames} == {t + 1}
        assert not any("duplicated" in w for w in st.warnings), st.warnings
        rev = reversal_matching(st, affine, data.shape[:3])
        assert rev == (False, True, False)  # dcm2niix flips the row axis only
        stored = StackPixels(st).load_volume()
        real = to_real_volume(stored, [f.header for f in st.frames])
        np.testing.assert_array_equal(as_nifti_order(stored, rev), data[..., t])
        np.testing.assert_allclose(as_nifti_order(real, rev), data[..., t] * slope + inter)
    assert vs.labels[0] == "t = 0.0 s" and vs.labels[1] == "t = 0.5 s"  # TR 0.5 s


def test_info_has_no_duplicate_warnings(enh, capsys):
    assert cli.main(["info", str(enh / "In")]) == 0
    out = capsys.readouterr().out
    assert "duplicated" not in out
    assert "4 volumes (time) x 6 slices" in out
    assert "FIELD_MAP" in out and "MAGNITUDE" in out


# ----------------------------------------------------------------------------- synthetic


def write_enhanced(path, frames: list[dict], rows: int = 8, cols: int = 8) -> None:
    """One Enhanced MR object; ``frames[i]`` gives frame i's ``z`` (mm) and optionally
    ``stack``, ``t`` (Temporal Position Index), ``b`` / ``g`` (b-value, gradient), ``slope``,
    ``intercept``, ``window`` and ``type`` (Frame Type value 4). Frame i's pixels are all i+1."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    def seq(**kw) -> Sequence:
        item = Dataset()
        for k, v in kw.items():
            setattr(item, k, v)
        return Sequence([item])

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.4.1"
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID = "1.2.840.10008.5.1.4.1.1.4.1", generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.FrameOfReferenceUID = generate_uid()
    ds.Modality, ds.PatientID, ds.InstanceNumber = "MR", "SYN", 1
    ds.Rows, ds.Columns, ds.NumberOfFrames = rows, cols, len(frames)
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    dims = [0x00209056, 0x00209057] + ([0x00209128] if "t" in frames[0] else [])
    ds.DimensionIndexSequence = Sequence()
    for p in dims:
        d = Dataset()
        d.DimensionIndexPointer, d.FunctionalGroupPointer = p, 0x00209111
        ds.DimensionIndexSequence.append(d)
    ds.SharedFunctionalGroupsSequence = seq(
        PixelMeasuresSequence=seq(PixelSpacing=[0.5, 0.5], SliceThickness=2),
        PlaneOrientationSequence=seq(ImageOrientationPatient=[1, 0, 0, 0, 1, 0]))
    ds.PerFrameFunctionalGroupsSequence = Sequence()
    for f in frames:
        g = Dataset()
        stack, t = str(f.get("stack", 1)), f.get("t", 1)
        g.FrameContentSequence = seq(
            StackID=stack, InStackPositionNumber=1, TemporalPositionIndex=t,
            DimensionIndexValues=[int(stack), 1] + ([t] if "t" in f else []))
        g.PlanePositionSequence = seq(ImagePositionPatient=[0, 0, f["z"]])
        g.PixelValueTransformationSequence = seq(
            RescaleSlope=f.get("slope", 1), RescaleIntercept=f.get("intercept", 0),
            RescaleType="US")
        if "window" in f:
            g.FrameVOILUTSequence = seq(WindowCenter=f["window"][0],
                                        WindowWidth=f["window"][1])
        g.MRImageFrameTypeSequence = seq(
            FrameType=["ORIGINAL", "PRIMARY", "M", f.get("type", "NONE")])
        if "b" in f:
            g.MRDiffusionSequence = seq(
                DiffusionBValue=f["b"], DiffusionDirectionality="DIRECTIONAL",
                DiffusionGradientDirectionSequence=seq(
                    DiffusionGradientOrientation=f.get("g", [1, 0, 0])))
        ds.PerFrameFunctionalGroupsSequence.append(g)
    pixels = np.stack([np.full((rows, cols), i + 1, "<u2") for i in range(len(frames))])
    ds.PixelData = pixels.tobytes()
    ds.save_as(path, enforce_file_format=True)


def test_one_object_with_time_points_is_a_4d_series_with_per_frame_rescale(tmp_path):
    # Frames interleaved in time (t=1, t=2 at each z); each frame scaled differently.
    frames = [dict(z=z, t=t, slope=t * 2.0, intercept=-t, window=(100 * t, 50))
              for z in (0.0, 3.0, 6.0) for t in (1, 2)]
    write_enhanced(tmp_path / "t.dcm", frames)
    stacks = scan_folder(tmp_path).stacks()
    assert len(stacks) == 1
    vs = volume_series(stacks[0])
    assert vs is not None and vs.kind == "time" and vs.count == 2
    for t, st in enumerate(vs.volumes, start=1):
        assert st.n_frames == 3 and not st.warnings
        assert [f.position[2] for f in st.frames] == [0.0, 3.0, 6.0]
        assert st.spacing == (3.0, 0.5, 0.5)
        assert {f.header.temporal_position for f in st.frames} == {t}
        real = to_real_volume(StackPixels(st).load_volume(), [f.header for f in st.frames])
        for k, f in enumerate(st.frames):
            assert np.all(real[k] == (f.frame + 1) * t * 2.0 - t)  # stored i+1, own rescale
            assert header_windows(f.header)[0].center == 100 * t


def test_diffusion_b_values_per_frame_are_volumes(tmp_path):
    frames = [dict(z=z, b=b, g=g) for b, g in ((0, [0, 0, 0]), (1000, [0, 1, 0]))
              for z in (0.0, 2.0)]
    write_enhanced(tmp_path / "d.dcm", frames)
    vs = volume_series(scan_folder(tmp_path).stacks()[0])
    assert vs is not None and vs.kind == "diffusion"
    assert vs.labels == ["b = 0", "b = 1000 (0.00, 1.00, 0.00)"]


def test_stack_id_and_frame_type_separate_stacks(tmp_path):
    frames = [dict(z=z, stack=s) for s in (1, 2) for z in (0.0, 1.0, 2.0)]
    write_enhanced(tmp_path / "s.dcm", frames)
    stacks = scan_folder(tmp_path).stacks()
    assert sorted(st.split_reason for st in stacks) == ["stack 1", "stack 2"]
    assert all(st.n_frames == 3 and volume_series(st) is None for st in stacks)
    frames = [dict(z=z, type=t, slope=s) for t, s in (("PHASE", 0.5), ("MAGNITUDE", 3.0))
              for z in (0.0, 1.0)]
    (tmp_path / "p").mkdir()
    write_enhanced(tmp_path / "p" / "p.dcm", frames)
    stacks = scan_folder(tmp_path / "p").stacks()
    assert sorted(st.split_reason for st in stacks) == ["MAGNITUDE", "PHASE"]
    for st in stacks:
        assert len({f.header.rescale_slope for f in st.frames}) == 1
        assert volume_series(st) is None and not st.warnings
