"""Diffusion b-value (s/mm²) and gradient direction of one classic (single-frame) MR image.

The standard attributes come first: Diffusion b-value (0018,9087) and Diffusion Gradient
Orientation (0018,9089). Where they are absent, the private tags dcm2niix reads, by
Manufacturer (0008,0070):

- GE: b-value = first value of (0043,1039), less the 1e9 offsets GE adds to flag the scheme;
  direction = (0019,10BB), (0019,10BC), (0019,10BD).
- Siemens: b-value (0019,100C), direction (0019,100E) (B_value, DiffusionGradientDirection).
- Philips: b-value (2001,1003), direction (2005,10B0), (2005,10B1), (2005,10B2) (RL, AP, FH).

Directions are the vendor's numbers, in the vendor's frame (patient LPS for the standard tag and
Siemens; GE and Philips as stored); they label a volume, they are not resampled.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping

_GE_OFFSET = 1_000_000_000


def _numbers(v: object, binary: str = "") -> list[float]:
    """Numbers of a value: a number, a list, DS/IS text, or raw bytes (``binary`` = 'd'/'f')."""
    if v is None:
        return []
    if isinstance(v, (bytes, bytearray)):
        size = struct.calcsize(binary) if binary else 0
        if size and len(v) % size == 0 and len(v) >= size:
            return [float(x) for x in struct.unpack(f"<{len(v) // size}{binary}", bytes(v))]
        v = bytes(v).decode("latin-1", "replace").strip("\x00 ")
    if isinstance(v, str):
        out = []
        for p in v.split("\\"):
            try:
                out.append(float(p))
            except ValueError:
                continue
        return out
    if isinstance(v, (list, tuple)) or hasattr(v, "__iter__"):
        out = []
        for x in v:  # type: ignore[union-attr]
            out.extend(_numbers(x, binary))
        return out
    try:
        return [float(v)]  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return []


def _direction(values: list[list[float]]) -> tuple[float, float, float] | None:
    flat = [x[0] for x in values if x] if len(values) == 3 else (values[0] if values else [])
    if len(flat) != 3:
        return None
    return (float(flat[0]), float(flat[1]), float(flat[2]))


def read(v: Mapping[str, object]) -> tuple[float | None, tuple[float, float, float] | None]:
    """(b-value, direction) from header values keyed as in :data:`tagparse.WANTED`.

    Either is None when the image carries no such value (or an unreadable one: a label is
    never worth losing the file over).
    """
    try:
        return _read(v)
    except (TypeError, ValueError, OverflowError, struct.error):
        return None, None


def _read(v: Mapping[str, object]) -> tuple[float | None, tuple[float, float, float] | None]:
    maker = str(v.get("Manufacturer") or "").upper()
    std_b = _numbers(v.get("DiffusionBValue"), "d")
    std_dir = _direction([_numbers(v.get("DiffusionGradientOrientation"), "d")])
    b: float | None = std_b[0] if std_b else None
    direction = std_dir
    if "GE" in maker.split() or maker.startswith("GE"):
        ge = _numbers(v.get("GESlopInt6to9"))
        if ge:
            # dcm2niix: GE adds multiples of 1e9 to flag how the b-value was computed.
            b = ge[0] % _GE_OFFSET if ge[0] >= _GE_OFFSET else ge[0]
        if direction is None:
            direction = _direction([_numbers(v.get(k)) for k in
                                    ("GEDiffusionX", "GEDiffusionY", "GEDiffusionZ")])
    elif "SIEMENS" in maker:
        if b is None:
            sb = _numbers(v.get("SiemensBValue"))
            b = sb[0] if sb else None
        if direction is None:
            direction = _direction([_numbers(v.get("SiemensDiffusionGradientDirection"), "d")])
    elif "PHILIPS" in maker:
        if b is None:
            pb = _numbers(v.get("PhilipsDiffusionBFactor"), "f")
            b = pb[0] if pb else None
        if direction is None:
            direction = _direction([
                _numbers(v.get(k), "f") for k in ("PhilipsDiffusionDirectionRL",
                                                  "PhilipsDiffusionDirectionAP",
                                                  "PhilipsDiffusionDirectionFH")])
    if b is not None and not (b == b and 0 <= b < 1e6):  # NaN or absurd: absent
        b = None
    if direction is not None and not all(abs(x) <= 1.5 for x in direction):
        direction = None
    return b, direction
