"""Which decoder handles which transfer syntax, and what to install when none can.

Decoders are chosen per syntax by speed measured on CT series (see tests/benchmarks):
CharLS (pyjpegls) decodes JPEG-LS several times faster than libjpeg; pylibjpeg-rle is an
order of magnitude faster than pydicom's pure-Python RLE; openjpeg handles JPEG 2000 and
libjpeg the JPEG processes. GDCM is the fallback where a plugin falls short.
"""

from __future__ import annotations

from dataclasses import dataclass

import pydicom.uid as uid

NATIVE_SYNTAXES = frozenset(
    (uid.ImplicitVRLittleEndian, uid.ExplicitVRLittleEndian, uid.ExplicitVRBigEndian,
     uid.DeflatedExplicitVRLittleEndian)
)


@dataclass(frozen=True, slots=True)
class CodecChoice:
    """Decoding plugin names for pydicom, in order of preference, and the packages behind them."""

    plugins: tuple[str, ...]
    packages: tuple[str, ...]


_JPEG = CodecChoice(("pylibjpeg", "gdcm"), ("pylibjpeg-libjpeg", "python-gdcm"))
_JPEG_LOSSY = CodecChoice(("pylibjpeg", "gdcm", "pillow"), ("pylibjpeg-libjpeg", "python-gdcm"))
_JPEGLS = CodecChoice(("pyjpegls", "gdcm", "pylibjpeg"), ("pyjpegls", "python-gdcm"))
_J2K = CodecChoice(("pylibjpeg", "gdcm", "pillow"), ("pylibjpeg-openjpeg", "python-gdcm"))
_HTJ2K = CodecChoice(("pylibjpeg",), ("pylibjpeg-openjpeg",))
_RLE = CodecChoice(("pylibjpeg", "pydicom"), ("pylibjpeg-rle",))

CHOICES: dict[str, CodecChoice] = {
    uid.JPEGBaseline8Bit: _JPEG_LOSSY,
    uid.JPEGExtended12Bit: _JPEG_LOSSY,
    uid.JPEGLossless: _JPEG,
    uid.JPEGLosslessSV1: _JPEG,
    uid.JPEGLSLossless: _JPEGLS,
    uid.JPEGLSNearLossless: _JPEGLS,
    uid.JPEG2000Lossless: _J2K,
    uid.JPEG2000: _J2K,
    uid.HTJ2KLossless: _HTJ2K,
    uid.HTJ2KLosslessRPCL: _HTJ2K,
    uid.HTJ2K: _HTJ2K,
    uid.RLELossless: _RLE,
}


def syntax_name(ts: str) -> str:
    """Human-readable name of a transfer syntax UID (the UID itself when unknown)."""
    name = uid.UID(ts).name
    return name if name and name != ts else f"transfer syntax {ts}"


def available_plugins(ts: str) -> list[str]:
    """Decoding plugins usable for ``ts`` here, best first; empty when none is installed."""
    choice = CHOICES.get(ts)
    if choice is None:
        return []
    from pydicom.pixels import get_decoder

    try:
        decoder = get_decoder(ts)
    except NotImplementedError:
        return []
    have = set(decoder.available_plugins)
    return [p for p in choice.plugins if p in have]


def missing_packages(ts: str) -> list[str]:
    """Packages that would decode ``ts`` (for the error message when none is installed)."""
    choice = CHOICES.get(ts)
    return list(choice.packages) if choice else ["python-gdcm"]
