"""Hostile and unlucky inputs stay per-file: bad geometry, links, pipes, lying sizes, codestreams.

Files are pydicom's real test files, altered with pydicom into ``tmp_path``. Anything that could
hang, abort or eat memory if the guard regressed runs in a child process (with a timeout and an
address-space cap), so a regression fails the test instead of taking pytest down.
"""

from __future__ import annotations

import json
import os
import resource
import socket
import struct
import subprocess
import sys
import textwrap
import threading
import warnings

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from viewer.dicom import codestream, limits
from viewer.dicom.header import read_header
from viewer.dicom.pixels import StackPixels, decode_frame
from viewer.dicom.scan import scan_folder
from viewer.errors import DicomReadError

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _testfile(name: str) -> str:
    path = get_testdata_file(name, download=False)
    if path is None:
        pytest.skip(f"{name} is not installed (pip install pydicom-data)")
    return path


def _write(src: str, dest, **changes) -> str:
    """Copy pydicom test file ``src`` to ``dest`` with attributes changed (new UIDs)."""
    ds = pydicom.dcmread(_testfile(src))
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "NaN" is not a valid DS: that is the point
        for k, v in changes.items():
            setattr(ds, k, v)
    ds.save_as(dest)
    return str(dest)


def _run_child(code: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter capped at 4 GiB of address space."""

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))

    env = dict(os.environ, PYTHONPATH=REPO, OPENBLAS_NUM_THREADS="1")
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO, preexec_fn=cap,
    )


# ----------------------------------------------------------------------------- one folder


@pytest.fixture
def hostile_study(tmp_path):
    """Good series, bad-geometry series and every kind of entry a folder walk can meet."""
    study = tmp_path / "study"
    (study / "sub").mkdir(parents=True)
    _write("CT_small.dcm", study / "good_ct")
    _write("MR_small.dcm", study / "good_mr")
    _write("MR_small_RLE.dcm", study / "sub" / "good_rle", SeriesInstanceUID=generate_uid())
    bad_iop = {
        "iop_parallel": [1, 0, 0, 1, 0, 0],
        "iop_zero": [0, 0, 0, 0, 0, 0],
        "iop_nan": ["NaN", 0, 0, 0, 1, 0],
        "iop_inf": [1, 0, 0, 0, "Inf", 0],
    }
    for name, iop in bad_iop.items():
        _write("CT_small.dcm", study / name, SeriesInstanceUID=generate_uid(),
               ImageOrientationPatient=iop)
    _write("CT_small.dcm", study / "ipp_nan", SeriesInstanceUID=generate_uid(),
           ImagePositionPatient=[0, "NaN", 0])

    outside = tmp_path / "outside"
    outside.mkdir()
    _write("MR_small.dcm", outside / "elsewhere")
    os.symlink(study, study / "sub" / "back")  # a loop: sub/back/sub/back/...
    os.symlink("self", study / "self")  # ELOOP on stat
    os.symlink("nowhere", study / "broken")
    os.symlink(outside, study / "outside")
    os.symlink("/dev/null", study / "devnull")
    os.mkfifo(study / "fifo")
    (study / ".DS_Store").write_bytes(b"\0" * 16)
    sock = None
    try:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(str(study / "sock"))
    except OSError:  # socket paths are limited to ~108 bytes; the rest of the test still runs
        if sock is not None:
            sock.close()
        sock = None
    yield study, set(bad_iop)
    if sock is not None:
        sock.close()


def _scan_guarded(root):
    """scan_folder in a thread: if a pipe were opened the scan would block, not pytest."""
    out: dict = {}

    def run() -> None:
        out["catalog"] = scan_folder(root)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(120)
    assert not t.is_alive(), "the scan blocked (a pipe or device was opened?)"
    return out["catalog"]


def _entries(root: str) -> set[str]:
    """Every entry under ``root`` except the real folders walked into (their contents count)."""
    out = set()
    for d, dirs, files in os.walk(root):
        out.update(os.path.join(d, n) for n in files)
        walked = [n for n in dirs if not n.startswith(".") and not os.path.islink(
            os.path.join(d, n))]
        out.update(os.path.join(d, n) for n in dirs if n not in walked)
        dirs[:] = walked
    return out


def test_bad_geometry_and_special_entries_stay_per_file(hostile_study):
    study, bad_iop = hostile_study
    cat = _scan_guarded(study)
    by_name = {os.path.basename(st.first.path): st for st in cat.stacks()}

    # Every good series opens, with its geometry.
    for good in ("good_ct", "good_mr", "good_rle"):
        assert by_name[good].affine is not None, good
    # Each bad-geometry file is its own stack, marked and shown without geometry.
    for name in bad_iop:
        st = by_name[name]
        assert st.affine is None and st.orientation is None
        assert any("Image Orientation (Patient)" in w for w in st.warnings), (name, st.warnings)
    assert any("Image Position (Patient)" in w for w in by_name["ipp_nan"].warnings)
    assert by_name["ipp_nan"].affine is None

    reasons = {os.path.relpath(s.path, study): s.reason for s in cat.skipped}
    assert "loops back on itself" in reasons["self"]
    assert "broken link" in reasons["broken"]
    assert "already scanned" in reasons[os.path.join("sub", "back")]
    assert "outside the opened folder" in reasons["outside"]
    assert "named pipe" in reasons["fifo"]
    assert "character device" in reasons["devnull"]
    assert "hidden" in reasons[".DS_Store"]
    if (study / "sock").exists():
        assert "socket" in reasons["sock"]

    # Every entry is accounted for: shown in a stack or listed as skipped.
    shown = {f.header.path for st in cat.stacks() for f in st.frames}
    assert _entries(str(study)) == shown | {s.path for s in cat.skipped}


def test_header_read_refuses_a_pipe_without_blocking(tmp_path):
    fifo = tmp_path / "DICOMDIR-named-file"
    os.mkfifo(fifo)
    with pytest.raises(DicomReadError, match="not a regular file"):
        read_header(str(fifo))


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads folders whatever their permissions")
def test_unreadable_subfolder_is_listed_and_the_rest_opens(tmp_path):
    _write("CT_small.dcm", tmp_path / "ct")
    locked = tmp_path / "locked"
    locked.mkdir()
    _write("MR_small.dcm", locked / "mr")
    locked.chmod(0)
    try:
        cat = scan_folder(tmp_path)
    finally:
        locked.chmod(0o755)
    assert len(cat.stacks()) == 1
    (skipped,) = cat.skipped
    assert skipped.path == str(locked) and "cannot be read" in skipped.reason


# ----------------------------------------------------------------------------- crafted sizes

_SCAN_CHILD = """
    import json, resource, sys
    from viewer.dicom.scan import scan_folder
    cat = scan_folder(sys.argv[1])
    print(json.dumps({
        "stacks": [st.first.path for st in cat.stacks()],
        "skipped": {s.path: s.reason for s in cat.skipped},
        "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))
"""


def test_lying_sizes_are_refused_before_allocating(tmp_path):
    ok = _write("CT_small.dcm", tmp_path / "ok")
    native = _write("CT_small.dcm", tmp_path / "native_1e9", NumberOfFrames=10**9,
                    SeriesInstanceUID=generate_uid())
    jls = _write("MR_small_jpeg_ls_lossless.dcm", tmp_path / "jls_1e9", NumberOfFrames=10**9)
    huge = _write("MR_small_jpeg_ls_lossless.dcm", tmp_path / "jls_65535", Rows=65535,
                  Columns=65535, SOPInstanceUID=generate_uid())
    rle = _write("SC_rgb_rle_2frame.dcm", tmp_path / "rle_3_of_2", NumberOfFrames=3)

    res = _run_child(_SCAN_CHILD, str(tmp_path))
    assert res.returncode == 0, res.stderr[-2000:]
    doc = json.loads(res.stdout)
    assert doc["stacks"] == [ok]
    skipped = doc["skipped"]
    assert "header says 1000000000 frames of 128x128 pixels" in skipped[native]
    assert "the file holds only 32768 bytes" in skipped[native]
    assert "1000000000 frames but the pixel data holds only 1 fragment" in skipped[jls]
    assert "1.0 GiB limit per image" in skipped[huge]
    assert "3 frames but the pixel data holds only 2 fragment" in skipped[rle]
    # A billion frames once cost 7.9 GB here; the scan (with its imports, ~100-320 MiB
    # depending on what is installed) stays far below a single billion-frame allocation.
    assert doc["maxrss_mib"] < 1024, doc["maxrss_mib"]


def test_volume_limit_refuses_the_stack_not_the_frames(tmp_path, monkeypatch):
    _write("CT_small.dcm", tmp_path / "ct")  # 128 x 128 x 2 bytes = 32 KiB
    (stack,) = scan_folder(tmp_path).stacks()
    monkeypatch.setenv("RADVIEWER_MAX_VOLUME_MB", "0.01")
    px = StackPixels(stack)
    with pytest.raises(DicomReadError, match="RADVIEWER_MAX_VOLUME_MB"):
        px.load_volume()
    assert px.frame(0).shape == (128, 128)  # one image is still shown
    monkeypatch.setenv("RADVIEWER_MAX_VOLUME_MB", "1")
    assert px.load_volume().shape == (1, 128, 128)


def test_limits_are_what_the_docs_say(monkeypatch):
    assert limits.MAX_FRAME_BYTES == 1 << 30
    assert limits.frame_bytes(512, 512, 1, 16) == 512 * 512 * 2
    assert limits.frame_bytes(512, 512, 3, 8) == 512 * 512 * 3
    assert limits.frame_bytes(10, 10, 1, 8, "PALETTE COLOR") == 300  # shown as RGB
    monkeypatch.setenv("RADVIEWER_MAX_VOLUME_MB", "2")
    assert limits.max_volume_bytes() == 2 << 20
    monkeypatch.setenv("RADVIEWER_MAX_VOLUME_MB", "nonsense")
    assert limits.max_volume_bytes() > 2 << 20  # falls back to half the memory


# ----------------------------------------------------------------------------- codestreams

_DECODE_CHILD = """
    import sys
    from viewer.dicom import frame_decode
    from viewer.dicom.header import read_header
    from viewer.errors import DicomReadError
    calls = []
    real = frame_decode._decode_with_pydicom
    def spy(h, frame):
        calls.append(frame)
        return real(h, frame)
    frame_decode._decode_with_pydicom = spy
    try:
        frame_decode.decode_frame(read_header(sys.argv[1]), 0)
        print("DECODED")
    except DicomReadError as exc:
        print("REFUSED", exc)
    print("DECODER CALLS", len(calls))
"""


def test_jpeg_ls_lying_about_its_size_never_reaches_the_decoder(tmp_path):
    """GDCM aborts the process on this file (SIGABRT); the check must come first."""
    bad = _write("MR_small_jpeg_ls_lossless.dcm", tmp_path / "jls", Rows=256, Columns=256)
    res = _run_child(_DECODE_CHILD, bad)
    assert res.returncode == 0, f"child died ({res.returncode}): {res.stderr[-2000:]}"
    assert f"REFUSED {bad}: " in res.stdout
    assert "codestream is 64x64, header says 256x256" in res.stdout
    assert "DECODER CALLS 0" in res.stdout


@pytest.mark.parametrize(
    ("src", "changes", "expected"),
    [
        ("SC_jpeg_no_color_transform.dcm", {"Rows": 128},
         "codestream is 256x256, header says 256x128"),
        ("JPEG-LL.dcm", {"Rows": 1000}, "codestream is 256x1024, header says 256x1000"),
        ("MR_small_jp2klossless.dcm", {"Columns": 32}, "codestream is 64x64, header says 32x64"),
        ("JPEGLSNearLossless_08.dcm", {"SamplesPerPixel": 3, "PhotometricInterpretation": "RGB"},
         "codestream has 1 component(s), header says 3 sample(s)"),
        ("MR_small_jpeg_ls_lossless.dcm", {"BitsAllocated": 8, "BitsStored": 8, "HighBit": 7},
         "codestream has 16-bit samples, header allocates 8 bits"),
        ("MR_small_RLE.dcm", {"BitsAllocated": 8, "BitsStored": 8, "HighBit": 7},
         "RLE frame has 2 segments, header says 1"),
    ],
)
def test_codestream_mismatch_is_a_read_error(tmp_path, src, changes, expected):
    h = read_header(_write(src, tmp_path / "f", **changes))
    with pytest.raises(DicomReadError, match="does not match the header") as err:
        decode_frame(h, 0)
    assert expected in str(err.value)
    assert str(err.value).startswith(f"{h.path}: ")


def _prefix(path: str, frame: int = 0) -> tuple[bytes, str]:
    h = read_header(path)
    kind = codestream.kind_of_syntax(h.transfer_syntax)
    assert kind is not None and h.encapsulated_offset is not None
    with open(path, "rb") as f:
        return codestream.frame_prefix(f, path, h.encapsulated_offset, h.number_of_frames,
                                       frame), kind


@pytest.mark.parametrize(
    ("name", "kind", "bits", "segments"),
    [
        ("SC_rgb_jpeg.dcm", codestream.JPEG, 8, None),  # baseline, colour
        ("JPGExtended.dcm", codestream.JPEG, 12, None),  # extended, 12-bit
        ("SC_rgb_jpeg_gdcm.dcm", codestream.JPEG, 8, None),  # lossless process 14
        ("JPEG-LL.dcm", codestream.JPEG, 16, None),  # lossless, 16-bit (pydicom-data)
        ("MR_small_jpeg_ls_lossless.dcm", codestream.JPEG_LS, 16, None),
        ("JPEGLSNearLossless_08.dcm", codestream.JPEG_LS, 8, None),
        ("MR_small_jp2klossless.dcm", codestream.JPEG_2000, 16, None),
        ("GDCMJ2K_TextGBR.dcm", codestream.JPEG_2000, 8, None),
        ("MR_small_RLE.dcm", codestream.RLE, None, 2),
        ("SC_rgb_rle.dcm", codestream.RLE, None, 3),
    ],
)
def test_codestream_parser_reads_real_files(name, kind, bits, segments):
    path = _testfile(name)
    data, syntax_kind = _prefix(path)
    info = codestream.parse(data, syntax_kind)
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    assert info.kind == kind
    assert info.bits == bits and info.segments == segments
    if kind != codestream.RLE:
        assert (info.rows, info.columns) == (ds.Rows, ds.Columns)
        assert info.components == ds.SamplesPerPixel


def test_codestream_inside_a_jp2_box_is_found():
    raw, _ = _prefix(_testfile("MR_small_jp2klossless.dcm"))
    ihdr = struct.pack(">IIHBBBB", 64, 64, 1, 15, 7, 0, 0)
    jp2h = struct.pack(">I4s", 8 + 8 + len(ihdr), b"jp2h") + struct.pack(">I4s", 8 + len(ihdr),
                                                                         b"ihdr") + ihdr
    ftyp = struct.pack(">I4s4sI4s", 20, b"ftyp", b"jp2 ", 0, b"jp2 ")
    jp2c = struct.pack(">I4s", 8 + len(raw), b"jp2c") + raw
    jp2 = b"\x00\x00\x00\x0cjP  \r\n\x87\n" + ftyp + jp2h + jp2c
    info = codestream.parse(jp2, codestream.JPEG_2000)
    assert (info.rows, info.columns, info.components, info.bits) == (64, 64, 1, 16)
    with pytest.raises(ValueError, match="no codestream box"):
        codestream.parse(jp2[: -len(jp2c)], codestream.JPEG_2000)


@pytest.mark.parametrize("name", ["examples_ybr_color.dcm", "SC_rgb_rle_16bit_2frame.dcm",
                                  "emri_small_jpeg_ls_lossless.dcm"])
def test_every_frame_of_real_multiframe_files_passes(name):
    h = read_header(_testfile(name))
    assert h.number_of_frames > 1
    for k in range(h.number_of_frames):
        codestream.check_frame(h, k)
    with pytest.raises(DicomReadError, match=f"no frame {h.number_of_frames + 1}"):
        codestream.check_frame(h, h.number_of_frames)


def test_truncated_codestream_header_is_a_read_error(tmp_path):
    src = _testfile("MR_small_jpeg_ls_lossless.dcm")
    ds = pydicom.dcmread(src)
    frame = pydicom.encaps.generate_frames(ds.PixelData, number_of_frames=1)
    data = next(iter(frame))
    ds.PixelData = pydicom.encaps.encapsulate([data[:6]])  # SOI and half a marker
    ds.save_as(tmp_path / "cut")
    with pytest.raises(DicomReadError, match="damaged JPEG-LS pixel data"):
        decode_frame(read_header(str(tmp_path / "cut")), 0)
