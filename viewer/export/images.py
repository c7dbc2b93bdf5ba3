"""PNG/JPEG files of rendered views: one image, or a slice range as numbered files.

File names carry no patient data: modality, series index and number, and slice number only.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from viewer.errors import DicomReadError, ExportError, OperationCancelled
from viewer.export import png
from viewer.export.atomic import atomic_open, explain

FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}
JPEG_QUALITY = 92


def image_format(path: Path | str) -> str:
    """"PNG" or "JPEG" from the file name; ExportError for anything else."""
    fmt = FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise ExportError(f"{path}: choose a .png or .jpg file name")
    return fmt


def png_info(text: dict[str, str] | None):
    """Pillow PngInfo holding ``text`` as tEXt chunks (Latin-1, as tEXt requires: dashes
    become "-", other characters "?"), or None when there is nothing to write."""
    if not text:
        return None
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    for key, value in text.items():
        value = str(value).replace("\u2014", "-").replace("\u2013", "-")
        info.add_text(key[:79], value.encode("latin-1", "replace").decode("latin-1"))
    return info


def encode(rgb: np.ndarray, fh, fmt: str, text: dict[str, str] | None = None) -> None:
    """Encode ``rgb``; ``text`` (e.g. an AI result's provenance) goes into PNG tEXt chunks.
    PNG through viewer/export/png.py (5-10x faster than Pillow's encoder), JPEG through Pillow."""
    if fmt == "PNG":
        png.write_png(rgb, fh, text)
        return
    from PIL import Image

    Image.fromarray(rgb).save(fh, "JPEG", quality=JPEG_QUALITY, subsampling=0)


def save_image(rgb: np.ndarray, path: Path | str, overwrite: bool = False,
               text: dict[str, str] | None = None) -> Path:
    """Write ``rgb`` ((rows, columns, 3) uint8) as PNG or JPEG (by suffix), atomically;
    ``text``: PNG tEXt chunks (the provenance of a model result shown in it)."""
    fmt = image_format(path)
    with atomic_open(path, "wb", overwrite) as fh:
        encode(rgb, fh, fmt, **({"text": text} if text else {}))
    return Path(path)


def default_name(modality: str, series_number: int | None, slice_number: int,
                 suffix: str = ".png", series_index: int | None = None) -> str:
    """``CT_s3_0139.png``, or ``CT_i2_s3_0139.png`` with the series' index (the ``[2]`` that
    ``radviewer info`` prints and ``--series`` takes): several stacks may share one Series
    Number (0020,0011). No names, IDs or descriptions (those may identify the patient)."""
    mod = "".join(c for c in (modality or "IMG") if c.isalnum()) or "IMG"
    series = f"s{series_number}" if series_number is not None else "s0"
    if series_index is not None:
        series = f"i{series_index}_{series}"
    return f"{mod}_{series}_{slice_number:04d}{suffix}"


def export_series(render_slice: Callable[[int], np.ndarray], indices: Sequence[int],
                  folder: Path | str, name_of: Callable[[int], str], *,
                  overwrite: bool = False,
                  progress: Callable[[int, int], None] | None = None,
                  cancel: threading.Event | None = None,
                  skipped: list[tuple[int, str]] | None = None,
                  text: dict[str, str] | None = None) -> list[Path]:
    """Render and write ``indices`` (0-based slices) into ``folder`` as numbered images.

    All files are written into a hidden temporary folder inside ``folder`` and moved into
    place only when every slice is done, so a failure, a cancel or Ctrl+C leaves nothing
    behind. Existing files of the same names are an ExportError before anything is rendered,
    unless ``overwrite``. Raises OperationCancelled when ``cancel`` is set. A slice that
    cannot be read (DicomReadError) fails the export, unless ``skipped`` is a list: then the
    slice is left out and ``(index, reason)`` appended to it. ``text``: PNG tEXt chunks for
    every file (the provenance of a model result drawn in them).
    """
    folder = Path(folder)
    created = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise explain(folder, exc, "cannot create the folder") from exc
    try:
        written = _write_series(render_slice, indices, folder, name_of, overwrite, progress,
                                cancel, skipped, text)
        if created and not written:  # every slice skipped
            folder.rmdir()
        return written
    except BaseException:
        if created:  # a folder this export made is gone again: nothing is left behind
            shutil.rmtree(folder, ignore_errors=True)
        raise


def _write_series(render_slice, indices, folder: Path, name_of, overwrite, progress, cancel,
                  skipped, text=None) -> list[Path]:
    names = [name_of(k) for k in indices]
    fmt = image_format(names[0]) if names else "PNG"
    clash = [n for n in names if (folder / n).exists()]
    if clash and not overwrite:
        raise ExportError(f"{folder / clash[0]}: already exists ({len(clash)} of the "
                          f"{len(names)} files); choose another folder or allow overwriting")
    try:
        tmp = Path(tempfile.mkdtemp(dir=folder, prefix=".radviewer-export-"))
    except OSError as exc:
        raise explain(folder, exc) from exc

    def write_one(k: int, name: str) -> str | None:
        """None when written, else why slice ``k`` was left out."""
        try:
            rgb = render_slice(k)
        except DicomReadError as exc:
            if skipped is None:
                raise
            return str(exc)
        try:
            with open(tmp / name, "wb") as fh:
                encode(rgb, fh, fmt, **({"text": text} if text else {}))
        except OSError as exc:
            raise explain(folder / name, exc) from exc
        return None

    # numpy's blending and Pillow's zlib release the GIL: a few threads use the cores.
    workers = max(1, min(4, os.cpu_count() or 1))
    try:
        with ThreadPoolExecutor(workers, thread_name_prefix="export") as pool:
            pending: deque = deque()
            done = 0
            left_out: set[str] = set()
            todo = iter(zip(indices, names, strict=True))
            while True:
                while len(pending) < 2 * workers:
                    nxt = next(todo, None)
                    if nxt is None:
                        break
                    pending.append((*nxt, pool.submit(write_one, *nxt)))
                if not pending:
                    break
                k, name, fut = pending.popleft()
                try:
                    why = fut.result()
                except BaseException:
                    for *_, f in pending:
                        f.cancel()
                    raise
                if why is not None and skipped is not None:
                    skipped.append((k, why))
                    left_out.add(name)
                done += 1
                if progress is not None:
                    progress(done, len(names))
                if cancel is not None and cancel.is_set():
                    for *_, f in pending:
                        f.cancel()
                    raise OperationCancelled("export cancelled; no file was written")
        out = []
        for name in names:
            if name in left_out:
                continue
            os.replace(tmp / name, folder / name)
            out.append(folder / name)
        return out
    except OSError as exc:
        raise explain(folder, exc) from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
