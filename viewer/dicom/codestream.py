"""Check a compressed frame's own header against the DICOM header before decoding it.

Native decoders trust the codestream: GDCM aborts the whole process (an uncaught C++ exception)
when a JPEG-LS frame is larger than Rows x Columns says, and other decoders write past or
allocate for the codestream's size. So before a frame goes to a decoder, its first bytes are
read from the file and parsed here:

- JPEG (all processes) and JPEG-LS: the SOFn / SOF55 (0xFFF7) frame header: precision, rows,
  columns, components;
- JPEG 2000 and HTJ2K: the SIZ marker segment, in a raw codestream or inside a JP2 ``jp2c`` box;
- RLE: the 64-byte RLE header: the number of segments (one per byte of each sample).

Anything that differs from Rows (0028,0010), Columns (0028,0011), Samples per Pixel (0028,0002)
or Bits Allocated (0028,0100) is a :class:`~viewer.errors.DicomReadError` naming the file and
what differs; the frame never reaches the decoder.
"""

from __future__ import annotations

import os
import struct
import threading
from collections import OrderedDict
from dataclasses import dataclass

from viewer.dicom.header import InstanceHeader
from viewer.errors import DicomReadError

JPEG = "JPEG"
JPEG_LS = "JPEG-LS"
JPEG_2000 = "JPEG 2000"
RLE = "RLE"

_KIND_BY_SYNTAX: dict[str, str] = {
    **{f"1.2.840.10008.1.2.4.{n}": JPEG for n in (*range(50, 67), 70)},
    "1.2.840.10008.1.2.4.80": JPEG_LS,
    "1.2.840.10008.1.2.4.81": JPEG_LS,
    **{f"1.2.840.10008.1.2.4.{n}": JPEG_2000 for n in (90, 91, 92, 93, 201, 202, 203)},
    "1.2.840.10008.1.2.5": RLE,
}

# Enough for any real frame header: JPEG APPn segments before the SOF are at most 64 KiB each.
PREFIX_BYTES = 1 << 20

_ITEM = 0xFFFEE000
_SEQ_DELIM = 0xFFFEE0DD
_TAG_LEN = struct.Struct("<HHI")
_U16BE = struct.Struct(">H")
_U32BE = struct.Struct(">I")

# JPEG SOFn markers: C0-CF without DHT (C4), JPG (C8) and DAC (CC); F7 is JPEG-LS SOF55.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_JLS_SOF = 0xF7
_JP2_SIGNATURE = b"\x00\x00\x00\x0cjP  \r\n\x87\n"


@dataclass(frozen=True, slots=True)
class CodestreamInfo:
    """What a frame's codestream says about itself.

    ``rows`` / ``columns`` / ``components`` / ``bits`` (sample precision) are None where the
    format does not say (RLE; JPEG rows of 0, defined later by a DNL marker). ``segments`` is
    the RLE segment count.
    """

    kind: str
    rows: int | None = None
    columns: int | None = None
    components: int | None = None
    bits: int | None = None
    segments: int | None = None


def kind_of_syntax(transfer_syntax: str) -> str | None:
    """The codestream family of a Transfer Syntax UID, or None when none is checked here."""
    return _KIND_BY_SYNTAX.get(transfer_syntax)


# ----------------------------------------------------------------------------- parsers


def parse(data: bytes, kind: str) -> CodestreamInfo:
    """Parse the start of one frame's codestream, of the family ``kind`` (see above).

    A JPEG-family stream is reported as the kind its frame header shows, so a JPEG-LS syntax
    holding a baseline JPEG stream comes back as ``JPEG``.

    Raises
    ------
    ValueError
        The bytes are not a codestream of that family, or end before its header does.
    """
    if kind == RLE:
        return _parse_rle(data)
    if kind == JPEG_2000:
        return _parse_j2k(data)
    return _parse_jpeg(data)


