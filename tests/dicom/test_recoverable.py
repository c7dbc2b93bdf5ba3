"""Files a reference reader reads are not rejected for a recoverable reason (issue 12, section 3).

Each file is crafted from a real one of pydicom's test files (bytes edited or re-encoded with
pydicom); the expected pixels come from pydicom or GDCM's own reader, not from radviewer.
"""

from __future__ import annotations

import os
import shutil
import struct

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from viewer.dicom.header import read_header
from viewer.dicom.pixels import FrameCache, StackPixels, decode_frame
from viewer.dicom.scan import scan_folder

CT = "CT_small.dcm"  # Explicit VR LE, 128x128 16-bit signed


def _insert_before_patient_name(raw: bytes, element: bytes) -> bytes:
    at = raw.find(b"\x10\x00\x10\x00PN")
    assert at > 0
    return raw[:at] + element + raw[at:]


def _only_stack(folder):
    cat = scan_folder(str(folder))
    assert not [s for s in cat.skipped if "not" in s.reason], cat.skipped
    (stack,) = cat.stacks()
    return stack


def test_stray_transfer_syntax_in_the_data_set_loses_to_file_meta(tmp_path):
    raw = open(get_testdata_file(CT), "rb").read()
    meta_len = struct.unpack_from("<I", raw, 140)[0]
    end = 144 + meta_len
    value = b"1.2.840.10008.1.2.4.50\x00"  # JPEG Baseline, wrong: the data are native
    stray = struct.pack("<HH", 2, 0x10) + b"UI" + struct.pack("<H", len(value)) + value
    path = tmp_path / "stray.dcm"
    path.write_bytes(raw[:end] + stray + raw[end:])
    h = read_header(str(path))
    assert h.transfer_syntax == "1.2.840.10008.1.2.1"
    want = pydicom.dcmread(get_testdata_file(CT)).pixel_array
    np.testing.assert_array_equal(decode_frame(h, 0), want)
    # The full-read path (big endian, deflate, damaged files) agrees.
    from viewer.dicom.frame_decode import _read_dataset_pixels

    np.testing.assert_array_equal(_read_dataset_pixels(h, 0), want)


def test_undefined_length_big_endian(tmp_path):
    ds = pydicom.dcmread(get_testdata_file("MR_small_bigendian.dcm"))
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = "T-A0100", "SRT", "Brain"
    item.is_undefined_length_sequence_item = True
    ds.AnatomicRegionSequence = Sequence([item])
    ds["AnatomicRegionSequence"].is_undefined_length = True
    path = tmp_path / "be.dcm"
    ds.save_as(path)
    assert b"\xff\xff\xff\xff" in path.read_bytes()  # really written with undefined lengths
    stack = _only_stack(tmp_path)
    ref = pydicom.dcmread(path).pixel_array
    px = StackPixels(stack, FrameCache())
    np.testing.assert_array_equal(px.load_volume()[0], ref)


def _pack12(values: np.ndarray) -> bytes:
    v = values.astype(np.uint16).ravel()
    p0, p1 = v[0::2], v[1::2]
    out = np.empty((p0.size, 3), np.uint8)
    out[:, 0] = p0 & 0xFF
    out[:, 1] = (p0 >> 8) | ((p1 & 0x0F) << 4)
    out[:, 2] = p1 >> 4
    return out.tobytes()


def test_packed_12_bit_pixels_match_gdcm(tmp_path):
    gdcm = pytest.importorskip("gdcm")
    ds = pydicom.dcmread(get_testdata_file(CT))
    values = np.clip(ds.pixel_array.astype(np.int32), 0, 4095)
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 12, 12, 11, 0
    ds.PixelData = _pack12(values)
    ds["PixelData"].VR = "OW"
    path = tmp_path / "packed12.dcm"
    ds.save_as(path)
    reader = gdcm.ImageReader()
    reader.SetFileName(str(path))
    assert reader.Read()
    buf = reader.GetImage().GetBuffer().encode("utf-8", "surrogateescape")
    ref = np.frombuffer(buf, "<u2").reshape(values.shape)
    np.testing.assert_array_equal(ref, values)  # the packing is the one GDCM reads
    stack = _only_stack(tmp_path)
    np.testing.assert_array_equal(decode_frame(stack.first, 0), ref)
    np.testing.assert_array_equal(StackPixels(stack, FrameCache()).load_volume()[0], ref)


