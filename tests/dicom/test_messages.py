"""Problems worded for a clinician: one line, no library internals, what a folder held."""

from __future__ import annotations

import shutil

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from viewer.cli import main
from viewer.dicom.messages import found_without_images, frame_problem, short_decoder_error
from viewer.dicom.scan import scan_folder

LONG = (
    "/data/x/IM0001.dcm: cannot decode JPEG Extended (Process 2 & 4) pixel data (frame 3): "
    "pylibjpeg: RuntimeError: libjpeg error code -1038 (A misplaced marker segment was found - "
    "scan start must be a sof segment) while decoding the stream of 12 bit samples; "
    "gdcm: ValueError: Unable to decode this pixel data with GDCM's decoder; "
    "pyjpegls: RuntimeError: no JPEG-LS codec for this syntax; dataset read: KeyError: 'x'"
)


def test_multi_plugin_error_is_one_short_line():
    s = short_decoder_error(LONG)
    assert "\n" not in s and len(s) <= 100
    assert s.startswith("pylibjpeg: libjpeg error code -1038")
    for noise in ("gdcm", "pyjpegls", "RuntimeError", "dataset read", "/data/x"):
        assert noise not in s
    line = frame_problem("/data/x/IM0001.dcm", 2, RuntimeError(LONG))
    assert line.startswith("/data/x/IM0001.dcm: frame 3 cannot be shown (pylibjpeg:")
    assert line.endswith("re-export the series from the scanner or PACS")


def test_numpy_internals_become_plain_words():
    s = short_decoder_error(ValueError(
        "could not broadcast input array from shape (262144,) into shape (512,256)"))
    assert s == "decoded frame size differs from Rows x Columns in the header"
    assert "cut short" in short_decoder_error("pylibjpeg: buffer is too small for frame")


def _write(path, *, rows: bool = True, sop: str = "1.2.840.10008.5.1.4.1.1.2"):
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID = sop
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID = generate_uid()
    ds.Modality, ds.SeriesInstanceUID, ds.StudyInstanceUID = "CT", generate_uid(), generate_uid()
    if rows:
        ds.Rows = 4
    ds.Columns, ds.BitsAllocated, ds.BitsStored = 4, 16, 16
    ds.SamplesPerPixel, ds.PixelRepresentation = 1, 0
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelData = b"\0" * 32
    ds.save_as(path, enforce_file_format=True)


def test_dicom_without_rows_names_rows(tmp_path):
    _write(tmp_path / "norows.dcm", rows=False)
    cat = scan_folder(tmp_path)
    (skip,) = cat.skipped
    assert "Rows (0028,0010)" in skip.reason and "not a DICOM file" not in skip.reason
    assert "\n" not in skip.reason


def test_folder_of_only_a_seg_says_what_it_found(shared_data, tmp_path, capsys):
    seg = next((shared_data / "pet-seg-headneck" / "SEG").rglob("*.dcm"))
    shutil.copy(seg, tmp_path / "seg.dcm")
    assert main(["info", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "this folder holds 1 SEG object but no images" in err
    assert found_without_images(["SR", "SEG", "SR"]) == \
        "this folder holds 1 SEG and 2 SR objects but no images"
    assert found_without_images([]) == ""