def _parse_jpeg(data: bytes) -> CodestreamInfo:
    if data[:2] != b"\xff\xd8":
        raise ValueError("no JPEG start-of-image marker")
    i, n = 2, len(data)
    while i + 4 <= n:
        if data[i] != 0xFF:
            raise ValueError(f"no JPEG marker at byte {i}")
        m = data[i + 1]
        if m == 0xFF:  # fill byte before a marker
            i += 1
            continue
        if m == 0x01 or 0xD0 <= m <= 0xD8:  # markers without a length
            i += 2
            continue
        if m in (0xDA, 0xD9):
            raise ValueError("JPEG scan starts before any frame header")
        length = _U16BE.unpack_from(data, i + 2)[0]
        if length < 2:
            raise ValueError(f"JPEG marker segment of length {length}")
        if m in _JPEG_SOF or m == _JLS_SOF:
            if i + 10 > n:
                break
            precision = data[i + 4]
            rows, cols = _U16BE.unpack_from(data, i + 5)[0], _U16BE.unpack_from(data, i + 7)[0]
            return CodestreamInfo(
                JPEG_LS if m == _JLS_SOF else JPEG,
                rows=rows or None,  # 0: defined by a DNL marker after the first scan
                columns=cols,
                components=data[i + 9],
                bits=precision,
            )
        i += 2 + length
    raise ValueError(f"no JPEG frame header in the first {min(n, PREFIX_BYTES)} bytes")


def _jp2_codestream(data: bytes) -> bytes:
    """The contents of the ``jp2c`` box of a JP2 file."""
    i, n = 0, len(data)
    while i + 8 <= n:
        length = _U32BE.unpack_from(data, i)[0]
        box = data[i + 4 : i + 8]
        header = 8
        if length == 1:
            if i + 16 > n:
                break
            length = struct.unpack_from(">Q", data, i + 8)[0]
            header = 16
        elif length == 0:
            length = n - i
        if length < header:
            raise ValueError(f"JP2 box of length {length}")
        if box == b"jp2c":
            return data[i + header : i + length]
        i += length
    raise ValueError("no codestream box in the JP2 file")


def _parse_j2k(data: bytes) -> CodestreamInfo:
    if data.startswith(_JP2_SIGNATURE):
        data = _jp2_codestream(data)
    if data[:4] != b"\xff\x4f\xff\x51":
        raise ValueError("no JPEG 2000 SOC and SIZ markers")
    if len(data) < 42:
        raise ValueError("JPEG 2000 SIZ marker segment truncated")
    lsiz = _U16BE.unpack_from(data, 4)[0]
    xsiz, ysiz, xosiz, yosiz = struct.unpack_from(">IIII", data, 8)
    csiz = _U16BE.unpack_from(data, 40)[0]
    if csiz < 1 or lsiz != 38 + 3 * csiz or len(data) < 4 + lsiz:
        raise ValueError(f"JPEG 2000 SIZ marker segment inconsistent ({csiz} components)")
    if xosiz > xsiz or yosiz > ysiz:
        raise ValueError("JPEG 2000 image offset beyond the image size")
    bits = max((data[42 + 3 * c] & 0x7F) + 1 for c in range(csiz))
    return CodestreamInfo(
        JPEG_2000, rows=ysiz - yosiz, columns=xsiz - xosiz, components=csiz, bits=bits
    )


def _parse_rle(data: bytes) -> CodestreamInfo:
    if len(data) < 64:
        raise ValueError("RLE header truncated")
    n, *offsets = struct.unpack_from("<16I", data, 0)
    if not 1 <= n <= 15:
        raise ValueError(f"RLE header says {n} segments (1 to 15 allowed)")
    used = offsets[:n]
    if used[0] != 64 or any(b <= a for a, b in zip(used, used[1:], strict=False)):
        raise ValueError("RLE segment offsets are not increasing from byte 64")
    return CodestreamInfo(RLE, segments=n)


# ----------------------------------------------------------------------------- locating frames


def _looks_like_frame_start(head: bytes) -> bool:
    return head[:2] == b"\xff\xd8" or head[:4] == b"\xff\x4f\xff\x51" or head[:4] == (
        _JP2_SIGNATURE[:4]
    )


