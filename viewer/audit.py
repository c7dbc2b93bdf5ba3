"""The audit trail: each open, analyze, export, de-identified export, retrieve and send is
appended as one JSON line to ``audit.jsonl`` in the user's data folder.

An entry holds the time (UTC), the action, the study instance UID hashed (salted SHA-256 with
a random per-install salt kept beside the log, so the hash cannot be reversed by hashing known
UIDs elsewhere), the destination (archive node name or output folder), the outcome and counts;
never a name, an ID or a raw UID. :func:`record` never raises: the work it records matters
more than its record (a failure to write is logged once).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import os
import secrets
import tempfile
import threading
from pathlib import Path

AUDIT_SCHEMA = "radviewer.audit/1"
AUDIT_NAME = "audit.jsonl"
SALT_NAME = "audit-salt"
ACTIONS = ("open", "analyze", "export", "deid", "retrieve", "send")

log = logging.getLogger("radviewer.audit")
_lock = threading.Lock()
_warned = False
_salts: dict[Path, bytes] = {}


def data_dir() -> Path:
    """The user's data folder for radviewer (``viewer.paths.user_data_dir`` when the project
    has one, else ``$XDG_DATA_HOME/radviewer``, ``~/.local/share/radviewer``); created."""
    from viewer import paths

    finder = getattr(paths, "user_data_dir", None)
    if finder is not None:
        d = Path(finder())
    else:
        base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"),
                                                               ".local", "share")
        d = Path(base) / "radviewer"
    d.mkdir(parents=True, exist_ok=True)
    return d


def audit_path() -> Path:
    return data_dir() / AUDIT_NAME


def _salt(folder: Path) -> bytes:
    """The per-install salt (32 random bytes, created once, readable by the user only).

    Written whole under a temporary name, then linked into place: another thread or process
    that races to create it reads a complete salt (the first one linked wins)."""
    path = folder / SALT_NAME
    cached = _salts.get(path)
    if cached is not None:
        return cached
    if not path.exists():
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{SALT_NAME}.")  # mode 0600
        try:
            with os.fdopen(fd, "w", encoding="ascii") as fh:
                fh.write(secrets.token_bytes(32).hex())
            os.link(tmp, path)
        except FileExistsError:
            pass  # another writer's salt is in place
        finally:
            os.unlink(tmp)
    salt = bytes.fromhex(path.read_text(encoding="ascii").strip())
    if len(salt) < 16:
        raise ValueError(f"{path}: damaged audit salt")
    _salts[path] = salt
    return salt


def hash_uid(uid: str, folder: Path | None = None) -> str:
    """``sha256:`` and the hex digest of the per-install salt followed by ``uid``."""
    salt = _salt(folder or data_dir())
    return "sha256:" + hashlib.sha256(salt + str(uid).strip().encode("ascii", "replace")
                                      ).hexdigest()


def record(action: str, study_uid: str | None = None, destination: str | os.PathLike | None
           = None, outcome: str = "ok", **counts: int) -> bool:
    """Append one entry; returns whether it was written. Never raises.

    ``counts`` are whole numbers (files written, instances sent...); anything else is left
    out, so no free text (which could name someone) reaches the trail.
    """
    global _warned
    try:
        folder = data_dir()
        entry = {
            "time": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "action": str(action),
            "study": hash_uid(study_uid, folder) if study_uid else None,
            "destination": str(destination) if destination is not None else None,
            "outcome": str(outcome),
            "counts": {k: int(v) for k, v in counts.items()
                       if isinstance(v, int) and not isinstance(v, bool)},
        }
        line = (json.dumps(entry, ensure_ascii=True) + "\n").encode("ascii")
        with _lock:  # one write(2) of one line on an O_APPEND file: lines never interleave
            fd = os.open(folder / AUDIT_NAME, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
        return True
    except Exception as exc:  # noqa: BLE001 (the audit never stops the work it records)
        if not _warned:
            _warned = True
            log.warning("the audit trail could not be written (%s: %s); later failures are "
                        "not logged", type(exc).__name__, exc)
        return False


def read_entries(path: Path | None = None, limit: int | None = None) -> list[dict]:
    """The entries, oldest first (the last ``limit`` when given); damaged lines are skipped.
    An absent trail is an empty list."""
    path = path or audit_path()
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return []
    entries = []
    for line in lines:
        try:
            e = json.loads(line)
        except ValueError:
            continue
        if isinstance(e, dict) and "action" in e:
            entries.append(e)
    return entries[-limit:] if limit else entries


def format_entry(e: dict) -> str:
    """One line for people: time, action, outcome, study hash (short), destination, counts."""
    study = (e.get("study") or "")[7:19]  # 12 hex digits tell entries apart
    counts = " ".join(f"{k}={v}" for k, v in (e.get("counts") or {}).items())
    dest = f"-> {e['destination']}" if e.get("destination") else ""
    parts = [e.get("time", "?"), f"{e.get('action', '?'):<8}", f"{e.get('outcome', '?'):<9}",
             f"study {study}" if study else "", dest, counts]
    return "  ".join(p for p in parts if p)
