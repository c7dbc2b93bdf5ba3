"""Reading model folders that may come from anywhere: regular files only, bounded sizes, every
path kept inside its model folder, and weight checksums remembered between runs.

A model folder is untrusted input (a download, a colleague's USB stick), so:

- only regular files are opened: a FIFO would block the open forever, a device such as
  ``/dev/zero`` would read until memory runs out. The file is ``os.stat``-ed first and opened
  only when ``S_ISREG``; the open is non-blocking and ``fstat``-ed again, so a file swapped for
  a FIFO in between cannot hang it either;
- a manifest is at most :data:`MANIFEST_MAX_BYTES` (1 MiB; the bundled ones are under 6 KiB);
- a path a manifest names is relative, has no ``..`` and, symlinks resolved, stays inside the
  folder (:func:`confined`);
- the SHA-256 of a weights file is computed in 1 MiB chunks and remembered by (path, size,
  mtime_ns) in ``$XDG_CACHE_HOME/radviewer/weights-sha256.json`` (default ``~/.cache``), so a
  20 GB file is hashed once, not at every start. The checksum guards against damaged or
  replaced files; whoever can rewrite a file and reset its mtime could edit the manifest too.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
import tempfile
import threading
from pathlib import Path, PurePosixPath, PureWindowsPath

from viewer.errors import ModelError

log = logging.getLogger(__name__)

MANIFEST_MAX_BYTES = 1 << 20  # 1 MiB
CACHE_NAME = "weights-sha256.json"
_CACHE_MAX_BYTES = 8 << 20  # ~40,000 entries; a larger file is ignored and rewritten
_CHUNK = 1 << 20
_KINDS = {stat.S_IFIFO: "a FIFO (named pipe)", stat.S_IFCHR: "a character device",
          stat.S_IFBLK: "a block device", stat.S_IFSOCK: "a socket",
          stat.S_IFDIR: "a folder"}


def _kind(mode: int) -> str:
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")


def _open_regular(path: Path, what: str) -> tuple[int, os.stat_result]:
    """Open ``path`` read-only when it is a regular file; (fd, stat). Raises ModelError."""
    try:
        st = os.stat(path)
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path}: cannot read the {what} "
                         f"({getattr(exc, 'strerror', None) or exc})") from exc
    if not stat.S_ISREG(st.st_mode):
        raise ModelError(f"{path}: the {what} is {_kind(st.st_mode)}, not a file; "
                         f"replace it with a regular file")
    try:
        # O_NONBLOCK: should the path have become a FIFO since the stat, open returns at once.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise ModelError(f"{path}: cannot read the {what} ({exc.strerror}); "
                         f"check its permissions") from exc
    st2 = os.fstat(fd)
    if not stat.S_ISREG(st2.st_mode):
        os.close(fd)
        raise ModelError(f"{path}: the {what} is {_kind(st2.st_mode)}, not a file; "
                         f"replace it with a regular file")
    return fd, st2


def read_regular(path: Path, limit: int, what: str = "file") -> bytes:
    """The bytes of ``path``, a regular file of at most ``limit`` bytes (else ModelError)."""
    fd, st = _open_regular(path, what)
    try:
        if st.st_size > limit:
            raise ModelError(f"{path}: the {what} is {st.st_size:,} bytes; radviewer reads at "
                             f"most {limit:,}")
        chunks, n = [], 0
        while n <= limit:  # the file may grow after the stat: never read past the limit
            block = os.read(fd, min(_CHUNK, limit + 1 - n))
            if not block:
                break
            chunks.append(block)
            n += len(block)
    except OSError as exc:
        raise ModelError(f"{path}: cannot read the {what} ({exc.strerror})") from exc
    finally:
        os.close(fd)
    if n > limit:
        raise ModelError(f"{path}: the {what} is over {limit:,} bytes; radviewer reads no more")
    return b"".join(chunks)


def check_readable(path: Path, what: str = "weights file") -> os.stat_result:
    """Stat of ``path`` after checking it is a regular file that can be opened for reading."""
    fd, st = _open_regular(path, what)
    try:
        os.read(fd, 1)  # a file that opens but cannot be read (EIO, some FUSE mounts) fails here
    except OSError as exc:
        raise ModelError(f"{path}: cannot read the {what} ({exc.strerror})") from exc
    finally:
        os.close(fd)
    return st


def check_relative(rel: object, field: str, where: str) -> str:
    """``rel`` if it is a relative path without ``..`` (lexical check, in the manifest parser)."""
    if not isinstance(rel, str) or not rel.strip():
        raise ModelError(f"{where}: {field} should be a file name relative to the model folder")
    if "\0" in rel:
        raise ModelError(f"{where}: {field} contains a NUL character")
    posix, win = PurePosixPath(rel), PureWindowsPath(rel)
    if posix.is_absolute() or win.is_absolute() or win.drive or rel.startswith(("/", "\\")):
        raise ModelError(f"{where}: {field} {rel!r} is an absolute path; give a path relative "
                         f"to the model folder")
    if ".." in posix.parts or ".." in win.parts:
        raise ModelError(f"{where}: {field} {rel!r} leaves the model folder ('..'); keep the "
                         f"file inside it")
    return rel


def confined(folder: Path, rel: str, field: str, where: str) -> Path:
    """``folder / rel`` with symlinks resolved, refused (ModelError) when it lies outside the
    (resolved) ``folder``."""
    check_relative(rel, field, where)
    try:
        root = Path(folder).resolve()
        path = (root / rel).resolve()
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop (Python < 3.13)
        raise ModelError(f"{where}: {field} {rel!r} cannot be resolved ({exc})") from exc
    if not path.is_relative_to(root):
        raise ModelError(f"{where}: {field} {rel!r} is a link to {path}, outside the model "
                         f"folder; copy the file into the folder instead")
    return path


# ----------------------------------------------------------------------------- checksums


def cache_dir() -> Path:
    """The user's cache folder for radviewer (not created)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "radviewer"


