"""Which decoder handles which transfer syntax, and what to install when none can.

Decoders are chosen per syntax by speed measured on CT series (see tests/benchmarks):
CharLS (pyjpegls) decodes JPEG-LS several times faster than libjpeg; pylibjpeg-rle is an
order of magnitude faster than pydicom's pure-Python RLE; openjpeg handles JPEG 2000 and
libjpeg the JPEG processes. GDCM is the fallback where a plugin falls short.
"""

from __future__ import annotations

from dataclasses import dataclass

# Transfer Syntax UIDs as plain strings: importing pydicom costs ~0.13 s and ~40 MB, which
# the scan path must not pay (pydicom is imported only where a decoder is needed).
IMPLICIT_VR_LE = "1.2.840.10008.1.2"
EXPLICIT_VR_LE = "1.2.840.10008.1.2.1"
DEFLATED_EXPLICIT_VR_LE = "1.2.840.10008.1.2.1.99"
EXPLICIT_VR_BE = "1.2.840.10008.1.2.2"
NATIVE_SYNTAXES = frozenset(
    (IMPLICIT_VR_LE, EXPLICIT_VR_LE, EXPLICIT_VR_BE, DEFLATED_EXPLICIT_VR_LE)
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
    "1.2.840.10008.1.2.4.50": _JPEG_LOSSY,  # JPEG Baseline (Process 1)
    "1.2.840.10008.1.2.4.51": _JPEG_LOSSY,  # JPEG Extended (Process 2 and 4)
    "1.2.840.10008.1.2.4.57": _JPEG,  # JPEG Lossless, Non-Hierarchical (Process 14)
    "1.2.840.10008.1.2.4.70": _JPEG,  # JPEG Lossless, first-order prediction
    "1.2.840.10008.1.2.4.80": _JPEGLS,  # JPEG-LS Lossless
    "1.2.840.10008.1.2.4.81": _JPEGLS,  # JPEG-LS Near-Lossless
    "1.2.840.10008.1.2.4.90": _J2K,  # JPEG 2000 Lossless Only
    "1.2.840.10008.1.2.4.91": _J2K,  # JPEG 2000
    "1.2.840.10008.1.2.4.201": _HTJ2K,  # HTJ2K Lossless
    "1.2.840.10008.1.2.4.202": _HTJ2K,  # HTJ2K Lossless RPCL
    "1.2.840.10008.1.2.4.203": _HTJ2K,  # HTJ2K
    "1.2.840.10008.1.2.5": _RLE,  # RLE Lossless
}


def syntax_name(ts: str) -> str:
    """Human-readable name of a transfer syntax UID (the UID itself when unknown)."""
    from viewer.dicom import lazy

    name = lazy.load("pydicom.uid").UID(ts).name
    return name if name and name != ts else f"transfer syntax {ts}"


def available_plugins(ts: str) -> list[str]:
    """Decoding plugins usable for ``ts`` here, best first; empty when none is installed."""
    choice = CHOICES.get(ts)
    if choice is None:
        return []
    from viewer.dicom import lazy

    get_decoder = lazy.pydicom_pixels().get_decoder

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
