"""A small reader of Siemens CSA headers (private (0029,1010) Image / (0029,1020) Series Info).

The CSA header is a little-endian binary block, in one of two layouts (as read by nibabel's
``nicom/csareader.py`` and dcm2niix's ``nii_dicom.cpp``):

- CSA2 ("SV10" + 4 bytes): then ``uint32 n_tags, uint32 (77)``; per tag: ``char name[64],
  int32 vm, char vr[4], int32 syngodt, int32 n_items, int32 (77 or 205)``; per item:
  ``int32 x[4]`` whose ``x[1]`` is the value length, then the value (text, NUL-padded),
  padded to a multiple of 4 bytes.
- CSA1 (no signature): the same, but an item's length is ``x[0] - n_items of tag 1``.

Only the values are returned (text, numbers); a damaged header gives an empty or partial result
and never raises, since the CSA header only refines what the public attributes say.
"""

from __future__ import annotations

import struct

_MAX_TAGS = 1000  # real headers hold ~100 tags; a larger count means damage
_MAX_ITEMS = 1000
_TAG = struct.Struct("<64si4s3i")
_ITEM = struct.Struct("<4i")
_COUNT = struct.Struct("<2I")
_INTEGER_VRS = frozenset(("IS", "SL", "SS", "UL", "US"))
_FLOAT_VRS = frozenset(("DS", "FD", "FL"))


def _text(raw: bytes) -> str:
    return raw.split(b"\x00", 1)[0].decode("latin-1").strip()


def _convert(text: str, vr: str) -> object:
    if vr in _INTEGER_VRS:
        return int(float(text))
    if vr in _FLOAT_VRS:
        return float(text)
    return text


def parse(data: bytes) -> dict[str, list]:
    """Tag name -> list of values (numbers for numeric VRs, else text) of a CSA header.

    Empty items are dropped, so a tag without a value maps to ``[]``. Returns what could be
    read before any damage (an empty dict for something that is not a CSA header).
    """
    out: dict[str, list] = {}
    data = bytes(data or b"")
    csa2 = data[:4] == b"SV10"
    pos = 8 if csa2 else 0
    try:
        n_tags, _check = _COUNT.unpack_from(data, pos)
    except struct.error:
        return out
    if not 0 < n_tags <= _MAX_TAGS:
        return out
    pos += _COUNT.size
    tag1_items = 0
    try:
        for tag_no in range(n_tags):
            name_b, vm, vr_b, _syngodt, n_items, _last = _TAG.unpack_from(data, pos)
            pos += _TAG.size
            if not 0 <= n_items <= _MAX_ITEMS:
                return out
            name, vr = _text(name_b), _text(vr_b)
            if tag_no == 1:
                tag1_items = n_items  # CSA1 lengths are offset by it (nibabel does the same)
            values: list = []
            for _ in range(n_items):
                x0, x1, _x2, _x3 = _ITEM.unpack_from(data, pos)
                pos += _ITEM.size
                length = x1 if csa2 else x0 - tag1_items
                if length < 0 or pos + length > len(data):
                    return out  # damaged: keep the tags read so far
                text = _text(data[pos:pos + length])
                pos += length + (-length % 4)
                if text:
                    try:
                        values.append(_convert(text, vr))
                    except ValueError:
                        values.append(text)
            out[name] = values[:vm] if vm > 0 else values
    except struct.error:
        return out
    return out
