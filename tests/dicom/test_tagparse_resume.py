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