class HashCache:
    """SHA-256 digests keyed by (resolved path, size, mtime_ns), kept in memory and in
    ``cache_dir() / CACHE_NAME``. A missing, damaged or unwritable cache file only means the
    digest is computed again."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._file: Path | None = None
        self._entries: dict[str, dict] = {}

    def _load(self) -> None:
        path = cache_dir() / CACHE_NAME
        if path == self._file:
            return
        self._file, self._entries = path, {}
        try:
            data = json.loads(read_regular(path, _CACHE_MAX_BYTES, "checksum cache"))
            if isinstance(data, dict) and isinstance(data.get("files"), dict):
                self._entries = {k: v for k, v in data["files"].items() if isinstance(v, dict)}
        except ModelError as exc:
            if path.exists():
                log.warning("checksum cache ignored: %s", exc)
        except (ValueError, RecursionError) as exc:
            log.warning("checksum cache %s ignored: %s", path, exc)

    def _save(self) -> None:
        path = self._file
        assert path is not None
        # Entries of files that are gone (a deleted model) are dropped, so the file stays small.
        self._entries = {k: v for k, v in self._entries.items() if os.path.exists(k)}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
        except OSError as exc:
            log.warning("checksum cache %s not written (%s)", path, exc.strerror)
            return
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump({"schema": "radviewer.weights-sha256/1", "files": self._entries}, fh)
            os.replace(tmp, path)  # atomic: a concurrent reader sees the old or the new file
        except OSError as exc:
            Path(tmp).unlink(missing_ok=True)
            log.warning("checksum cache %s not written (%s)", path, exc.strerror)

    def sha256(self, path: Path) -> str:
        """SHA-256 (hex) of the regular file ``path``; ModelError when it cannot be read."""
        path = Path(path)
        fd, st = _open_regular(path, "weights file")
        key = str(path.resolve())
        try:
            with self._lock:
                self._load()
                hit = self._entries.get(key)
                if (hit and hit.get("size") == st.st_size and hit.get("mtime_ns") == st.st_mtime_ns
                        and isinstance(hit.get("sha256"), str)):
                    return hit["sha256"]
            h = hashlib.sha256()
            while block := os.read(fd, _CHUNK):
                h.update(block)
        except OSError as exc:
            raise ModelError(f"{path}: cannot read the weights file ({exc.strerror})") from exc
        finally:
            os.close(fd)
        digest = h.hexdigest()
        with self._lock:
            self._entries[key] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns,
                                  "sha256": digest}
            self._save()
        return digest


HASHES = HashCache()
