"""Scan a study folder: find files, read their headers in parallel, stream the results.

A scan never stops at a bad file: it records a :class:`SkippedFile` with the reason and goes
on. Results stream as :class:`ScanUpdate` objects (done/total and the file's outcome) so a GUI
can fill its series list while the scan runs; a :class:`threading.Event` cancels it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass

from viewer.dicom.catalog import Catalog, SkippedFile, build_catalog
from viewer.dicom.header import MEDIA_STORAGE_DIRECTORY, InstanceHeader, read_header
from viewer.errors import DicomReadError, StudyNotFoundError

# File names that are never DICOM; skipping them by name spares a read on large folders.
_NEVER_DICOM_SUFFIXES = (".txt", ".md", ".html", ".htm", ".pdf", ".xml", ".json", ".exe",
                         ".inf", ".ini", ".jpg", ".png", ".zip", ".csv", ".nii", ".gz")


@dataclass(frozen=True, slots=True)
class ScanUpdate:
    """One file done: ``header`` when it is usable DICOM, else ``skipped`` says why."""

    done: int
    total: int
    header: InstanceHeader | None = None
    skipped: SkippedFile | None = None


def _dicomdir_files(path: str) -> list[str]:
    """Files referenced by a DICOMDIR, resolved case-insensitively (CDs use upper case)."""
    from viewer.dicom import lazy

    pydicom = lazy.pydicom()

    try:
        ds = pydicom.dcmread(path)
    except Exception:  # a damaged DICOMDIR must not stop the scan; the walk still finds files
        return []
    root = os.path.dirname(path)
    out = []
    for rec in ds.get("DirectoryRecordSequence", []) or []:
        ref = rec.get("ReferencedFileID")
        if not ref:
            continue
        parts = [ref] if isinstance(ref, str) else list(ref)
        resolved = _resolve_case_insensitive(root, parts)
        if resolved:
            out.append(resolved)
    return out


def _resolve_case_insensitive(root: str, parts: list[str]) -> str | None:
    cur = root
    for part in parts:
        candidate = os.path.join(cur, part)
        if os.path.exists(candidate):
            cur = candidate
            continue
        try:
            names = {n.lower(): n for n in os.listdir(cur)}
        except OSError:
            return None
        hit = names.get(part.lower()) or names.get(part.lower().rstrip("."))
        if hit is None:
            return None
        cur = os.path.join(cur, hit)
    return cur


def find_files(root: str) -> tuple[list[str], list[SkippedFile]]:
    """Every regular file under ``root`` (recursively), DICOMDIR-referenced files first.

    Returns the candidate files and those skipped by name (hidden files, known non-DICOM
    suffixes).
    """
    if os.path.isfile(root):
        return [root], []
    files: list[str] = []
    skipped: list[SkippedFile] = []
    seen: set[str] = set()
    dicomdir = None
    stack = [root]
    while stack:
        d = stack.pop()
        try:
            entries = sorted(os.scandir(d), key=lambda e: e.name)
        except OSError as exc:
            skipped.append(SkippedFile(d, f"folder cannot be read ({exc.strerror})"))
            continue
        subdirs = []
        for e in entries:
            if e.name.startswith("."):
                continue
            if e.is_dir(follow_symlinks=False):
                subdirs.append(e.path)
            elif e.is_file():
                if e.name.upper() == "DICOMDIR" and dicomdir is None:
                    dicomdir = e.path
                    continue
                if e.name.lower().endswith(_NEVER_DICOM_SUFFIXES):
                    skipped.append(SkippedFile(e.path, "not DICOM (file type by name)"))
                    continue
                files.append(e.path)
                seen.add(os.path.normcase(e.path))
        stack.extend(reversed(subdirs))
    if dicomdir:
        referenced = [p for p in _dicomdir_files(dicomdir)]
        ref_set = {os.path.normcase(p) for p in referenced}
        rest = [p for p in files if os.path.normcase(p) not in ref_set]
        extra = [p for p in referenced if os.path.normcase(p) not in seen]
        files = [p for p in referenced if os.path.normcase(p) in seen] + extra + rest
    return files, skipped


def _read_one(path: str) -> InstanceHeader | SkippedFile:
    try:
        h = read_header(path)
    except DicomReadError as exc:
        return SkippedFile(path, str(exc).removeprefix(f"{path}: "))
    except Exception as exc:  # worker boundary: one unreadable file never stops the scan
        return SkippedFile(path, f"unreadable ({type(exc).__name__}); report this file to us")
    if h.sop_class_uid == MEDIA_STORAGE_DIRECTORY:
        return SkippedFile(path, "DICOMDIR index (its files are scanned directly)")
    return h


def iter_scan(
    root: str | os.PathLike,
    cancel: threading.Event | None = None,
    workers: int | None = None,
) -> Iterator[ScanUpdate]:
    """Yield one :class:`ScanUpdate` per file under ``root`` as headers are read.

    Header reads run on a thread pool: file opens and reads release the GIL, which is what
    matters on slow media (CD, USB, network shares). Stops early when ``cancel`` is set.

    Raises
    ------
    StudyNotFoundError
        ``root`` does not exist.
    """
    root = os.fspath(root)
    if not os.path.exists(root):
        raise StudyNotFoundError(f"{root}: no such file or folder")
    files, skipped = find_files(root)
    total = len(files) + len(skipped)
    done = 0
    for s in skipped:
        done += 1
        yield ScanUpdate(done, total, skipped=s)
    if not files:
        return
    workers = workers or min(8, (os.cpu_count() or 2) * 2)
    # Submit in bounded batches so cancel takes effect quickly and memory stays flat.
    it = iter(files)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="scan") as pool:
        pending = set()
        for path in it:
            pending.add(pool.submit(_read_one, path))
            if len(pending) >= workers * 8:
                break
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished:
                result = fut.result()
                done += 1
                if isinstance(result, SkippedFile):
                    yield ScanUpdate(done, total, skipped=result)
                else:
                    yield ScanUpdate(done, total, header=result)
            if cancel is not None and cancel.is_set():
                for fut in pending:
                    fut.cancel()
                return
            for path in it:
                pending.add(pool.submit(_read_one, path))
                if len(pending) >= workers * 8:
                    break


def scan_folder(
    root: str | os.PathLike,
    progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
    workers: int | None = None,
) -> Catalog:
    """Scan ``root`` and build its :class:`Catalog` (see :func:`iter_scan`).

    ``progress(done, total)`` is called after each file. A cancelled scan returns the catalog
    of what was read so far with ``cancelled=True``.
    """
    headers: list[InstanceHeader] = []
    skipped: list[SkippedFile] = []
    for upd in iter_scan(root, cancel=cancel, workers=workers):
        if upd.header is not None:
            headers.append(upd.header)
        elif upd.skipped is not None:
            skipped.append(upd.skipped)
        if progress is not None:
            progress(upd.done, upd.total)
    cancelled = bool(cancel is not None and cancel.is_set())
    return build_catalog(headers, skipped, root=os.fspath(root), cancelled=cancelled)