def _read_items(f, offset: int, file_size: int) -> tuple[list[int], list[tuple[int, int]]]:
    """The Basic Offset Table and ``(value offset, length)`` of every fragment after it.

    ``offset`` is where the encapsulated Pixel Data value starts (its first item tag).
    """
    f.seek(offset)
    head = f.read(8)
    if len(head) < 8:
        raise ValueError("pixel data ends before its first item")
    g, e, length = _TAG_LEN.unpack(head)
    if (g << 16 | e) != _ITEM:
        raise ValueError("pixel data does not start with an item (Basic Offset Table)")
    pos = offset + 8
    if pos + length > file_size:
        raise ValueError("Basic Offset Table runs past the end of the file")
    raw = f.read(length)
    bot = list(struct.unpack(f"<{length // 4}I", raw[: length // 4 * 4])) if length else []
    pos += length
    frags: list[tuple[int, int]] = []
    while pos + 8 <= file_size:
        f.seek(pos)
        head = f.read(8)
        if len(head) < 8:
            break
        g, e, length = _TAG_LEN.unpack(head)
        tag = g << 16 | e
        if tag == _SEQ_DELIM:
            break
        if tag != _ITEM:
            raise ValueError(f"unexpected ({g:04X},{e:04X}) among the pixel data fragments")
        if pos + 8 + length > file_size:
            raise ValueError(f"fragment {len(frags) + 1} runs past the end of the file")
        frags.append((pos + 8, length))
        pos += 8 + length
    return bot, frags


@dataclass(frozen=True, slots=True)
class _FrameMap:
    """Fragment index ranges ``[start, stop)`` of each frame."""

    frames: tuple[tuple[int, int], ...]
    fragments: tuple[tuple[int, int], ...]


_MAPS: OrderedDict[tuple, _FrameMap] = OrderedDict()
_MAPS_LOCK = threading.Lock()
_MAPS_MAX = 64


def _frame_map(f, path: str, offset: int, n_frames: int) -> _FrameMap:
    """Where each frame's fragments are; cached per file (size and mtime) for multi-frames."""
    st = os.fstat(f.fileno())
    key = (path, offset, n_frames, st.st_size, st.st_mtime_ns)
    with _MAPS_LOCK:
        hit = _MAPS.get(key)
        if hit is not None:
            _MAPS.move_to_end(key)
            return hit
    bot, frags = _read_items(f, offset, st.st_size)
    if not frags:
        raise ValueError("pixel data holds no fragments")
    n = len(frags)
    if n_frames == 1:
        ranges = [(0, n)]
    elif n == n_frames:
        ranges = [(i, i + 1) for i in range(n)]
    elif n < n_frames:
        raise ValueError(f"header says {n_frames} frames but the pixel data holds {n} fragments")
    else:
        starts = _starts_from_offsets(bot, frags, n_frames)
        if starts is None:
            starts = []
            for i, (pos, _length) in enumerate(frags):
                f.seek(pos)
                if _looks_like_frame_start(f.read(4)):
                    starts.append(i)
        if len(starts) != n_frames or starts[0] != 0:
            raise ValueError(
                f"header says {n_frames} frames; the {n} fragments hold {len(starts)}"
            )
        ranges = list(zip(starts, [*starts[1:], n], strict=True))
    fmap = _FrameMap(tuple(ranges), tuple(frags))
    with _MAPS_LOCK:
        _MAPS[key] = fmap
        while len(_MAPS) > _MAPS_MAX:
            _MAPS.popitem(last=False)
    return fmap


def _starts_from_offsets(bot: list[int], frags: list[tuple[int, int]], n_frames: int):
    """First fragment index of each frame from the Basic Offset Table, or None if unusable."""
    if len(bot) != n_frames:
        return None
    base = frags[0][0] - 8
    index_at = {pos - 8 - base: i for i, (pos, _length) in enumerate(frags)}
    starts = [index_at.get(o) for o in bot]
    if any(s is None for s in starts) or starts != sorted(set(starts)):  # type: ignore[type-var]
        return None
    return starts


def frame_prefix(f, path: str, offset: int, n_frames: int, frame: int) -> bytes:
    """The first bytes (at most :data:`PREFIX_BYTES`) of frame ``frame``'s codestream.

    Raises
    ------
    ValueError
        The fragments do not hold that frame.
    """
    fmap = _frame_map(f, path, offset, max(1, n_frames))
    if not 0 <= frame < len(fmap.frames):
        raise ValueError(f"no frame {frame + 1}: the pixel data holds {len(fmap.frames)}")
    start, stop = fmap.frames[frame]
    out = bytearray()
    for pos, length in fmap.fragments[start:stop]:
        f.seek(pos)
        out += f.read(min(length, PREFIX_BYTES - len(out)))
        if len(out) >= PREFIX_BYTES:
            break
    return bytes(out)


def frame_bytes(h: InstanceHeader, frame: int) -> bytes | None:
    """The whole codestream of frame ``frame`` (its fragments joined, as pydicom passes them to
    a decoder), or None where the header does not know where the pixel data starts.

    Raises
    ------
    OSError, ValueError
        The file cannot be read, or its fragments do not hold that frame.
    """
    offset = h.encapsulated_offset
    if offset is None:
        return None
    with open(h.path, "rb") as f:
        fmap = _frame_map(f, h.path, offset, max(1, h.number_of_frames))
        if not 0 <= frame < len(fmap.frames):
            raise ValueError(f"no frame {frame + 1}: the pixel data holds {len(fmap.frames)}")
        start, stop = fmap.frames[frame]
        out = bytearray()
        for pos, length in fmap.fragments[start:stop]:
            f.seek(pos)
            out += f.read(length)
    return bytes(out)


# ----------------------------------------------------------------------------- the check


def _pixel_data_offset(path: str) -> int | None:
    """Where an encapsulated Pixel Data value starts, found by pydicom (slow path)."""
    from viewer.dicom import header, lazy

    try:
        ds = lazy.pydicom().dcmread(path, defer_size=256, force=True)
        raw = header.raw_element(ds, 0x7FE00010)
    except Exception:  # pydicom raises many types on malformed input; reported by the caller
        return None
    return getattr(raw, "value_tell", None)


def _differences(info: CodestreamInfo, kind: str, h: InstanceHeader) -> list[str]:
    if info.kind != kind:
        return [f"codestream is {info.kind}, transfer syntax says {kind}"]
    out = []
    if info.kind == RLE:
        per_sample = max(1, (h.bits_allocated + 7) // 8)
        want = h.samples_per_pixel * per_sample
        if info.segments != want:
            out.append(
                f"RLE frame has {info.segments} segments, header says {want} "
                f"({h.samples_per_pixel} sample(s) of {h.bits_allocated} bits)"
            )
        return out
    rows = info.rows if info.rows is not None else h.rows
    if (info.columns, rows) != (h.columns, h.rows):
        out.append(f"codestream is {info.columns}x{rows}, header says {h.columns}x{h.rows}")
    if info.components != h.samples_per_pixel:
        out.append(
            f"codestream has {info.components} component(s), header says "
            f"{h.samples_per_pixel} sample(s) per pixel"
        )
    if info.bits is not None and info.bits > max(h.bits_allocated, 8):
        out.append(
            f"codestream has {info.bits}-bit samples, header allocates {h.bits_allocated} bits"
        )
    return out


def check_frame(h: InstanceHeader, frame: int) -> None:
    """Refuse frame ``frame`` (0-based) of ``h`` when its codestream contradicts the header.

    Does nothing for native (uncompressed) pixel data and for syntaxes not checked here.

    Raises
    ------
    DicomReadError
        The codestream is damaged or differs from the header; the message says what differs.
    """
    kind = kind_of_syntax(h.transfer_syntax)
    if kind is None or not h.has_pixel_data:
        return
    try:
        offset = h.encapsulated_offset
        if offset is None:
            offset = _pixel_data_offset(h.path)
        if offset is None:
            raise ValueError("no encapsulated pixel data")
        with open(h.path, "rb") as f:
            data = frame_prefix(f, h.path, offset, h.number_of_frames, frame)
        info = parse(data, kind)
    except OSError as exc:
        raise DicomReadError(f"{h.path}: cannot read pixel data ({exc.strerror})") from None
    except (ValueError, struct.error) as exc:
        raise DicomReadError(
            f"{h.path}: damaged {kind} pixel data (frame {frame + 1}: {exc}); "
            "re-export it from the source system"
        ) from None
    diffs = _differences(info, kind, h)
    if diffs:
        raise DicomReadError(
            f"{h.path}: pixel data does not match the header (frame {frame + 1}: "
            f"{'; '.join(diffs)}); the file is damaged, re-export it from the source system"
        )
