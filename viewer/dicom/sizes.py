"""Declared image sizes against the bytes a file holds, checked before anything is allocated.

A header can claim a billion frames in a file of a few kilobytes; building per-frame lists for
them once cost 7.9 GB. The header reader calls these checks on every file with pixel data:

- native pixel data: frames x rows x columns x samples x bits must fit in the Pixel Data
  element's length;
- encapsulated multi-frame data: every frame needs at least one fragment (fragments are counted
  by their 8-byte item headers, stopping at the number claimed);
- any image: the limits of :mod:`viewer.dicom.limits` (per frame, frames per file).

Files are opened only when they are regular files, without blocking (a named pipe or device
never hangs the scan).
"""

from __future__ import annotations

import os
import stat
import struct

from viewer.dicom import limits
from viewer.errors import DicomReadError

_UNDEFINED = 0xFFFFFFFF
_ITEM = (0xFFFE, 0xE000)
_ITEM_HEAD = struct.Struct("<HHI")
_REEXPORT = "re-export it from the source system"


def open_regular(path: str):
    """Open ``path`` for binary reading only if it is a regular file, without ever blocking.

    ``O_NONBLOCK`` keeps a named pipe from hanging the open; the type is then checked on the
    open descriptor (a separate ``stat`` could be raced by swapping the file).

    Raises
    ------
    DicomReadError
        ``path`` is a device, pipe or socket.
    OSError
        It cannot be opened.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise DicomReadError(f"{path}: not a regular file (device, pipe or socket); not read")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def check_encoding(path: str, ts: str, encapsulated: bool) -> None:
    """Refuse pixel data whose encoding (native or encapsulated) contradicts the syntax."""
    from viewer.dicom import codecs

    native_syntax = ts in codecs.NATIVE_SYNTAXES
    if native_syntax == encapsulated:
        what = "compressed" if encapsulated else "not compressed"
        raise DicomReadError(
            f"{path}: damaged DICOM file (transfer syntax says {codecs.syntax_name(ts)} but the "
            f"pixel data is {what}); {_REEXPORT}"
        )


def check_sizes(
    path: str,
    *,
    rows: int,
    columns: int,
    samples: int,
    bits: int,
    frames: int,
    photometric: str,
    pixel_length: int | None = None,
    fragments: tuple[int, int] | None = None,
) -> None:
    """Refuse an image whose claimed size the file cannot hold or memory should not take.

    ``bits`` is Bits Allocated (0028,0100) (32 or 64 for float pixel data); ``pixel_length`` is
    the native Pixel Data length in bytes (None when encapsulated); ``fragments`` is
    (fragments found, frames claimed) for encapsulated multi-frame data.

    Raises
    ------
    DicomReadError
        Naming the file, what the header says and what the file holds.
    """
    bad = [name for name, v in (("Rows (0028,0010)", rows), ("Columns (0028,0011)", columns),
                                ("Samples per Pixel (0028,0002)", samples),
                                ("Bits Allocated (0028,0100)", bits),
                                ("Number of Frames (0028,0008)", frames)) if v <= 0]
    if bad:
        # Name the element: "DICOM image without Rows" is a damaged image, not "not DICOM".
        raise DicomReadError(
            f"{path}: DICOM image without a valid {' or '.join(bad)} (missing or 0), so its "
            f"pixels cannot be laid out; {_REEXPORT}"
        )
    limits.check_frame(path, rows, columns,
                       limits.frame_bytes(rows, columns, samples, bits, photometric))
    if pixel_length is not None:
        if photometric == "YBR_FULL_422":
            samples = 2  # chroma subsampled 2:1 horizontally: 2 samples per pixel on average
        expected = (rows * columns * samples * bits * frames + 7) // 8
        if pixel_length < expected and frames > 1:
            raise DicomReadError(
                f"{path}: damaged DICOM file (header says {frames} frames of {columns}x{rows} "
                f"pixels, {limits.human_bytes(expected)}, but the file holds only "
                f"{limits.human_bytes(pixel_length)}); {_REEXPORT}"
            )
        if pixel_length < expected:
            raise DicomReadError(
                f"{path}: damaged DICOM file (pixel data holds {pixel_length} bytes, "
                f"{rows}x{columns} pixels need {expected}); {_REEXPORT}"
            )
    if fragments is not None and fragments[0] < fragments[1]:
        raise DicomReadError(
            f"{path}: damaged DICOM file (header says {fragments[1]} frames but the pixel data "
            f"holds only {fragments[0]} fragment(s)); {_REEXPORT}"
        )
    limits.check_frame_count(path, frames)


def count_fragments(path: str, offset: int, at_most: int) -> int:
    """Fragments of encapsulated pixel data whose value starts at ``offset``, up to ``at_most``.

    Reads only the 8-byte item headers and stops at ``at_most``, so a header claiming a
    billion frames costs one pass over the fragments that are there.
    """
    n = 0
    with open_regular(path) as f:
        size = os.fstat(f.fileno()).st_size
        pos = offset
        first = True  # the Basic Offset Table item, not a fragment
        while n < at_most and pos + 8 <= size:
            f.seek(pos)
            head = f.read(8)
            if len(head) < 8:
                break
            group, elem, length = _ITEM_HEAD.unpack(head)
            if (group, elem) != _ITEM or length == _UNDEFINED or pos + 8 + length > size:
                break
            pos += 8 + length
            if first:
                first = False
            else:
                n += 1
    return n


def raw_element(ds, tag: int):
    """Element ``tag`` of a pydicom data set as read, without loading a deferred value.

    ``Dataset.get_item`` reads a deferred value (a whole Pixel Data) into memory; the raw
    element (``length``, ``value_tell``) is all a size check needs. None when absent.
    """
    return getattr(ds, "_dict", {}).get(tag)


def pixel_layout(path: str, ts: str, raw, frames: int, check: bool = True):
    """(native length, (fragments, frames) or None, encapsulated offset) of a pixel element.

    ``raw`` comes from :func:`raw_element` of a data set read with deferred values. When
    ``check``, the encoding is checked against the transfer syntax (:func:`check_encoding`).
    """
    from viewer.dicom import codecs

    if not hasattr(raw, "value_tell"):  # already converted: a small value held in memory
        encapsulated = bool(getattr(raw, "is_undefined_length", False))
        value = raw.value
        length = len(value) if isinstance(value, (bytes, bytearray)) and not encapsulated else None
        offset = None
    else:
        encapsulated = raw.length == _UNDEFINED
        length = None if encapsulated else raw.length
        offset = raw.value_tell if encapsulated else None
    if check:
        check_encoding(path, ts, encapsulated)
    fragments = None
    if encapsulated and frames > 1 and offset is not None and ts not in codecs.NATIVE_SYNTAXES:
        fragments = (count_fragments(path, offset, frames), frames)
    return length, fragments, offset
