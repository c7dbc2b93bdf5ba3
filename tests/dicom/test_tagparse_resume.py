"""The fast header parser goes on where it stopped when its buffer grows (tagparse.parse_header
with ``resume``): the same values and pixel offsets as one parse of the whole header, on real
files whose headers run past the first read (the sample's Siemens MR: ~80 KB)."""

from __future__ import annotations

import os

import pytest

from viewer.dicom import tagparse
from viewer.paths import sample_study_dir


def _real_files(shared_data) -> list[str]:
    out = []
    for root in (sample_study_dir(), shared_data / "ct-chest-lidc0314"):
        for d, _dirs, names in os.walk(root):
            out += [os.path.join(d, n) for n in sorted(names)[:3]]
    return out


def _grown(data: bytes, step: int):
    """Parse ``data`` as read_header does, but growing the buffer by ``step`` bytes at a time
    (every cut point lands somewhere else in the header: inside elements, sequences, items)."""
    buf, resume, calls = data[:step], None, 0
    while True:
        calls += 1
        try:
            return tagparse.parse_header(buf, len(data), resume), calls
        except tagparse.NeedMoreBytes as more:
            assert more.resume is not None and more.resume.pos <= len(data)
            resume = more.resume
            buf = data[: len(buf) + step]


@pytest.mark.parametrize("step", [509, 4096, 16 * 1024])
def test_a_resumed_parse_equals_one_parse_of_the_whole_header(shared_data, step):
    files = _real_files(shared_data)
    assert len(files) >= 6
    resumed_somewhere = False
    for path in files:
        with open(path, "rb") as fh:
            data = fh.read()
        whole = tagparse.parse_header(data, len(data))
        parsed, calls = _grown(data, step)
        resumed_somewhere |= calls > 1
        assert parsed.values == whole.values, os.path.basename(path)
        assert (parsed.pixel_offset, parsed.pixel_length, parsed.transfer_syntax) == (
            whole.pixel_offset, whole.pixel_length, whole.transfer_syntax)
        assert "SOPInstanceUID" in parsed.values and parsed.pixel_offset is not None
    assert resumed_somewhere  # the headers really did run past the first buffer


TRUNCATED = """
import os, sys
from viewer.dicom.header import read_header
from viewer.errors import DicomReadError
path, size = sys.argv[1], int(sys.argv[2])
real_fstat, target = os.fstat, os.stat(path)
def fstat(fd):  # the size the file had when it was opened, before it was cut short
    st = real_fstat(fd)
    if os.path.samestat(st, target):
        fields = list(st[:10])
        fields[6] = size
        return os.stat_result(fields)
    return st
os.fstat = fstat
try:
    read_header(path)
    print("read")
except DicomReadError as exc:
    print("error:", exc)
"""


def test_a_file_cut_short_while_its_header_is_read_is_reported_not_read_forever(tmp_path):
    """A file truncated between the size check and the reads (rewritten by another program
    during the scan) ends the read loop with a message naming the file, instead of asking
    for more bytes that never come (the scan hung, spinning a core)."""
    import subprocess
    import sys

    src = sorted(p for p in sample_study_dir().iterdir() if p.is_file())[0]
    data = src.read_bytes()
    assert tagparse.parse_header(data, len(data)).pixel_offset > 40_000  # a long header
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(data[:20_000])  # 16 KB are read first, then the rest of the header
    proc = subprocess.run([sys.executable, "-c", TRUNCATED, str(cut), str(len(data))],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout.strip()
    assert out.startswith(f"error: {cut}:") and "truncated" in out, out
