#!/usr/bin/env python
"""Build the bundled sample study by re-encoding a DICOM folder losslessly.

Usage::

    python scripts/make_sample.py [SRC] [DST] [--syntax {jpegls,rle,j2k}]

SRC defaults to ``../shared/data/mr-brain`` and DST to ``resources/sample``,
both relative to the repository root.  Every DICOM file in SRC (non-DICOM
files such as README.md are skipped) is written to DST under the same file
name, with its pixel data re-encoded losslessly and every other attribute
kept (SOP Instance UID included).  Where the compressed file would not be
smaller than the source file, the source bytes are copied unchanged.

Afterwards every written file is read back and its decoded pixel array is
compared with the source's (``numpy.array_equal`` and same dtype), and its
non-pixel attributes are compared too; any mismatch makes the script exit
with status 1.  The output is deterministic: running it twice gives the same
bytes.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np
import pydicom
from pydicom.uid import JPEG2000Lossless, JPEGLSLossless, RLELossless

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SRC = REPO_ROOT / ".." / "shared" / "data" / "mr-brain"
DEFAULT_DST = REPO_ROOT / "resources" / "sample"

# name -> (transfer syntax, encoding plugin)
SYNTAXES = {
    "jpegls": (JPEGLSLossless, "pyjpegls"),
    "rle": (RLELossless, "pylibjpeg"),
    "j2k": (JPEG2000Lossless, "pylibjpeg"),
}
DEFAULT_SYNTAX = "jpegls"

# File meta elements that legitimately change when the pixel data is re-encoded.
_META_CHANGES = {
    0x00020000,  # File Meta Information Group Length
    0x00020010,  # Transfer Syntax UID
}


def dicom_files(src: Path) -> list[Path]:
    return [
        p for p in sorted(src.iterdir())
        if p.is_file() and pydicom.misc.is_dicom(p)
    ]


def encode(ds: pydicom.Dataset, syntax: str) -> bytes:
    """Re-encode *ds* in place with *syntax* and return the file bytes."""
    uid, plugin = SYNTAXES[syntax]
    ds.compress(uid, encoding_plugin=plugin, generate_instance_uid=False)
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def non_pixel_elements(ds: pydicom.Dataset) -> dict:
    out = {}
    for elem in ds.file_meta:
        if elem.tag not in _META_CHANGES:
            out[elem.tag] = elem.value
    for elem in ds:
        if elem.tag != 0x7FE00010:
            out[elem.tag] = elem.value
    return out


def verify(src_path: Path, dst_path: Path) -> str | None:
    """Return None if *dst_path* matches *src_path*, else a reason."""
    a = pydicom.dcmread(src_path)
    b = pydicom.dcmread(dst_path)
    pa, pb = a.pixel_array, b.pixel_array
    if pa.dtype != pb.dtype:
        return f"dtype {pb.dtype} != {pa.dtype}"
    if not np.array_equal(pa, pb):
        return "pixel values differ"
    if non_pixel_elements(a) != non_pixel_elements(b):
        return "non-pixel attributes differ"
    return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("src", nargs="?", type=Path, default=DEFAULT_SRC)
    ap.add_argument("dst", nargs="?", type=Path, default=DEFAULT_DST)
    ap.add_argument("--syntax", choices=sorted(SYNTAXES), default=DEFAULT_SYNTAX,
                    help=f"lossless transfer syntax (default: {DEFAULT_SYNTAX})")
    args = ap.parse_args(argv)

    src: Path = args.src
    dst: Path = args.dst
    if not src.is_dir():
        print(f"error: source folder {src} not found", file=sys.stderr)
        return 2
    files = dicom_files(src)
    if not files:
        print(f"error: no DICOM files in {src}", file=sys.stderr)
        return 2
    dst.mkdir(parents=True, exist_ok=True)

    size_in = size_out = kept = 0
    for path in files:
        original = path.read_bytes()
        ds = pydicom.dcmread(io.BytesIO(original))
        data = original
        if "PixelData" in ds and not ds.file_meta.TransferSyntaxUID.is_compressed:
            try:
                encoded = encode(ds, args.syntax)
            except Exception as exc:  # encoder refused: keep the source encoding
                print(f"{path.name}: not re-encoded ({exc})", file=sys.stderr)
            else:
                if len(encoded) < len(original):
                    data = encoded
        if data is original:
            kept += 1
        (dst / path.name).write_bytes(data)
        size_in += len(original)
        size_out += len(data)

    failures = 0
    for path in files:
        reason = verify(path, dst / path.name)
        if reason:
            failures += 1
            print(f"{path.name}: MISMATCH: {reason}", file=sys.stderr)

    uid = SYNTAXES[args.syntax][0]
    print(
        f"{len(files)} files, {uid.name}: {size_in} -> {size_out} bytes "
        f"({size_out / size_in:.1%}); {kept} kept in source encoding"
    )
    if failures:
        print(f"error: {failures} file(s) failed verification", file=sys.stderr)
        return 1
    print("verified: all pixel arrays and attributes identical")
    return 0


if __name__ == "__main__":
    sys.exit(main())
