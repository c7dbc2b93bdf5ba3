"""A seeded mutator over real DICOM files: ``make_case(seed, index)`` is one fuzz case.

A case is the same on every machine for the same ``(seed, index)``: its family comes from
``index`` (round robin over :data:`FAMILY_CYCLE`, so any run of consecutive cases covers
every family), everything else from ``random.Random(f"{seed}/{index}")``. Mutations start
from a real file (:mod:`fuzz_sources`) and write bytes; values that pydicom refuses to write
(``NaN`` in a DS, letters in an IS, bytes that are not UTF-8) are patched into the written
bytes with the element's length field fixed, so the file stays well formed around them.
"""

from __future__ import annotations

import io
import random
import struct
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import fuzz_sources
from fuzz_sources import BY_NAME, COMPANION, SOURCES, Source

FAMILY_CYCLE = ("header", "byteflip", "truncate", "lie", "fragments", "syntax", "geometry",
                "strings", "header", "byteflip", "lie", "filesystem")

IMPLICIT_LE, EXPLICIT_LE, EXPLICIT_BE = "1.2.840.10008.1.2", "1.2.840.10008.1.2.1", \
    "1.2.840.10008.1.2.2"
SYNTAXES = (IMPLICIT_LE, EXPLICIT_LE, EXPLICIT_BE, "1.2.840.10008.1.2.1.99",  # deflate
            "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.57",
            "1.2.840.10008.1.2.4.70", "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81",
            "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91", "1.2.840.10008.1.2.4.201",
            "1.2.840.10008.1.2.5", "1.2.840.10008.1.2.4.100", "1.2.3.4.5.6.7", "")

# Boundary values per header field: ints go in as they are (US), strings are patched raw.
HEADER_VALUES: dict[str, list] = {
    "Rows": [0, 1, 65535],
    "Columns": [0, 1, 65535],
    "BitsAllocated": [0, 1, 12, 64],
    "BitsStored": [0, 1, 33, 64],
    "HighBit": [0, 63, 65535],
    "NumberOfFrames": ["1000000000", "0", "-1", "2", "abc", ""],
    "SamplesPerPixel": [0, 2, 4],
    "PixelRepresentation": [2, 65535],
    "PlanarConfiguration": [1, 7],
    "PhotometricInterpretation": ["PALETTE COLOR", "YBR_FULL_422", "RGB", "MONOCHROME1",
                                  "HSV", ""],
    "PixelSpacing": ["0\\0", "-1\\-1", "1e308\\1e308", "NaN\\NaN", "inf\\1", "0.5", "abc"],
    "SliceThickness": ["0", "NaN", "-5"],
    "SpacingBetweenSlices": ["0", "-1", "NaN"],
    "WindowWidth": ["0", "-1", "NaN", "1e308", "0\\0"],
    "WindowCenter": ["NaN", "1e308", "-1e308", "abc"],
    "RescaleSlope": ["0", "NaN", "1e308", "-1e308", "inf"],
    "RescaleIntercept": ["NaN", "1e308"],
}
# The values issue 16 names, visited first (in this order) by every run of cases.
ISSUE_VALUES = [("Rows", 0), ("Columns", 65535), ("NumberOfFrames", "1000000000"),
                ("PixelSpacing", "0\\0"), ("BitsAllocated", 1), ("SamplesPerPixel", 2),
                ("WindowWidth", "0"), ("Rows", 65535), ("PixelSpacing", "1e308\\1e308"),
                ("Columns", 0), ("BitsAllocated", 64), ("PixelSpacing", "NaN\\NaN"),
                ("Rows", 1), ("BitsAllocated", 12), ("PixelSpacing", "-1\\-1"),
                ("Columns", 1)]
NAMED_FIELDS = tuple(dict.fromkeys(kw for kw, _ in ISSUE_VALUES))


def _nth(rng: random.Random, options: list, visit: int):
    """``options[visit]`` while there are unvisited options, then a random one."""
    return options[visit] if visit < len(options) else rng.choice(options)

_NUMERIC_PLACEHOLDER = {"DS": "-7.{:07d}e-77", "IS": "-9{:08d}"}


