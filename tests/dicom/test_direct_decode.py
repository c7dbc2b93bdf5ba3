"""Monochrome JPEG 2000 and RLE frames go straight to openjpeg and pylibjpeg-rle
(frame_decode._decode_j2k_direct / _decode_rle_direct) with the values pydicom's pylibjpeg
plugin gives: pydicom's own test files, signed and unsigned, 8 to 16 bits, a J2K codestream
whose signedness contradicts Pixel Representation, multi-frame RLE; colour stays with pydicom."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from viewer.dicom import frame_decode
from viewer.dicom.scan import scan_folder

pytest.importorskip("openjpeg")
pytest.importorskip("rle")

J2K = ["MR2_J2KR.dcm", "MR2_J2KI.dcm", "RG3_J2KI.dcm", "693_J2KR.dcm",
       "693_J2KI.dcm", "J2K_pixelrep_mismatch.dcm", "US1_J2KR.dcm"]
RLE = ["MR_small_RLE.dcm", "emri_small_RLE.dcm", "OBXXXX1A_rle.dcm", "SC_rgb_rle.dcm"]


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    from pydicom.data import get_testdata_file

    folder = tmp_path_factory.mktemp("direct")
    for name in J2K + RLE:
        shutil.copy(get_testdata_file(name), folder / name)
    return [ref for st in scan_folder(str(folder)).stacks() for ref in st.frames]


def test_direct_paths_give_pydicoms_values(frames, monkeypatch):
    calls = []
    ours = (frame_decode._decode_j2k_direct, frame_decode._decode_rle_direct)
    for ts, fn in list(frame_decode._DIRECT.items()):
        if fn in ours:
            monkeypatch.setitem(frame_decode._DIRECT, ts, _spy(fn, calls))
    direct = set()
    for ref in frames:
        h = ref.header
        calls.clear()
        got = frame_decode.decode_frame(h, ref.frame)
        want = frame_decode._decode_with_pydicom(h, ref.frame)
        assert got.dtype == want.dtype and got.shape == want.shape, h.path
        np.testing.assert_array_equal(got, want, err_msg=h.path)
        if calls and calls[-1] is not None:
            direct.add((h.path.rsplit("/", 1)[-1], h.pixel_representation))
    names = {n for n, _ in direct}
    # Every monochrome file went the direct way; colour (US1, SC_rgb, palette OBXXXX1A) did not.
    assert names == {n for n in J2K + RLE if not n.startswith(("US1", "SC_rgb", "OBXXXX1A"))}
    assert {rep for _, rep in direct} == {0, 1}  # signed and unsigned both covered
    assert len([ref for ref in frames if "emri" in ref.header.path]) == 10  # multi-frame


def _spy(real, calls):
    def spy(h, f):
        out = real(h, f)
        calls.append(out)
        return out
    return spy


def test_a_frame_the_direct_path_cannot_decode_goes_to_pydicom(frames, monkeypatch):
    ref = next(r for r in frames if r.header.path.endswith("MR2_J2KR.dcm"))

    def broken(h, f):
        raise RuntimeError("Error decoding the J2K data")

    monkeypatch.setitem(frame_decode._DIRECT, ref.header.transfer_syntax, broken)
    np.testing.assert_array_equal(frame_decode.decode_frame(ref.header, 0),
                                  frame_decode._decode_with_pydicom(ref.header, 0))