def test_fast_parser_failure_falls_back_to_pydicom(tmp_path):
    from viewer.dicom import tagparse

    raw = open(get_testdata_file(CT), "rb").read()
    # An item whose Code Value holds the bytes of an item delimiter: radviewer's fast parser
    # misreads it ("unexpected element inside a sequence"); pydicom reads the file.
    inner = (struct.pack("<HHI", 0x0008, 0x0100, 8) + struct.pack("<HHI", 0xFFFE, 0xE00D, 0)
             + struct.pack("<HHI", 0x0008, 0x0102, 4) + b"SRT ")
    seq = (struct.pack("<HH", 0x0008, 0x2218) + b"SQ\0\0" + struct.pack("<I", 0xFFFFFFFF)
           + struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF) + inner
           + struct.pack("<HHI", 0xFFFE, 0xE00D, 0) + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0))
    data = _insert_before_patient_name(raw, seq)
    with pytest.raises(ValueError):
        tagparse.parse_header(data, len(data))
    path = tmp_path / "odd_item.dcm"
    path.write_bytes(data)
    ref = pydicom.dcmread(path).pixel_array
    stack = _only_stack(tmp_path)
    np.testing.assert_array_equal(decode_frame(stack.first, 0), ref)


def test_truncated_file_still_says_so(tmp_path):
    shutil.copy(get_testdata_file("MR_truncated.dcm"), tmp_path / "cut.dcm")
    cat = scan_folder(str(tmp_path))
    assert not cat.stacks()
    assert "truncated" in cat.skipped[0].reason


def test_dicomdir_as_the_path_opens_what_it_indexes():
    path = get_testdata_file("DICOMDIR")
    ds = pydicom.dcmread(path)
    refs = {os.path.join(*([r.ReferencedFileID] if isinstance(r.ReferencedFileID, str)
                           else list(r.ReferencedFileID)))
            for r in ds.DirectoryRecordSequence if "ReferencedFileID" in r}
    cat = scan_folder(path)
    shown = {ref.header.path for st in cat.all_stacks() for ref in st.frames}
    others = {o.header.path for o in cat.objects()}
    # The DICOMDIR is the catalog's index, not a skipped file.
    assert cat.indexes == [path]
    assert not [s for s in cat.skipped if os.path.basename(s.path) == "DICOMDIR"]
    folder = os.path.dirname(path)
    got = {os.path.relpath(p, folder) for p in shown | others | {s.path for s in cat.skipped}}
    assert got == refs  # every indexed file accounted for, nothing else in the folder read
    assert len(shown) > 20


def test_cli_info_on_a_dicomdir(capsys):
    from viewer.cli import main

    rc = main(["info", get_testdata_file("DICOMDIR")])
    out = capsys.readouterr().out
    assert rc == 0
    assert "[1]" in out and "Index: " in out and "DICOMDIR" in out
    assert "Skipped files" not in out or "DICOMDIR:" not in out


def test_duplicate_instance_kept_is_the_first_path(tmp_path):
    src = get_testdata_file(CT)
    for name in ("b.dcm", "a.dcm", "c.dcm"):
        shutil.copy(src, tmp_path / name)
    for workers in (1, 3, 8):  # completion order varies with the pool; the choice does not
        cat = scan_folder(str(tmp_path), workers=workers)
        (stack,) = cat.stacks()
        assert os.path.basename(stack.first.path) == "a.dcm"
        dups = sorted((os.path.basename(s.path), s.reason) for s in cat.skipped)
        assert [d[0] for d in dups] == ["b.dcm", "c.dcm"]
        assert all(d[1].startswith("duplicate of a.dcm") for d in dups)


def test_12_bit_jpeg_extended_that_the_plugins_reject_decodes_with_gdcm_reader():
    """pydicom's JPEG-lossy.dcm: a real 12-bit JPEG Extended (Process 2 & 4) stream with a
    marker libjpeg calls misplaced. JPGExtended.dcm is the same image with the stream fixed;
    pylibjpeg decodes that one, and lossy decoders may differ by one in rounding."""
    pytest.importorskip("gdcm")
    from pydicom.pixels import pixel_array

    bad = get_testdata_file("JPEG-lossy.dcm")
    for plugin in ("pylibjpeg", "gdcm"):
        with pytest.raises(Exception):  # noqa: B017 - whatever the plugin raises
            pixel_array(bad, decoding_plugin=plugin)
    ref = pixel_array(get_testdata_file("JPGExtended.dcm")).astype(int)
    h = read_header(bad)
    assert h.transfer_syntax == "1.2.840.10008.1.2.4.51" and h.bits_stored == 12
    got = decode_frame(h, 0)
    assert got.shape == ref.shape and got.dtype == np.uint16
    assert np.abs(got.astype(int) - ref).max() <= 1
    assert np.mean(got == ref) > 0.95
    # The same in the worker processes the window decodes with.
    from viewer.dicom.pixels import decode_frame_isolated

    np.testing.assert_array_equal(decode_frame_isolated(h, 0), got)


def test_dicomdir_in_an_opened_folder_is_its_index():
    path = get_testdata_file("DICOMDIR")
    cat = scan_folder(os.path.dirname(path))
    assert cat.indexes == [path]
    assert path not in {s.path for s in cat.skipped}
