"""Memory limits for one image and one volume, checked before anything is allocated.

A header can claim any size: Rows x Columns up to 65535 x 65535 and a billion frames in a file of
a few kilobytes. Sizes are checked against the bytes present where that is possible (native
pixel data, fragment counts) and against these limits where it is not (compressed frames):

- one frame (decoded, in its stored type, colour as 3 samples) may take at most
  :data:`MAX_FRAME_BYTES` (1 GiB), and one file may hold at most :data:`MAX_FRAMES` frames
  (each costs bookkeeping however small it is);
- one stack's volume may take at most :func:`max_volume_bytes`: half the physical memory by
  default, or ``RADVIEWER_MAX_VOLUME_MB`` (mebibytes) when set.

Beyond either, the image is refused with a message that names the file and the limit.
"""

from __future__ import annotations

import os

from viewer.errors import DicomReadError

MAX_FRAME_BYTES = 1 << 30
MAX_FRAMES = 1_000_000
_DEFAULT_VOLUME_BYTES = 4 << 30  # where the physical memory cannot be read
_ENV_VOLUME_MB = "RADVIEWER_MAX_VOLUME_MB"

_MIB = 1 << 20
_GIB = 1 << 30


def human_bytes(n: int) -> str:
    """``n`` bytes as "1.5 GiB", "12 MiB" or "800 bytes" (binary units)."""
    if n >= 1024 * _GIB:
        return f"{n / (1024 * _GIB):.1f} TiB"
    if n >= _GIB:
        return f"{n / _GIB:.1f} GiB"
    if n >= _MIB:
        return f"{n / _MIB:.0f} MiB"
    return f"{n} bytes"


def frame_bytes(
    rows: int, columns: int, samples_per_pixel: int, bits_allocated: int, photometric: str = ""
) -> int:
    """Bytes one decoded frame takes in memory (colour and palette images as 3 samples)."""
    colour = samples_per_pixel > 1 or photometric == "PALETTE COLOR"
    samples = 3 if colour else 1
    if colour:
        item = 1 if bits_allocated <= 8 else 2
    else:
        item = 1 if bits_allocated <= 8 else 2 if bits_allocated <= 16 else 4
    return max(rows, 0) * max(columns, 0) * samples * item


def max_volume_bytes() -> int:
    """The most one stack's volume may take: ``RADVIEWER_MAX_VOLUME_MB`` or half the RAM."""
    env = os.environ.get(_ENV_VOLUME_MB, "").strip()
    if env:
        try:
            mb = float(env)
        except ValueError:
            mb = 0.0
        if mb > 0:
            return int(mb * _MIB)
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2
    except (AttributeError, OSError, ValueError):
        return _DEFAULT_VOLUME_BYTES


def check_frame(path: str, rows: int, columns: int, nbytes: int) -> None:
    """Refuse a frame over :data:`MAX_FRAME_BYTES`.

    Raises
    ------
    DicomReadError
        Naming the file, the claimed size and the limit.
    """
    if nbytes > MAX_FRAME_BYTES:
        raise DicomReadError(
            f"{path}: header says one image is {columns}x{rows} pixels "
            f"({human_bytes(nbytes)} in memory), more than the {human_bytes(MAX_FRAME_BYTES)} "
            "limit per image; the header is probably damaged"
        )


def check_frame_count(path: str, frames: int) -> None:
    """Refuse a file that claims more than :data:`MAX_FRAMES` frames.

    Raises
    ------
    DicomReadError
        Naming the file, the claimed count and the limit.
    """
    if frames > MAX_FRAMES:
        raise DicomReadError(
            f"{path}: header says the file holds {frames} images, more than the limit of "
            f"{MAX_FRAMES} per file; the header is probably damaged"
        )


def check_volume(path: str, n_frames: int, nbytes_per_frame: int) -> None:
    """Refuse a volume of ``n_frames`` frames over :func:`max_volume_bytes`.

    ``path`` is the stack's first file, named in the message.

    Raises
    ------
    DicomReadError
        Naming the file, the size needed, the limit and how to raise it.
    """
    need = n_frames * nbytes_per_frame
    limit = max_volume_bytes()
    if need > limit:
        raise DicomReadError(
            f"{path}: this series needs {human_bytes(need)} in memory ({n_frames} images), "
            f"more than the {human_bytes(limit)} limit; set {_ENV_VOLUME_MB} to raise it"
        )
