"""Reading a DICOM SEG's data set and pixel frames as safely as an image's.

A SEG comes from a study folder or a command line like any image, so it gets the same
defences (see :mod:`viewer.dicom.sizes`, :mod:`viewer.dicom.limits`,
:mod:`viewer.dicom.decode_pool`): only a regular file is opened (a FIFO never blocks the
reader), a file larger than one volume may take is refused before it is read, the declared
frame count and size are checked against the bytes present, and compressed pixel data (JPEG-LS,
JPEG 2000, RLE: native decoders that can abort the process) is decoded in a worker process,
whose death costs this SEG, not the app.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from viewer.dicom import codecs, lazy, limits, sizes
from viewer.errors import DicomReadError


def open_dataset(path: str):
    """The whole data set of the SEG at ``path`` (pixel data included, not decoded).

    Raises
    ------
    DicomReadError
        Not a regular file, too large, unreadable or not DICOM; the message names the file.
    """
    pydicom = lazy.pydicom()
    try:
        size = os.stat(path).st_size
    except FileNotFoundError as exc:
        raise DicomReadError(f"{path}: file not found") from exc
    except OSError as exc:
        raise DicomReadError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    if size > limits.max_volume_bytes():
        raise DicomReadError(f"{path}: {limits.human_bytes(size)} is more than a segmentation "
                             f"may take here ({limits.human_bytes(limits.max_volume_bytes())})")
    try:
        with sizes.open_regular(path) as fh:
            return pydicom.dcmread(fh)
    except DicomReadError:
        raise
    except OSError as exc:
        raise DicomReadError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    except Exception as exc:  # InvalidDicomError and damaged files
        raise DicomReadError(f"{path}: not a readable DICOM file ({type(exc).__name__})"
                             ) from exc


def pixel_frames(path: str, ds) -> np.ndarray:
    """The SEG's stored frames, ``(frames, rows, columns)`` (2-D for a single frame), after
    checking the declared sizes; compressed data is decoded in a worker process.

    Raises
    ------
    DicomReadError
        The sizes lie, the data is too large, or it cannot be decoded (naming the file).
    """
    rows, columns = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    bits = int(ds.get("BitsAllocated", 0) or 0)
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    photometric = str(ds.get("PhotometricInterpretation", "") or "")
    meta = getattr(ds, "file_meta", None)
    ts = str(getattr(meta, "TransferSyntaxUID", "") or codecs.EXPLICIT_VR_LE)
    if "PixelData" not in ds:
        raise DicomReadError(f"{path}: the SEG has no pixel data")
    native = ts in codecs.NATIVE_SYNTAXES and not getattr(ds["PixelData"], "is_undefined_length",
                                                          False)
    sizes.check_sizes(path, rows=rows, columns=columns, samples=samples, bits=bits,
                      frames=frames, photometric=photometric,
                      pixel_length=len(ds.PixelData) if native else None)
    limits.check_volume(path, frames, limits.frame_bytes(rows, columns, samples, bits,
                                                         photometric))
    if native:
        return np.asarray(ds.pixel_array)  # numpy only: no native decoder runs
    from viewer.dicom import decode_pool

    [(_, result)] = list(decode_pool.run_each(_decode_files, [path]))
    if isinstance(result, np.ndarray):
        return result
    if isinstance(result, decode_pool.WorkerCrashed):
        raise DicomReadError(f"{path}: the decoder crashed on this SEG's "
                             f"{codecs.syntax_name(ts)} pixel data; the file is damaged")
    raise DicomReadError(f"{path}: cannot decode the SEG's {codecs.syntax_name(ts)} pixel "
                         f"data ({result})")


def _decode_files(paths: Sequence[str]) -> list:
    """(worker process) Each SEG's pixel array, or a one-line reason (plain str: it always
    pickles back)."""
    pydicom = lazy.pydicom()
    lazy.pydicom_pixels()
    out: list = []
    for path in paths:
        try:
            with sizes.open_regular(path) as fh:
                out.append(np.asarray(pydicom.dcmread(fh).pixel_array))
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # noqa: B036 - decoders raise anything (Rust panics too)
            out.append(f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}")
    return out
