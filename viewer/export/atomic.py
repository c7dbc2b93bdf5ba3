"""Atomic file writes: a temporary file beside the target, renamed into place when complete.

A failed, cancelled or interrupted write leaves no partial file, and an existing file is only
replaced when the caller says so. Errors become :class:`ExportError` with a message that names
the file and says what to do.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from viewer.errors import ExportError

_ADVICE = {
    errno.ENOSPC: "the disk is full; free some space or choose another folder",
    errno.EDQUOT: "the disk quota is exceeded; free some space or choose another folder",
    errno.EACCES: "permission denied; choose a folder you can write to",
    errno.EPERM: "permission denied; choose a folder you can write to",
    errno.EROFS: "the folder is read-only; choose another folder",
    errno.ENOENT: "the folder does not exist; create it or choose another",
}


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# mkstemp creates 0600 files and os.replace keeps the mode: give exports the permissions any
# new file gets (0666 less the umask). Read once: os.umask is process-wide and not atomic.
_FILE_MODE = 0o666 & ~_read_umask()


def explain(path: Path | str, exc: OSError, action: str = "cannot write") -> ExportError:
    """An :class:`ExportError` naming ``path`` with advice for ``exc``'s errno."""
    advice = _ADVICE.get(exc.errno or 0, exc.strerror or str(exc))
    return ExportError(f"{path}: {action}: {advice}")


@contextmanager
def atomic_open(path: Path | str, mode: str = "wb", overwrite: bool = False
                ) -> Iterator[IO]:
    """Open a temporary file beside ``path``; on normal exit it is flushed, synced and renamed
    to ``path``. On any exception (including cancel) the temporary file is removed.

    Raises ExportError if ``path`` exists and ``overwrite`` is False, or on any OS error.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise ExportError(f"{path}: already exists; choose another name or allow overwriting")
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    except OSError as exc:
        raise explain(path, exc) from exc
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, _FILE_MODE)
        with os.fdopen(fd, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        if not overwrite and path.exists():  # appeared while we wrote
            raise ExportError(f"{path}: already exists; choose another name or allow "
                              f"overwriting")
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise explain(path, exc) from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write(path: Path | str, write: Callable[[IO], object], mode: str = "wb",
                 overwrite: bool = False) -> Path:
    """Call ``write(fh)`` on a temporary file and rename it to ``path`` (see atomic_open)."""
    with atomic_open(path, mode, overwrite) as fh:
        write(fh)
    return Path(path)


def free_name(path: Path | str) -> Path:
    """``path`` if free, else ``stem-2.ext``, ``stem-3.ext``… (never overwrites silently)."""
    path = Path(path)
    if not path.exists():
        return path
    n = 2
    while (cand := path.with_name(f"{path.stem}-{n}{path.suffix}")).exists():
        n += 1
    return cand