@dataclass
class Case:
    """One fuzz case: files to write into an empty folder and what was done to them.

    ``files`` maps a relative path to bytes, or to ``("fifo",)``, ``("symlink", target)``,
    ``("dir",)``. ``mutated`` names the files whose stacks are loaded, rendered and exported.
    """

    seed: int
    index: int
    source: str
    family: str
    description: str = ""
    files: dict[str, object] = field(default_factory=dict)
    mutated: list[str] = field(default_factory=list)
    unavailable: str = ""  # why the case cannot run here (its source is not installed)

    @property
    def name(self) -> str:
        return f"{self.seed}:{self.index}"


class Doc:
    """A dataset being mutated, plus raw value patches applied after it is written."""

    def __init__(self, data: bytes):
        from pydicom import dcmread

        self.ds = dcmread(io.BytesIO(data), force=True)
        ts = str(self.ds.file_meta.get("TransferSyntaxUID", EXPLICIT_LE))
        self.implicit = ts == IMPLICIT_LE
        self.little = ts != EXPLICIT_BE
        self._patches: list[tuple[bytes, bytes, str]] = []

    def set(self, keyword: str, value) -> None:
        """Set ``keyword`` (added when absent); ints as they are, strings raw."""
        from pydicom.datadict import dictionary_VR, tag_for_keyword

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if not isinstance(value, (str, bytes)):
                setattr(self.ds, keyword, value)
                return
            vr = dictionary_VR(tag_for_keyword(keyword)).split(" or ")[0]
            raw = value.encode("latin-1") if isinstance(value, str) else value
            if len(raw) % 2:
                raw += b"\0" if vr == "UI" else b" "
            n = len(self._patches)
            holder = _NUMERIC_PLACEHOLDER.get(vr, "QZXJ{:06d}PLACEHOLDR").format(n)
            setattr(self.ds, keyword, holder)
            hb = holder.encode("ascii")
            self._patches.append((hb, raw, vr))

    def delete(self, keyword: str) -> None:
        if keyword in self.ds:
            delattr(self.ds, keyword)

    def bytes(self) -> bytes:
        buf = io.BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.ds.save_as(buf, enforce_file_format=False)
        data = buf.getvalue()
        for holder, raw, vr in self._patches:
            data = _patch(data, holder, raw, vr, self.implicit, self.little)
        return data


def _patch(data: bytes, holder: bytes, raw: bytes, vr: str, implicit: bool,
           little: bool) -> bytes:
    """Replace a written placeholder value with ``raw`` and fix the element's length."""
    pos = data.find(holder)
    if pos < 0 or data.find(holder, pos + 1) >= 0:
        raise RuntimeError(f"placeholder {holder!r} not found once")  # a mutator bug
    end = "<" if little else ">"
    long_vr = vr in ("OB", "OW", "OF", "SQ", "UT", "UN", "UC", "UR")
    if implicit or long_vr:
        head = data[: pos - 4] + struct.pack(end + "I", len(raw))
    else:
        if len(raw) > 0xFFFF:
            raw = raw[:0xFFFE]
        head = data[: pos - 2] + struct.pack(end + "H", len(raw))
    return head + raw + data[pos + len(holder):]


def _pixel_offset(data: bytes) -> int:
    """Where the Pixel Data (7FE0,0010) element starts (the file's end when absent)."""
    pos = max(data.rfind(b"\xe0\x7f\x10\x00"), data.rfind(b"\x7f\xe0\x00\x10"))
    return pos if pos > 0 else len(data)


def _uid(rng: random.Random) -> str:
    return f"2.25.{rng.getrandbits(100)}"


# ----------------------------------------------------------------------------- families


def _truncate(rng, data: bytes, src: Source, visit: int) -> tuple[bytes, str]:
    px = _pixel_offset(data)
    where = rng.choice(["random", "in pixel data", "just after pixel tag", "in header", "last",
                        "preamble"])
    cut = {
        "random": rng.randrange(0, len(data)),
        "in pixel data": rng.randrange(px, len(data)),
        "just after pixel tag": min(len(data), px + rng.randrange(1, 16)),
        "in header": rng.randrange(132, max(133, px)),
        "last": len(data) - 1,
        "preamble": rng.choice([0, 64, 128, 132]),
    }[where]
    return data[:cut], f"truncate {where}: {cut}/{len(data)} bytes"


def _byteflip(rng, data: bytes, src: Source, visit: int) -> tuple[bytes, str]:
    px = _pixel_offset(data)
    region = rng.choice(["header", "pixel data", "anywhere"])
    lo, hi = {"header": (132, px), "pixel data": (px, len(data)),
              "anywhere": (0, len(data))}[region]
    if hi <= lo:
        lo, hi = 0, len(data)
    n = rng.choice([1, 2, 4, 16, 64])
    buf = bytearray(data)
    for _ in range(n):
        i = rng.randrange(lo, hi)
        buf[i] = rng.choice([buf[i] ^ (1 << rng.randrange(8)), 0x00, 0xFF, rng.randrange(256)])
    return bytes(buf), f"flip {n} bytes in {region}"


def _header(rng, data: bytes, src: Source, visit: int) -> tuple[bytes, str]:
    if visit < len(ISSUE_VALUES):
        kw, value = ISSUE_VALUES[visit]
    else:
        kw = rng.choice(list(HEADER_VALUES))
        value = rng.choice(HEADER_VALUES[kw])
    doc = Doc(data)
    doc.set(kw, value)
    return doc.bytes(), f"header {kw}={value!r}"


def _lie(rng, data: bytes, src: Source, visit: int) -> tuple[bytes, str]:
    doc = Doc(data)
    ds = doc.ds
    rows, cols = int(ds.get("Rows", 1) or 1), int(ds.get("Columns", 1) or 1)
    choices = ["rows x2", "columns /2", "swap rows/columns", "rows +1", "frames +1",
               "frames x100", "bits 16<->8", "samples 1<->3"]
    if not src.encapsulated:
        choices += ["pixel data half", "pixel data -2 bytes", "pixel data +1000 bytes"]
    what = _nth(rng, choices, visit)
    frames = int(src.frames)
    if what == "rows x2":
        doc.set("Rows", min(65535, rows * 2))
    elif what == "columns /2":
        doc.set("Columns", max(1, cols // 2))
    elif what == "swap rows/columns":
        doc.set("Rows", cols)
        doc.set("Columns", rows)
        if rows == cols:
            doc.set("Rows", rows + 2)
    elif what == "rows +1":
        doc.set("Rows", rows + 1)
    elif what == "frames +1":
        doc.set("NumberOfFrames", str(frames + 1))
    elif what == "frames x100":
        doc.set("NumberOfFrames", str(frames * 100))
    elif what == "bits 16<->8":
        bits = int(ds.get("BitsAllocated", 16))
        new = 8 if bits > 8 else 16
        doc.set("BitsAllocated", new)
        doc.set("BitsStored", new)
        doc.set("HighBit", new - 1)
    elif what == "samples 1<->3":
        doc.set("SamplesPerPixel", 1 if src.colour else 3)
    else:
        px = bytes(ds.PixelData)
        if what == "pixel data half":
            px = px[: (len(px) // 4) * 2]
        elif what == "pixel data -2 bytes":
            px = px[:-2]
        else:
            px = px + bytes(1000)
        ds.PixelData = px
    return doc.bytes(), f"lie {what}"


def _items(value: bytes) -> list[bytes]:
    """The items of encapsulated Pixel Data (first: the Basic Offset Table), tolerant."""
    out, pos = [], 0
    while pos + 8 <= len(value):
        tag, length = struct.unpack_from("<II", value, pos)
        if tag != 0xE000FFFE:
            break
        out.append(value[pos + 8 : pos + 8 + length])
        pos += 8 + length
    return out


def _join(items: list[bytes]) -> bytes:
    return b"".join(struct.pack("<II", 0xE000FFFE, len(it)) + it for it in items)


def _codestream_dims(frag: bytes, rows: int, cols: int) -> bytes:
    """Rewrite the image size inside a JPEG / JPEG-LS SOF or a JPEG 2000 SIZ marker."""
    buf = bytearray(frag)
    for marker in (b"\xff\xc0", b"\xff\xc1", b"\xff\xc2", b"\xff\xc3", b"\xff\xf7"):
        i = buf.find(marker)
        if 0 <= i < 2048:
            struct.pack_into(">HH", buf, i + 5, rows, cols)
            return bytes(buf)
    i = buf.find(b"\xff\x51")
    if 0 <= i < 2048:
        struct.pack_into(">II", buf, i + 6, cols, rows)  # Xsiz, Ysiz (origin 0)
        return bytes(buf)
    return bytes(buf)  # RLE: no dimensions in the stream


def _fragments(rng, data: bytes, src: Source, visit: int) -> tuple[bytes, str]:
    doc = Doc(data)
    ds = doc.ds
    items = _items(bytes(ds.PixelData))
    bot, frags = items[0], items[1:]
    what = _nth(rng, ["codestream dims 65535", "truncate fragment", "length lie",
                      "no fragments", "offset table garbage", "codestream dims x2",
                      "empty fragment", "duplicate fragment", "bad item tag",
                      "flip codestream markers", "drop last fragment", "codestream dims 1"],
                visit)
    raw_tail = None
    if what == "no fragments":
        frags = []
    elif what == "drop last fragment" and frags:
        frags = frags[:-1]
    elif what == "truncate fragment" and frags:
        k = rng.randrange(len(frags))
        frags[k] = frags[k][: (rng.randrange(len(frags[k]) + 1) // 2) * 2]
    elif what == "offset table garbage":
        bot = struct.pack("<II", 0xFFFFFFF0, rng.randrange(1, 1 << 31) * 2)
    elif what == "empty fragment":
        frags.insert(rng.randrange(len(frags) + 1), b"")
    elif what == "duplicate fragment" and frags:
        frags = frags + frags
    elif what.startswith("codestream dims") and frags:
        rows, cols = int(ds.Rows), int(ds.Columns)
        r, c = {"codestream dims 65535": (65535, 65535), "codestream dims x2": (rows * 2, cols),
                "codestream dims 1": (1, 1)}[what]
        frags[0] = _codestream_dims(frags[0], r, c)
    elif what == "flip codestream markers" and frags:
        f = bytearray(frags[0])
        for _ in range(4):
            i = rng.randrange(min(64, len(f)) or 1)
            if f:
                f[i] ^= 0xFF
        frags[0] = bytes(f)
    elif what in ("length lie", "bad item tag"):
        raw_tail = what
    value = _join([bot, *frags])
    if raw_tail == "length lie" and frags:
        # The last fragment claims far more bytes than the file holds.
        last = len(value) - len(frags[-1]) - 4
        value = value[:last] + struct.pack("<I", 0x7FFFFFF0) + value[last + 4 :]
    elif raw_tail == "bad item tag" and frags:
        at = len(_join([bot]))
        value = value[:at] + struct.pack("<I", 0xE0DDFFFE) + value[at + 4 :]
    ds.PixelData = value
    return doc.bytes(), f"fragments {what}"


def _syntax(rng, data: bytes, src: Source, visit: int) -> tuple[bytes, str]:
    doc = Doc(data)
    old = str(doc.ds.file_meta.get("TransferSyntaxUID", ""))
    new = rng.choice([s for s in SYNTAXES if s != old])
    return replace_transfer_syntax(data, new), f"transfer syntax {old} -> {new or 'empty'}"


def replace_transfer_syntax(data: bytes, uid: str) -> bytes:
    """Rewrite (0002,0010) in the file meta (explicit VR LE) without touching the data set."""
    if data[128:132] != b"DICM":
        return data
    pos, elems = 132, []
    while pos + 8 <= len(data):
        group, elem = struct.unpack_from("<HH", data, pos)
        if group != 2:
            break
        vr = data[pos + 4 : pos + 6]
        if vr in (b"OB", b"OW", b"OF", b"SQ", b"UT", b"UN"):
            (length,) = struct.unpack_from("<I", data, pos + 8)
            head = 12
        else:
            (length,) = struct.unpack_from("<H", data, pos + 6)
            head = 8
        elems.append((elem, data[pos : pos + head], data[pos + head : pos + head + length]))
        pos += head + length
    value = uid.encode("ascii")
    if len(value) % 2:
        value += b"\0"
    body, length_head = b"", None
    for elem, head, val in elems:
        if elem == 0x0000:
            length_head = head  # File Meta Information Group Length, recomputed below
            continue
        if elem == 0x0010:
            head, val = head[:6] + struct.pack("<H", len(value)), value
        body += head + val
    meta = (length_head + struct.pack("<I", len(body)) if length_head else b"") + body
    return data[:132] + meta + data[pos:]


GEOMETRY = [("orientation", "1\\0\\0\\1\\0\\0"), ("orientation", "0\\0\\0\\0\\0\\0"),
            ("orientation", "NaN\\NaN\\NaN\\NaN\\NaN\\NaN"), ("position", "NaN\\NaN\\NaN"),
            ("position", "missing"), ("orientation", "1\\0\\0\\0\\1"),
            ("position", "same for all"), ("orientation", "2\\0\\0\\0\\2\\0"),
            ("orientation", "0\\1\\0\\0\\0\\1"), ("position", "1e308\\1e308\\1e308"),
            ("orientation", "1e308\\0\\0\\0\\1e308\\0"), ("orientation", "inf\\0\\0\\0\\1\\0"),
            ("orientation", "abc"), ("position", "0\\0"), ("position", "")]


def _geometry(rng, data: bytes, src: Source, visit: int) -> dict[str, bytes] | tuple:
    """A three-file series from the source with one or all slices' geometry broken."""
    what, bad = _nth(rng, GEOMETRY, visit)
    which = rng.choice(["one slice", "all slices"])
    series = _uid(rng)
    files = {}
    for k in range(3):
        doc = Doc(data)
        doc.set("SOPInstanceUID", _uid(rng))
        doc.set("SeriesInstanceUID", series)
        doc.set("InstanceNumber", str(k + 1))
        broken = which == "all slices" or k == 1
        if what == "orientation":
            doc.set("ImagePositionPatient", f"0\\0\\{k * 2}")
            doc.set("ImageOrientationPatient", bad if broken else "1\\0\\0\\0\\1\\0")
        else:
            doc.set("ImageOrientationPatient", "1\\0\\0\\0\\1\\0")
            if broken and bad == "missing":
                doc.delete("ImagePositionPatient")
            elif bad == "same for all":
                doc.set("ImagePositionPatient", "0\\0\\0")
            else:
                doc.set("ImagePositionPatient", bad if broken else f"0\\0\\{k * 2}")
        files[f"slice{k + 1}"] = doc.bytes()
    return files, f"geometry {what}={bad!r} on {which}"


HOSTILE = ("16000 characters", "not UTF-8", "control characters", "8000 words",
           "16000 CJK characters", "bidi override", "unknown character set", "format string")


def _strings(rng, data: bytes, src: Source, visit: int) -> tuple[bytes, str]:
    doc = Doc(data)
    if visit < len(HOSTILE):  # every kind in the Series Description first (it is drawn)
        field_, what = "SeriesDescription", HOSTILE[visit]
    else:
        field_ = rng.choice(["SeriesDescription", "StudyDescription", "PatientName",
                             "PatientID", "InstitutionName", "ProtocolName"])
        what = rng.choice(HOSTILE)
    value: bytes
    if what == "16000 characters":
        value = b"A" * 16000
    elif what == "16000 CJK characters":
        doc.set("SpecificCharacterSet", "ISO_IR 192")
        value = ("\u4e2d" * 16000).encode("utf-8")
    elif what == "8000 words":
        value = b"W " * 8000
    elif what == "not UTF-8":
        doc.set("SpecificCharacterSet", "ISO_IR 192")
        value = b"\xff\xfe\xc3\x28\xa0\xa1\xe2\x28\xa1" * 4
    elif what == "control characters":
        value = b"a\x00b\x1b[31mred\r\nline2\x07\x08\x7f\tend"
    elif what == "bidi override":
        doc.set("SpecificCharacterSet", "ISO_IR 192")
        value = "\u202eevil\u202c\u200b\ufeff".encode()
    elif what == "unknown character set":
        doc.set("SpecificCharacterSet", "ISO_IR 999")
        value = b"caf\xe9 \xff\xfe"
    else:
        value = b"%s%n%x{0}{__class__}\\\\"
    doc.set(field_, value)
    return doc.bytes(), f"strings {field_}: {what}"


FS_HAZARDS = ("fifo", "symlink loop", "symlink to /dev/zero", "folder symlink",
              "dangling symlink", "empty file", "file symlink", "folder named like a file")


def _filesystem(rng, data: bytes, src: Source, visit: int) -> tuple[dict[str, object], str]:
    what = _nth(rng, FS_HAZARDS, visit)
    files: dict[str, object] = {"sub/image": data}
    if what == "fifo":
        files["IM0001"] = ("fifo",)
    elif what == "symlink loop":
        files["sub/loop"] = ("symlink", "..")
    elif what == "symlink to /dev/zero":
        files["IM0002"] = ("symlink", "/dev/zero")
    elif what == "dangling symlink":
        files["IM0003"] = ("symlink", "does-not-exist")
    elif what == "empty file":
        files["IM0004"] = b""
    elif what == "folder symlink":
        files["linked"] = ("symlink", "sub")
    elif what == "folder named like a file":
        files["IM0005.dcm"] = ("dir",)
    else:
        files["IM0006"] = ("symlink", "sub/image")
    return files, f"filesystem {what}"


# ----------------------------------------------------------------------------- cases


def _applicable(family: str) -> list[Source]:
    if family == "fragments":
        return [s for s in SOURCES if s.encapsulated]
    return list(SOURCES)


def plan(seed: int, index: int) -> Case:
    """Family and source of a case, without reading any file."""
    family = FAMILY_CYCLE[index % len(FAMILY_CYCLE)]
    rng = random.Random(f"{seed}/{index}")
    src = rng.choice(_applicable(family))
    return Case(seed, index, src.name, family)


def make_case(seed: int, index: int) -> Case:
    """The files of case ``(seed, index)``; ``unavailable`` says when its source is absent."""
    case = plan(seed, index)
    rng = random.Random(f"{seed}/{index}/{case.family}")
    src = BY_NAME[case.source]
    path = fuzz_sources.locate(src)
    if path is None:
        case.unavailable = f"source {src.rel} ({src.origin}) is not installed here"
        case.description = f"{src.name}: {case.family}"
        return case
    data = path.read_bytes()
    fam = case.family
    n = len(FAMILY_CYCLE)
    visit = (index // n) * FAMILY_CYCLE.count(fam) + FAMILY_CYCLE[: index % n].count(fam)
    mutate = {"header": _header, "truncate": _truncate, "byteflip": _byteflip, "lie": _lie,
              "fragments": _fragments, "syntax": _syntax, "geometry": _geometry,
              "strings": _strings, "filesystem": _filesystem}[fam]
    out, what = mutate(rng, data, src, visit)
    if isinstance(out, dict):
        case.files.update(out)
        case.mutated = [k for k, v in out.items() if isinstance(v, bytes) and v]
    else:
        case.files["mutated"] = out
        case.mutated = ["mutated"]
    case.files["companion"] = companion_bytes()
    case.description = f"{src.name}: {what}"
    return case


_COMPANION: bytes | None = None


def companion_bytes() -> bytes:
    """An intact real image of its own series (MR_small with fresh UIDs)."""
    global _COMPANION
    if _COMPANION is None:
        path = fuzz_sources.locate(BY_NAME[COMPANION])
        if path is None:
            raise RuntimeError("pydicom's MR_small.dcm is missing: pydicom is not installed")
        doc = Doc(path.read_bytes())
        doc.set("SOPInstanceUID", "2.25.161716171617161716171617")
        doc.set("SeriesInstanceUID", "2.25.161716171617161716171618")
        doc.set("SeriesDescription", "fuzz companion (intact)")
        _COMPANION = doc.bytes()
    return _COMPANION


def write_case(case: Case, folder: Path) -> None:
    """Create the case's files (and FIFOs, links, folders) under the empty ``folder``."""
    import os

    for rel, content in case.files.items():
        p = folder / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            p.write_bytes(content)
        elif content[0] == "fifo":
            os.mkfifo(p)
        elif content[0] == "symlink":
            os.symlink(content[1], p)
        elif content[0] == "dir":
            p.mkdir()
